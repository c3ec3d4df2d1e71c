"""The workbench on a temporary database: four accounts of every role and two townships' leads."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.storage.models import AuditEvent, Lead, OutboxMessage
from tests.workbench.documents_support import add_account, add_lead, csrf_of, log_in
from web.app import create_app

OURS, THEIRS = "江背镇", "高兴镇"      # cw's township, and one it does not see


@pytest.fixture(autouse=True)
def _quick_hashes(quick_hashes):
    """Every workbench test hashes passwords the quick way (tests/conftest.py)."""


@pytest.fixture
def wb(runtime):
    """The app with accounts: cw (江背镇), cw-other (高兴镇, 潋江镇), county (supervisor), root (admin)."""
    app = create_app(runtime)
    add_account(runtime, "cw", "caseworker", [OURS])
    add_account(runtime, "cw-other", "caseworker", [THEIRS, "潋江镇"])
    add_account(runtime, "county", "supervisor")
    add_account(runtime, "root", "admin")
    return Workbench(app, runtime)


class Workbench:
    """The app and helpers to act on it as a person would (through its forms)."""

    def __init__(self, app, runtime):
        self.app = app
        self.runtime = runtime

    def client(self, username: str | None = None):
        """A test client, logged in as `username` through the real form (None: not logged in)."""
        client = self.app.test_client()
        if username:
            log_in(client, username)
        return client

    def lead(self, township: str = OURS, **changes) -> str:
        """A stored lead of `township` (the fixed household of documents_support)."""
        return add_lead(self.runtime, township, **changes)

    def post(self, client, path: str, data: dict | None = None, follow: bool = False):
        """POST a form with the session's CSRF token (read from a workbench page, as a browser has it)."""
        token = csrf_token(client)
        return client.post(path, data={"csrf_token": token, **(data or {})}, follow_redirects=follow)

    def row(self, ref: str) -> Lead:
        with self.runtime.db.unit_of_work() as s:
            lead = s.execute(select(Lead).where(Lead.ref == ref)).scalar_one()
            s.expunge(lead)
            return lead

    def audit(self, action: str | None = None, ref: str | None = None) -> list[AuditEvent]:
        with self.runtime.db.unit_of_work() as s:
            query = select(AuditEvent).order_by(AuditEvent.id)
            if action:
                query = query.where(AuditEvent.action == action)
            if ref:
                query = query.where(AuditEvent.lead_ref == ref)
            rows = list(s.execute(query).scalars())
            s.expunge_all()
            return rows

    def outbox(self) -> list[tuple[str, str, str]]:
        """(channel, recipient, body) of every queued message, decrypted."""
        protector = self.runtime.protector
        with self.runtime.db.unit_of_work() as s:
            return [(m.channel, protector.decrypt(m.recipient_ref), protector.decrypt(m.body))
                    for m in s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()]


def csrf_token(client) -> str:
    """The CSRF token of the client's session: from the page a form would be on."""
    page = client.get("/workbench/login" if not _logged_in(client) else "/workbench/leads")
    html = page.get_data(as_text=True)
    if 'name="csrf_token"' not in html:   # an admin's /leads is 403: the accounts page has forms
        html = client.get("/workbench/accounts").get_data(as_text=True)
    return csrf_of(html)


def _logged_in(client) -> bool:
    with client.session_transaction("/workbench/") as session:
        return "uid" in session


def text_of(response) -> str:
    """The page's visible text, roughly (tags dropped)."""
    return re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
