"""The conversation core: offered choices, leaving a message, state in the database."""
import pytest

from bot.messages import IncomingMessage
from bot.runtime import Runtime
from bot.storage.models import UnansweredQuestion
from bot.unanswered import group_unanswered


def say(runtime, text, user="u1", channel="wechat"):
    return runtime.engine.handle(IncomingMessage(channel=channel, user_id=user, text=text))


def find_vague(runtime):
    for q in ("钱", "申请", "补助", "怎么办", "困难", "救助", "低保户", "低保", "补贴", "标准", "病了"):
        if runtime.answer(q).outcome == "choices":
            return q
    pytest.fail("no vague question produced choices")


def test_digit_picks_an_offered_choice(runtime):
    q = find_vague(runtime)
    offer = say(runtime, q)
    assert offer.messages[0].startswith("您是不是想问")
    picked = say(runtime, "2")
    assert picked.topic is not None
    second_title = offer.messages[0].splitlines()[2].split(". ", 1)[1]
    entry = next(e for e in runtime.kb.entries if e.title == second_title)
    assert picked.messages == [entry.answer_for("wechat")]


def test_digit_out_of_range_asks_again_and_keeps_the_offer(runtime):
    say(runtime, find_vague(runtime))
    again = say(runtime, "9")
    assert "1 到" in again.messages[0]
    assert say(runtime, "1").topic is not None


def test_offer_survives_a_restart(runtime, config, shared_runtime):
    say(runtime, find_vague(runtime))
    restarted = Runtime(config, kb=shared_runtime.kb, matcher=shared_runtime.matcher)  # a new process: nothing in memory
    assert say(restarted, "1").topic is not None


def test_a_new_question_replaces_the_offer(runtime):
    say(runtime, find_vague(runtime))
    reply = say(runtime, "低保标准是多少")
    assert reply.topic == "dibao.standard"
    assert say(runtime, "1").topic is None  # no offer pending: "1" is just a question


def test_unanswered_questions_are_stored_without_personal_data(runtime):
    say(runtime, "火星上有没有水 我电话13900001111")
    say(runtime, "火星上有没有水啊")
    with runtime.db.session() as s:
        texts = [r.text for r in s.query(UnansweredQuestion)]
    assert texts and all("13900001111" not in t for t in texts)
    groups = group_unanswered(runtime.db)
    assert groups[0].count == 2


def test_leaving_a_message_for_a_caseworker(runtime):
    prompt = say(runtime, "留言")
    assert "工作人员" in prompt.messages[0]
    saved = say(runtime, "我家的情况比较复杂，想请人打电话给我")
    assert "已记下" in saved.messages[0]
    groups = group_unanswered(runtime.db)
    assert groups[0].left_message == 1


def test_leaving_a_message_can_be_cancelled(runtime):
    say(runtime, "留言")
    assert "不留言" in say(runtime, "算了").messages[0]
    assert group_unanswered(runtime.db) == []


def test_overlong_message_is_trimmed_with_a_note(runtime):
    reply = say(runtime, "低保标准是多少" + "啊" * 3000)
    assert "较长" in reply.messages[0]
    assert "900" in reply.messages[1]  # still answered, from the first part


def test_a_bug_becomes_an_apology_not_a_traceback(runtime, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("secret internal detail")
    monkeypatch.setattr(runtime.matcher, "match", boom)
    reply = say(runtime, "低保标准是多少")
    assert reply.messages and "secret" not in reply.messages[0]
    assert "再发一次" in reply.messages[0] and "12349" in reply.messages[0]


def test_subscribing_and_unsubscribing_policy_notices(runtime):
    on = say(runtime, "订阅政策通知")
    assert "已为您订阅" in on.messages[0]
    off = say(runtime, "我要退订")
    assert "已退订" in off.messages[0]
    from bot.storage.models import Conversation, Subscription, SubscriptionChange
    with runtime.db.session() as s:
        assert "policy_notices" not in s.query(Conversation).one().state
        (row,) = s.query(Subscription).all()
        assert (row.topic, row.status, row.consent_wording) == ("notices", "unsubscribed", "我要退订")
        changes = s.query(SubscriptionChange).order_by(SubscriptionChange.id).all()
        assert [(c.status, c.wording) for c in changes] == [("subscribed", "订阅政策通知"),
                                                              ("unsubscribed", "我要退订")]
