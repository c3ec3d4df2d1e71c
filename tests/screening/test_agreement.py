"""Consent, confirmation and leaving need the resident's explicit word, on both channels."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.screening.replies import Meaning, ReplyReader
from bot.storage.models import Conversation as ConversationRow
from bot.storage.models import Lead, UnansweredQuestion
from tests.screening.conftest import RURAL_FAMILY

PERSONAL = {"name", "id_number", "phone", "age", "township", "village", "household_size",
            "household_monthly_income", "savings"}
CHANNELS = ["wechat", "sms"]
READER = ReplyReader.from_knowledge()

GREETINGS = ["你好", "您好", "在吗", "在吗？", "你好啊", "喂", "同志你好", "师傅你好", "有人吗", "早上好"]
QUESTIONS = ["为什么要身份证号", "要身份证做么子", "你们要这些干嘛", "这个安全吗", "谁能看到我的信息？",
             "会不会泄露", "要多久", "同意了会怎样？", "低保标准是多少", "什么意思", "啥"]
HESITATIONS = ["我要想一下", "嗯嗯嗯？", "等一下", "我问问我儿子", "考虑一下", "不确定", "嗯", "要", "我要"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(GREETINGS + QUESTIONS + HESITATIONS),
       st.sampled_from(["", "？", "?", "。", "呢", "啊", "…", " ", "吗"]),
       st.sampled_from(["", "嗯", "那个", "请问", "你好，"]))
def test_no_greeting_question_or_hesitation_is_a_yes(core, tail, head):
    text = head + core + tail
    assert READER.read(text, "consent") is not Meaning.YES
    assert READER.read(text, "confirm") is not Meaning.YES
    assert READER.read(text, "consent", {"1": Meaning.YES, "2": Meaning.NO}) is not Meaning.YES


@pytest.mark.parametrize("text", ["同意", "好的同意", "我同意", "可以", "好的，同意，你问吧", "1"])
def test_explicit_consent_words_are_a_yes(text):
    assert READER.read(text, "consent", {"1": Meaning.YES, "2": Meaning.NO}) is Meaning.YES


@pytest.mark.parametrize("text", ["对", "确认", "确认无误", "没问题提交吧", "提交", "嗯嗯，提交", "是的"])
def test_explicit_confirmations_are_a_yes(text):
    assert READER.read(text, "confirm") is Meaning.YES


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["你好", "在吗", "我要想一下", "嗯嗯嗯？", "要", "为什么要身份证号"])
def test_greeting_question_or_hesitation_at_consent_collects_nothing(talk, channel, text):
    c = talk(channel)
    c.send("我要申请低保")
    c.send(text)
    assert c.last.expecting == "consent" and not c.last.done


@pytest.mark.parametrize("channel", CHANNELS)
def test_why_the_data_is_needed_is_answered_then_consent_asked_again(talk, channel):
    c = talk(channel)
    c.send("我想申请低保")
    c.send("要身份证做么子")
    assert "谁能看" in c.text and "保存" in c.text and "身份证" in c.text
    assert "同意" in c.text.splitlines()[-1]
    c.send("好的同意")
    assert c.last.expecting not in (None, "consent")


@pytest.mark.parametrize("channel", CHANNELS)
def test_consent_cannot_be_skipped_after_unclear_replies(talk, runtime, channel):
    c = talk(channel)
    c.send("我想申请低保")
    for text in ("嗯", "那个", "哦哦"):
        c.send(text)
    assert "再听一遍" in c.text and "不同意" in c.text and "跳过" not in c.text
    c.send("1")  # hear it again
    assert c.last.expecting == "consent" and "加密保存" in c.text
    for text in ("嗯", "那个", "哦哦"):
        c.send(text)
    c.send("3")  # a caseworker calls back: only the request is kept
    assert c.last.done and "联系" in c.text
    with runtime.db.session() as s:
        assert s.execute(select(Lead)).first() is None
        asks = s.execute(select(UnansweredQuestion)).scalars().all()
        assert [a.outcome for a in asks] == ["left_message"] and "联系" in asks[0].text
        assert "screening" not in s.execute(select(ConversationRow)).scalar_one().state


def test_the_consent_record_says_what_was_agreed_where_when_and_how(talk, runtime):
    c = talk("sms", "+8613870712468")
    c.send("我想申请低保")
    c.send("好的，同意")
    reply = c.answer_until(RURAL_FAMILY | {"confirm": "1"})
    lead = runtime.leads.get(reply.application_ref)
    consent = runtime.leads.as_dict(lead)["consent"]
    assert consent["given"] is True and consent["channel"] == "sms"
    assert consent["reply"] == "好的，同意" and consent["version"] == runtime.screener.flow.consent_version
    assert len(consent["text_sha256"]) == 16 and consent["at"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["你好", "您好", "这个要多久？", "嗯", "我想一下"])
def test_only_an_explicit_yes_files_the_application(talk, runtime, channel, text):
    c = talk(channel)
    c.send("我要申请低保")
    c.advance_to("confirm", RURAL_FAMILY)
    c.send(text)
    assert not c.last.done and c.last.application_ref is None
    assert c.last.expecting == "confirm"
    c.send("确认无误")
    assert c.last.done and c.last.application_ref


def test_one_files_on_sms_where_it_is_offered_first(talk):
    c = talk("sms", "+8613870712468")
    c.send("我要申请低保")
    c.advance_to("confirm", RURAL_FAMILY)
    assert c.text.startswith("请核对（对的回1提交，要改回2）")  # on the first page, not after 回复M
    c.send("2")
    assert not c.last.done and "改哪一项" in c.text
    c.send("1")
    assert c.last.done and c.last.application_ref


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["我不想填了", "不办了", "算了不搞了", "不要了，删掉我的信息", "我不同意了"])
def test_leaving_in_own_words_is_confirmed_once_then_deletes(talk, runtime, channel, text):
    c = talk(channel)
    c.send("我要申请低保")
    c.advance_to("household_size", RURAL_FAMILY)
    c.send(text)
    assert c.last.expecting is None and "删除" in c.text and not c.last.done
    c.send("1")
    assert c.last.done and "删除" in c.text and c.last.application_ref is None
    with runtime.db.session() as s:
        assert s.execute(select(Lead)).first() is None
        assert "screening" not in s.execute(select(ConversationRow)).scalar_one().state


def test_changing_ones_mind_about_leaving_goes_back_to_the_question(talk):
    c = talk()
    c.send("我要申请低保")
    c.advance_to("household_size", RURAL_FAMILY)
    c.send("不办了")
    c.send("2")
    assert c.last.expecting == "household_size"


@pytest.mark.parametrize("channel", CHANNELS)
def test_controls_are_told_once_early(talk, channel):
    c = talk(channel)
    c.send("我要申请低保")
    c.send("同意")
    told = [c.text]
    for slot in ("name", "id_number", "phone"):
        if c.last.expecting == slot:
            c.send(RURAL_FAMILY[slot])
            told.append(c.text)
    assert "返回" in told[0] and "跳过" in told[0] and "退出" in told[0]
    assert not any("退出" in t for t in told[1:])


def test_too_many_tries_offers_leaving(talk, runtime):
    c = talk()
    c.send("申请低保")
    c.advance_to("household_size", RURAL_FAMILY)
    for text in ("嗯嗯嗯", "不好说", "啊"):
        c.send(text)
    assert "退出" in c.text
    c.send("4")
    assert c.last.done and "删除" in c.text


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_correction_after_later_answers_finds_its_question(talk, runtime, channel):
    c = talk(channel, "+8613870712468" if channel == "sms" else "resident-1")
    c.send("申请低保")
    c.advance_to("owns_vehicle", RURAL_FAMILY)  # income answered already
    c.send("说错了，是四口人")
    assert "4口人" in c.text and c.last.expecting == "owns_vehicle"
    reply = c.answer_until(RURAL_FAMILY | {"confirm": "对"})
    fields = runtime.leads.as_dict(runtime.leads.get(reply.application_ref))["fields"]
    assert fields["household_size"] == 4 and fields["household_monthly_income"] == 1800


def test_a_mistyped_id_number_is_replaced(talk, runtime):
    c = talk()
    c.send("申请低保")
    c.send("同意")
    c.send("黄春生")
    c.send("360732197909152130")
    c.send("打错了，360732195811034284")
    assert "身份证号已改为" in c.text and c.last.expecting == "phone"
    c.send("打错了")  # alone: the last answer is asked again
    assert c.last.expecting == "id_number"
    c.send("360732197909152130")
    reply = c.answer_until(RURAL_FAMILY)
    fields = runtime.leads.as_dict(runtime.leads.get(reply.application_ref), reveal=True)["fields"]
    assert fields["id_number"] == "360732197909152130"
