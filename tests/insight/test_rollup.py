"""insight_daily: closed days folded once (idempotent), the open day read live, counts by any column;
the outbox's outcomes and abandoned screenings counted — on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from sqlalchemy import func, select

from bot.insight.rollup import counts, fold
from bot.outbox import FAILED, SENT, PermanentFailure, Policy, Sent, deliver_due, enqueue
from bot.storage.models import Conversation, InsightDaily, InsightEvent, InsightFold, utcnow

TODAY = dt.date(2026, 12, 3)
NOON = dt.datetime(2026, 12, 3, 4, 0, tzinfo=dt.timezone.utc)  # 12:00 in 兴国县


def add(rt, day: dt.date, kind: str, subject=None, n: int = 1, channel: str = "wechat") -> None:
    """`n` events of a kind on a day, as the hooks record them."""
    with rt.db.unit_of_work() as s:
        for _ in range(n):
            rt.insight.record(s, kind, channel, subject, day=day)


def test_days_are_folded_and_counts_add_the_events_written_since(rt):
    for back, n in ((3, 4), (1, 2), (0, 5)):
        add(rt, TODAY - dt.timedelta(days=back), "question.answered", "dibao.standard", n)
    add(rt, TODAY - dt.timedelta(days=1), "question.answered", "tekun.support", 1, channel="sms")
    zone = rt.insight.zone
    assert fold(rt.db, zone, now=NOON) == [TODAY - dt.timedelta(days=d) for d in (3, 1, 0)]
    assert fold(rt.db, zone, now=NOON) == [TODAY]  # only the last day folded can still change
    add(rt, TODAY, "question.answered", "dibao.standard", 2)  # since the fold: read from the events
    with rt.db.unit_of_work() as s:
        assert s.scalar(select(func.sum(InsightDaily.count))) == 12
        assert s.scalars(select(InsightFold.events).order_by(InsightFold.day)).all() == [4, 3, 5]
        by_topic = counts(s, TODAY - dt.timedelta(days=6), TODAY, by=("subject",))
        by_day = counts(s, TODAY - dt.timedelta(days=6), TODAY, by=("day", "channel"))
        sms_only = counts(s, TODAY - dt.timedelta(days=6), TODAY, by=("subject",), channel="sms")
        this_day = counts(s, TODAY, TODAY)
    assert by_topic == {("dibao.standard",): 13, ("tekun.support",): 1}   # folded + written since
    assert by_day[(TODAY, "wechat")] == 7 and by_day[(TODAY - dt.timedelta(days=1), "sms")] == 1
    assert sms_only == {("tekun.support",): 1}
    assert this_day == {("question.answered",): 7}
    fold(rt.db, zone, now=NOON)
    with rt.db.unit_of_work() as s:  # folded now: the same counts, from the rollup
        assert counts(s, TODAY, TODAY) == this_day
        assert s.scalar(select(func.sum(InsightDaily.count))) == 14


def test_counts_over_several_townships_add_the_folded_days_and_the_events_since(rt):
    for township, n in (("江背镇", 3), ("崇贤乡", 2), ("梅窖镇", 4)):
        with rt.db.unit_of_work() as s:
            for _ in range(n):
                rt.insight.record(s, "question.answered", "wechat", "dibao.standard", township=township,
                                  day=TODAY - dt.timedelta(days=1))
    fold(rt.db, rt.insight.zone, now=NOON)
    with rt.db.unit_of_work() as s:   # one more since the fold, read from the events
        rt.insight.record(s, "question.answered", "wechat", "dibao.standard", township="崇贤乡", day=TODAY)
    with rt.db.unit_of_work() as s:
        mine = counts(s, TODAY - dt.timedelta(days=6), TODAY, by=("subject",), township=("江背镇", "崇贤乡"))
        none = counts(s, TODAY - dt.timedelta(days=6), TODAY, by=("subject",), township=())
    assert mine == {("dibao.standard",): 6} and none == {}   # 梅窖镇's four left out


def test_yesterday_is_recounted_once_more_a_few_minutes_after_midnight(rt):
    yesterday = TODAY - dt.timedelta(days=1)
    midnight = dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.timezone.utc)  # 00:00 on the 3rd in 兴国县
    add(rt, yesterday, "screening.started", n=2)
    assert fold(rt.db, rt.insight.zone, now=midnight - dt.timedelta(minutes=10)) == [yesterday]
    add(rt, yesterday, "screening.started")  # a turn noted at 23:59:59 that committed after that fold
    assert fold(rt.db, rt.insight.zone, now=midnight + dt.timedelta(minutes=2)) == [yesterday]
    add(rt, TODAY, "screening.started")
    assert fold(rt.db, rt.insight.zone, now=midnight + dt.timedelta(minutes=10)) == [yesterday, TODAY]
    assert fold(rt.db, rt.insight.zone, now=midnight + dt.timedelta(minutes=20)) == [TODAY]
    with rt.db.unit_of_work() as s:
        assert counts(s, yesterday, yesterday) == {("screening.started",): 3}
        assert s.scalar(select(InsightDaily.count).where(InsightDaily.day == yesterday)) == 3  # replaced


def test_unknown_values_are_dropped_never_stored(rt):
    with rt.db.unit_of_work() as s:
        rt.insight.record(s, "question.answered", "wechat", "我叫黄春生，电话13970712468",
                          township="太平村黄家", programme="低保", age=47)
        rt.insight.record(s, "something.else", "wechat", "dibao.standard")    # no such kind
        rt.insight.record(s, "question.answered", "terminal", "dibao.standard")  # not a resident's channel
    with rt.db.unit_of_work() as s:
        (event,) = s.execute(select(InsightEvent)).scalars().all()
        assert (event.kind, event.subject, event.township, event.programme, event.age_band) == \
            ("question.answered", None, None, None, "<60")


def test_the_outbox_counts_sent_failed_and_cancelled_with_kind_and_campaign(rt):
    class Sender:
        max_seconds = 1.0

        def __init__(self):
            self.calls = 0

        def send(self, recipient, body):
            self.calls += 1
            if recipient.endswith("2"):
                raise PermanentFailure("Twilio HTTP 400 error 21211")
            return Sent(provider_id=f"SM{self.calls}")

    enqueue(rt, "sms", "+8613800000001", "您的申请已受理", "status:JZ261203-AAAA:submitted")
    enqueue(rt, "sms", "+8613800000002", "新政策", "notice:1:2", campaign_id="c-2026-12")
    enqueue(rt, "sms", "+8613800000003", "新政策", "notice:1:3", campaign_id="c-2026-12")
    refuse = {"+8613800000003": "the number opted out (STOP/退订) on 2026-12-01"}
    outcomes = deliver_due(rt, {"sms": Sender()}, lambda _c, r: refuse.get(r), Policy())
    assert outcomes == Counter({SENT: 1, FAILED: 1, "cancelled": 1})
    with rt.db.unit_of_work() as s:
        got = counts(s, rt.insight.today(), rt.insight.today(), by=("kind", "subject", "campaign"))
    assert got == {("outbox.sent", "status", ""): 1, ("outbox.failed", "notice", "c-2026-12"): 1,
                   ("outbox.cancelled", "notice", "c-2026-12"): 1}


def test_the_purge_counts_screenings_left_unfinished_where_they_stopped(rt):
    from bot.housekeeping import purge
    from bot.messages import IncomingMessage

    for text in ("我想申请特困", "同意"):
        rt.engine.handle(IncomingMessage(channel="sms", user_id="+8613800000009", text=text))
    with rt.db.unit_of_work() as s:
        s.query(Conversation).update({Conversation.updated_at: utcnow() - dt.timedelta(days=30)})
    assert purge(rt).screenings == 1
    with rt.db.unit_of_work() as s:
        events = s.execute(select(InsightEvent.kind, InsightEvent.subject, InsightEvent.programme)
                           .order_by(InsightEvent.id)).all()
        state = s.execute(select(Conversation.state)).scalar_one()
    assert events[-1] == ("screening.abandoned", "name", "tekun")
    assert "screening" not in (json.loads(state) if isinstance(state, str) else state)


def test_the_insight_command_prints_counts_by_the_columns_asked(cli, runtime):
    from bot.messages import IncomingMessage

    for user in ("u1", "u2"):
        runtime.engine.handle(IncomingMessage(channel="wechat", user_id=user, text="低保标准是多少"))
    out = cli("insight", "--by", "kind,subject", "--json").stdout.splitlines()
    assert json.loads(out[0]) == {"kind": "question.answered", "subject": "dibao.standard", "count": 2}
    assert cli("insight", "--by", "name", check=False).returncode == 2
