"""Questions in their conversation: greetings and thanks around them, wishes to apply, follow-ups."""
import json
from pathlib import Path

import pytest

from bot.matching.context import spec_problems

HELD_OUT = Path(__file__).resolve().parent.parent / "data" / "heldout-context.jsonl"


@pytest.fixture(scope="module")
def rules(shared_runtime):
    return shared_runtime.matcher.context


@pytest.mark.parametrize("message, question", [
    ("你好，低保怎么申请", "低保怎么申请"),
    ("同志你好，临时救助去哪里申请", "临时救助去哪里申请"),
    ("师傅你好，打扰一下。有车能吃低保吗？", "有车能吃低保吗?"),
    ("请问低保标准是多少", "低保标准是多少"),
    ("低保标准多少谢谢啦", "低保标准多少"),
    ("好的，明白了。那低保户看病能多报吗", "那低保户看病能多报吗"),
    ("我妈没人管，你好，这种能申请五保吗", "我妈没人管,这种能申请五保吗"),   # a greeting mid-message
])
def test_wrappers_around_a_question_are_left_out(rules, message, question):
    assert rules.wrappers.unwrap(message) == question


@pytest.mark.parametrize("message", [
    "老师工资算不算收入",      # a form of address is only a wrapper on its own or before a greeting
    "好多钱能吃低保",          # 好 starts words
    "家里遇到麻烦了",          # 麻烦了 ends ordinary sentences: only a whole clause is a wrapper
    "我一个人带孩子太辛苦了",
    "有没有人工",              # not 有人 + 工
    "低保标准是多少",
])
def test_words_that_only_look_like_wrappers_stay(rules, message):
    assert rules.wrappers.unwrap(message) == message


@pytest.mark.parametrize("message, canonical", [
    ("你好", "你好"), ("您好呀", "你好"), ("同志你好", "你好"), ("师傅好", "你好"),
    ("在吗？", "你好"), ("你好，打扰一下", "你好"),
    ("谢谢", "谢谢"), ("谢谢啦", "谢谢"), ("好的，谢谢你", "谢谢"), ("多谢了！", "谢谢"),
])
def test_a_message_of_only_greetings_or_thanks_reads_as_one(rules, message, canonical):
    assert rules.wrappers.unwrap(message) == canonical


@pytest.mark.parametrize("message, entry", [
    ("你好", "meta-greeting-01"), ("领导好", "meta-greeting-01"), ("喂喂，在不在", "meta-greeting-01"),
    ("谢谢", "meta-thanks-01"), ("好的谢谢啦", "meta-thanks-01"), ("非常感谢！", "meta-thanks-01"),
])
def test_bare_greetings_and_thanks_get_their_own_answer(shared_runtime, message, entry):
    a = shared_runtime.answer(message)
    assert (a.outcome, a.entry_id) == ("answer", entry)


@pytest.mark.parametrize("wrapper", ["你好，{}", "您好！{}", "同志你好，打扰一下，{}", "师傅，请问{}",
                                     "{}，谢谢", "谢谢你。再问一下，{}", "在吗？{}谢谢啦"])
@pytest.mark.parametrize("question", ["低保怎么申请", "临时救助去哪里申请", "有车能吃低保吗",
                                      "五保户能住敬老院吗", "医疗救助能报多少"])
def test_a_wrapped_question_gets_the_answer_of_the_bare_one(shared_runtime, wrapper, question):
    bare = shared_runtime.answer(question)
    wrapped = shared_runtime.answer(wrapper.format(question))
    assert bare.outcome == "answer" and bare.topic != "meta.greeting"
    assert (wrapped.outcome, wrapped.entry_id) == ("answer", bare.entry_id)


PROGRAMMES = ["低保", "特困", "五保", "特困供养", "临时救助", "医疗救助", "低保边缘", "边缘户"]
RELATIVES = ["", "我奶奶", "我爸", "我妈", "老伴", "孙子", "我外公", "屋里老人", "我女儿"]


@pytest.mark.parametrize("programme", PROGRAMMES)
@pytest.mark.parametrize("form", ["我想申请{p}", "我要申请{p}", "帮{r}申请{p}", "想给{r}申请{p}",
                                  "我想替{r}办个{p}", "{r}想申请{p}，帮忙弄一下"])
def test_a_wish_to_apply_for_anyone_starts_the_screening(shared_runtime, programme, form):
    for relative in RELATIVES if "{r}" in form else [""]:
        q = form.format(p=programme, r=relative or "我")
        a = shared_runtime.answer(q)
        assert a.topic == "service.apply_start", (q, a.topic, a.outcome)


@pytest.mark.parametrize("q, topic", [
    ("我想申请特困，要带什么", "tekun.apply"),   # a question about applying, for the FAQ
    ("帮我妈申请低保可以吗", "service.proxy"),
    ("我想申请临时救助，一次能给多少", "linshi.amount"),
    ("给我爸申请医疗救助能报多少", "yiliao.reimburse"),
])
def test_a_question_about_applying_is_answered_not_screened(shared_runtime, q, topic):
    assert shared_runtime.answer(q).topic == topic


@pytest.mark.parametrize("q", ["我不想申请低保了", "我已经申请了低保", "我想了解低保", "申请低保要什么条件",
                               "想办低保，是先找村里还是直接去镇政府", "我想申请特困，表格交给谁",
                               "给我娘办低保的手续"])
def test_no_wish_no_screening(rules, shared_runtime, q):
    prepared = shared_runtime.matcher.preparer.prepare(q).text
    assert not rules.apply_wish.found(prepared)


@pytest.mark.parametrize("after, q, topic", [
    ("dibao.standard", "那要怎么申请啊？", "dibao.apply_where"),
    ("dibao.eligibility", "要带什么？", "dibao.materials"),
    ("tekun.eligibility", "要带什么？", "tekun.apply"),
    ("tekun.eligibility", "那要怎么申请啊？", "tekun.apply"),
    ("linshi.eligibility", "去哪里申请", "linshi.apply"),
    ("linshi.apply", "能给多少钱", "linshi.amount"),
    ("yiliao.eligibility", "能报多少", "yiliao.reimburse"),
    # a follow-up naming a subject of its own is a new question
    ("tekun.eligibility", "低保标准是多少", "dibao.standard"),
    ("dibao.what", "医保怎么交", "referral.medical_insurance"),
    ("dibao.what", "转人工", "service.hotline"),
    ("dibao.what", "谢谢", "meta.greeting"),
])
def test_a_follow_up_is_read_in_the_programme_just_answered(shared_runtime, after, q, topic):
    result = shared_runtime.matcher.match_after(q, after)
    assert result.outcome == "answer" and result.best.entry.topic == topic, (result.outcome, result.best)


def test_a_follow_up_out_of_scope_stays_out_of_scope(shared_runtime):
    result = shared_runtime.matcher.match_after("明天天气怎么样", "dibao.standard")
    assert result.best is None or result.best.entry.topic is None


def test_without_an_answered_topic_a_follow_up_is_just_a_question(shared_runtime):
    m = shared_runtime.matcher
    assert m.match_after("要带什么？", None) == m.match("要带什么？")
    assert m.match_after("要带什么？", "service.hotline") == m.match("要带什么？")  # no programme


@pytest.mark.parametrize("q, entry, says", [
    ("失业金怎么领", "decline-unemployment-01", "人社"),       # not the veterans' office
    ("我下岗了，失业保险金到哪领", "decline-unemployment-01", "人社"),
    ("残疾证在哪里办", "decline-disability_card-01", "残联"),
    ("特困人员住敬老院要不要自己出钱", "tekun-care_home-04", "不用自己交钱"),
])
def test_other_departments_and_the_care_home_cost(shared_runtime, q, entry, says):
    for channel in ("wechat", "sms"):
        a = shared_runtime.answer(q, channel)
        assert a.outcome in ("answer", "decline") and says in a.text, (q, a.outcome, a.text[:40])
    assert shared_runtime.matcher.match(q).best.entry.id == entry


def test_held_out_questions_in_greetings_and_thanks(shared_runtime):
    rows = [json.loads(line) for line in HELD_OUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    inside = [r for r in rows if r["topic"]]
    right = sum(shared_runtime.answer(r["q"]).topic == r["topic"] for r in inside)
    outside = [r for r in rows if not r["topic"]]
    rejected = sum(shared_runtime.answer(r["q"]).topic is None for r in outside)
    assert len(rows) >= 150
    assert right / len(inside) >= 0.93 and rejected == len(outside), (right, len(inside), rejected)


def test_a_broken_context_lexicon_is_reported(shared_runtime):
    good = shared_runtime.kb.context
    assert spec_problems(good, set(shared_runtime.kb.topics)) == []
    broken = {**good, "apply_wish": {**good["apply_wish"], "topic": "service.nope", "verbs": []}}
    problems = spec_problems(broken, set(shared_runtime.kb.topics))
    assert any("apply_wish.verbs" in p for p in problems)
    assert spec_problems({**good, "follow_up": {**good["follow_up"], "programs": {"nope": "x"}}},
                         set(shared_runtime.kb.topics)) == [
        "follow_up.programs must map topic prefixes (dibao …) to a word"]


@pytest.mark.parametrize("q", ["钱", "补助", "困难", "收入"])
def test_a_lone_everyday_word_gets_an_offer_not_a_guess(shared_runtime, q):
    # many entries use the word and it names no subject: no one entry answers it, nor is it out of scope
    a = shared_runtime.answer(q)
    assert a.outcome == "choices" and a.topic is None, (q, a.outcome, a.topic)


@pytest.mark.parametrize("q", ["低保", "特困", "申请", "转人工"])
def test_a_lone_word_naming_a_subject_is_still_answered(shared_runtime, q):
    assert shared_runtime.answer(q).outcome == "answer"


@pytest.mark.parametrize("q, says", [
    ("家里着火了要打什么电话", "119"),            # the emergency number, not the 临时救助 conditions
    ("救护车电话是多少", "120"),
    ("出了车祸对方不肯赔钱，怎么办", "法律援助"),
    ("计划生育奖励去哪里领", "卫生健康"),
    ("种粮补贴一亩地给多少", "农业农村"),
    ("银行老打电话推销，怎么不让他打", "退订"),
    ("县城的私人养老院一个月收多少钱", "养老机构"),
])
@pytest.mark.parametrize("channel", ["wechat", "sms"])
def test_other_subjects_near_a_policy_are_declined_with_where_to_go(shared_runtime, q, says, channel):
    a = shared_runtime.answer(q, channel)
    assert a.outcome == "decline" and a.topic is None, (q, a.outcome, a.topic)
    if channel == "wechat":
        assert says in a.text, (q, a.text[:60])


@pytest.mark.parametrize("q, topic", [
    ("家里着火了，能申请救助吗", "linshi.eligibility"),
    ("出了车祸住院，家里没钱了怎么办", "linshi.eligibility"),
    ("特困人员住敬老院要不要自己出钱", "tekun.care_home"),
    ("计生奖扶的钱算不算低保收入", "dibao.income_calc"),
    ("独生子女父母奖励会影响吃低保吗", "dibao.income_calc"),
])
def test_the_policy_side_of_those_subjects_is_still_answered(shared_runtime, q, topic):
    assert shared_runtime.answer(q).topic == topic


@pytest.mark.parametrize("q, topic", [
    ("电话多少", "service.hotline"),              # not the emergency numbers
    ("有没有电话", "service.hotline"),
    ("不想收到你们的短信了", "service.subscribe"),  # not other companies' spam
    ("短信怎么退订", "service.subscribe"),
    ("别再给我发短信了", "service.subscribe"),
])
def test_our_own_hotline_and_unsubscribing_stay_ours(shared_runtime, q, topic):
    assert shared_runtime.answer(q).topic == topic
