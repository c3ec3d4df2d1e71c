"""Question events carry the resident's township when the conversation knows it, never a guess."""
from __future__ import annotations

from tests.insight.test_recorded_by_conversations import asked_slot, events, sms, wechat  # noqa: F401 — fixtures
from tests.screening.conftest import RURAL_FAMILY


def question_townships(runtime) -> list:
    return [township for kind, _s, _c, township, *_ in events(runtime) if kind.startswith("question.")]


def test_a_question_without_a_screening_has_no_township_on_wechat(wechat):  # noqa: F811
    wechat.text("低保标准是多少")
    assert question_townships(wechat.runtime) == [None]


def test_a_question_in_a_screening_past_the_township_carries_it_on_sms(sms):  # noqa: F811
    twilio, rt = sms
    twilio.send("我想申请低保")
    for _ in range(20):
        slot = asked_slot(rt, "sms", "+8613800000001")
        if slot in (None, "village"):
            break
        twilio.send(RURAL_FAMILY[slot])
    assert slot == "village"
    twilio.send("低保标准是多少")
    townships = question_townships(rt)
    assert townships and townships[-1] is not None and townships[-1].startswith("崇贤")


def test_a_question_before_the_township_is_answered_has_none_on_sms(sms):  # noqa: F811
    twilio, rt = sms
    twilio.send("低保标准是多少")
    assert question_townships(rt) == [None]
