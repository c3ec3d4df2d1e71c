"""The weekly brief: last week's county figures in a few lines, small numbers hidden, queued once."""
import datetime as dt

from sqlalchemy import func, select

from bot.insight import brief
from bot.storage.models import InsightEvent, OutboxMessage

TODAY = dt.date(2026, 12, 2)                     # a Wednesday: the brief covers 11-23 to 11-29


def put(runtime, n, kind, subject, day=dt.date(2026, 11, 25)):
    with runtime.db.unit_of_work() as s:
        s.add_all(InsightEvent(day=day, kind=kind, subject=subject, channel="sms") for _ in range(n))


def test_the_brief_tells_last_week_and_hides_small_numbers(runtime):
    put(runtime, 30, "question.answered", "dibao.what")
    put(runtime, 10, "question.unanswered", "dibao.eligibility")
    put(runtime, 3, "question.answered", "tekun.support")
    put(runtime, 50, "question.answered", "dibao.what", day=dt.date(2026, 11, 30))   # this week: not in it
    put(runtime, 20, "screening.started", "consent")
    put(runtime, 8, "screening.submitted", "confirm")
    put(runtime, 12, "screening.abandoned", "household_monthly_income")
    with runtime.db.unit_of_work() as s:
        text = brief.compose(s, runtime, TODAY)
    lines = text.splitlines()
    assert lines[0] == "兴国县救助通周报（11月23日至11月29日）"
    assert "群众提问43条，解答率77%，答不上23%。" in text
    assert "问得最多：什么是低保（30）、低保的申请条件（10）。" in text     # 3 questions: not named
    assert "申请预审开始20次、提交8次（完成40%），放弃最多在“家庭月收入”。" in text
    assert "新线索0条" in text and len(lines) <= 7


def test_a_brief_sent_twice_the_same_week_is_queued_once(runtime):
    put(runtime, 3, "question.answered", "dibao.what")
    body, queued = brief.send(runtime, [("sms", "+8613900000001"), ("sms", "+8613900000002")], TODAY)
    again, queued_again = brief.send(runtime, [("sms", "+8613900000001")], TODAY)
    assert (queued, queued_again) == (2, 0) and body == again
    assert "群众提问不足5条" in body
    with runtime.db.unit_of_work() as s:
        assert s.scalar(select(func.count(OutboxMessage.id))) == 2
        assert set(s.scalars(select(OutboxMessage.kind))) == {"brief"}


def test_jiuzhu_brief_prints_and_refuses_a_bad_recipient(cli):
    printed = cli("brief")
    assert "救助通周报" in printed.stdout
    refused = cli("brief", "--to", "fax:123", check=False)
    assert refused.returncode == 2 and "sms:+86" in refused.stderr
