"""Scripted conversations on both channels: greetings and thanks around questions, follow-ups
read in the topic just answered, referrals, and wishes to apply that start the screening."""
import dataclasses

import pytest

from bot.messages import IncomingMessage
from bot.runtime import Runtime

CHANNELS = ["wechat", "sms"]


def talk(runtime, channel, *texts, user="c1"):
    """Send the messages in turn; the replies."""
    return [runtime.engine.handle(IncomingMessage(channel=channel, user_id=user, text=t)) for t in texts]


def menu(runtime, channel):
    return runtime.kb.entry("meta-greeting-01").answer_for(channel)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("message, topic", [
    ("你好，低保怎么申请", "dibao.apply_where"),
    ("同志你好，临时救助去哪里申请", "linshi.apply"),
    ("师傅你好，打扰一下。有车能吃低保吗？", "dibao.assets"),
    ("谢谢啦，低保标准是多少", "dibao.standard"),
    ("五保户可以住敬老院吗？谢谢", "tekun.care_home"),
])
def test_a_question_in_a_greeting_or_thanks_is_answered_not_met_with_the_menu(runtime, channel, message, topic):
    reply, = talk(runtime, channel, message)
    assert reply.topic == topic
    assert menu(runtime, channel) not in reply.messages


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_bare_greeting_gets_the_menu_and_bare_thanks_a_kind_word(runtime, channel):
    hello, thanks, again = talk(runtime, channel, "你好", "谢谢啦", "同志你好")
    assert hello.messages[0] == menu(runtime, channel)
    assert thanks.messages[0] == runtime.kb.entry("meta-thanks-01").answer_for(channel)
    assert "不客气" in thanks.messages[0]
    assert again.messages[0] == menu(runtime, channel)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("first, follow_up, topic", [
    ("低保标准是多少", "那要怎么申请啊？", "dibao.apply_where"),
    ("特困人员认定条件是什么", "要带什么？", "tekun.apply"),
    ("五保户能住敬老院吗", "那要怎么申请啊？", "tekun"),
    ("临时救助什么情况能申请", "去哪里申请", "linshi.apply"),
    ("临时救助到哪里申请", "好的谢谢，能给多少钱", "linshi.amount"),
])
def test_a_follow_up_is_understood_in_the_topic_just_answered(runtime, channel, first, follow_up, topic):
    answered, followed = talk(runtime, channel, first, follow_up)
    assert answered.topic.split(".")[0] == topic.split(".")[0]
    assert followed.topic == topic or (followed.topic or "").startswith(topic + ".")


@pytest.mark.parametrize("channel", CHANNELS)
def test_follow_ups_chain_and_a_new_subject_ends_them(runtime, channel):
    replies = talk(runtime, channel, "特困人员认定条件是什么", "要带什么？", "那要多久能批下来",
                   "医保怎么交", "要带什么？")
    assert [r.topic for r in replies] == ["tekun.eligibility", "tekun.apply", "tekun.apply",
                                          "referral.medical_insurance", "dibao.materials"]


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_follow_up_after_the_context_expired_is_just_a_question(config, shared_runtime, channel):
    rt = Runtime(dataclasses.replace(config, offer_minutes=-1),  # every remembered topic is already old
                 kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    first, follow = talk(rt, channel, "特困人员认定条件是什么", "要带什么？")
    assert (first.topic, follow.topic) == ("tekun.eligibility", "dibao.materials")


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_follow_up_is_remembered_per_resident(runtime, channel):
    talk(runtime, channel, "特困人员认定条件是什么", user="a")
    other, = talk(runtime, channel, "要带什么？", user="b")
    mine, = talk(runtime, channel, "要带什么？", user="a")
    assert (other.topic, mine.topic) == ("dibao.materials", "tekun.apply")


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_picked_choice_frames_the_next_follow_up(runtime, channel):
    # a vague question offering a programme other than 低保 (要带什么 alone reads as 低保)
    follow_up = runtime.matcher.context.follow_up
    for vague in ("救助", "补助", "五保户的事", "那要怎么申请啊", "病了", "住院报销"):
        choices = runtime.answer(vague, channel).choices
        picks = [i for i, c in enumerate(choices, 1) if follow_up.program(c.entry.topic) not in (None, "dibao")]
        if picks:
            break
    else:
        pytest.fail("no vague question offers a programme other than 低保")
    programme = follow_up.program(choices[picks[0] - 1].entry.topic)
    _, picked, follow = talk(runtime, channel, vague, str(picks[0]), "要带什么？")
    assert follow_up.program(picked.topic) == programme
    assert follow_up.program(follow.topic) == programme, follow.topic


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("question, says, never", [
    ("失业金怎么领", "人社", "退役军人"),
    ("残疾证在哪里办", "残联", "低保要带"),
    ("特困人员住敬老院要不要自己出钱", "不用自己交钱", None),
])
def test_who_handles_it_and_what_a_care_home_costs(runtime, channel, question, says, never):
    reply, = talk(runtime, channel, question)
    assert says in reply.messages[0]
    assert never is None or never not in reply.messages[0]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("wish", ["我想申请特困", "我要申请五保", "我想申请低保边缘", "帮我奶奶申请低保",
                                  "想给我爸申请医疗救助", "你好，我想给老伴申请临时救助"])
def test_a_wish_to_apply_starts_the_screening(runtime, channel, wish):
    reply, = talk(runtime, channel, wish)
    assert reply.expecting == "consent", reply.messages


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("follow_up", ["那要带么子材料", "去哪里申请"])
def test_a_follow_up_to_choices_it_does_not_pick_is_read_in_the_offered_programmes(runtime, channel, follow_up):
    """"您是不是想问 1 临时救助… 2 医疗救助…" then a question naming no subject: it is about one of
    those, never answered as 低保 by default."""
    offer, reply = talk(runtime, channel, "儿子出车祸住院了冇钱", follow_up)
    # the scene: choices of two programmes (if the knowledge base now answers it, pick another opening)
    assert offer.topic is None and "1." in offer.messages[0], offer.messages
    if reply.topic is not None:
        assert reply.topic.split(".")[0] in {"yiliao", "linshi"}, reply.topic
    else:  # offered again: every choice names one of the programmes offered before
        choices = [line for line in reply.messages[0].splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]
        assert choices and all("医疗救助" in c or "临时救助" in c for c in choices), reply.messages
