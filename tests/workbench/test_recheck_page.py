"""政策找人 in the workbench: after 农村低保标准 rises 720 → 760, the consenting households screened
just above the old line are listed (scope, margin, masked), and invited once through the outbox."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import recheck
from bot.storage.models import Lead
from tests.workbench.conftest import OURS, THEIRS, text_of


def household(wb, township, income, *, consent=True, name="黄春生", user="+8613970712468"):
    """A filed screening of 2 people at `income` a month whose answer to the recheck question was `consent`."""
    ref = wb.lead(township, name=name, household_size=2, household_monthly_income=income)
    runtime = wb.runtime
    with runtime.db.unit_of_work() as s:
        lead = s.execute(select(Lead).where(Lead.ref == ref)).scalar_one()
        recheck.record(s, runtime, lead, "sms", user, "同意" if consent else "不同意", consent, "1",
                       values=dict(lead.fields))
    return ref


@pytest.fixture
def risen(monkeypatch):
    """config.toml's 农村低保标准 now 760 (households were screened against 720)."""
    real = recheck.current_figure
    monkeypatch.setattr(recheck, "current_figure",
                        lambda config, key: 760.0 if key.endswith("dibao_rural") else real(config, key))


@pytest.fixture
def households(wb):
    return {
        "just_above": household(wb, OURS, 1460, user="+8613900000001"),          # 730 / person
        "in_margin": household(wb, OURS, 1600, user="+8613900000002"),           # 800 < 760 + 50
        "far_above": household(wb, OURS, 1800, user="+8613900000003"),           # 900
        "below_old": household(wb, OURS, 1400, user="+8613900000004"),           # 700: was eligible already
        "no_consent": household(wb, OURS, 1460, consent=False, user="+8613900000005"),
        "theirs": household(wb, THEIRS, 1460, name="李四妹", user="+8613900000006"),
    }


def test_nothing_listed_before_the_standard_changes(wb, households):
    page = text_of(wb.client("county").get("/workbench/recheck"))
    assert not any(ref in page for ref in households.values())


def test_the_list_after_a_rise(wb, households, risen):
    page = text_of(wb.client("county").get("/workbench/recheck"))
    listed = {k for k, ref in households.items() if ref in page}
    assert listed == {"just_above", "in_margin", "theirs"}
    assert "黄春生" not in page and "黄**" in page and "李四妹" not in page   # masked as in the queue
    assert "13900000001" not in page
    assert "农村低保标准 720 → 760" in page


def test_a_caseworker_sees_their_townships_only(wb, households, risen):
    page = text_of(wb.client("cw").get("/workbench/recheck"))
    assert households["just_above"] in page and households["theirs"] not in page
    assert wb.client("root").get("/workbench/recheck").status_code == 403


def test_withdrawn_consent_is_not_listed(wb, households, risen):
    from bot import subscriptions
    with wb.runtime.db.unit_of_work() as s:
        subscriptions.stop_everything(s, wb.runtime, "sms", "+8613900000001", wording="TD", source="sms_keyword")
    page = text_of(wb.client("county").get("/workbench/recheck"))
    assert households["just_above"] not in page and households["in_margin"] in page


def test_inviting_queues_once_and_is_audited(wb, households, risen):
    client = wb.client("cw")
    refs = [households["just_above"], households["in_margin"], households["theirs"]]   # theirs: out of scope
    response = wb.post(client, "/workbench/recheck/invite", {"ref": refs}, follow=True)
    assert "已发出2条复查邀请" in text_of(response)
    invites = [m for m in wb.outbox() if "回复\"复查\"" in m[2]]
    assert sorted(m[1] for m in invites) == ["+8613900000001", "+8613900000002"]
    assert "760" in invites[0][2] and "农村低保标准" in invites[0][2]
    again = wb.post(wb.client("county"), "/workbench/recheck/invite", {"ref": refs}, follow=True)
    assert "已发出1条复查邀请" in text_of(again)                         # only theirs, by the county
    assert len([m for m in wb.outbox() if "回复\"复查\"" in m[2]]) == 3   # never twice to one household
    audit = wb.audit("recheck_invite")
    assert sorted(e.lead_ref for e in audit) == sorted(refs)
    assert {e.actor for e in audit} == {"cw", "county"}
    assert "已邀请" in text_of(wb.client("county").get("/workbench/recheck"))


def test_inviting_needs_the_csrf_token(wb, households, risen):
    client = wb.client("county")
    assert client.post("/workbench/recheck/invite", data={"ref": [households["just_above"]]}).status_code == 400
    assert not [m for m in wb.outbox() if "复查" in m[2]]
