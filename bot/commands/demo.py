"""`jiuzhu demo`: a demo supervisor account and a few demo leads for trying the workbench (development only).

Idempotent: the accounts are made once, each demo lead once (a fixed submission key),
so `scripts/dev` may run it at every start. The households are invented; their
programmes, reasons and documents come from the real rules and today's config.toml figures.
"""
from __future__ import annotations

from bot.accounts import AccountService
from bot.errors import JiuzhuError
from bot.runtime import Runtime
from bot.screening.parsing.identity import id_check_digit

DEMO_USERS = (("demo", "supervisor", ()), ("demo-jiangbei", "caseworker", ("江背镇",)))
DEMO_PASSWORD = "demo-jiuzhu"
# Invented households (names, numbers are fake; the ID numbers have valid check digits only).
DEMO_HOUSEHOLDS = (
    dict(name="刘桂英", township="江背镇", village="塘石村", residence="rural", age=67, household_size=2,
         household_monthly_income=600, owns_vehicle=False, house_count=1, savings=3000, labor_capacity=False,
         has_supporter=True, disability_level=2, serious_illness=True, medical_expense_year=8000,
         emergency=False, program="dibao"),
    dict(name="陈冬生", township="潋江镇", village="城北社区", residence="urban", age=45, household_size=4,
         household_monthly_income=2400, owns_vehicle=False, house_count=1, savings=5000, labor_capacity=True,
         has_supporter=False, serious_illness=True, medical_expense_year=36000, emergency=False, program="yiliao"),
    dict(name="钟秀兰", township="江背镇", village="江背村", residence="rural", age=81, household_size=1,
         household_monthly_income=0, owns_vehicle=False, house_count=1, savings=0, labor_capacity=False,
         has_supporter=False, emergency=False, program="tekun"),
    dict(name="黄志强", township="高兴镇", village="高兴村", residence="rural", age=38, household_size=3,
         household_monthly_income=1500, owns_vehicle=False, house_count=1, savings=1000, labor_capacity=True,
         has_supporter=False, emergency=True, emergency_description="房屋失火", program="linshi"),
    dict(name="谢小梅", township="江背镇", village="长岭村", residence="rural", age=29, household_size=3,
         household_monthly_income=2800, owns_vehicle=False, house_count=1, savings=2000, labor_capacity=True,
         has_supporter=False, emergency=False, program="bianyuan"),
)


def register(sub, common) -> None:
    """Add `demo`."""
    demo = sub.add_parser("demo", parents=[common],
                          help="demo workbench accounts and leads (development mode only; idempotent)")
    demo.set_defaults(func=run_demo)


def run_demo(args) -> int:
    """Create what is missing and print how to log in."""
    runtime = Runtime.from_path(args.config)
    if runtime.config.mode != "development":
        raise JiuzhuError("jiuzhu demo runs only in development mode (it makes an account with a known password)")
    made = ensure_demo(runtime)
    print(f"demo: {made} new demo lead(s); accounts "
          + ", ".join(f"{u} ({role})" for u, role, _ in DEMO_USERS) + f", password {DEMO_PASSWORD}")
    return 0


def ensure_demo(runtime) -> int:
    """The demo accounts and leads; the number of leads created now."""
    with runtime.db.unit_of_work() as session:
        accounts = AccountService(session, runtime.config.county.townships)
        existing = {a.username for a in accounts.list()}
        for username, role, townships in DEMO_USERS:
            if username not in existing:
                accounts.add(username, role, DEMO_PASSWORD, townships, actor="demo")
    rules, made = runtime.screener.rules, 0
    for number, household in enumerate(DEMO_HOUSEHOLDS, start=1):
        key = f"demo:{number}"
        if runtime.leads._by_submission(key):
            continue
        from bot.screening.submission import lead_programs

        values = {**household, "id_number": _demo_id(number, household["age"]), "phone": f"1380000{number:04d}"}
        assessment = rules.assess(values)
        runtime.leads.create(channel="sms" if number % 2 else "wechat", user_key=f"demo-user-{number}",
                             values=values, programs=lead_programs(assessment), urgency=assessment.urgency,
                             documents=list(assessment.documents), consent={"given": True, "demo": True},
                             submission_key=key)
        made += 1
    return made


def _demo_id(number: int, age: int) -> str:
    """A fake 18-character ID number of the county (valid check digit, invented)."""
    first17 = f"360732{2026 - age:04d}0101{number:03d}"
    return first17 + id_check_digit(first17)
