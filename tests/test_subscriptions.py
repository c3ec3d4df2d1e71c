"""Subscriptions in one table: SMS STOP/START and WeChat follow/unfollow through the real webhooks,
the outbox cancelling (never sending) to an opted-out number or an unfollowed account, the proof of
consent, and migration 0012 moving the old rows — on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter

import pytest
from sqlalchemy import create_engine, inspect, select, text

from bot.outbox import CANCELLED, SENT, Policy, Sent, deliver_due, enqueue
from bot.phones import phone_key
from bot.storage import schema
from bot.storage.models import OutboxMessage, Subscription, SubscriptionChange
from bot.subscriptions import (ALL, NOTICES, SUBSCRIBED, UNSUBSCRIBED, change, outbox_refusal, recipient_key,
                               refusal, status_of)
from tests.conftest import ROOT
from tests.handlers.conftest import OPENID
from tests.handlers.test_sms import PHONE, Twilio, twilio_env
from tests.handlers.test_sms import make_runtime as make_sms_runtime
from tests.handlers.test_wechat_turns import server
from web.app import create_app


class Recorder:
    """A sender double: what it was given (every channel)."""

    max_seconds = 1.0

    def __init__(self):
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send(self, recipient: str, body: str) -> Sent:
        with self.lock:
            self.sent.append(recipient)
        return Sent()


@pytest.fixture
def wechat(any_db_url, shared_runtime):
    fake = server(any_db_url, shared_runtime)
    yield fake
    fake.runtime.db.dispose()


@pytest.fixture
def sms(any_db_url, shared_runtime):
    runtime = make_sms_runtime(twilio_env(any_db_url), shared_runtime)
    yield Twilio(create_app(runtime).test_client()), runtime
    runtime.db.dispose()


def deliver(runtime, channel: str) -> tuple[Counter, Recorder]:
    sender = Recorder()
    return deliver_due(runtime, {channel: sender}, outbox_refusal(runtime), Policy()), sender


def row(runtime, message_id: int) -> OutboxMessage:
    with runtime.db.unit_of_work() as s:
        return s.get(OutboxMessage, message_id)


def changes(runtime) -> list[tuple]:
    with runtime.db.unit_of_work() as s:
        return [(c.channel, c.topic, c.status, c.wording, c.source) for c in
                s.execute(select(SubscriptionChange).order_by(SubscriptionChange.id)).scalars()]


def test_an_unfollowed_wechat_account_gets_nothing_from_the_outbox(wechat):
    rt = wechat.runtime
    assert wechat.send("event", Event="subscribe", EventKey="qrscene_7")  # the welcome
    queued, _ = enqueue(rt, "wechat", OPENID, "您的申请已受理", "status:JZ261201-AAAA:submitted")
    assert wechat.send("event", Event="unsubscribe") == ""
    outcomes, sender = deliver(rt, "wechat")
    assert outcomes == Counter({CANCELLED: 1}) and sender.sent == []
    message = row(rt, queued)
    assert message.status == CANCELLED
    assert message.last_error.startswith("cancelled: the WeChat account unfollowed on 20")
    wechat.send("event", Event="subscribe", EventKey="")  # followed again: written to again
    again, _ = enqueue(rt, "wechat", OPENID, "您的申请已办结", "status:JZ261201-AAAA:closed")
    assert deliver(rt, "wechat")[0] == Counter({SENT: 1}) and row(rt, again).status == SENT
    assert [c[:3] + c[4:] for c in changes(rt)] == [
        ("wechat", ALL, SUBSCRIBED, "wechat_event"), ("wechat", ALL, UNSUBSCRIBED, "wechat_event"),
        ("wechat", ALL, SUBSCRIBED, "wechat_event")]


def test_an_unfollow_also_ends_the_notices_and_a_new_follow_does_not_bring_them_back(wechat):
    rt = wechat.runtime
    assert "已为您订阅" in wechat.text("订阅政策通知")
    wechat.send("event", Event="unsubscribe")
    wechat.send("event", Event="subscribe", EventKey="")
    with rt.db.unit_of_work() as s:
        assert status_of(s, rt, "wechat", OPENID, NOTICES) == UNSUBSCRIBED  # opting in is the resident's word
        assert refusal(s, rt, "wechat", OPENID) is None
        assert refusal(s, rt, "wechat", OPENID, topic=NOTICES) == "not subscribed to notices"


def test_an_opted_out_number_is_cancelled_with_the_reason_and_start_brings_it_back(sms):
    twilio, rt = sms
    assert twilio.send("拒收")  # confirmed once
    queued, _ = enqueue(rt, "sms", "138-0000-0001", "您的申请已受理", "status:JZ261201-BBBB:submitted")
    outcomes, sender = deliver(rt, "sms")
    assert outcomes == Counter({CANCELLED: 1}) and sender.sent == []
    assert row(rt, queued).last_error.startswith("cancelled: the number opted out (STOP/退订) on 20")
    assert twilio.send("START")
    again, _ = enqueue(rt, "sms", PHONE, "您的申请已办结", "status:JZ261201-BBBB:closed")
    assert deliver(rt, "sms")[0] == Counter({SENT: 1}) and row(rt, again).status == SENT


def test_every_opt_in_and_opt_out_is_kept_with_wording_channel_and_time(sms):
    twilio, rt = sms
    twilio.send("START")  # (订阅 from a fresh number asks for topics and a confirmation: tests/test_publicity_subscribe.py)
    twilio.send("不要再发了")
    twilio.send("不要再发了")  # already out: no second confirmation, no second record
    assert twilio.send("不要再发了") == []
    assert changes(rt) == [("sms", ALL, SUBSCRIBED, "START", "sms_keyword"),
                           ("sms", NOTICES, SUBSCRIBED, "START", "sms_keyword"),
                           ("sms", NOTICES, UNSUBSCRIBED, "不要再发了", "sms_keyword"),
                           ("sms", ALL, UNSUBSCRIBED, "不要再发了", "sms_keyword")]
    with rt.db.unit_of_work() as s:
        rows = s.execute(select(Subscription)).scalars().all()
        assert {(r.topic, r.status, r.consent_channel) for r in rows} == {(ALL, UNSUBSCRIBED, "sms"),
                                                                         (NOTICES, UNSUBSCRIBED, "sms")}
        assert all(r.recipient_key == phone_key(rt.protector, "13800000001") for r in rows)
        assert all(rt.protector.decrypt(r.recipient_ref) == PHONE for r in rows)  # encrypted, for a broadcast
        times = s.execute(select(SubscriptionChange.at)).scalars().all()
        assert len(times) == 4 and all(t is not None for t in times)


def test_a_resident_s_wording_is_kept_without_numbers(runtime):
    with runtime.db.unit_of_work() as s:
        change(s, runtime, "sms", PHONE, NOTICES, SUBSCRIBED, wording="订阅，我电话13912345678 身份证360732197909152130",
               source="command")
    (kept,) = [wording for *_, wording, _source in changes(runtime)]
    assert "13912345678" not in kept and "360732197909152130" not in kept and kept.startswith("订阅")


def test_a_township_topic_and_the_county_wide_one_are_two_subscriptions(runtime):
    with runtime.db.unit_of_work() as s:
        for township in (None, "江背镇", None):
            change(s, runtime, "wechat", OPENID, "dibao.standard", SUBSCRIBED, wording="订阅", source="menu",
                   township=township)
    with runtime.db.unit_of_work() as s:
        assert s.execute(select(Subscription.township)).scalars().all() in ([None, "江背镇"], ["江背镇", None])
        assert status_of(s, runtime, "wechat", OPENID, "dibao.standard", "江背镇") == SUBSCRIBED
    assert len(changes(runtime)) == 2


def test_the_worker_imports_no_flask_and_no_webhook_module():
    code = ("import sys; import bot.commands.worker as w; from bot.subscriptions import outbox_refusal; "
            "from handlers.senders import build_senders; "
            "bad = [m for m in sys.modules if m == 'flask' or m.startswith('flask.') "
            "or m in ('handlers.sms', 'handlers.wechat', 'web.app')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ---- migration 0012 ------------------------------------------------------------------------


def test_upgrade_from_0011_moves_existing_subscriptions_and_notice_flags(any_db_url, runtime):
    protector = runtime.protector
    engine = create_engine(any_db_url)
    try:
        schema.upgrade(engine, "0011")
        stopped, started = "+8613800000001", "+8613800000002"
        sms_reader, wechat_reader = "+8613900000003", "oJZ_reader"
        with engine.begin() as conn:
            for number, subscribed in ((stopped, False), (started, True)):
                conn.execute(text("INSERT INTO sms_subscriptions (phone_key, phone_ref, subscribed, updated_at) "
                                  "VALUES (:k, :r, :s, '2026-11-20 08:00:00')"),
                             {"k": phone_key(protector, number), "r": protector.encrypt(number), "s": subscribed})
            for channel, user, flag in (("sms", sms_reader, True), ("wechat", wechat_reader, False),
                                        ("wechat", "oJZ_never", None)):
                state = {"last_topic": {"topic": "dibao.standard", "expires": "2026-11-20T09:00:00+00:00"}}
                if flag is not None:
                    state["policy_notices"] = flag
                conn.execute(text("INSERT INTO conversations (channel, user_key, user_ref, state, version, "
                                  "created_at, updated_at) VALUES (:c, :k, :r, :s, 0, '2026-11-20 08:00:00', "
                                  "'2026-11-21 08:00:00')"),
                             {"c": channel, "k": protector.blind_index(f"user:{channel}", user),
                              "r": protector.encrypt(user), "s": json.dumps(state)})
        with pytest.raises(RuntimeError, match="needs the data key"):
            schema.upgrade(engine)  # an SMS resident's flag: its key needs the data key
        assert schema.current_revision(engine) == "0011"  # nothing half done
        assert schema.upgrade(engine, protector=protector) == ("0011", schema.head_revision())
        assert not inspect(engine).has_table("sms_subscriptions")
        rt = type(runtime)(runtime.config, kb=runtime.kb, matcher=runtime.matcher, protector=protector,
                           db=_database(any_db_url))
        with rt.db.unit_of_work() as s:
            assert refusal(s, rt, "sms", "138 0000 0001").startswith("the number opted out")
            assert refusal(s, rt, "sms", started) is None
            assert status_of(s, rt, "sms", started) == SUBSCRIBED
            assert status_of(s, rt, "sms", sms_reader, NOTICES) == SUBSCRIBED
            assert status_of(s, rt, "wechat", wechat_reader, NOTICES) == UNSUBSCRIBED
            assert status_of(s, rt, "wechat", "oJZ_never", NOTICES) is None
            keys = s.execute(select(Subscription.recipient_key).where(Subscription.topic == NOTICES,
                                                                      Subscription.channel == "sms")).scalars().all()
            assert keys == [recipient_key(protector, "sms", sms_reader)]  # the phone key, not the user key
            moved = s.execute(select(SubscriptionChange.source, SubscriptionChange.status)).all()
            assert sorted(moved) == sorted([("migration 0012", UNSUBSCRIBED), ("migration 0012", SUBSCRIBED),
                                            ("migration 0012", SUBSCRIBED), ("migration 0012", UNSUBSCRIBED)])
            states = [r[0] for r in s.execute(text("SELECT state FROM conversations"))]
            states = [json.loads(v) if isinstance(v, str) else v for v in states]
            assert all("policy_notices" not in v and "last_topic" in v for v in states)
        rt.db.dispose()
    finally:
        engine.dispose()


def _database(url: str):
    from bot.storage.db import Database

    return Database(url)
