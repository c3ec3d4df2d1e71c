"""A supporter who cannot support is never stored as a plain 有 (特困: no supporter able to support).

"儿子在外面打工，自己都顾不过来" at the supporter question used to be 赡养人：有 (打工 is a
yes word): it is read back as "no able supporter" and stored only after a yes.
"""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.screening.parsers import AnswerParsers
from tests.screening.conftest import RURAL_FAMILY

CHANNELS = ["wechat", "sms"]
YES = {"wechat": "是", "sms": "1"}
USER = {"wechat": "wx-supporter", "sms": "+8613870712468"}

PARSERS = AnswerParsers.from_knowledge(("崇贤",))

RELATIVES = ["儿子", "女儿", "崽", "儿女", "两个儿子", "有个女儿", "有一个儿子", "有是有，儿子", "有，儿子"]
UNABLE = ["自己都顾不过来", "自己也困难", "养不了我", "没能力管我", "不管我", "自身难保", "也有病", "残疾了",
          "联系不上", "指望不上", "没钱给我", "自己都吃不饱，顾不上"]
AWAY = ["在外面打工", "都在外地", "嫁到外省去了", "在广东打工", "出去了"]


@pytest.mark.parametrize("said", ["儿子在外面打工，自己都顾不过来", "有儿子，但他自己也困难", "有是有，但都顾不上"])
def test_a_supporter_who_cannot_support_is_read_back_not_stored(said):
    parsed = PARSERS.parse("supporter", said)
    assert not parsed.ok and parsed.readback and parsed.value is False


@pytest.mark.parametrize("said", ["有是有，但他们不管我", "儿子残疾，养不了我", "有，但无力赡养", "没儿没女"])
def test_a_plain_no_able_supporter_is_a_no(said):
    assert PARSERS.parse("supporter", said) == PARSERS.parse("supporter", "没有")


@pytest.mark.parametrize("said", ["有", "有个儿子", "有，儿子管我"])
def test_a_plain_supporter_is_a_yes(said):
    parsed = PARSERS.parse("supporter", said)
    assert parsed.ok and parsed.value is True


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(RELATIVES), st.sampled_from(["", "，", "，但", "，可是", "，不过"]),
       st.sampled_from(AWAY + [""]), st.sampled_from(["，", "，但是"]), st.sampled_from(UNABLE))
def test_a_relative_who_cannot_support_is_never_a_confident_yes(relative, join, away, join2, unable):
    said = relative + join + away + join2 + unable
    parsed = PARSERS.parse("supporter", said)
    assert not (parsed.ok and parsed.value is True), said


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(RELATIVES), st.sampled_from(AWAY))
def test_a_relative_living_away_is_never_a_confident_yes(relative, away):
    said = relative + away
    parsed = PARSERS.parse("supporter", said)
    assert not (parsed.ok and parsed.value is True), said


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_son_who_cannot_cope_is_read_back_and_stored_as_no_able_supporter(talk, runtime, channel):
    c = talk(channel, USER[channel])
    c.send("申请低保")
    c.advance_to("has_supporter", RURAL_FAMILY)
    c.send("儿子在外面打工，自己都顾不过来")
    assert c.last.expecting == "has_supporter" and "您是说" in c.text and "无力赡养" in c.text
    c.send(YES[channel])
    assert c.last.expecting != "has_supporter"
    reply = c.answer_until(RURAL_FAMILY)
    fields = runtime.leads.as_dict(runtime.leads.get(reply.application_ref))["fields"]
    assert fields["has_supporter"] is False
