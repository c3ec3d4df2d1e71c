"""insight_weekly: each week's counts by only the dimensions a view reads, kept with insight_daily.

Why: insight_daily keeps every dimension, so a day holds thousands of rows (topic ×
township × channel × age band …) and a year's chart summed hundreds of thousands of
them per query. A chart needs far fewer: the topics of a caseworker's townships need
(kind, subject, township) only, the county's topics (kind, subject) only. Each *grain*
below is one such narrower count, per week (Monday to Sunday) — the dashboard's periods
are whole weeks — so a year of the county's topics is ~50 rows a cell.

Every grain counts every event of its kinds exactly once, so a sum over a grain's rows
is the same number as over insight_daily. A week's rows are recounted from its
insight_daily rows in the same transaction that refolds one of its days
(`rollup.fold_day`), so the two tables always agree; the days of a partly covered
week, and the events since the last fold, are read as before (`rollup.counts`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import BigInteger, Date, Index, Integer, String, delete, func, insert, literal, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.storage.models import Base, InsightDaily


@dataclass(frozen=True)
class Grain:
    """A narrower count: the dimensions kept (besides week and kind), for kinds starting with `prefix`."""

    name: str
    dimensions: tuple[str, ...]
    prefix: str = ""   # "screening.": only the screening's kinds (the funnel's dimensions are wide)

    def serves(self, needed: set[str], kinds: list[str] | None) -> bool:
        if not needed <= set(self.dimensions):
            return False
        return not self.prefix or (kinds is not None and all(k.startswith(self.prefix) for k in kinds))


# The smallest grain that holds what a query groups and filters by is read (see `grain_for`).
GRAINS = (
    Grain("subject", ("subject",)),                                  # county: topics
    Grain("township", ("township",)),                                # per township; weeks; totals
    Grain("subject_township", ("subject", "township")),              # a caseworker's topics
    Grain("funnel", ("subject", "channel", "age_band"), "screening."),                 # county funnel
    Grain("funnel_township", ("subject", "channel", "age_band", "township"), "screening."),
)
DIMENSIONS = ("subject", "channel", "township", "age_band")   # a dimension a grain leaves out holds ""


class InsightWeekly(Base):
    """A week's events counted per kind and one grain's dimensions (the others "")."""

    __tablename__ = "insight_weekly"
    # township before kind and week: a caseworker's read is a few index ranges, not the county's rows
    __table_args__ = (Index("uq_insight_weekly", "grain", "township", "kind", "week", "subject", "channel",
                            "age_band", unique=True, postgresql_include=["count"]),
                      Index("ix_insight_weekly_week", "week"))  # a week's recount replaces its rows

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grain: Mapped[str] = mapped_column(String(24))
    week: Mapped[dt.date] = mapped_column(Date)   # its Monday
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(16), default="")
    township: Mapped[str] = mapped_column(String(32), default="")
    age_band: Mapped[str] = mapped_column(String(8), default="")
    count: Mapped[int] = mapped_column(BigInteger)


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def whole_weeks(since: dt.date, until: dt.date) -> tuple[dt.date, dt.date]:
    """The Mondays of the first and of the day after the last whole week within since..until
    (first == after: none)."""
    first = monday(since + dt.timedelta(days=6))
    after = monday(until + dt.timedelta(days=1))
    return first, max(first, after)


def grain_for(by: Iterable[str], kinds: list[str] | None, equal: Iterable[str]) -> Grain | None:
    """The grain with the fewest dimensions that can answer the query; None when only insight_daily can
    (a day, a programme or a campaign asked for)."""
    needed = {*by, *equal} - {"kind", "week"}
    fitting = [g for g in GRAINS if g.serves(needed, kinds)]
    return min(fitting, key=lambda g: len(g.dimensions)) if fitting else None


def refresh_week(session: Session, week: dt.date) -> None:
    """Recount one week's rows of every grain from its insight_daily rows (replacing them)."""
    session.execute(delete(InsightWeekly).where(InsightWeekly.week == week))
    days = (InsightDaily.day >= week, InsightDaily.day <= week + dt.timedelta(days=6))
    for grain in GRAINS:
        dims = [getattr(InsightDaily, name) for name in grain.dimensions]
        rows = (select(literal(grain.name, String), literal(week, Date), InsightDaily.kind, *dims,
                       func.sum(InsightDaily.count))
                .where(*days).group_by(InsightDaily.kind, *dims))
        if grain.prefix:
            rows = rows.where(InsightDaily.kind.like(grain.prefix + "%"))
        session.execute(insert(InsightWeekly).from_select(["grain", "week", "kind", *grain.dimensions, "count"],
                                                          rows))
