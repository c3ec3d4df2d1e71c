"""insight_daily: the events of each closed day counted once, and the counts the dashboard reads.

Why a fold of closed days rather than an upsert with every event: every turn would
update the same few hot rows (today, question.answered, the popular topics), and on
PostgreSQL concurrent turns would queue on those row locks. Events are only ever
dated on the day they are written, so once the county's day is over (plus a few
minutes for turns still committing) its count cannot change: `fold()` recomputes each
closed day in one transaction — delete its rows, insert its grouped counts, mark it
folded — which is idempotent and needs no per-event bookkeeping. The last folded day
is folded once more each time, for a turn that committed after it was folded.

`counts()` reads insight_daily up to the last folded day and groups the raw events of
the days after it (today, usually), through the index on insight_events.day: with
ten million events a dashboard query reads a few thousand rollup rows and one day's
events (bench figures: bench/README.md).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from bot.storage.models import InsightDaily, InsightEvent, InsightFold, utcnow

DIMENSIONS = ("subject", "channel", "township", "programme", "age_band", "campaign")
GROUPS = ("day", "kind", *DIMENSIONS)
SETTLE = dt.timedelta(minutes=5)  # a turn noted before midnight may commit a moment after it
_FOLD_LOCK = 736043               # PostgreSQL advisory lock: one folding transaction at a time


def fold(db, zone, now: dt.datetime | None = None) -> list[dt.date]:
    """Fold every closed day with events not folded yet, and the last folded day again; the days folded."""
    closed_before = ((now or utcnow()) - SETTLE).astimezone(zone).date()
    with db.unit_of_work() as s:
        last = s.scalar(select(func.max(InsightFold.day)))
        days = s.scalars(select(InsightEvent.day).distinct()
                         .where(InsightEvent.day >= (last or dt.date.min), InsightEvent.day < closed_before)
                         .order_by(InsightEvent.day)).all()
    for day in days:
        with db.unit_of_work() as s:
            fold_day(s, day)
    return list(days)


def fold_day(session: Session, day: dt.date) -> int:
    """Recount one day into insight_daily (replacing what was there); the number of events."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FOLD_LOCK})
    # (on SQLite the DELETE takes the write lock first: a second folder waits for this one)
    session.execute(delete(InsightDaily).where(InsightDaily.day == day))
    dims = [func.coalesce(getattr(InsightEvent, name), "") for name in DIMENSIONS]
    grouped = (select(InsightEvent.day, InsightEvent.kind, *dims, func.count())
               .where(InsightEvent.day == day).group_by(InsightEvent.day, InsightEvent.kind, *dims))
    session.execute(insert(InsightDaily).from_select([*GROUPS, "count"], grouped))
    events = session.scalar(select(func.coalesce(func.sum(InsightDaily.count), 0))
                            .where(InsightDaily.day == day))
    session.execute(delete(InsightFold).where(InsightFold.day == day))
    session.add(InsightFold(day=day, events=events, folded_at=utcnow()))
    return events


def counts(session: Session, since: dt.date, until: dt.date, by: Iterable[str] = ("kind",),
           kinds: Iterable[str] | None = None, **equal: str | None) -> dict[tuple, int]:
    """Event counts from `since` to `until` (both included), grouped by the columns `by`.

    `kinds` limits the kinds; each keyword (channel="sms", township="江背镇", …) keeps only
    events with that value (None: not known). A key holds "" for a value not known.
    """
    by = tuple(by)
    unknown = [name for name in (*by, *equal) if name not in GROUPS]
    if unknown:
        raise ValueError(f"unknown insight columns {unknown}")
    kinds = list(kinds) if kinds is not None else None
    last = session.scalar(select(func.max(InsightFold.day)))
    totals: dict[tuple, int] = {}
    if last is not None and since <= last:
        _add(totals, session, InsightDaily, False, since, min(until, last), by, kinds, equal)
    live_from = since if last is None else max(since, last + dt.timedelta(days=1))
    if live_from <= until:
        _add(totals, session, InsightEvent, True, live_from, until, by, kinds, equal)
    return totals


def _add(totals: dict, session: Session, table, raw: bool, since: dt.date, until: dt.date,
         by: tuple[str, ...], kinds, equal: dict) -> None:
    def column(name):
        col = getattr(table, name)
        return func.coalesce(col, "") if raw and name in DIMENSIONS else col

    keys = [column(name) for name in by]
    measure = func.count() if raw else func.sum(table.count)
    query = select(*keys, measure).where(table.day >= since, table.day <= until)
    if kinds is not None:
        query = query.where(table.kind.in_(kinds))
    for name, value in equal.items():
        query = query.where(column(name) == ("" if value is None else value))
    for row in session.execute(query.group_by(*keys)):
        key = tuple(row[:-1])
        totals[key] = totals.get(key, 0) + int(row[-1])
