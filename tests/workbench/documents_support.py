"""Helpers of the print/export tests: accounts, a logged-in test client, a stored lead."""
from __future__ import annotations

import re

from bot.accounts import AccountService
from bot.screening.submission import lead_programs

PASSWORD = "a-long-test-password"
HOUSEHOLD = {"name": "黄春生", "id_number": "360732197909152130", "phone": "13970712468", "age": 47,
             "village": "太平村", "residence": "rural", "household_size": 5, "household_monthly_income": 1800,
             "owns_vehicle": False, "house_count": 1, "savings": 0, "labor_capacity": True,
             "has_supporter": False, "disability_level": 4, "serious_illness": False,
             "medical_expense_year": 1000, "emergency": False, "program": "dibao"}


def add_account(runtime, username: str, role: str, townships=()) -> None:
    """One workbench account with the test password."""
    with runtime.db.unit_of_work() as session:
        AccountService(session, runtime.config.county.townships).add(username, role, PASSWORD, tuple(townships),
                                                                     actor="test")


def csrf_of(html: str) -> str:
    """The hidden csrf_token of the first form on a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(client, username: str) -> None:
    """Log the test client in through the real form."""
    token = csrf_of(client.get("/workbench/login").get_data(as_text=True))
    response = client.post("/workbench/login", data={"username": username, "password": PASSWORD,
                                                     "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def add_lead(runtime, township: str, **changes) -> str:
    """A lead assessed by the real rules, as a finished screening stores it."""
    values = {**HOUSEHOLD, "township": township, **changes}
    assessment = runtime.screener.rules.assess(values)
    return runtime.leads.create(channel="sms", user_key=f"user-{township}-{values['name']}", values=values,
                                programs=lead_programs(assessment), urgency=assessment.urgency,
                                documents=list(assessment.documents), consent={"given": True})
