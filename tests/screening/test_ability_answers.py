"""Labour and supporter answers told as circumstances, and 有 at the disability question.

"在外面打工", "以前打工现在干不动了", "儿子在外面打工" at 申请人自己还能干活挣钱吗 and
"有个儿子，残疾了" at 有没有能赡养的亲人 are never stored as something the resident
did not say: each is read as what it says, or read back ("您是说……吗？") and kept only
after a yes. 有 at 家里有人办了残疾证吗？有的话是几级？ is asked for its level.
"""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.screening.parsers import AnswerParsers
from tests.screening.conftest import RURAL_FAMILY

CHANNELS = ["wechat", "sms"]
YES = {"wechat": "是", "sms": "1"}
NO = {"wechat": "不是", "sms": "2"}
USER = {"wechat": "wx-ability", "sms": "+8613870712468"}

PARSERS = AnswerParsers.from_knowledge(("崇贤",))


def parsed(kind, said):
    return PARSERS.parse(kind, said)


# ---- labour -------------------------------------------------------------------------
@pytest.mark.parametrize("said", ["在外面打工", "打零工", "偶尔打点零工", "在广东打工", "外出务工", "做点小生意",
                                  "干点农活", "在家种地", "能做点零工", "我自己在外面打工"])
def test_working_now_is_able_to_work(said):
    result = parsed("labor", said)
    assert result.ok and result.value is True, said


@pytest.mark.parametrize("said", ["以前打工现在干不动了", "打工打不动了", "没工作，干不动了", "瘫痪在床",
                                  "年纪大了，做不动", "没有工作能力", "不能"])
def test_cannot_work_now_is_unable(said):
    result = parsed("labor", said)
    assert result.ok and result.value is False, said


@pytest.mark.parametrize("said", ["以前打工", "以前在广东打工", "年纪大了", "七十多了", "我是残疾人",
                                  "能是能，但是身体不好", "以前打工，现在腰不好"])
def test_the_past_or_a_limit_is_read_back_as_unable(said):
    result = parsed("labor", said)
    assert not result.ok and result.readback and result.value is False, said


@pytest.mark.parametrize("said", ["儿子在外面打工", "我儿子在外面打工", "老伴在外面打工"])
def test_somebody_else_working_is_read_back(said):
    result = parsed("labor", said)
    assert not result.ok and result.readback, said


@pytest.mark.parametrize("said", ["下岗了", "失业了", "没工作", "在家带孙子"])
def test_having_no_job_is_explained_and_asked_again(said):
    result = parsed("labor", said)
    assert not result.ok and not result.readback and result.problem == "ability_unclear", said


RELATIVES = ["儿子", "我儿子", "老伴", "女儿", "我崽", "老公", "我妈"]
WORK = ["在外面打工", "打零工", "在广东打工", "能做事", "做点小生意", "还能种田"]
PAST = ["以前", "原来", "过去", "年轻时"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(RELATIVES), st.sampled_from(WORK))
def test_a_relative_who_works_never_makes_the_applicant_able(relative, work):
    result = parsed("labor", relative + work)
    assert not (result.ok and result.value is True), relative + work


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PAST), st.sampled_from(["打工", "在外面打工", "打零工", "能做事", "种田"]),
       st.sampled_from(["", "了", "的"]))
def test_work_told_only_in_the_past_is_never_a_confident_yes(past, work, end):
    result = parsed("labor", past + work + end)
    assert not (result.ok and result.value is True), past + work + end


# ---- supporter ------------------------------------------------------------------------
@pytest.mark.parametrize("said", ["有个儿子，残疾了", "有个儿子 残疾了", "有个儿子，残废", "有个女儿，年纪也大了",
                                  "有个儿子，身体不好", "有个儿子，在坐牢", "有个儿子，关进去了", "有个儿子，也吃低保",
                                  "有个儿子，还在读书", "有个儿子，腿断了", "有个儿子，下岗了", "有个儿子，去世了"])
def test_a_supporter_who_cannot_is_read_back_as_no_able_supporter(said):
    result = parsed("supporter", said)
    assert not result.ok and result.readback and result.value is False, said


@pytest.mark.parametrize("said", ["有个孙子，才十岁", "有个儿子在县城上班"])
def test_a_yes_that_says_more_than_the_vocabulary_knows_is_read_back(said):
    result = parsed("supporter", said)
    assert not result.ok and result.readback, said


@pytest.mark.parametrize("said", ["有", "有的", "有个儿子", "有崽", "有，儿子管我", "有两个女儿，都孝顺",
                                  "有，一个儿子一个女儿", "是"])
def test_a_plain_able_supporter_is_a_yes(said):
    result = parsed("supporter", said)
    assert result.ok and result.value is True, said


CIRCUMSTANCES = ["残疾了", "有残疾", "瘫在床上", "生病了", "身体不好", "年纪也大了", "八十多了", "在坐牢",
                 "关进去了", "还在读书", "还小", "也吃低保", "下岗了", "失踪了", "去世了", "智力有问题",
                 "在县城上班", "才十岁", "离婚了"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["有个儿子", "有一个女儿", "有，儿子", "有个崽", "有是有，崽"]),
       st.sampled_from(["，", " ", "，但", "，可是他"]), st.sampled_from(CIRCUMSTANCES))
def test_a_supporter_with_a_circumstance_is_never_a_confident_yes(relative, join, circumstance):
    said = relative + join + circumstance
    result = parsed("supporter", said)
    assert not (result.ok and result.value is True), said


# ---- disability level ------------------------------------------------------------------
@pytest.mark.parametrize("said", ["有", "有的", "是", "有残疾证"])
def test_a_yes_without_its_level_is_missing_the_level(said):
    assert parsed("disability_level", said).problem == "missing_level"


# ---- in conversation, on both channels --------------------------------------------------
@pytest.mark.parametrize("channel", CHANNELS)
def test_the_disabled_son_is_read_back_and_stored_as_no_able_supporter(talk, runtime, channel):
    c = talk(channel, USER[channel])
    c.send("申请低保")
    c.advance_to("has_supporter", RURAL_FAMILY)
    c.send("有个儿子，残疾了")
    assert c.last.expecting == "has_supporter" and "您是说" in c.text and "无力赡养" in c.text
    c.send(YES[channel])
    reply = c.answer_until(RURAL_FAMILY | {"confirm": YES[channel] if channel == "sms" else "对"})
    fields = runtime.leads.as_dict(runtime.leads.get(reply.application_ref))["fields"]
    assert fields["has_supporter"] is False


@pytest.mark.parametrize("channel", CHANNELS)
def test_labour_told_as_work_now_or_before(talk, runtime, channel):
    c = talk(channel, USER[channel])
    c.send("申请低保")
    c.advance_to("labor_capacity", RURAL_FAMILY)
    c.send("儿子在外面打工")  # about the son: read back, and 不是 asks again
    assert c.last.expecting == "labor_capacity" and "您是说" in c.text
    c.send(NO[channel])
    assert c.last.expecting == "labor_capacity"
    c.send("以前打工现在干不动了")
    assert c.last.expecting == "has_supporter"
    reply = c.answer_until(RURAL_FAMILY | {"confirm": YES[channel] if channel == "sms" else "对"})
    fields = runtime.leads.as_dict(runtime.leads.get(reply.application_ref))["fields"]
    assert fields["labor_capacity"] is False


@pytest.mark.parametrize("channel", CHANNELS)
def test_odd_jobs_are_able_to_work(talk, runtime, channel):
    c = talk(channel, USER[channel])
    c.send("申请低保")
    c.advance_to("labor_capacity", RURAL_FAMILY)
    c.send("打零工")
    assert c.last.expecting == "has_supporter"
    reply = c.answer_until(RURAL_FAMILY | {"confirm": YES[channel] if channel == "sms" else "对"})
    fields = runtime.leads.as_dict(runtime.leads.get(reply.application_ref))["fields"]
    assert fields["labor_capacity"] is True


@pytest.mark.parametrize("channel", CHANNELS)
def test_no_job_is_explained_not_stored(talk, channel):
    c = talk(channel, USER[channel])
    c.send("申请低保")
    c.advance_to("labor_capacity", RURAL_FAMILY)
    c.send("下岗了")
    assert c.last.expecting == "labor_capacity" and "身体还能不能干活" in c.text


@pytest.mark.parametrize("channel", CHANNELS)
def test_yes_at_the_disability_question_asks_which_level(talk, runtime, channel):
    c = talk(channel, USER[channel])
    c.send("申请低保")
    c.advance_to("disability_level", RURAL_FAMILY)
    c.send("有")
    assert c.last.expecting == "disability_level"
    assert "几级" in c.text and "没看明白" not in c.text
    if channel == "sms":
        assert "3. 三级" in c.text  # the levels are numbered on the page the resident reads
    c.send("3" if channel == "sms" else "三级")
    assert c.last.expecting != "disability_level"
    reply = c.answer_until(RURAL_FAMILY | {"confirm": YES[channel] if channel == "sms" else "对"})
    fields = runtime.leads.as_dict(runtime.leads.get(reply.application_ref))["fields"]
    assert fields["disability_level"] == 3


# ---- illness: a hint about health is no illness named -----------------------------------
@pytest.mark.parametrize("said", ["老伴身体不好", "有，腰不好", "有个儿子，残疾了", "年纪大了，到处都痛"])
def test_a_health_hint_is_read_back_as_an_illness(said):
    result = parsed("illness", said)
    assert not result.ok and result.readback and result.value is True, said


@pytest.mark.parametrize("said, value", [("没什么病，就是腰不好", False), ("老伴有糖尿病", True), ("冇大病", False)])
def test_an_illness_named_or_denied_is_stored(said, value):
    result = parsed("illness", said)
    assert result.ok and result.value is value, said


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["老伴", "我", "儿子", "屋里老人", "有，老伴"]),
       st.sampled_from(["身体不好", "身体差", "腰不好", "腿脚不好", "经常不舒服"]))
def test_a_body_that_is_not_well_is_never_a_confident_no_illness(who, hint):
    result = parsed("illness", who + hint)
    assert not (result.ok and result.value is False), who + hint


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_husband_not_well_is_read_back_at_the_illness_question(talk, runtime, channel):
    c = talk(channel, USER[channel])
    c.send("申请低保")
    c.advance_to("serious_illness", RURAL_FAMILY)
    c.send("老伴身体不好")
    assert c.last.expecting == "serious_illness" and "您是说" in c.text
    c.send(YES[channel])
    assert c.last.expecting == "medical_expense_year"
    reply = c.answer_until(RURAL_FAMILY | {"confirm": YES[channel] if channel == "sms" else "对"})
    fields = runtime.leads.as_dict(runtime.leads.get(reply.application_ref))["fields"]
    assert fields["serious_illness"] is True


@pytest.mark.parametrize("said", ["我今年七十了还在种田", "七十多了还能干点"])
def test_still_working_though_old_is_read_back_as_able(said):
    result = parsed("labor", said)
    assert not result.ok and result.readback and result.value is True, said
