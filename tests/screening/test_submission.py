"""What the resident reads after submitting, on WeChat and SMS: one consistent promise."""
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.config import load_config
from bot.runtime import Runtime
from bot.screening.submission import submitted_text
from bot.storage.models import OutboxMessage
from tests.screening.conftest import RURAL_FAMILY, Conversation

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = yaml.safe_load((ROOT / "knowledge" / "screening" / "messages.yaml").read_text(encoding="utf-8"))
RULES_DOC = yaml.safe_load((ROOT / "knowledge" / "screening" / "rules.yaml").read_text(encoding="utf-8"))
STANDARDS_NOTE = RULES_DOC["standards_note_unverified"].split("{")[0]
CENTER = "崇贤乡人民政府便民服务中心"
PHONE = "13970712468"
SMS_BUDGET = 67 * 2   # config.toml [sms] segment_chars × max_segments

# The household of three of issue 10: 1,200 元 a month, the son holds a 一级 certificate.
THREE = {**RURAL_FAMILY, "household_size": "三口人", "household_monthly_income": "一个月一千二",
         "disability_level": "崽有一级残疾证", "labor_capacity": "能"}
FIRE = {**RURAL_FAMILY, "household_monthly_income": "六千", "emergency": "有",
        "emergency_description": "前天夜里屋里着火了，烧了两间房"}


def units(text):
    """Length as a handset counts it."""
    return len(text.encode("utf-16-le")) // 2


def outbox_sms(runtime):
    """Bodies of the queued SMS, decrypted."""
    with runtime.db.session() as s:
        rows = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "sms")).scalars().all()
        return [runtime.protector.decrypt(r.body) for r in rows]


def submit(talk, channel, answers, opening="我想申请低保"):
    """Play a screening to the end on a channel; the conversation with the last reply."""
    c = talk(channel=channel, user=f"+86{PHONE}" if channel == "sms" else "wx-openid-1")
    c.send(opening)
    answers = {**answers, "consent": "1" if channel == "sms" else answers["consent"]}
    c.answer_until(answers)
    assert c.last.done and c.last.application_ref in c.text
    return c


def lead(runtime, ref):
    return runtime.leads.as_dict(runtime.leads.get(ref))


def test_household_of_three_on_wechat(talk, runtime):
    c = submit(talk, "wechat", THREE)
    text = c.text
    assert "· 低保：家庭人均月收入约400元（1200元÷3人），低于本县农村低保标准720元" in text
    assert "一级重度残疾人" in text and "单人保" in text and "特困" not in text
    assert text.count("以乡镇审核为准") == 1 and text.count(STANDARDS_NOTE) == 1
    # one promise: the township centre calls within the configured days; no "go there yourself"
    assert f"{CENTER}的工作人员会在3个工作日内打电话联系您" in text
    assert text.count(CENTER) == 1 and "窗口提出申请" not in text
    assert "如果3个工作日内没有接到电话，请拨打社会救助热线12349" in text
    assert "现在就" not in text
    assert len(text.encode("utf-8")) <= 2048     # one passive WeChat reply, not split
    sms = outbox_sms(runtime)
    assert sms == [f"【救助通】您的救助申请已收到，编号{c.last.application_ref}，崇贤乡工作人员3个工作日内"
                   "来电联系您。回复TD退订"]


def test_household_of_three_on_sms(talk, runtime):
    c = submit(talk, "sms", THREE)
    text = c.text
    assert units(text) <= SMS_BUDGET and "\n" not in text
    assert "可能符合低保" in text and "单人保" in text
    assert "崇贤乡工作人员3个工作日内来电联系您" in text and "窗口" not in text
    assert text.count("以乡镇审核为准") == 1
    assert "身份证" in text and "残疾证" in text and "承诺书" not in text   # forms come from the window
    # the reply itself is the SMS; only the 政策找人 question follows, on its own (bot/recheck_consent.py)
    assert outbox_sms(runtime) == ["标准调整后可通知您复查吗？回复1同意，回复2不同意。"]


def test_caseworker_reasons_on_the_lead(talk, runtime):
    c = submit(talk, "wechat", THREE)
    programs = lead(runtime, c.last.application_ref)["likely_programs"]
    assert [p["program"] for p in programs] == ["dibao"]
    reason = programs[0]["reason"]
    assert reason.startswith("家庭人均月收入约400元（1200元÷3人），低于本县农村低保标准720元")
    assert "单人保" in reason and "初步判断" not in reason and STANDARDS_NOTE not in reason
    assert programs[0]["source"].startswith("《最低生活保障审核确认办法》")
    assert programs[0]["grounds"] == ["likely", "single_person_fallback"]


@pytest.mark.parametrize("channel", ["wechat", "sms"])
def test_skipped_township_promises_the_county_bureau_not_a_township(talk, runtime, channel):
    c = submit(talk, channel, {**THREE, "township": "不晓得"})
    text = c.text
    assert lead(runtime, c.last.application_ref)["township"] is None
    assert "兴国县民政局" in text and "3个工作日内" in text
    assert "乡镇工作人员" not in text and "便民服务中心的工作人员" not in text and CENTER not in text
    if channel == "wechat":
        assert "您没有说住在哪个乡镇" in text
        assert outbox_sms(runtime) == [f"【救助通】您的救助申请已收到，编号{c.last.application_ref}，"
                                       "兴国县民政局工作人员3个工作日内来电联系您。回复TD退订"]
    else:
        assert units(text) <= SMS_BUDGET


@pytest.mark.parametrize("channel", ["wechat", "sms"])
def test_an_emergency_is_told_to_call_now(talk, runtime, channel):
    c = submit(talk, channel, FIRE, opening="我想申请临时救助")
    text = c.text
    assert lead(runtime, c.last.application_ref)["urgency"] == "high"
    assert "现在就拨" in text and "12349" in text
    assert "个工作日内" not in text          # no waiting time for an emergency
    assert text.count("以乡镇审核为准") == 1
    assert text.index("现在就拨") < text.index("以乡镇审核为准")   # the action first
    if channel == "wechat":
        assert f"或直接到{CENTER}求助" in text and "烧了两间房" in text
        body, = outbox_sms(runtime)
        assert "已标为紧急" in body and "12349" in body and "崇贤乡" in body
    else:
        assert "崇贤乡政府" in text and units(text) <= SMS_BUDGET


@pytest.mark.parametrize("channel", ["wechat", "sms"])
def test_an_emergency_without_a_township(talk, channel):
    c = submit(talk, channel, {**FIRE, "township": "不晓得"}, opening="我想申请临时救助")
    assert "现在就拨" in c.text and "乡镇政府" in c.text and CENTER not in c.text


def test_no_phone_no_promise_of_a_call(talk, runtime):
    c = submit(talk, "wechat", {**THREE, "phone": "不知道"})
    text = c.text
    assert "您没有留电话" in text and "12349" in text and f"到{CENTER}办理" in text
    assert "打电话联系您" not in text and "个工作日内" not in text
    assert outbox_sms(runtime) == []


def test_nothing_likely_still_says_who_calls_and_why(talk):
    c = submit(talk, "wechat", {**THREE, "household_monthly_income": "一万二"})
    text = c.text
    assert "暂时看不出明显符合的救助项目" in text and "人均月收入约4000元" in text
    assert f"{CENTER}的工作人员会在3个工作日内" in text and text.count("以乡镇审核为准") == 1


def test_days_and_hotline_come_from_config(config, shared_runtime, tmp_path):
    changed = load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"},
                          overrides={"screening.contact_within_working_days": 5,
                                     "county.hotlines.assistance": "0797-8881234"})
    rt = Runtime(changed, kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    for channel in ("wechat", "sms"):
        c = Conversation(rt, channel, f"+86{PHONE}" if channel == "sms" else "wx-2")
        c.send("我想申请低保")
        c.answer_until({**THREE, "consent": "1" if channel == "sms" else "同意"})
        assert "5个工作日内" in c.text and "3个工作日" not in c.text
        if channel == "wechat":
            assert "0797-8881234" in c.text and "12349" not in c.text


# ---- SMS length over many households (no conversation needed) ----------------------------
HOUSEHOLDS = [
    dict(program="dibao", household_size=3, household_monthly_income=1200, disability_level=1),
    dict(program="dibao", household_size=3, household_monthly_income=2400, disability_level=2,
         serious_illness=True),
    dict(program="tekun", age=82, household_size=1, household_monthly_income=100, has_supporter=False,
         serious_illness=True, medical_expense_year=5000),
    dict(program="unsure", household_size=4, household_monthly_income=2000, serious_illness=True,
         medical_expense_year=80000, emergency=True, emergency_description="孩子查出急性白血病住院",
         disability_level=1),
    dict(program="linshi", household_size=5, household_monthly_income=6000, emergency=True,
         emergency_description="屋里着火"),
    dict(program="bianyuan"),
]


@pytest.mark.parametrize("fields", HOUSEHOLDS)
@pytest.mark.parametrize("township", ["崇贤乡", "古龙岗镇", None])
@pytest.mark.parametrize("phone", [PHONE, None])
def test_sms_reply_fits_two_segments(shared_runtime, fields, township, phone):
    rt = shared_runtime
    values = {**fields, "residence": "rural", "township": township, "phone": phone}
    assessment = rt.screener.rules.assess(values)
    text = submitted_text(rt.config, rt.screener.texts, "JZ261201-AB2C", values, assessment, "sms",
                          rt.screener.rules.forms)
    assert units(text) <= SMS_BUDGET, text
    assert text.count("以乡镇审核为准") == 1 and "JZ261201-AB2C" in text
    assert ("现在就拨" in text) is bool(fields.get("emergency"))
    assert ("个工作日内" in text) is bool(phone and not fields.get("emergency"))
