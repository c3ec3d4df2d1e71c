"""Benchmark the dashboard on 10 million insight events (and 100,000 leads) in PostgreSQL.

A private schema in the test database (127.0.0.1:5432, `test`) gets the newest schema,
a caseworker and a supervisor, N insight events spread over a year written by one
INSERT … SELECT FROM generate_series (every value from the events' closed lists), and
leads written the same way; then `rollup.fold()` counts the closed days into
insight_daily as the worker's housekeeping does, and the real app is driven through
Flask's test client (logged in through the form): the whole dashboard page and one CSV,
as the county and as a caseworker of two townships, each request timed whole. Today's
events stay unfolded, as in production, so each page also reads one raw day.

Each scenario is timed twice in the same run, one right after the other: the baseline
with insight_weekly not read (every folded day summed from insight_daily, as before
migration 0019), then as the app runs (whole weeks from insight_weekly).

    .venv/bin/python bench/bench_dashboard.py [--events 10000000] [--leads 100000] [--requests 20]
        [--baseline-requests 5] [--json] [--keep] [--schema KEPT]

A schema kept by an older version of this bench is upgraded first (`--schema`: 0019 counts
its folded days into insight_weekly).

Target (issue 14): the dashboard renders in < 1 s (p95) with 10 million events.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import zoneinfo
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import ROOT, add_accounts, clients, private_schema, timed  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bot.insight.rollup import fold  # noqa: E402
from bot.storage import schema as migrations  # noqa: E402

RESULTS = ROOT / "bench/results/dashboard.json"
TARGET_MS = 1000.0
KINDS = ("question.answered", "question.answered", "question.answered", "question.offered", "question.unanswered",
         "question.chosen", "question.declined", "screening.started", "screening.asked", "screening.asked",
         "screening.answered", "screening.abandoned", "screening.submitted", "outbox.sent")
STEPS = ("consent", "program", "age", "township", "household_size", "household_monthly_income", "savings", "confirm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per scenario")
    parser.add_argument("--baseline-requests", type=int, default=5,
                        help="timed requests per scenario for the baseline (its 52-week pages take seconds)")
    parser.add_argument("--json", action="store_true", help=f"also write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    parser.add_argument("--schema", help="time the app again on a schema an earlier --keep run filled "
                                         "(neither filled, folded nor dropped; upgraded if older)")
    args = parser.parse_args(argv)

    with private_schema("bench_dash", keep=args.keep, reuse=args.schema) as (runtime, schema):
        started = time.perf_counter()
        if args.schema is None:
            fill(runtime, args.events, args.leads)
        else:
            migrations.upgrade(runtime.db.engine)
        fill_seconds = time.perf_counter() - started
        started = time.perf_counter()
        days = [] if args.schema else fold(runtime.db, zoneinfo.ZoneInfo(runtime.config.workbench.timezone))
        fold_seconds = time.perf_counter() - started
        with runtime.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("insight_daily", "insight_weekly", "leads"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
            sizes = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                     for table in ("insight_daily", "insight_weekly", "leads")}
            events = conn.execute(text("SELECT count(*) FROM insight_events")).scalar()
        results = measure(runtime, args.requests, args.baseline_requests)
    summary = {"events": events, "leads": sizes["leads"], "fill_seconds": round(fill_seconds, 1),
               "fold_seconds": round(fold_seconds, 1), "days_folded": len(days), "daily_rows": sizes["insight_daily"],
               "weekly_rows": sizes["insight_weekly"], "scenarios": results}
    report(summary, schema if args.keep or args.schema else None)
    if args.json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    ok = all(r["p95_ms"] < TARGET_MS for r in results)
    print("PASS" if ok else "FAIL", "— target: dashboard p95 < 1 s")
    return 0 if ok else 1


def _array(values) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def fill(runtime, events: int, leads: int) -> None:
    """Accounts; `events` events over the last 365 days (today included) and `leads` leads, in SQL."""
    add_accounts(runtime)
    topics = sorted(runtime.kb.topics)
    townships = runtime.config.county.townships
    # (i * prime) % n spreads each dimension independently enough for realistic group sizes;
    # a fifth of the events carry no township, as questions asked outside a screening do.
    events_sql = f"""
        INSERT INTO insight_events (day, kind, subject, channel, township, programme, age_band, campaign)
        SELECT current_date - (i % 365),
               k.kind,
               CASE WHEN k.kind LIKE 'question.%' THEN (:topics)[1 + (i * 7) % :n_topics]
                    WHEN k.kind LIKE 'screening.%' THEN (:steps)[1 + (i * 11) % :n_steps]
                    ELSE 'status' END,
               CASE WHEN i % 3 = 0 THEN 'sms' ELSE 'wechat' END,
               CASE WHEN i % 5 = 0 THEN NULL ELSE (:townships)[1 + (i * 13) % :n_towns] END,
               NULL,
               CASE WHEN k.kind LIKE 'screening.%' THEN (ARRAY['<60','60-79','80+'])[1 + (i * 17) % 3] END,
               NULL
        FROM generate_series(0, :events - 1) AS i,
             LATERAL (SELECT (:kinds)[1 + (i * 31) % :n_kinds] AS kind) AS k
    """
    leads_sql = """
        INSERT INTO leads (ref, status, channel, user_key, township, urgency, sealed_programs, programs,
                           sealed_documents, sealed_fields, personal, consent, needs_callback, created_at,
                           updated_at, first_contacted_at, sealed_documents_received)
        SELECT 'BD' || lpad(i::text, 9, '0'),
               (ARRAY['new','contacted','submitted','closed','closed','closed','rejected','unreachable'])[1 + i % 8],
               -- the sealed columns hold a placeholder: the dashboard never opens them
               'sms', md5(i::text), (:townships)[1 + (i * 13) % :n_towns], 'normal', '', '[]', '', '',
               '\\x00'::bytea, '{"given": true}', false,
               now() - make_interval(mins => (i * 7919) % 525600), now(),
               CASE WHEN i % 8 = 0 THEN NULL
                    ELSE now() - make_interval(mins => (i * 7919) % 525600) + make_interval(hours => (i % 120)) END,
               ''
        FROM generate_series(1, :leads) AS i
    """
    sql = {"topics": _array(topics), "steps": _array(STEPS), "townships": _array(townships), "kinds": _array(KINDS)}
    for name, value in sql.items():
        events_sql = events_sql.replace(f"(:{name})", f"({value})")
        leads_sql = leads_sql.replace(f"(:{name})", f"({value})")
    with runtime.db.engine.begin() as conn:   # the leads first: a mistake there costs seconds, not minutes
        conn.execute(text(leads_sql), {"leads": leads, "n_towns": len(townships)})
    with runtime.db.engine.begin() as conn:
        conn.execute(text(events_sql), {"events": events, "n_topics": len(topics), "n_steps": len(STEPS),
                                        "n_towns": len(townships), "n_kinds": len(KINDS)})
    with runtime.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE insight_events"))
        conn.execute(text("VACUUM ANALYZE leads"))


@contextlib.contextmanager
def daily_rollup_only():
    """The baseline: counts() finds no weekly grain, so it sums every folded day from insight_daily."""
    with mock.patch("bot.insight.rollup.grain_for", return_value=None):
        yield


def measure(runtime, requests: int, baseline_requests: int) -> list[dict]:
    """Time each scenario through the real app: the baseline, then right after it as the app runs."""
    _, caseworker, county = clients(runtime)
    scenarios = [
        ("county: dashboard, last 8 weeks", county, "/workbench/dashboard"),
        ("county: dashboard, last 52 weeks", county, "/workbench/dashboard?weeks=52"),
        ("county: one township, 52 weeks", county, "/workbench/dashboard?weeks=52&township=梅窖镇"),
        ("caseworker: dashboard, last 8 weeks", caseworker, "/workbench/dashboard"),
        ("caseworker: dashboard, last 52 weeks", caseworker, "/workbench/dashboard?weeks=52"),
        ("county: topics CSV, 52 weeks", county, "/workbench/dashboard/topics.csv?weeks=52"),
    ]
    results = []
    for name, client, path in scenarios:
        with daily_rollup_only():
            baseline = timed(client, path, baseline_requests)
        results.append({"scenario": name, **timed(client, path, requests), "baseline": baseline})
    return results


def report(summary: dict, kept: str | None) -> None:
    print(f"{summary['events']:,} insight events and {summary['leads']:,} leads in PostgreSQL, written in "
          f"{summary['fill_seconds']:.0f} s; {summary['days_folded']} days folded in {summary['fold_seconds']:.0f} s "
          f"into {summary['daily_rows']:,} daily and {summary['weekly_rows']:,} weekly rows"
          + (f" (schema {kept} kept)" if kept else ""))
    print(f"{'scenario':40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   baseline (daily only): p50 / p95 ms")
    for r in summary["scenarios"]:
        base = r["baseline"]
        print(f"{r['scenario']:40} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['max_ms']:8.1f}   "
              f"{base['p50_ms']:8.1f} / {base['p95_ms']:.1f}")


if __name__ == "__main__":
    sys.exit(main())
