"""The weekly brief for the county's leadership: a few lines on last week, sent through the outbox.

County-wide figures of the last whole week (Monday to Sunday, the county's days), with
the dashboard's rule for small numbers: a count under 5 reads "不足5", a rate on a base
under 5 is left out. The idempotency key names the week and the recipient, so a brief
run twice (a retried cron job) is queued once.
"""
from __future__ import annotations

import datetime as dt
import statistics

from sqlalchemy import func, select

from bot.insight.dashboard import MINIMUM, OPEN_STATUSES, Scope, funnel, questions
from bot.insight.rollup import counts
from bot.storage.models import Lead

MOST_ASKED = 3


def last_week(today: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the last whole week before `today`."""
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return monday, monday + dt.timedelta(days=6)


def _n(value: int) -> str:
    return "不足5" if 0 < value < MINIMUM else str(value)


def _pct(part: int, whole: int) -> str | None:
    """A share only on a base of 5 or more, and not for a part of 1–4 (it would single households out)."""
    if whole < MINIMUM or 0 < part < MINIMUM:
        return None
    return f"{100 * part / whole:.0f}%"


def compose(session, runtime, today: dt.date) -> str:
    """The brief's text for the week before `today`."""
    since, until = last_week(today)
    county = Scope(None)
    title = runtime.kb.topics
    label = runtime.screener.texts.label
    lines = [f"{runtime.config.county.name}救助通周报（{since:%m月%d日}至{until:%m月%d日}）"]

    rows = questions(session, county, since, until, "subject")
    total = sum(r["n"] for r in rows)
    outcome = counts(session, since, until, by=("kind",), kinds=["question.answered", "question.chosen",
                                                                 "question.unanswered"])
    answered = outcome.get(("question.answered",), 0) + outcome.get(("question.chosen",), 0)
    unanswered = outcome.get(("question.unanswered",), 0)
    said = [f"群众提问{_n(total)}条"]
    for name, part in (("解答率", answered), ("答不上", unanswered)):
        share = _pct(part, total)
        if share:
            said.append(f"{name}{share}")
    lines.append("，".join(said) + "。")
    top = [r for r in rows if r["n"] >= MINIMUM][:MOST_ASKED]
    if top:
        lines.append("问得最多：" + "、".join(
            f"{title[r['key']].title if r['key'] in title else '未归类'}（{r['n']}）" for r in top) + "。")

    screening = counts(session, since, until, by=("kind",), kinds=["screening.started", "screening.submitted"])
    started = screening.get(("screening.started",), 0)
    submitted = screening.get(("screening.submitted",), 0)
    line = f"申请预审开始{_n(started)}次、提交{_n(submitted)}次"
    share = _pct(submitted, started)
    if share:
        line += f"（完成{share}）"
    worst = funnel(session, county, since, until)["worst"]
    if worst:
        line += f"，放弃最多在“{label(worst)}”"
    lines.append(line + "。")

    lines.append(_leads_line(session, runtime, since, until))
    lines.append("详情见工作台“数据看板”。")
    return "\n".join(lines)


def _leads_line(session, runtime, since: dt.date, until: dt.date) -> str:
    zone = runtime.insight.zone
    start = dt.datetime.combine(since, dt.time(), zone)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), zone)
    new = session.scalar(select(func.count(Lead.id)).where(Lead.created_at >= start, Lead.created_at < end))
    open_ = session.scalar(select(func.count(Lead.id)).where(Lead.status.in_(OPEN_STATUSES)))
    overdue_before = end - dt.timedelta(days=runtime.config.workbench.overdue_days)
    overdue = session.scalar(select(func.count(Lead.id)).where(Lead.status == "new",
                                                               Lead.created_at < overdue_before))
    waits = [(_aware(c) - _aware(a)).total_seconds() / 86400 for a, c in session.execute(
        select(Lead.created_at, Lead.first_contacted_at)
        .where(Lead.first_contacted_at >= start, Lead.first_contacted_at < end))]
    line = (f"新线索{_n(new)}条；未办结{_n(open_)}条，其中超过{runtime.config.workbench.overdue_days}天"
            f"未联系{_n(overdue)}条")
    if len(waits) >= MINIMUM:
        line += f"；本周首次联系的中位用时{statistics.median(waits):.1f}天"
    return line + "。"


def send(runtime, recipients: list[tuple[str, str]], today: dt.date) -> tuple[str, int]:
    """Queue the brief to each (channel, recipient); the text and how many were newly queued."""
    from bot.outbox import enqueue

    with runtime.db.unit_of_work() as session:
        body = compose(session, runtime, today)
        since, _ = last_week(today)
        queued = sum(enqueue(runtime, channel, recipient, body, f"brief:{since}:{channel}:{recipient}",
                             session=session, kind="brief")[1] for channel, recipient in recipients)
    return body, queued


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
