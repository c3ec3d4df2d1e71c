"""Benchmark the insight rollup on PostgreSQL: fold a year of events, then time dashboard-style counts.

A fresh schema gets N events (default 10 million) spread over 365 days, written by
one INSERT … SELECT on the server, drawn at random as the bot records them: 80 %
questions (a topic and a channel; a question carries no township), 18 % screening
steps (a step; the township in 60 %, the programme in 90 %, the age band in 50 %),
2 % outbox outcomes — every topic, step and township equally likely, which makes
more distinct rollup rows than a real county's skewed questions would. Then
`bot.insight.rollup.fold` folds every closed day, and `counts()` answers the queries
a dashboard asks, each timed over a few repetitions (median and worst):

    .venv/bin/python bench/bench_insight.py [--events 10000000] [--repeat 5] [--postgres-url URL]

Only the given PostgreSQL server is contacted; the schema is dropped at the end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.insight.rollup import counts, fold  # noqa: E402
from bot.storage.db import Database  # noqa: E402

DEFAULT_URL = os.environ.get("JIUZHU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
QUESTION_KINDS = ["question.answered"] * 7 + ["question.offered", "question.unanswered", "question.declined"]
SCREENING_KINDS = ["screening.asked"] * 4 + ["screening.answered"] * 4 + [
    "screening.started", "screening.skipped", "screening.failed", "screening.abandoned", "screening.submitted"]


def fill(conn, events: int, first_day: dt.date, topics: list[str], steps: list[str], townships: list[str],
         days: int = 365) -> None:
    """Insert the events over `days` days from `first_day`, in one statement (arrays indexed at random)."""
    conn.execute(text("""
        INSERT INTO insight_events (day, kind, subject, channel, township, programme, age_band, campaign)
        SELECT CAST(:first AS date) + (g % :days),
               CASE WHEN r.k < 0.8 THEN (CAST(:qk AS text[]))[1 + floor(r.a * :nqk)]
                    WHEN r.k < 0.98 THEN (CAST(:sk AS text[]))[1 + floor(r.a * :nsk)]
                    ELSE 'outbox.sent' END,
               CASE WHEN r.k < 0.8 THEN (CAST(:topics AS text[]))[1 + floor(r.b * :ntopics)]
                    WHEN r.k < 0.98 THEN (CAST(:steps AS text[]))[1 + floor(r.b * :nsteps)]
                    ELSE 'status' END,
               CASE WHEN r.c < 0.7 THEN 'wechat' ELSE 'sms' END,
               CASE WHEN r.k >= 0.8 AND r.k < 0.98 AND r.d < 0.6
                    THEN (CAST(:townships AS text[]))[1 + floor(r.e * :ntownships)] END,
               CASE WHEN r.k >= 0.8 AND r.k < 0.98 AND r.c < 0.9
                    THEN (ARRAY['dibao','tekun','linshi','yiliao','bianyuan'])[1 + floor(r.a * 5)] END,
               CASE WHEN r.k >= 0.8 AND r.k < 0.98 AND r.e < 0.5
                    THEN (ARRAY['<60','60-79','80+'])[1 + floor(r.d * 3)] END,
               NULL
        FROM generate_series(0, :n - 1) AS g,
             LATERAL (SELECT random() AS k, random() AS a, random() AS b, random() AS c, random() AS d,
                             random() AS e, g AS x) AS r"""),
                 {"first": first_day, "n": events, "days": days, "qk": QUESTION_KINDS, "nqk": len(QUESTION_KINDS),
                  "sk": SCREENING_KINDS, "nsk": len(SCREENING_KINDS), "topics": topics, "ntopics": len(topics),
                  "steps": steps, "nsteps": len(steps), "townships": townships, "ntownships": len(townships)})
    conn.execute(text("ANALYZE insight_events"))


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(median ms, worst ms, last result)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    args = parser.parse_args()

    from bot.knowledge import load_knowledge
    from bot.screening.flow import CONTRACT_SLOTS

    config = load_config(ROOT / "config.toml")
    topics = sorted(load_knowledge(config).topics)
    townships = list(config.county.townships)
    schema = f"bench_insight_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.postgres_url else "?"
    db = Database(f"{args.postgres_url}{sep}options=-csearch_path%3D{schema}")
    try:
        db.ensure_schema()
        today = dt.date.today()
        first_day = today - dt.timedelta(days=364)
        start = time.perf_counter()
        with db.engine.begin() as conn:
            fill(conn, args.events, first_day, topics, list(CONTRACT_SLOTS), townships)
        filled = time.perf_counter() - start
        zone = __import__("zoneinfo").ZoneInfo(config.workbench.timezone)
        start = time.perf_counter()
        days = fold(db, zone)
        folded = time.perf_counter() - start
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE insight_daily"))  # what autovacuum does after the inserts
        with db.engine.connect() as conn:
            rollup_rows = conn.execute(text("SELECT count(*) FROM insight_daily")).scalar()
        start = time.perf_counter()
        fold(db, zone)  # the worker's fold every ten minutes: the last day again
        refold = time.perf_counter() - start
        since_fold = args.events // 365 // 144  # ten minutes' worth of a day's events, after the fold
        with db.engine.begin() as conn:
            fill(conn, since_fold, today, topics, list(CONTRACT_SLOTS), townships, days=1)
        print(f"{args.events:,} events over 365 days written in {filled:.1f} s; "
              f"{len(days)} days folded in {folded:.1f} s into {rollup_rows:,} rollup rows; "
              f"a later fold (the last day again): {refold * 1000:.0f} ms; "
              f"{since_fold} events written since, read raw")
        week_ago, quarter = today - dt.timedelta(days=6), today - dt.timedelta(days=90)
        queries = {
            "questions per topic, last 12 weeks": lambda s: counts(
                s, today - dt.timedelta(days=83), today, by=("subject",), kinds=["question.answered"]),
            "questions per township per day, last 12 weeks": lambda s: counts(
                s, today - dt.timedelta(days=83), today, by=("day", "township"),
                kinds=["question.answered", "question.offered", "question.unanswered"]),
            "answered / offered / unanswered rate, this week": lambda s: counts(
                s, week_ago, today, by=("kind",), kinds=list(set(QUESTION_KINDS))),
            "screening funnel by step, channel, age band, 90 days": lambda s: counts(
                s, quarter, today, by=("kind", "subject", "channel", "age_band"),
                kinds=list(set(SCREENING_KINDS))),
            "one township's funnel, a year": lambda s: counts(
                s, first_day, today, by=("kind", "subject"), kinds=list(set(SCREENING_KINDS)),
                township=townships[0]),
        }
        print(f"{'query':55s} {'median ms':>10s} {'worst ms':>9s} {'cells':>6s}")
        for name, query in queries.items():
            def run(query=query):
                with db.unit_of_work() as s:
                    return query(s)
            median, worst, result = timed(run, args.repeat)
            print(f"{name:55s} {median:10.1f} {worst:9.1f} {len(result):6d}")
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
