"""Scripted conversations on both channels: nothing the resident did not say is stored.

A question, a confused reply or an emergency told at another question is no answer; a
doubtful value (a bare 1 at a money question, age 2) is read back before it is stored.
"""
import pytest

from tests.screening.conftest import RURAL_FAMILY

CHANNELS = ["wechat", "sms"]
YES = {"wechat": "是", "sms": "1"}
NO = {"wechat": "不是", "sms": "2"}
SICK = {**RURAL_FAMILY, "serious_illness": "有高血压"}


def start(talk, channel, opening="申请低保", user=None):
    """A conversation on the channel, its first message sent (SMS takes the phone from the sender)."""
    c = talk(channel=channel, user=user or ("13607970088" if channel == "sms" else f"wx-{opening}"))
    c.send(opening)
    return c


def fields(runtime, reply):
    """The submitted lead's fields, unmasked."""
    store = runtime.leads
    return store.as_dict(store.get(reply.application_ref), reveal=True)["fields"]


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_emergency_told_at_the_illness_question_is_recorded_once_confirmed(talk, runtime, channel):
    c = start(talk, channel, "申请临时救助")
    c.advance_to("serious_illness", RURAL_FAMILY)
    c.send("屋里昨晚着火了")
    assert c.last.expecting == "serious_illness" and "急事" in c.text and "记下" in c.text
    c.send(YES[channel])
    assert c.last.expecting == "serious_illness"          # the illness question still needs its answer
    c.send("冇大病")
    assert c.last.expecting == "emergency_description"    # the emergency is not asked again
    lead = fields(runtime, c.answer_until({**RURAL_FAMILY, "emergency_description": "灶屋着火烧了两间房"}))
    assert lead["emergency"] is True and lead["serious_illness"] is False


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_emergency_not_confirmed_is_not_recorded(talk, runtime, channel):
    c = start(talk, channel, "申请临时救助")
    c.advance_to("serious_illness", RURAL_FAMILY)
    c.send("屋里昨晚着火了")
    c.send(NO[channel])
    assert c.last.expecting == "serious_illness" and "没记" in c.text
    c.send("冇")
    assert c.last.expecting == "medical_expense_year" or c.last.expecting == "emergency"


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_emergency_at_a_programme_that_does_not_ask_it_is_stored_only_after_a_yes(talk, runtime, channel):
    c = start(talk, channel)
    c.advance_to("serious_illness", RURAL_FAMILY)
    c.send("屋里昨晚着火了")
    assert c.last.expecting == "serious_illness" and "12349" in c.text and "记下" in c.text
    lead = fields(runtime, c.answer_until(RURAL_FAMILY))
    assert lead["serious_illness"] is False and "emergency" not in lead


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_bare_number_at_a_money_question_is_read_back(talk, runtime, channel):
    c = start(talk, channel)
    c.advance_to("medical_expense_year", SICK)
    c.send("1")
    assert c.last.expecting == "medical_expense_year" and "您是说" in c.text and "1元" in c.text
    c.send(NO[channel])
    assert c.last.expecting == "medical_expense_year"
    c.send("一千")
    assert fields(runtime, c.answer_until(SICK))["medical_expense_year"] == 1000


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_read_back_confirmed_is_stored_and_a_new_figure_replaces_it(talk, runtime, channel):
    c = start(talk, channel)
    c.advance_to("house_count", RURAL_FAMILY)
    c.send("1")
    assert c.last.expecting == "house_count" and "1套" in c.text
    c.send(YES[channel])
    assert c.last.expecting == "savings"
    c.send("3")
    assert c.last.expecting == "savings" and "3元" in c.text
    c.send("不是，三千块")
    lead = fields(runtime, c.answer_until(RURAL_FAMILY))
    assert lead["house_count"] == 1 and lead["savings"] == 3000


def test_sms_disability_question_numbers_its_levels(talk, runtime):
    c = start(talk, "sms")
    c.advance_to("disability_level", RURAL_FAMILY)
    assert "2. 二级" in c.text and "5. 没有" in c.text and "回复数字" in c.text
    c.send("5")
    assert fields(runtime, c.answer_until(RURAL_FAMILY))["disability_level"] is None


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_question_at_the_car_question_is_not_a_no(talk, runtime, channel):
    c = start(talk, channel)
    c.advance_to("owns_vehicle", RURAL_FAMILY)
    c.send("吃了低保养老金还有冇得领？")
    assert c.last.expecting == "owns_vehicle"
    c.send("有一辆面包车")
    assert fields(runtime, c.answer_until(RURAL_FAMILY))["owns_vehicle"] is True


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_pronoun_is_no_name_and_a_sentence_keeps_only_the_name(talk, runtime, channel):
    c = start(talk, channel)
    c.advance_to("name", RURAL_FAMILY)
    c.send("我")
    assert c.last.expecting == "name"
    c.send("我奶奶叫刘桂英")
    c.advance_to("id_number", RURAL_FAMILY)
    c.send("她身份证号是360732197909152130")
    answers = {**RURAL_FAMILY, "phone": "打我电话就行，151 7971 2001"}
    lead = fields(runtime, c.answer_until(answers))
    assert lead["name"] == "刘桂英" and lead["id_number"] == "360732197909152130"
    assert lead["phone"] == ("13607970088" if channel == "sms" else "15179712001")


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_village_not_remembered_gets_help_and_can_be_skipped(talk, runtime, channel):
    c = start(talk, channel)
    c.advance_to("village", RURAL_FAMILY)
    c.send("不记得了")
    assert c.last.expecting == "village" and "意思是" in c.text and "跳过" in c.text
    c.send("0")
    assert c.last.expecting == "village"
    c.send("跳过")
    assert c.last.expecting == "residence"
    assert "village" not in fields(runtime, c.answer_until(RURAL_FAMILY))


@pytest.mark.parametrize("channel", CHANNELS)
def test_age_two_is_read_back_not_stored(talk, runtime, channel):
    c = start(talk, channel)
    c.advance_to("age", {**RURAL_FAMILY, "id_number": "跳过"})
    c.send("2")
    assert c.last.expecting == "age" and "2岁" in c.text
    c.send(NO[channel])
    c.send("68")
    assert fields(runtime, c.answer_until({**RURAL_FAMILY, "id_number": "跳过"}))["age"] == 68


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("confused", ["啥意思", "么子", "？", "身份证在我崽那里冇带"])
def test_a_confused_reply_gets_help_with_this_question_not_a_policy_answer(talk, channel, confused):
    c = start(talk, channel)
    c.advance_to("id_number", RURAL_FAMILY)
    c.send(confused)
    assert c.last.expecting == "id_number"
    assert "18位" in c.text and "跳过" in c.text
    assert "低保金" not in c.text and "救助" not in c.text.replace("救助申请", "")


def test_confusion_three_times_offers_the_way_out(talk):
    c = start(talk, "wechat")
    c.advance_to("household_size", RURAL_FAMILY)
    for text in ("啥意思", "么子", "听不懂"):
        c.send(text)
    assert c.last.expecting is None and "回复1先跳过" in c.text


@pytest.mark.parametrize("channel", CHANNELS)
def test_read_backs_refused_again_and_again_offer_the_way_out(talk, channel):
    c = start(talk, channel)
    c.advance_to("household_monthly_income", RURAL_FAMILY)
    for _ in range(3):
        c.send("1")
        assert "您是说" in c.text
        c.send(NO[channel])
        if c.last.expecting is None:
            break
    assert c.last.expecting is None and "跳过" in c.text
