"""Broadcasts end to end: residents subscribe through the signed webhooks, a draft is approved by a
second account, the outbox sends it by the cheapest legal route, never twice, and failures leave
it partly sent with one retry — on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select, update

from bot.outbox import PermanentFailure, Policy, Sent, deliver_due
from bot.publicity import broadcast as bc
from bot.storage.models import Broadcast, BroadcastRecipient, Conversation, OutboxMessage
from bot.subscriptions import outbox_refusal
from tests.handlers.test_sms import PHONE
from tests.test_subscriptions import sms, wechat  # noqa: F401 — the signed-webhook fixtures

SECOND_PHONE = "+8613800000002"
COUNTY = dt.timezone(dt.timedelta(hours=8))  # 兴国 (Asia/Shanghai, no daylight saving)
# 12:00 county time tomorrow: a fixed date would fall in the past and make "scheduled" untestable
NOON = (dt.datetime.now(COUNTY) + dt.timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)


class Sender:
    max_seconds = 1.0

    def __init__(self, refuse: set[str] = frozenset()):
        self.sent: list[tuple[str, str]] = []
        self.refuse = refuse

    def send(self, recipient: str, body: str) -> Sent:
        if recipient in self.refuse:
            raise PermanentFailure("provider error 21610")
        self.sent.append((recipient, body))
        return Sent(provider_id=f"SM{len(self.sent)}", segments=2)


def subscribe_by_sms(twilio, number: str, topics: str = "1", township: str = "0") -> None:
    for text in ("订阅", topics, township, "确认"):
        twilio.send(text, number=number)


def draft(runtime, **kw) -> int:
    fields = dict(author="zhang", title="新一年低保标准调整",
                  body="自{standards_effective}起，农村低保标准为每人每月{dibao_rural}元。", topic="dibao",
                  township=None, channels=["wechat", "sms"])
    fields.update(kw)
    with runtime.db.unit_of_work() as s:
        return bc.create(s, runtime, **fields).id


def approve(runtime, broadcast_id: int, who: str = "li", now=NOON) -> int:
    with runtime.db.unit_of_work() as s:
        return bc.approve(s, runtime, s.get(Broadcast, broadcast_id), who, now=now)


def state(runtime, broadcast_id: int):
    with runtime.db.unit_of_work() as s:
        return bc.progress(s, s.get(Broadcast, broadcast_id))


def test_a_notice_quotes_config_figures_and_sms_carries_the_opt_out_line(sms):
    _, rt = sms
    with rt.db.unit_of_work() as s:
        b = s.get(Broadcast, draft(rt))
        text = bc.message_for(rt, b, "sms")
        assert "720元" in text and "2025年1月1日" in text and text.startswith("【兴国县救助通】")
        assert text.endswith("回T退订")
        assert "退订" in bc.message_for(rt, b, "wechat")
        assert bc.unverified_figures(rt, b.body) == ["dibao_rural"]
    with pytest.raises(bc.BroadcastError, match=r"\{dibao_town\}"):
        draft(rt, body="标准{dibao_town}元")


def test_approval_needs_a_second_account_and_queues_each_subscriber_once(sms):
    twilio, rt = sms
    subscribe_by_sms(twilio, PHONE, "1")
    subscribe_by_sms(twilio, SECOND_PHONE, "2")  # 特困 only: not this notice's audience
    broadcast_id = draft(rt)
    with pytest.raises(bc.BroadcastError, match="不能审批自己"):
        approve(rt, broadcast_id, who="zhang")
    assert approve(rt, broadcast_id) == 1
    with pytest.raises(bc.BroadcastError):
        approve(rt, broadcast_id, who="wang")  # a second approval queues nothing more
    sender = Sender()
    outcomes = deliver_due(rt, {"sms": sender}, outbox_refusal(rt), Policy(), now=NOON + dt.timedelta(minutes=1))
    assert outcomes == Counter({"sent": 1}) and [r for r, _ in sender.sent] == [PHONE]
    assert "720元" in sender.sent[0][1]
    assert state(rt, broadcast_id) == ("sent", Counter({"sent": 1}))
    with rt.db.unit_of_work() as s:
        (row,) = s.execute(select(OutboxMessage)).scalars().all()[-1:]
        assert (row.kind, row.campaign_id) == ("broadcast", s.get(Broadcast, broadcast_id).campaign_id)


def test_sms_waits_for_eight_in_the_morning(sms):
    twilio, rt = sms
    subscribe_by_sms(twilio, PHONE)
    night = NOON + dt.timedelta(hours=10, minutes=30)  # 22:30 county time
    broadcast_id = draft(rt)
    approve(rt, broadcast_id, now=night)
    assert state(rt, broadcast_id)[0] == "scheduled"
    with rt.db.unit_of_work() as s:
        due = s.execute(select(OutboxMessage.next_attempt_at).where(OutboxMessage.kind == "broadcast")).scalar_one()
    assert bc._aware(due) == NOON + dt.timedelta(hours=20)  # 8:00 the next day
    assert deliver_due(rt, {"sms": Sender()}, outbox_refusal(rt), Policy(), now=night) == Counter()


def test_failures_leave_it_partly_sent_and_one_retry_sends_only_the_failed(sms):
    twilio, rt = sms
    subscribe_by_sms(twilio, PHONE)
    subscribe_by_sms(twilio, SECOND_PHONE)
    broadcast_id = draft(rt)
    approve(rt, broadcast_id)
    later = NOON + dt.timedelta(minutes=1)
    deliver_due(rt, {"sms": Sender(refuse={SECOND_PHONE})}, outbox_refusal(rt), Policy(), now=later)
    assert state(rt, broadcast_id) == ("partly_sent", Counter({"sent": 1, "failed": 1}))
    with rt.db.unit_of_work() as s:
        assert bc.retry_failed(s, rt, s.get(Broadcast, broadcast_id)) == 1
    again = Sender()
    deliver_due(rt, {"sms": again}, outbox_refusal(rt), Policy())
    assert [r for r, _ in again.sent] == [SECOND_PHONE]  # the first resident is not sent it twice
    assert state(rt, broadcast_id) == ("sent", Counter({"sent": 2}))


def test_wechat_route_is_customer_service_within_48_hours_else_mass_at_most_four_a_month(wechat):
    rt = wechat.runtime
    for text in ("订阅", "1", "0"):
        wechat.text(text)
    broadcast_id = draft(rt, channels=["wechat"])
    with rt.db.unit_of_work() as s:
        b = s.get(Broadcast, broadcast_id)
        (person,) = bc.audience(s, rt, b).planned
        assert person.route == bc.CS
        s.execute(update(Conversation).values(updated_at=bc.utcnow() - dt.timedelta(hours=49)))
    now = bc.utcnow()
    for month_send in range(4):
        approve(rt, draft(rt, channels=["wechat"], title=f"通知{month_send}"), now=now)
    with rt.db.unit_of_work() as s:
        routes = s.execute(select(BroadcastRecipient.route)).scalars().all()
        assert routes == [bc.MASS] * 4
        left = bc.audience(s, rt, s.get(Broadcast, broadcast_id), now)
        assert (left.planned, left.unreachable) == ([], 1)  # the fifth this month: not reachable by 群发


def test_a_township_notice_reaches_that_township_and_the_county_wide_subscribers(sms):
    twilio, rt = sms
    subscribe_by_sms(twilio, PHONE, "1", "潋江镇")
    subscribe_by_sms(twilio, SECOND_PHONE, "1", "江背镇")
    subscribe_by_sms(twilio, "+8613800000003", "1", "0")
    with rt.db.unit_of_work() as s:
        b = s.get(Broadcast, draft(rt, township="江背镇"))
        reached = {rt.protector.decrypt(p.recipient_ref) for p in bc.audience(s, rt, b).planned}
    assert reached == {SECOND_PHONE, "+8613800000003"}
    twilio.send("T", number=SECOND_PHONE)  # STOP after subscribing
    with rt.db.unit_of_work() as s:
        assert bc.audience(s, rt, s.get(Broadcast, b.id)).count("sms") == 1
