"""政策找人's question at the end of a screening: only an explicit yes is kept, on WeChat and SMS."""
from sqlalchemy import select

from bot.messages import IncomingMessage
from bot.storage.models import Lead, OutboxMessage, Subscription, SubscriptionChange
from tests.screening.test_submission import THREE, submit

ASK = "可以再通知您来复查吗"


def recheck_of(runtime, ref):
    with runtime.db.unit_of_work() as s:
        return (s.execute(select(Lead).where(Lead.ref == ref)).scalar_one().consent or {}).get("recheck")


def subscriptions(runtime):
    with runtime.db.unit_of_work() as s:
        return [(r.topic, r.status, r.township) for r in s.execute(select(Subscription)
                                                                    .where(Subscription.topic == "recheck")).scalars()]


def test_a_yes_on_wechat_keeps_the_consent_and_what_a_recheck_needs(talk, runtime):
    c = submit(talk, "wechat", THREE)
    ref = c.last.application_ref
    assert ASK in c.text
    c.send("同意")
    assert "标准调整时会通知您" in c.text
    snap = recheck_of(runtime, ref)
    assert snap["given"] is True and snap["channel"] == "wechat" and snap["version"] == "1"
    assert snap["per_capita"] == 400.0 and snap["standard"] == 720
    assert snap["standard_key"] == "county.standards.dibao_rural" and snap["reply"] == "同意"
    assert "黄春生" not in str(snap) and "3607" not in str(snap)          # no personal data in clear
    assert subscriptions(runtime) == [("recheck", "subscribed", snap["township"])]
    with runtime.db.unit_of_work() as s:
        proof = s.execute(select(SubscriptionChange).where(SubscriptionChange.topic == "recheck")).scalar_one()
        assert proof.wording == "同意" and proof.source == "screening_end"


def test_a_no_is_kept_as_a_no(talk, runtime):
    c = submit(talk, "wechat", THREE)
    ref = c.last.application_ref
    c.send("不同意")
    assert "不会因为标准调整再联系您" in c.text
    assert recheck_of(runtime, ref)["given"] is False
    assert [s[:2] for s in subscriptions(runtime)] == [("recheck", "unsubscribed")]


def test_a_greeting_or_a_question_is_no_yes(talk, runtime):
    c = submit(talk, "wechat", THREE)
    ref = c.last.application_ref
    c.send("你好")
    assert "这次就先不记下了" in c.text
    assert recheck_of(runtime, ref) is None and subscriptions(runtime) == []
    c.send("同意")          # asked once only: a later 同意 is no answer to it
    assert recheck_of(runtime, ref) is None and subscriptions(runtime) == []


def test_a_question_instead_of_an_answer_is_answered_and_not_kept(talk, runtime):
    c = submit(talk, "wechat", THREE)
    ref = c.last.application_ref
    c.send("低保标准是多少？")
    assert recheck_of(runtime, ref) is None and subscriptions(runtime) == []
    assert len(c.last.messages) >= 2      # the question goes on to be answered


def test_on_sms_the_question_is_its_own_short_numbered_sms(talk, runtime):
    c = submit(talk, "sms", THREE)
    ref = c.last.application_ref
    assert ASK not in c.text
    with runtime.db.unit_of_work() as s:
        asks = [runtime.protector.decrypt(r.body) for r in s.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "recheck_ask")).scalars()]
    assert len(asks) == 1 and "1" in asks[0] and "同意" in asks[0] and len(asks[0]) <= 67
    c.send("1")
    snap = recheck_of(runtime, ref)
    assert snap["given"] is True and snap["channel"] == "sms"


def test_on_sms_a_greeting_is_no_yes(talk, runtime):
    c = submit(talk, "sms", THREE)
    ref = c.last.application_ref
    c.send("你好")
    assert recheck_of(runtime, ref) is None and subscriptions(runtime) == []


def test_the_invitation_word_starts_a_screening(runtime):
    for channel, user in (("wechat", "wx-recheck"), ("sms", "+8613900001111")):
        reply = runtime.engine.handle(IncomingMessage(channel=channel, user_id=user, text="复查"))
        assert reply.expecting == "consent", reply.messages

