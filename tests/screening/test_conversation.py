"""Scripted pre-screening conversations (send / expect), as a resident would have them."""
import datetime as dt
import json

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from bot.screening import session
from bot.storage.models import Conversation as ConversationRow
from bot.storage.models import Lead
from tests.screening.conftest import RURAL_FAMILY


def lead_json(runtime, ref, reveal=False):
    store = runtime.leads
    return store.as_dict(store.get(ref), reveal=reveal)


def test_consent_is_asked_first_and_explains_purpose(talk):
    c = talk()
    c.send("我想申请低保")
    assert c.last.expecting == "consent"
    assert "用途" in c.text and "谁能看" in c.text and "保存" in c.text


def test_refusing_consent_stores_nothing(talk, runtime):
    c = talk()
    c.send("我想看看能不能申请救助")
    c.send("不同意")
    assert c.last.done and c.last.application_ref is None
    with runtime.db.session() as s:
        assert s.execute(select(Lead)).first() is None
        row = s.execute(select(ConversationRow)).scalar_one()
        assert "screening" not in row.state


def test_rural_family_gets_dibao_with_reasons_documents_and_ref(talk, runtime):
    c = talk()
    c.send("我想申请低保，家里实在困难")
    reply = c.answer_until(RURAL_FAMILY)
    assert reply.application_ref and reply.application_ref in c.text
    lead = lead_json(runtime, reply.application_ref)
    assert lead["fields"]["household_size"] == 5
    assert lead["fields"]["household_monthly_income"] == 1800
    assert lead["fields"]["township"] == "崇贤乡"
    assert lead["fields"]["age"] == 47               # derived from the ID number, not asked
    assert lead["fields"]["program"] == "dibao"      # named in the opening, not asked
    assert [p["program"] for p in lead["likely_programs"]][0] == "dibao"
    reason = lead["likely_programs"][0]["reason"]
    assert "人均月收入约360元（1800元÷5人）" in reason and "农村低保标准720元" in reason
    assert "初步判断" not in reason     # said once in the message, not on every reason
    assert "初步判断" in c.text
    assert "身份证" in lead["documents"] and "户口簿" in lead["documents"]
    assert lead["fields"]["name"] == "黄**"           # masked by default
    assert lead["fields"]["id_number"] == "360732********2130"


def test_slots_that_do_not_apply_are_not_asked(talk):
    c = talk()
    c.send("申请低保")
    asked = []
    while not c.last.done:
        asked.append(c.last.expecting)
        c.send(RURAL_FAMILY[c.last.expecting])
    assert "program" not in asked and "age" not in asked
    assert "emergency" not in asked           # 低保 does not need it
    assert "medical_expense_year" not in asked  # no serious illness


def test_correction_of_an_earlier_answer(talk, runtime):
    c = talk()
    c.send("申请低保")
    c.advance_to("household_monthly_income", RURAL_FAMILY)
    c.send("说错了，是四口人")
    assert "4口人" in c.text
    assert c.last.expecting == "household_monthly_income"
    c.send("一千八")
    c.send("收入改成一千五")
    assert "1500元" in c.text
    reply = c.answer_until(RURAL_FAMILY)
    lead = lead_json(runtime, reply.application_ref)
    assert lead["fields"]["household_size"] == 4
    assert lead["fields"]["household_monthly_income"] == 1500


def test_policy_question_mid_form_is_answered_then_form_resumes(talk):
    c = talk()
    c.send("申请低保")
    c.advance_to("household_monthly_income", RURAL_FAMILY)
    c.send("低保标准是多少")
    assert "900" in c.text and "720" in c.text
    assert c.last.expecting == "household_monthly_income"


def test_unparseable_answer_is_reasked_with_example_then_skippable(talk):
    c = talk()
    c.send("申请低保")
    c.advance_to("household_size", RURAL_FAMILY)
    c.send("嗯嗯嗯")
    assert c.last.expecting == "household_size" and "比如" in c.text
    c.send("不好说")
    c.send("啊")
    assert c.last.expecting is None and "跳过" in c.text   # 3 failures: a way out, never a loop
    c.send("1")
    assert c.last.expecting == "household_monthly_income"


def test_wrong_id_check_digit_gets_a_clear_message(talk):
    c = talk()
    c.send("申请低保")
    c.advance_to("id_number", RURAL_FAMILY)
    c.send("360732197909152131")
    assert c.last.expecting == "id_number" and "最后一位" in c.text


def test_back_restart_and_exit(talk, runtime):
    c = talk()
    c.send("申请低保")
    c.send("同意")
    c.send("黄春生")
    assert c.last.expecting == "id_number"
    c.send("返回")
    assert c.last.expecting == "name"
    c.send("重新开始")
    assert c.last.expecting == "consent"
    c.send("同意")
    c.send("退出")
    assert c.last.done and "删除" in c.text
    with runtime.db.session() as s:
        assert s.execute(select(Lead)).first() is None


def test_state_survives_a_restart_and_second_process(talk, runtime, config, shared_runtime):
    c = talk()
    c.send("申请低保")
    c.send("同意")
    other = Runtime(config, kb=shared_runtime.kb, matcher=shared_runtime.matcher)  # another process: nothing in memory
    c.runtime = other
    c.send("黄春生")
    assert c.last.expecting == "id_number"


def test_personal_data_is_encrypted_in_the_conversation_row(talk, runtime):
    c = talk()
    c.send("申请低保")
    c.send("同意")
    c.send("黄春生")
    with runtime.db.session() as s:
        row = s.execute(select(ConversationRow)).scalar_one()
    assert "黄春生" not in json.dumps(row.state, ensure_ascii=False)


def test_returning_days_later_is_asked_to_continue(talk, monkeypatch):
    c = talk()
    c.send("申请低保")
    c.send("同意")
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    monkeypatch.setattr(session, "now", lambda: later)
    c.send("黄春生")
    assert "还没填完" in c.text and c.last.expecting is None
    c.send("1")
    assert c.last.expecting == "name"


def test_abandoned_screening_expires(talk, monkeypatch):
    c = talk()
    c.send("申请低保")
    c.send("同意")
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    monkeypatch.setattr(session, "now", lambda: later)
    c.send("低保标准是多少")
    assert "已删除" in c.text
    assert "900" in c.text  # the message itself is then answered normally


def test_summary_before_submit_and_correction_there(talk, runtime):
    c = talk()
    c.send("申请低保")
    c.advance_to("confirm", RURAL_FAMILY)
    assert "请核对" in c.text and "5口人" in c.text and "360732********2130" in c.text
    c.send("人口改成六口人")
    assert c.last.expecting == "confirm" and "6口人" in c.text
    reply = c.send("对")
    assert lead_json(runtime, reply.application_ref)["fields"]["household_size"] == 6


def test_sms_offers_numbered_choices_and_takes_phone_from_sender(talk, runtime):
    c = talk(channel="sms", user="13607970088")
    c.send("申请")
    assert "1." in c.text and "回复数字" in c.text
    asked = []
    answers = {**RURAL_FAMILY, "consent": "1", "program": "1"}
    while not c.last.done:
        asked.append(c.last.expecting)
        c.send(answers[c.last.expecting])
    assert "phone" not in asked
    lead = lead_json(runtime, c.last.application_ref, reveal=True)
    assert lead["fields"]["phone"] == "13607970088"
    assert all(len(m) <= 500 for m in c.last.messages)


def test_progress_shows_own_applications_only(talk, runtime):
    c = talk(user="applicant")
    c.send("申请低保")
    ref = c.answer_until(RURAL_FAMILY).application_ref
    c.send("查进度")
    assert ref in c.text
    stranger = talk(user="stranger")
    stranger.send(f"查进度 {ref}")
    assert ref not in stranger.text or "没有查到" in stranger.text
    assert "黄" not in stranger.text


def test_duplicate_id_numbers_are_found_without_decrypting(talk, runtime):
    first = talk(user="a")
    first.send("申请低保")
    ref1 = first.answer_until(RURAL_FAMILY).application_ref
    second = talk(user="b")
    second.send("申请低保")
    ref2 = second.answer_until(RURAL_FAMILY).application_ref
    assert lead_json(runtime, ref2)["duplicates"] == [ref1]


@pytest.mark.parametrize("opening", ["孩子突然查出白血病，家里钱都花光了，能帮帮我们吗", "老人家一个人过能不能领钱"])
def test_situation_openings_lead_into_a_screening(talk, opening):
    c = talk()
    c.send(opening)
    if c.last.expecting != "consent":
        assert "申请" in c.text
        c.send("继续")
    assert c.last.expecting == "consent"


def test_an_answer_that_reads_like_a_question_cannot_loop(talk):
    c = talk()
    c.send("申请低保")
    c.advance_to("household_monthly_income", RURAL_FAMILY)
    for _ in range(8):
        c.send("低保标准是多少")
        if c.last.expecting is None:
            break
    assert c.last.expecting is None and "跳过" in c.text


def test_dialect_answer_with_question_word_is_taken_as_an_answer(talk):
    c = talk()
    c.send("申请低保")
    c.advance_to("savings", RURAL_FAMILY)
    c.send("冇么子存款，两千块都冇")
    assert c.last.expecting == "labor_capacity"


ALONE_ELDER = {**RURAL_FAMILY, "program": "特困", "name": "谢玉莲", "id_number": "360732195811034284",
               "township": "枫边乡", "household_size": "就我一个", "household_monthly_income": "一百二十块养老金",
               "labor_capacity": "干不动了", "has_supporter": "没儿没女，老伴走了", "disability_level": "没有",
               "serious_illness": "有高血压", "medical_expense_year": "两千"}
SICK_CHILD = {**RURAL_FAMILY, "program": "不清楚，你帮我看看", "household_size": "四口人",
              "household_monthly_income": "两口子打工一个月四千五", "labor_capacity": "能", "has_supporter": "有",
              "disability_level": "没有", "serious_illness": "孩子白血病", "medical_expense_year": "自己掏了八万多",
              "emergency": "是的上个月突然查出来", "emergency_description": "孩子查出急性白血病住院"}
NEAR_LINE = {**RURAL_FAMILY, "household_size": "两口人", "household_monthly_income": "一千五",
             "savings": "五千左右", "labor_capacity": "腰不好干不了重活"}


@pytest.mark.parametrize("opening, answers, include, exclude, urgency", [
    ("老人家一个人过能不能领钱", ALONE_ELDER, {"tekun"}, set(), "normal"),
    ("孩子突然查出白血病，家里钱都花光了", SICK_CHILD, {"linshi", "yiliao"}, {"dibao"}, "high"),
    ("申请低保", NEAR_LINE, {"bianyuan"}, {"dibao"}, "normal"),
    ("申请低保", RURAL_FAMILY, {"dibao"}, {"tekun"}, "normal"),
])
def test_every_program_is_reached(talk, runtime, opening, answers, include, exclude, urgency):
    c = talk(user=f"p-{opening}-{len(answers)}")
    c.send(opening)
    for _ in range(3):  # a situation opening is answered first, with an offer to check
        if c.last.expecting:
            break
        c.send("继续")
    reply = c.answer_until(answers)
    lead = lead_json(runtime, reply.application_ref)
    programs = {p["program"] for p in lead["likely_programs"]}
    assert include <= programs and not exclude & programs
    assert lead["urgency"] == urgency


def test_purge_deletes_abandoned_screenings(talk, runtime):
    from bot.conversations import purge_abandoned

    c = talk()
    c.send("申请低保")
    c.send("同意")
    assert purge_abandoned(runtime.db, dt.timedelta(days=1)) == 0  # still fresh
    assert purge_abandoned(runtime.db, dt.timedelta(seconds=-1)) == 1
    with runtime.db.session() as s:
        assert "screening" not in s.execute(select(ConversationRow)).scalar_one().state


def test_after_the_way_out_is_offered_anything_moves_on(talk, runtime):
    c = talk()
    c.send("申请低保")
    c.advance_to("household_size", RURAL_FAMILY)
    for text in ("嗯嗯嗯", "不好说", "啊"):
        c.send(text)
    assert c.last.expecting is None
    c.send("继续")  # neither 1, 2 nor 3: skip, note a call-back, go on
    assert c.last.expecting == "household_monthly_income" and "工作人员" in c.text
    reply = c.answer_until(RURAL_FAMILY)
    assert lead_json(runtime, reply.application_ref)["needs_callback"] is True


def test_dont_know_skips_the_question(talk, runtime):
    c = talk()
    c.send("申请低保")
    c.advance_to("savings", RURAL_FAMILY)
    c.send("不晓得")
    assert c.last.expecting == "labor_capacity" and "跳过" in c.text
    reply = c.answer_until(RURAL_FAMILY)
    assert "savings" not in lead_json(runtime, reply.application_ref)["fields"]


def test_a_refusal_skips_the_question_and_a_question_is_not_a_name(talk, runtime):
    c = talk()
    c.send("申请低保")
    c.advance_to("name", RURAL_FAMILY)
    c.send("你是谁")                      # not a name: asked again
    assert c.last.expecting == "name"
    c.send("不想说")                      # a refusal: skipped, the township asks in person
    assert c.last.expecting != "name" and "跳过" in c.text
    reply = c.answer_until(RURAL_FAMILY)
    assert "name" not in lead_json(runtime, reply.application_ref)["fields"]


def test_dont_know_which_program_means_unsure_not_skip(talk):
    c = talk()
    c.send("我想看看能不能申请救助")
    c.send("同意")
    assert c.last.expecting == "program"
    c.send("不知道")
    assert c.last.expecting == "name"


def test_progress_accepts_the_reference_without_its_dash(talk):
    c = talk(user="dash")
    c.send("申请低保")
    ref = c.answer_until(RURAL_FAMILY).application_ref
    c.send(f"查进度 {ref.replace('-', '').lower()}")
    assert ref in c.text and "没有查到" not in c.text


def test_sending_just_the_reference_number_shows_its_progress(talk):
    c = talk(user="bare-ref")
    c.send("申请低保")
    ref = c.answer_until(RURAL_FAMILY).application_ref
    c.send(ref)
    assert ref in c.text and "已收到" in c.text
