"""Residents' topic subscriptions (订阅 / 我的订阅 / 退订) through the real signed WeChat and Twilio
webhooks, on SQLite and PostgreSQL: numbered steps, the SMS confirmation, and the proof of consent."""
from __future__ import annotations

from sqlalchemy import select

from bot.publicity.subscribe import load_words
from bot.storage.models import Subscription, SubscriptionChange
from bot.subscriptions import ALL, NOTICES, SUBSCRIBED, UNSUBSCRIBED, refusal
from tests.handlers.conftest import OPENID
from tests.test_subscriptions import sms, wechat  # noqa: F401 — the signed-webhook fixtures, on SQLite and PostgreSQL


def subscribed(runtime, channel: str) -> set[tuple[str, str | None]]:
    with runtime.db.unit_of_work() as s:
        return set(s.execute(select(Subscription.topic, Subscription.township).where(
            Subscription.channel == channel, Subscription.status == SUBSCRIBED)).all())


def logged(runtime) -> list[tuple[str, str | None, str, str]]:
    with runtime.db.unit_of_work() as s:
        return [tuple(r) for r in s.execute(select(
            SubscriptionChange.topic, SubscriptionChange.township, SubscriptionChange.status,
            SubscriptionChange.wording).order_by(SubscriptionChange.id)).all()]


def test_wechat_subscribe_in_numbered_steps_topics_then_township(wechat):
    rt = wechat.runtime
    menu = wechat.text("订阅")
    for number, name in enumerate(["低保", "特困", "临时救助", "医疗救助", "残疾人", "儿童"], 1):
        assert f"{number}. {name}" in menu
    assert "7. 全部" in menu and subscribed(rt, "wechat") == set()   # nothing yet: only a question
    assert "哪个乡镇" in wechat.text("1 3")
    done = wechat.text("潋江")  # the township without its 镇
    assert "已为您订阅：低保、临时救助（潋江镇）" in done and "我的订阅" in done
    assert subscribed(rt, "wechat") == {("dibao", "潋江镇"), ("linshi", "潋江镇"), (NOTICES, None)}
    assert logged(rt)[0] == ("dibao", "潋江镇", SUBSCRIBED, "潋江")  # the wording of the step that decided


def test_wechat_my_subscriptions_changes_the_township_and_the_topics(wechat):
    rt = wechat.runtime
    wechat.text("订阅"), wechat.text("全部"), wechat.text("0")
    assert {t for t, _ in subscribed(rt, "wechat")} == {"dibao", "tekun", "linshi", "yiliao", "canji", "ertong",
                                                       NOTICES}
    shown = wechat.text("我的订阅")
    assert "低保、特困、临时救助、医疗救助、残疾人、儿童（全县）" in shown and "2. 修改乡镇" in shown
    assert "哪个乡镇" in wechat.text("2")
    assert "（江背镇）" in wechat.text("江背镇")
    assert subscribed(rt, "wechat") - {(NOTICES, None)} == {(t, "江背镇") for t in
                                                             ("dibao", "tekun", "linshi", "yiliao", "canji", "ertong")}
    wechat.text("我的订阅")
    wechat.text("1")
    assert "已为您订阅：儿童（江背镇）" in wechat.text("6")  # the township stays; the other topics end
    assert subscribed(rt, "wechat") == {("ertong", "江背镇"), (NOTICES, None)}


def test_wechat_leave_ends_every_topic_but_not_the_account(wechat):
    rt = wechat.runtime
    wechat.text("订阅"), wechat.text("2"), wechat.text("0")
    assert "已退订全部政策消息" in wechat.text("退订")
    assert subscribed(rt, "wechat") == set()
    assert "还没有订阅" in wechat.text("我的订阅")
    with rt.db.unit_of_work() as s:
        assert refusal(s, rt, "wechat", OPENID) is None  # a reply to their own question still goes out
    assert logged(rt)[-2:] == [("tekun", None, UNSUBSCRIBED, "退订"), (NOTICES, None, UNSUBSCRIBED, "退订")]


def test_a_menu_click_starts_the_same_flow(wechat):
    assert "1. 低保" in wechat.send("event", Event="CLICK", EventKey="SUBSCRIBE")


def test_wrong_answers_are_asked_again_and_a_question_leaves_the_flow(wechat):
    wechat.text("订阅")
    assert "没看懂" in wechat.text("9")
    assert "哪个乡镇" in wechat.text("低保和儿童")  # names work as well as numbers
    assert "没找到" in wechat.text("北京")
    answer = wechat.text("低保标准是多少钱一个月")
    assert "订阅没有完成" in answer and "900" in answer  # the question is answered, nothing saved
    assert subscribed(wechat.runtime, "wechat") == set()
    wechat.text("订阅")
    assert "没有改动" in wechat.text("取消") and subscribed(wechat.runtime, "wechat") == set()


def test_sms_opt_in_needs_the_confirmation(sms):
    twilio, rt = sms
    (menu,) = twilio.send("订阅")
    assert "1低保" in menu and len(menu) <= 134
    twilio.send("1")
    (confirm,) = twilio.send("0")
    assert "回复\"确认\"订阅" in confirm and "T退订" in confirm and len(confirm) <= 134
    assert subscribed(rt, "sms") == set()  # not before the resident's explicit yes
    (done,) = twilio.send("确认")
    assert "已订阅" in done and "低保（全县）" in done
    assert subscribed(rt, "sms") == {(ALL, None), ("dibao", None), (NOTICES, None)}
    assert ("dibao", None, SUBSCRIBED, "确认") in logged(rt)
    twilio.send("T")  # the carrier keyword ends everything
    assert subscribed(rt, "sms") == set()


def test_sms_anything_but_the_confirmation_subscribes_nothing(sms):
    twilio, rt = sms
    twilio.send("订阅"), twilio.send("2"), twilio.send("樟木乡")
    (text,) = twilio.send("不")
    assert "没有订阅" in text and subscribed(rt, "sms") == set() and logged(rt) == []


def test_sms_subscribe_after_stop_is_the_resident_coming_back(sms):
    twilio, rt = sms
    twilio.send("STOP")
    assert twilio.send("订阅") == [rt.kb.message("sms_start_confirm", "sms")]


def test_every_topic_text_is_within_two_sms_segments(sms):
    _, rt = sms
    for key, texts in load_words().texts.items():
        assert len(texts.get("sms") or texts["wechat"]) <= 134, key
