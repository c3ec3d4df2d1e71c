"""insight_daily: the events of each day counted, and the counts the dashboard reads.

Why a fold rather than an upsert with every event: every turn would update the same
few hot rows (today, question.answered, the popular topics), and on PostgreSQL
concurrent turns would queue on those row locks. Instead `fold()` (every few minutes,
from `jiuzhu worker`) recounts each day that can still change — the last day folded and
every day since, up to today — up to a watermark: the highest event id when the fold began.
A day's recount replaces its rows, and the days of one week are recounted with the week's
insight_weekly rows in one transaction, so folding is idempotent and needs no per-event
bookkeeping.

`counts()` reads insight_daily up to the last folded day — the whole weeks of a period
from insight_weekly, its narrower weekly counts (bot/insight/weekly.py) — and adds the events above the
last watermark (those written since that fold, through the primary key), so a count is
always current: an event is in the rollup or above the watermark, never both. One
written below the watermark that committed only after the fold is missed until the next
fold recounts its day. With ten million events a dashboard query reads a few thousand
weekly rows, the current week's daily rows and a few minutes of events (bench figures:
bench/README.md).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import groupby

from sqlalchemy import delete, func, insert, literal_column, select, text
from sqlalchemy.orm import Session

from bot.insight.weekly import InsightWeekly, grain_for, monday, refresh_week, whole_weeks
from bot.storage.models import InsightDaily, InsightEvent, InsightFold, utcnow

DIMENSIONS = ("subject", "channel", "township", "programme", "age_band", "campaign")
GROUPS = ("day", "kind", *DIMENSIONS)
SETTLE = dt.timedelta(minutes=5)  # a turn noted before midnight may commit a moment after it
_FOLD_LOCK = 736043               # PostgreSQL advisory lock: one folding transaction at a time


def fold(db, zone, now: dt.datetime | None = None) -> list[dt.date]:
    """Recount the days that can still change into insight_daily; the days folded.

    That is the last day folded and every day after it, up to today — where "today" is still
    yesterday for a few minutes after midnight, so yesterday's last recount comes after the
    turns that noted an event just before midnight have committed.
    """
    today = ((now or utcnow()) - SETTLE).astimezone(zone).date()
    with db.unit_of_work() as s:
        last = s.scalar(select(func.max(InsightFold.day)))
        through = s.scalar(select(func.max(InsightEvent.id)))
        if through is None:
            return []
        start = dt.date.min if last is None else min(last, today)
        days = s.scalars(select(InsightEvent.day).distinct()
                         .where(InsightEvent.day >= start, InsightEvent.day <= today)
                         .order_by(InsightEvent.day)).all()
    for week, its_days in groupby(days, key=monday):
        # a week's days and then the week itself in one transaction: insight_weekly always agrees
        # with insight_daily, and a first fold of a year recounts each week once, not once a day
        with db.unit_of_work() as s:
            for day in its_days:
                _recount_day(s, day, through)
            refresh_week(s, week)
    return list(days)


def fold_day(session: Session, day: dt.date, through: int) -> int:
    """Recount one day's events up to id `through` into insight_daily (replacing its rows), and its
    week into insight_weekly; how many events the day has."""
    events = _recount_day(session, day, through)
    refresh_week(session, monday(day))
    return events


def _recount_day(session: Session, day: dt.date, through: int) -> int:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FOLD_LOCK})
    # (on SQLite the DELETE takes the write lock first: a second folder waits for this one)
    session.execute(delete(InsightDaily).where(InsightDaily.day == day))
    dims = [func.coalesce(getattr(InsightEvent, name), "") for name in DIMENSIONS]
    grouped = (select(InsightEvent.day, InsightEvent.kind, *dims, func.count())
               .where(InsightEvent.day == day, InsightEvent.id <= through)
               .group_by(InsightEvent.day, InsightEvent.kind, *dims))
    session.execute(insert(InsightDaily).from_select([*GROUPS, "count"], grouped))
    events = session.scalar(select(func.coalesce(func.sum(InsightDaily.count), 0))
                            .where(InsightDaily.day == day))
    session.execute(delete(InsightFold).where(InsightFold.day == day))
    session.add(InsightFold(day=day, events=events, through_id=through, folded_at=utcnow()))
    return events


def counts(session: Session, since: dt.date, until: dt.date, by: Iterable[str] = ("kind",),
           kinds: Iterable[str] | None = None, **equal) -> dict[tuple, int]:
    """Event counts from `since` to `until` (both included), grouped by the columns `by`.

    `kinds` limits the kinds; each keyword (channel="sms", township="江背镇", …) keeps only
    events with that value (None: not known), or with one of the values of a tuple or set
    (township=("江背镇", "崇贤乡"): a caseworker's townships in one query). A key holds "" for
    a value not known; "week" in `by` groups by the Monday of each event's week.

    The whole weeks of the period are read from insight_weekly when a grain holds the columns
    asked for, the other folded days from insight_daily, then the events since the last fold.
    """
    by = tuple(by)
    unknown = [name for name in (*by, *equal) if name not in (*GROUPS, "week")]
    if unknown or "week" in equal:
        raise ValueError(f"unknown insight columns {unknown or ['week']}")
    kinds = list(kinds) if kinds is not None else None
    last = session.execute(select(InsightFold.day, InsightFold.through_id)
                           .order_by(InsightFold.day.desc()).limit(1)).first()
    totals: dict[tuple, int] = {}
    if last is not None and since <= last.day:
        folded_until = min(until, last.day)
        grain = grain_for(by, kinds, equal)
        first, after = whole_weeks(since, folded_until)
        if grain is not None and first < after:
            _add_weeks(totals, session, grain.name, first, after, by, kinds, equal)
            _add(totals, session, InsightDaily, None, since, first - dt.timedelta(days=1), by, kinds, equal)
            _add(totals, session, InsightDaily, None, after, folded_until, by, kinds, equal)
        else:
            _add(totals, session, InsightDaily, None, since, folded_until, by, kinds, equal)
    _add(totals, session, InsightEvent, last.through_id if last else 0, since, until, by, kinds, equal)
    return totals


def _add_weeks(totals: dict, session: Session, grain: str, first: dt.date, after: dt.date,
               by: tuple[str, ...], kinds, equal: dict) -> None:
    """Add the counts of insight_weekly's `grain` for the weeks from Monday `first` to before `after`."""
    keys = [getattr(InsightWeekly, name) for name in by]
    query = select(*keys, func.sum(InsightWeekly.count)).where(
        InsightWeekly.grain == grain, InsightWeekly.week >= first, InsightWeekly.week < after)
    _sum_into(totals, session, InsightWeekly, query, keys, by, kinds, equal, raw=False)


def _add(totals: dict, session: Session, table, above: int | None, since: dt.date, until: dt.date,
         by: tuple[str, ...], kinds, equal: dict) -> None:
    """Add the counts of insight_daily (`above` None) or of the events with ids above `above`."""
    if since > until:
        return
    raw = above is not None
    keys = [_column(table, "day" if name == "week" else name, raw) for name in by]
    measure = func.count() if raw else func.sum(table.count)
    query = select(*keys, measure).where(table.day >= since, table.day <= until)
    if raw and above:
        # The watermark as a literal, not a bound parameter: psycopg prepares a statement run five
        # times and PostgreSQL then plans it generically, guessing a third of the table above "$1",
        # and walked the day index through every raw event of the period (seconds at 10 M events).
        # With the number in the text it probes the primary key's end: the few events above it.
        query = query.where(table.id > literal_column(str(int(above))))
    _sum_into(totals, session, table, query, keys, by, kinds, equal, raw)


def _column(table, name: str, raw: bool):
    col = getattr(table, name)
    return func.coalesce(col, "") if raw and name in DIMENSIONS else col


def _sum_into(totals: dict, session: Session, table, query, keys: list, by: tuple[str, ...], kinds,
              equal: dict, raw: bool) -> None:
    """Filter `query` by kinds and values, group it by `keys` (the columns of `by`) and add its rows
    to `totals` (a day read for "week" taken to its Monday)."""
    if kinds is not None:
        query = query.where(table.kind.in_(kinds))
    for name, value in equal.items():
        if isinstance(value, (tuple, list, set, frozenset)):
            query = query.where(_column(table, name, raw).in_(sorted("" if v is None else v for v in value)))
        else:
            query = query.where(_column(table, name, raw) == ("" if value is None else value))
    weekly = table is InsightWeekly
    to_monday = [i for i, name in enumerate(by) if name == "week" and not weekly]
    for row in session.execute(query.group_by(*keys)):
        key = list(row[:-1])
        for i in to_monday:
            key[i] = monday(key[i])
        key = tuple(key)
        totals[key] = totals.get(key, 0) + int(row[-1])
