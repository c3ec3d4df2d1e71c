"""LeadService: the queue (order, filters, counts, overdue, paging, nothing decrypted), the status
workflow and how the resident is told, contact, reveal, claim/assign/transfer — and each
action's change, audit row and outbox message in one unit of work (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.accounts import AccountService
from bot.config import load_config
from bot.leads import LeadNotFound, LeadService, NotAllowed, QueueFilter
from bot.runtime import Runtime
from bot.storage.models import AuditEvent, Conversation, Lead, OutboxMessage, User, utcnow
from tests.conftest import ROOT
from tests.workbench.documents_support import PASSWORD, add_lead

OURS, THEIRS = "江背镇", "高兴镇"


pytestmark = pytest.mark.usefixtures("quick_hashes")


def accounts(runtime):
    with runtime.db.unit_of_work() as s:
        service = AccountService(s, runtime.config.county.townships)
        service.add("cw", "caseworker", PASSWORD, [OURS])
        service.add("cw2", "caseworker", PASSWORD, [OURS])
        service.add("cw-gx", "caseworker", PASSWORD, [THEIRS])
        service.add("county", "supervisor", PASSWORD)
        service.add("root", "admin", PASSWORD)


def actor(runtime, session, username):
    accounts_ = AccountService(session, runtime.config.county.townships)
    return accounts_.actor(session.execute(select(User).where(User.username == username)).scalar_one())


class Desk:
    """One person's desk: `with desk("cw") as service:` is one unit of work as that person."""

    def __init__(self, runtime):
        self.runtime = runtime

    def __call__(self, username):
        import contextlib

        @contextlib.contextmanager
        def opened():
            with self.runtime.db.unit_of_work() as session:
                yield LeadService(session, self.runtime, actor(self.runtime, session, username))
        return opened()


@pytest.fixture
def desk(runtime):
    accounts(runtime)
    return Desk(runtime)


def lead_row(runtime, ref) -> Lead:
    with runtime.db.unit_of_work() as s:
        lead = s.execute(select(Lead).where(Lead.ref == ref)).scalar_one()
        s.expunge(lead)
        return lead


def outbox(runtime):
    p = runtime.protector
    with runtime.db.unit_of_work() as s:
        return [(m.channel, p.decrypt(m.recipient_ref), p.decrypt(m.body))
                for m in s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()]


def age(runtime, ref, days):
    with runtime.db.unit_of_work() as s:
        lead = s.execute(select(Lead).where(Lead.ref == ref)).scalar_one()
        lead.created_at = utcnow() - dt.timedelta(days=days)


# ---- the queue -------------------------------------------------------------------------------
def test_the_queue_shows_urgent_leads_first_then_the_longest_waiting(desk, runtime):
    young, old = add_lead(runtime, OURS, name="张一"), add_lead(runtime, OURS, name="李二")
    urgent = add_lead(runtime, OURS, name="王三", emergency=True, emergency_description="房子塌了")
    age(runtime, old, 2)
    age(runtime, young, 1)
    with desk("cw") as service:
        rows = service.queue(QueueFilter()).rows
    assert [r.ref for r in rows] == [urgent, old, young]
    assert [r.name_masked for r in rows] == ["王*", "李*", "张*"]
    assert rows[0].urgency == "high"


def test_filters_counts_by_status_and_paging(desk, runtime, monkeypatch):
    refs = [add_lead(runtime, OURS, name=f"刘{n}") for n in range(5)]
    add_lead(runtime, OURS, name="周六", program="linshi", emergency=True, emergency_description="火灾")
    with desk("cw") as service:
        service.claim(refs[0])
        service.set_status(refs[0], "contacted", notify=False)
        service.claim(refs[1])
    with desk("cw") as service:
        page = service.queue(QueueFilter())
        assert page.total == 5 and page.counts["new"] == 5 and page.counts["contacted"] == 1
        assert [r.ref for r in service.queue(QueueFilter(status="", mine=True)).rows] == refs[:2]
        assert service.queue(QueueFilter(status="contacted")).rows[0].ref == refs[0]
        assert {r.urgency for r in service.queue(QueueFilter(urgency="high")).rows} == {"high"}
        assert all("linshi" in r.programs for r in service.queue(QueueFilter(program="linshi")).rows)
        today = dt.datetime.now(dt.timezone.utc).astimezone().date()
        assert service.queue(QueueFilter(status="", since=today + dt.timedelta(days=2))).total == 0
        assert service.queue(QueueFilter(status="", until=today + dt.timedelta(days=1))).total == 6
    import dataclasses

    config = runtime.config
    monkeypatch.setattr(runtime, "config", dataclasses.replace(
        config, workbench=dataclasses.replace(config.workbench, page_size=2)))
    with desk("cw") as service:
        first, third = service.queue(QueueFilter(page=1)), service.queue(QueueFilter(page=3))
        beyond = service.queue(QueueFilter(page=99))
    assert (first.pages, len(first.rows), len(third.rows)) == (3, 2, 1)
    assert beyond.page == 3 and beyond.rows == third.rows


def test_a_new_lead_past_the_configured_days_is_overdue(desk, runtime):
    late, fresh = add_lead(runtime, OURS, name="迟一"), add_lead(runtime, OURS, name="新二")
    age(runtime, late, runtime.config.workbench.overdue_days + 1)
    with desk("cw") as service:
        rows = {r.ref: r for r in service.queue(QueueFilter()).rows}
        assert rows[late].overdue and not rows[fresh].overdue
        service.set_status(late, "contacted", notify=False)
        contacted = service.queue(QueueFilter(status="contacted")).rows[0]
    assert not contacted.overdue   # contacted: no longer waiting for the first call


def test_listing_the_queue_never_opens_personal_data(desk, runtime, monkeypatch):
    for n in range(3):
        add_lead(runtime, OURS, name=f"赵{n}")
    with runtime.db.unit_of_work() as s:
        personal = set(s.scalars(select(Lead.personal)))
    calls = []
    original = runtime.protector.decrypt
    monkeypatch.setattr(runtime.protector, "decrypt", lambda token: calls.append(token) or original(token))
    with desk("cw") as service:
        rows = service.queue(QueueFilter()).rows
    assert len(rows) == 3 and all(r.name_masked == "赵*" for r in rows)
    # the sealed answers of the rows shown are opened for the village the list shows (one each);
    # the personal data (name, ID number, phone) never is
    assert len(calls) == len(rows) and not personal & set(calls)


def test_a_lead_stored_before_the_masked_name_column_is_listed_and_filled_in_at_upgrade(desk, runtime):
    from bot.leads.backfill import backfill_masked_names

    ref = add_lead(runtime, OURS, name="欧阳修远")
    with runtime.db.unit_of_work() as s:
        s.execute(Lead.__table__.update().where(Lead.ref == ref).values(name_masked=None))
    with desk("cw") as service:
        assert service.queue(QueueFilter()).rows[0].name_masked == "欧***"
    assert backfill_masked_names(runtime.db, runtime.protector) == 1
    assert lead_row(runtime, ref).name_masked == "欧***"
    assert backfill_masked_names(runtime.db, runtime.protector) == 0


def test_a_lead_outside_the_scope_does_not_exist_for_the_service(desk, runtime):
    theirs = add_lead(runtime, THEIRS)
    for who in ("cw", "root"):
        with desk(who) as service:
            with pytest.raises(LeadNotFound):
                service.get(theirs)
            assert service.queue(QueueFilter(status="")).total == 0
    with desk("county") as service:
        assert service.get(theirs).ref == theirs


# ---- the status workflow -----------------------------------------------------------------------
def test_only_the_allowed_moves_and_a_note_to_close(desk, runtime):
    ref = add_lead(runtime, OURS)
    with desk("cw") as service:
        for wrong in ("submitted", "closed", "rejected", "new", "nonsense"):
            with pytest.raises(NotAllowed):
                service.set_status(ref, wrong, notify=False)
        service.set_status(ref, "contacted", notify=False)
        service.set_status(ref, "submitted", notify=False)
        with pytest.raises(NotAllowed, match="办结说明"):
            service.set_status(ref, "closed", "  ", notify=False)
        service.set_status(ref, "closed", "经审核纳入低保", notify=False)
        with pytest.raises(NotAllowed):
            service.set_status(ref, "contacted", notify=False)   # closed stays closed
    lead = lead_row(runtime, ref)
    assert lead.status == "closed" and lead.first_contacted_at is not None
    with desk("cw") as service:
        history = service.history(service.get(ref))
    assert [h["detail"] for h in history] == ["新线索 → 已联系", "已联系 → 已受理", "已受理 → 已办结"]
    assert history[-1]["note"] == "经审核纳入低保"
    with runtime.db.unit_of_work() as s:   # the note is encrypted at rest
        note = s.execute(select(AuditEvent.note).where(AuditEvent.lead_ref == ref).order_by(AuditEvent.id.desc())).scalars().first()
    assert "纳入低保".encode() not in bytes(note)


def test_an_sms_applicant_is_told_in_plain_words_with_the_township_never_a_person(desk, runtime):
    ref = add_lead(runtime, OURS)
    with desk("cw") as service:
        text, plan = service.preview_status(ref, "contacted")
        outcome = service.set_status(ref, "contacted")
    assert plan.channel == "sms" and outcome.sent_by == "sms"
    [(channel, recipient, body)] = outbox(runtime)
    assert (channel, recipient) == ("sms", "+8613970712468") and body == text
    assert ref in body and "工作人员已联系您" in body and "cw" not in body
    with desk("cw") as service:
        [entry] = service.history(service.get(ref))
    assert entry["detail"] == "新线索 → 已联系（已通过短信告知申请人）"


def _wechat_conversation(runtime, user_key, openid, hours_ago):
    with runtime.db.unit_of_work() as s:
        s.add(Conversation(channel="wechat", user_key=user_key, user_ref=runtime.protector.encrypt(openid),
                           state={}, version=0, updated_at=utcnow() - dt.timedelta(hours=hours_ago)))


def _wechat_lead(runtime, phone="13970712468"):
    from bot.screening.submission import lead_programs
    from tests.workbench.documents_support import HOUSEHOLD

    values = {**HOUSEHOLD, "township": OURS, "phone": phone}
    if phone is None:
        values.pop("phone")
    assessment = runtime.screener.rules.assess(values)
    return runtime.leads.create(channel="wechat", user_key="wx-key", values=values,
                                programs=lead_programs(assessment), urgency=assessment.urgency,
                                documents=list(assessment.documents), consent={"given": True})


@pytest.mark.parametrize("hours_ago, phone, expected", [
    (2, "13970712468", ("wechat", "oOPENID")),      # within 48 h: WeChat customer-service message
    (47, None, ("wechat", "oOPENID")),
    (49, "13970712468", ("sms", "+8613970712468")),  # later: WeChat refuses it, SMS instead
    (49, None, None),                                # nothing allowed: not told (and said so)
])
def test_a_wechat_applicant_is_told_on_wechat_only_within_48_hours(desk, runtime, hours_ago, phone, expected):
    ref = _wechat_lead(runtime, phone)
    _wechat_conversation(runtime, "wx-key", "oOPENID", hours_ago)
    with desk("cw") as service:
        _, plan = service.preview_status(ref, "contacted")
        outcome = service.set_status(ref, "contacted")
    sent = outbox(runtime)
    if expected is None:
        assert plan is None and outcome.sent_by is None and sent == []
    else:
        assert (plan.channel, plan.recipient) == expected and outcome.sent_by == expected[0]
        assert [(c, r) for c, r, _ in sent] == [expected]
        if expected[0] == "wechat":
            assert "江背镇便民服务中心" in sent[0][2]
    assert lead_row(runtime, ref).status == "contacted"


def test_a_change_may_be_made_without_telling_the_resident(desk, runtime):
    ref = add_lead(runtime, OURS)
    with desk("cw") as service:
        assert service.set_status(ref, "contacted", notify=False).sent_by is None
    assert outbox(runtime) == []


# ---- contact, reveal -----------------------------------------------------------------------------
def test_contact_goes_through_the_outbox_and_the_caseworker_never_gets_the_number(desk, runtime):
    ref = add_lead(runtime, OURS)
    with desk("cw") as service:
        outcome = service.contact(ref, "请周五上午带户口簿到便民服务中心。")
        for bad in ("", "   ", "长" * 301):
            with pytest.raises(NotAllowed):
                service.contact(ref, bad)
    assert outcome.sent_by == "sms" and "139" not in repr(outcome)
    [(channel, recipient, body)] = outbox(runtime)
    assert recipient == "+8613970712468" and "请周五上午带户口簿" in body and "江背镇便民服务中心" in body
    [event] = [e for e in _events(runtime, ref) if e.action == "contact"]
    assert event.actor == "cw" and "139" not in event.detail


def _events(runtime, ref):
    with runtime.db.unit_of_work() as s:
        rows = list(s.execute(select(AuditEvent).where(AuditEvent.lead_ref == ref).order_by(AuditEvent.id)).scalars())
        s.expunge_all()
        return rows


def test_a_reveal_is_one_field_with_a_purpose_audited_and_time_limited(desk, runtime, monkeypatch):
    ref = add_lead(runtime, OURS)
    with desk("cw") as service:
        lead = service.get(ref)
        assert service.masked(lead) == {"name": "黄**", "id_number": "360732********2130", "phone": "139****2468"}
        with pytest.raises(NotAllowed):
            service.reveal(ref, "phone", "")                      # no purpose
        with pytest.raises(NotAllowed):
            service.reveal(ref, "phone", "other", " ")             # "other" needs it written
        with pytest.raises(NotAllowed):
            service.reveal(ref, "household_monthly_income", "home_visit")   # not a personal field
        shown = service.reveal(ref, "phone", "phone_callback")
        written = service.reveal(ref, "id_number", "other", "核对低保系统 13970712468 的记录")
    assert shown.value == "13970712468"
    with desk("cw") as service:
        revealed = service.revealed(service.get(ref))
        saw = service.who_saw(service.get(ref))
    assert set(revealed) == {"phone", "id_number"}                 # only the two asked for
    assert [(r["actor"], r["field"], r["purpose"]) for r in saw] == [
        ("cw", "id_number", "核对低保系统 [电话] 的记录"), ("cw", "phone", "电话回访")]
    assert written.until - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(minutes=runtime.config.workbench.reveal_minutes)
    # another caseworker sees them masked still, and the reveal is over after its minutes
    with desk("cw2") as service:
        assert service.revealed(service.get(ref)) == {}
    later = utcnow() + dt.timedelta(minutes=runtime.config.workbench.reveal_minutes, seconds=1)
    with desk("cw") as service:
        assert service.revealed(service.get(ref), now=later) == {}


# ---- claim, assign, transfer ---------------------------------------------------------------------
def test_claim_never_takes_someone_elses_lead(desk, runtime):
    ref = add_lead(runtime, OURS)
    with desk("cw") as service:
        service.claim(ref)
    with desk("cw2") as service:
        with pytest.raises(NotAllowed, match="已由 cw 认领"):
            service.claim(ref)
    with desk("cw") as service:
        assert service.assignee(service.claim(ref)) == "cw"        # claiming again is harmless
        assert len([h for h in service.history(service.get(ref)) if h["action"] == "claim"]) == 1


def test_a_supervisor_assigns_to_someone_who_may_work_the_township(desk, runtime):
    ref = add_lead(runtime, OURS)
    with desk("county") as service:
        with pytest.raises(NotAllowed):
            service.assign(ref, "cw-gx")          # 高兴镇's caseworker cannot see a 江背镇 lead
        service.assign(ref, "cw")
        service.assign(ref, "cw2")
        details = [h["detail"] for h in service.history(service.get(ref))]
    assert details == ["分派：未分派 → cw", "分派：cw → cw2"]
    with desk("cw") as service:
        with pytest.raises(NotAllowed):
            service.assign(ref, "cw")


def test_a_transfer_moves_the_lead_to_the_other_townships_queue_with_its_history(desk, runtime):
    ref = add_lead(runtime, OURS)
    with desk("cw") as service:
        service.claim(ref)
        service.set_status(ref, "contacted", notify=False)
    with desk("county") as service:
        with pytest.raises(NotAllowed, match="转办原因"):
            service.transfer(ref, THEIRS, "")
        service.transfer(ref, THEIRS, "申请人常住高兴镇，户籍在江背镇")
    lead = lead_row(runtime, ref)
    assert lead.township == THEIRS and lead.assigned_to is None and lead.status == "contacted"
    with desk("cw") as service:
        with pytest.raises(LeadNotFound):
            service.get(ref)
    with desk("cw-gx") as service:
        history = service.history(service.get(ref))
        assert service.queue(QueueFilter(status="contacted")).rows[0].ref == ref
    assert [h["action"] for h in history] == ["claim", "status", "transfer"]
    assert history[-1]["detail"] == f"转办：{OURS} → {THEIRS}" and "常住高兴镇" in history[-1]["note"]


def test_documents_received_are_recorded_from_the_checklist_only(desk, runtime):
    ref = add_lead(runtime, OURS)
    with desk("cw") as service:
        lead = service.set_documents(ref, ["身份证", "户口簿", "不在清单上的东西"])
    assert lead_row(runtime, ref).documents_received == ["身份证", "户口簿"]


# ---- one unit of work, SQLite and PostgreSQL ---------------------------------------------------------
@pytest.fixture
def rt(any_db_url, shared_runtime):
    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": any_db_url}),
                      kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    accounts(runtime)
    yield runtime
    runtime.db.dispose()


def _written(runtime, ref):
    with runtime.db.unit_of_work() as s:
        lead = s.execute(select(Lead).where(Lead.ref == ref)).scalar_one()
        audit = s.execute(select(AuditEvent.action).where(AuditEvent.lead_ref == ref)).scalars().all()
        return lead.status, lead.township, lead.assigned_to, sorted(audit), len(outbox(runtime))


ACTIONS = {
    "status": lambda s, ref: s.set_status(ref, "contacted", "已电话联系"),
    "contact": lambda s, ref: s.contact(ref, "请带户口簿来一趟"),
    "transfer and claim": lambda s, ref: (s.claim(ref), s.transfer(ref, THEIRS, "常住高兴镇")),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_writes_its_change_audit_row_and_message_together(rt, action):
    ref = add_lead(rt, OURS)
    with Desk(rt)("county") as service:
        ACTIONS[action](service, ref)
    status, township, assigned, audit, messages = _written(rt, ref)
    assert audit and (status, township, messages) != ("new", OURS, 0)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_failing_last_step_rolls_back_the_change_its_audit_row_and_its_message(rt, action, monkeypatch):
    ref = add_lead(rt, OURS)
    before = _written(rt, ref)
    with pytest.raises(RuntimeError), Desk(rt)("county") as service:
        ACTIONS[action](service, ref)
        service.session.flush()          # everything is in the database's transaction by now …
        raise RuntimeError("the next step fails")
    assert _written(rt, ref) == before == ("new", OURS, None, [], 0)


def test_an_outbox_that_cannot_queue_leaves_the_status_and_audit_unwritten(rt, monkeypatch):
    import bot.outbox

    ref = add_lead(rt, OURS)
    monkeypatch.setattr(bot.outbox, "enqueue", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("outbox down")))
    with pytest.raises(RuntimeError, match="outbox down"), Desk(rt)("county") as service:
        service.set_status(ref, "contacted")
    assert _written(rt, ref) == ("new", OURS, None, [], 0)
