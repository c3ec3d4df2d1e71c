"""An emergency told at another question, in a screening that would not ask about one."""
import pytest

from tests.screening.conftest import RURAL_FAMILY


@pytest.mark.parametrize("channel", ["wechat", "sms"])
def test_a_fire_told_in_a_dibao_screening_is_urgent_once_confirmed(talk, runtime, channel):
    c = talk(channel, "+8613870712468" if channel == "sms" else "resident-1")
    c.send("我想申请低保")
    c.advance_to("owns_vehicle", RURAL_FAMILY | {"consent": "1" if channel == "sms" else "同意"})
    c.send("屋里昨晚着火了")
    assert "12349" in c.text and c.last.expecting == "owns_vehicle"
    c.send("是")
    assert c.last.expecting == "owns_vehicle"  # the question asked goes on
    asked = []
    answers = RURAL_FAMILY | {"emergency_description": "房子烧了一半", "confirm": "1" if channel == "sms" else "对"}
    while not c.last.done:
        asked.append(c.last.expecting)
        c.send(answers[c.last.expecting])
    assert "emergency_description" in asked and "emergency" not in asked
    lead = runtime.leads.as_dict(runtime.leads.get(c.last.application_ref))
    assert lead["urgency"] == "high" and lead["fields"]["emergency"] is True


def test_a_fire_not_confirmed_is_not_recorded(talk, runtime):
    c = talk()
    c.send("我想申请低保")
    c.advance_to("owns_vehicle", RURAL_FAMILY)
    c.send("屋里昨晚着火了")
    c.send("不是")
    reply = c.answer_until(RURAL_FAMILY)
    lead = runtime.leads.as_dict(runtime.leads.get(reply.application_ref))
    assert "emergency" not in lead["fields"] and lead["urgency"] == "normal"


@pytest.mark.parametrize("slot, text", [("house_count", "冇车"), ("savings", "冇车"), ("house_count", "没得存款"),
                                        ("household_monthly_income", "没有残疾证")])
def test_a_no_about_another_question_is_not_stored_as_zero(talk, slot, text):
    c = talk()
    c.send("我想申请低保")
    c.advance_to(slot, RURAL_FAMILY)
    c.send(text)
    assert c.last.expecting == slot and "另一件事" in c.text


@pytest.mark.parametrize("slot, text, value", [("house_count", "一间房都冇", 0), ("savings", "冇么子存款", 0),
                                               ("household_monthly_income", "冇收入", 0)])
def test_a_no_about_this_question_is_still_zero(talk, runtime, slot, text, value):
    c = talk()
    c.send("我想申请低保")
    c.advance_to(slot, RURAL_FAMILY)
    c.send(text)
    assert c.last.expecting != slot
    reply = c.answer_until(RURAL_FAMILY)
    assert runtime.leads.as_dict(runtime.leads.get(reply.application_ref))["fields"][slot] == value
