"""In a real browser: after 农村低保标准 rises 720 → 760, a caseworker opens 政策找人, sees the
consenting household screened just above the old line (name masked) and invites it once.
Screenshots under tests/artifacts/browser/ (recheck-*.png) for a person to look at."""
from __future__ import annotations

from sqlalchemy import select

from bot import recheck
from bot.storage.models import Lead, OutboxMessage
from tests.workbench.documents_support import add_account, add_lead
from tests.workbench.test_browser import browser, live, shot  # noqa: F401 — chromium and the live server
from tests.workbench.test_browser_broadcasts import log_in


def test_list_and_invite_after_a_rise(runtime, live, browser, monkeypatch):
    add_account(runtime, "cw-jiangbei", "caseworker", ["江背镇"])
    ref = add_lead(runtime, "江背镇", household_size=2, household_monthly_income=1460)   # 730 / person
    with runtime.db.unit_of_work() as s:
        lead = s.execute(select(Lead).where(Lead.ref == ref)).scalar_one()
        recheck.record(s, runtime, lead, "sms", "+8613900000031", "同意", True, "1", values=dict(lead.fields))
    real = recheck.current_figure
    monkeypatch.setattr(recheck, "current_figure",
                        lambda config, key: 760.0 if key.endswith("dibao_rural") else real(config, key))

    page = log_in(browser, live, "cw-jiangbei")
    page.click("nav a:has-text('政策找人')")
    body = page.inner_text("body")
    assert ref in body and "黄**" in body and "黄春生" not in body and "农村低保标准 720 → 760" in body
    shot(page, "recheck-1-list")
    page.click("button:has-text('邀请选中的住户复查')")
    body = page.inner_text("body")
    assert "已发出1条复查邀请" in body and "已邀请" in body
    assert "邀请选中的住户复查" not in body          # nothing left to invite: no second message
    shot(page, "recheck-2-invited")
    with runtime.db.unit_of_work() as s:
        assert s.execute(select(OutboxMessage).where(OutboxMessage.kind == "recheck")).scalars().all().__len__() == 1
