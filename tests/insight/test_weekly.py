"""insight_weekly: the dashboard's figures read from the weekly roll-up are the figures of the raw events —
suppression under 5 households and a caseworker's townships included — on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import random
import warnings

import pytest
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.orm import Session

from bot.accounts.roles import Actor
from bot.insight import dashboard as figures
from bot.insight.dashboard import SUPPRESSED, Scope
from bot.insight.rollup import counts, fold
from bot.insight.weekly import GRAINS, InsightWeekly, grain_for
from bot.storage import schema
from bot.storage.models import InsightDaily, InsightEvent, InsightFold

TOWNSHIPS = ("崇贤乡", "梅窖镇", "江背镇", None)     # None: a question asked without a township
TOPICS = ("dibao.what", "dibao.standard", "tekun.what", "linshi.what")
KINDS = ("question.answered", "question.answered", "question.offered", "question.unanswered",
         "question.chosen", "question.declined", "screening.started", "screening.asked",
         "screening.abandoned", "screening.submitted", "outbox.sent")
STEPS = ("consent", "age", "household_monthly_income", "confirm")
CASEWORKER = Scope.of(Actor(1, "cw", "caseworker", frozenset({"崇贤乡", "江背镇"})))
COUNTY = Scope(None)


def scatter(rt, today: dt.date, n: int, seed: int, days: int = 34) -> None:
    """`n` events over the last `days` days, skewed so some cells are large and some under 5."""
    draw = random.Random(seed)
    with rt.db.unit_of_work() as s:
        for _ in range(n):
            kind = draw.choice(KINDS)
            subject = draw.choice(STEPS if kind.startswith("screening.") else TOPICS[: draw.randint(1, 4)])
            s.add(InsightEvent(day=today - dt.timedelta(days=int(draw.triangular(0, days, 0))), kind=kind,
                               subject=subject, channel=draw.choice(("sms", "wechat")),
                               township=draw.choice(TOWNSHIPS),
                               age_band=draw.choice(("<60", "60-79", "80+", None)) if "screening" in kind else None))


def every_figure(rt, since: dt.date, until: dt.date, raw: bool = False) -> dict:
    """What the dashboard shows for the county, a caseworker of 崇贤乡 and 江背镇, and 梅窖镇 alone;
    `raw`: with the folds forgotten (in a transaction rolled back), so counts() reads every event raw."""
    with rt.db.engine.connect() as conn, Session(bind=conn) as s:
        transaction = conn.begin()
        if raw:
            conn.execute(delete(InsightFold))
        out = {}
        for name, scope in (("county", COUNTY), ("caseworker", CASEWORKER), ("one township", COUNTY.narrowed("梅窖镇"))):
            for by in ("subject", "township", "week"):
                out[name, by] = figures.questions(s, scope, since, until, by)
            out[name, "funnel"] = figures.funnel(s, scope, since, until)
        transaction.rollback()
    return out


def test_the_weekly_rollup_gives_the_figures_of_the_raw_events(rt):
    today = rt.insight.today()
    scatter(rt, today, 900, seed=14)
    fold(rt.db, rt.insight.zone)
    scatter(rt, today, 60, seed=15, days=0)  # today's, written since the fold: read raw
    for refolded in (False, True):
        if refolded:
            fold(rt.db, rt.insight.zone)     # today's week recounted, not added to
        for weeks in (1, 2, 5):
            since = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=weeks - 1)
            folded = every_figure(rt, since, today)
            assert folded == every_figure(rt, since, today, raw=True)
    with rt.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(InsightWeekly)) > 0
    assert {r["key"] for r in folded["caseworker", "township"]} == {"崇贤乡", "江背镇"}   # only theirs
    assert {r["key"] for r in folded["county", "township"]} == {"崇贤乡", "梅窖镇", "江背镇", ""}
    assert {r["key"] for r in folded["one township", "township"]} == {"梅窖镇"}
    cells = [r[o] for r in folded["caseworker", "subject"] for o in figures.OUTCOMES]
    assert SUPPRESSED in cells and any(isinstance(c, int) and c >= 5 for c in cells)
    assert len(folded["county", "week"]) == 5 and folded["county", "funnel"]["cohorts"]


@pytest.mark.parametrize(("back", "length"), [(33, 33), (30, 12), (16, 3), (9, 9), (2, 0)])
def test_counts_over_part_weeks_agree_with_the_raw_events(rt, back, length):
    today = rt.insight.today()
    scatter(rt, today, 500, seed=back)
    fold(rt.db, rt.insight.zone)
    since = today - dt.timedelta(days=back)
    until = since + dt.timedelta(days=length)
    queries = [dict(by=("subject", "kind")), dict(by=("week", "kind"), township=("崇贤乡", "江背镇")),
               dict(by=("kind", "subject", "channel", "age_band"), kinds=["screening.abandoned", "screening.asked"]),
               dict(by=("day", "kind")), dict(by=("township",), township=None)]
    with rt.db.engine.connect() as conn, Session(bind=conn) as s:
        transaction = conn.begin()
        folded = [counts(s, since, until, **q) for q in queries]
        conn.execute(delete(InsightFold))
        assert folded == [counts(s, since, until, **q) for q in queries]
        transaction.rollback()
    assert sum(folded[0].values()) > 0


def test_every_grain_counts_each_event_once(rt):
    today = rt.insight.today()
    scatter(rt, today, 400, seed=3)
    fold(rt.db, rt.insight.zone)
    with rt.db.unit_of_work() as s:
        for grain in GRAINS:
            daily = select(func.sum(InsightDaily.count)).where(InsightDaily.kind.like(grain.prefix + "%"))
            weekly = select(func.sum(InsightWeekly.count)).where(InsightWeekly.grain == grain.name)
            assert s.scalar(weekly) == s.scalar(daily), grain.name


def test_the_dashboard_reads_the_narrowest_grain():
    questions = ["question.answered", "question.chosen"]
    assert grain_for(("subject", "kind"), questions, ()).name == "subject"
    assert grain_for(("subject", "kind"), questions, ("township",)).name == "subject_township"
    assert grain_for(("week", "kind"), questions, ("township",)).name == "township"
    funnel = ("kind", "subject", "channel", "age_band")
    assert grain_for(funnel, ["screening.started"], ("township",)).name == "funnel_township"
    assert grain_for(funnel, None, ()) is None                       # every kind: only insight_daily has it
    assert grain_for(("programme",), None, ()) is None


def test_the_migration_counts_the_days_already_folded_into_weeks(any_db_url):
    engine = create_engine(any_db_url)
    schema.upgrade(engine, "0014")
    monday = dt.date(2026, 11, 23)
    with engine.begin() as conn:
        for day, township, n in ((monday, "崇贤乡", 4), (monday + dt.timedelta(days=6), "崇贤乡", 3),
                                 (monday + dt.timedelta(days=7), "梅窖镇", 9)):
            conn.execute(text("INSERT INTO insight_daily (day, kind, subject, channel, township, programme, "
                              "age_band, campaign, count) VALUES (:day, 'question.answered', 'dibao.what', 'sms', "
                              ":township, '', '', '', :n)"), {"day": day, "township": township, "n": n})
        conn.execute(text("INSERT INTO insight_folds (day, events, through_id, folded_at) "
                          "VALUES (:day, 9, 0, :day)"), {"day": monday + dt.timedelta(days=7)})
    schema.upgrade(engine)
    with Session(bind=engine) as s:
        rows = s.execute(select(InsightWeekly.week, InsightWeekly.township, InsightWeekly.count)
                         .where(InsightWeekly.grain == "township").order_by(InsightWeekly.week)).all()
        mine = counts(s, monday, monday + dt.timedelta(days=13), by=("week",), township=("崇贤乡",))
    engine.dispose()
    assert rows == [(monday, "崇贤乡", 7), (monday + dt.timedelta(days=7), "梅窖镇", 9)]
    assert mine == {(monday,): 7}


def test_the_model_matches_the_migration(any_db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.storage.models import Base

    engine = create_engine(any_db_url)
    schema.upgrade(engine)
    with engine.connect() as conn, warnings.catch_warnings():
        # (expression-based indexes of other tables cannot be reflected; not this table's concern)
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert [d for d in diff if "insight_weekly" in repr(d)] == []
