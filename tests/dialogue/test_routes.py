"""The engine's route table: each kind of message goes where the table says, in its order."""
from __future__ import annotations

from bot.engine import ROUTES
from bot.messages import IncomingMessage
from bot.textnorm import MessageText, normalize_text


def say(runtime, text, user="r-1", channel="wechat"):
    return runtime.engine.handle(IncomingMessage(channel=channel, user_id=user, text=text))


def test_the_table_ends_with_the_route_every_message_may_take():
    assert ROUTES[0].name.startswith("a screening in progress")
    assert ROUTES[-1].when(None, None) is True
    assert len({r.name for r in ROUTES}) == len(ROUTES)


def test_the_question_left_after_liuyan_may_be_anything(runtime):
    say(runtime, "留言")
    reply = say(runtime, "JZ261128-ABCD 这个申请怎么还没消息")  # not read as a reference lookup
    assert reply.messages == [runtime.kb.message("leave_message_saved", "wechat")]


def test_inside_a_screening_a_number_answers_the_question_not_an_old_offer(runtime):
    say(runtime, "补贴")                   # offers numbered choices
    say(runtime, "我要申请")                # a screening starts: the offer is gone
    say(runtime, "同意")
    assert say(runtime, "1").expecting != "program"  # 1. 低保 answered the programme question


def test_yes_after_an_offer_to_screen_starts_it_but_only_right_after(runtime):
    say(runtime, "低保标准是多少")          # the answer offers the screening
    assert say(runtime, "好").expecting == "consent"
    say(runtime, "低保标准是多少", user="r-2")
    say(runtime, "医保怎么交", user="r-2")   # the offer lasted one message: this answer makes none
    assert say(runtime, "好", user="r-2").expecting is None


def test_a_message_is_cleaned_once_and_carries_both_forms():
    text = MessageText("ＪＺ２６１１２８ＡＢＣＤ， 查进度😀")
    assert text.raw == "ＪＺ２６１１２８ＡＢＣＤ， 查进度😀" and text == text.raw
    assert normalize_text(text) is text.clean == "jz261128abcd, 查进度"
    assert text.compact == "jz261128abcd查进度"
    assert not hasattr(normalize_text, "cache_info")  # no process-wide cache of residents' text
