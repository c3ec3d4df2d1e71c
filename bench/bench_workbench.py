"""Benchmark the workbench's queue and lead pages on 100,000 leads in PostgreSQL.

A private schema in the test database (127.0.0.1:5432, `test`) gets the newest
schema (migrations), two accounts and N leads with encrypted personal data and a
few audit rows each, written with bulk inserts; then the real app (web.app.create_app)
is driven through Flask's test client, logged in through the login form like a browser:
the queue's first page (filtered, 50 rows) as a caseworker and as a county supervisor,
and lead pages picked at random within the caseworker's townships. Each request is
timed whole (routing, session, queries, decryption, template). The schema is dropped
afterwards unless --keep.

    .venv/bin/python bench/bench_workbench.py [--leads 100000] [--requests 60] [--json]

Targets (issue 12): queue p95 < 300 ms, lead page p95 < 200 ms, on this 2-core machine.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import CASEWORKER_TOWNSHIPS, ROOT, add_accounts, clients, private_schema, timed  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bot.domain import PROGRAMS  # noqa: E402
from bot.screening.leads import listed_name  # noqa: E402
from bot.storage.models import AuditEvent, Lead  # noqa: E402

RESULTS = ROOT / "bench/results/workbench.json"
TARGETS_MS = {"queue": 300.0, "lead": 200.0}
# How a county's leads spread over their life after a year or two of use.
STATUS_WEIGHTS = {"new": 8, "contacted": 7, "submitted": 10, "closed": 55, "rejected": 15, "unreachable": 5}
SURNAMES = "黄刘陈钟谢曾李王张肖邱温"
GIVEN = "春生桂英冬秀兰志强小梅建华德明玉珍"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per scenario")
    parser.add_argument("--json", action="store_true", help=f"also write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    args = parser.parse_args(argv)

    with private_schema("bench_wb", keep=args.keep) as (runtime, schema):
        started = time.perf_counter()
        refs = fill(runtime, args.leads)
        fill_seconds = time.perf_counter() - started
        results = measure(runtime, refs, args.requests)
    report(results, args.leads, fill_seconds, schema if args.keep else None)
    if args.json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"leads": args.leads, "fill_seconds": round(fill_seconds, 1),
                                       "scenarios": results}, ensure_ascii=False, indent=2), encoding="utf-8")
    ok = all(r["p95_ms"] < TARGETS_MS[r["kind"]] for r in results)
    print("PASS" if ok else "FAIL", "— targets: queue p95 < 300 ms, lead page p95 < 200 ms")
    return 0 if ok else 1


def fill(runtime, count: int) -> dict[str, list[str]]:
    """Accounts, `count` leads and ~2 audit rows per lead, in bulk; the refs by township."""
    add_accounts(runtime)
    rng = random.Random(12)
    townships = runtime.config.county.townships
    statuses, weights = zip(*STATUS_WEIGHTS.items())
    now = dt.datetime.now(dt.timezone.utc)
    by_township: dict[str, list[str]] = {}
    protector = runtime.protector
    batch, audits = [], []
    with runtime.db.engine.begin() as conn:
        for number in range(count):
            township = rng.choice(townships)
            ref = f"JZ{number:06d}-B{rng.randrange(36 ** 3):03X}"[:13]
            status = rng.choices(statuses, weights)[0]
            created = now - dt.timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            programs = [{"program": p, "reason": "人均月收入低于本县标准（测试数据）", "source": "", "grounds": []}
                        for p in rng.sample(PROGRAMS, rng.choice((1, 1, 2, 3)))]
            name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2))
            personal = {"name": name, "id_number": f"360732{rng.randrange(10 ** 11):011d}X",
                        "phone": f"139{rng.randrange(10 ** 8):08d}"}
            batch.append(dict(
                ref=ref, status=status, channel=rng.choice(("sms", "wechat")), user_key=uuid.uuid4().hex,
                township=township, urgency="high" if rng.random() < 0.05 else "normal", programs=programs,
                documents=["身份证", "户口簿", "承诺书"], fields={"village": f"第{number % 40}村", "household_size": 3,
                                                              "household_monthly_income": 1200},
                personal=protector.encrypt(json.dumps(personal, ensure_ascii=False)), id_index=None,
                name_masked=listed_name(name),
                consent={"given": True}, needs_callback=False, created_at=created, updated_at=created,
                documents_received=[]))
            audits += [dict(actor="bench-cw", action="status", lead_ref=ref, detail="new → contacted", at=created),
                       dict(actor="bench-cw", action="reveal", lead_ref=ref, field="phone", purpose="电话回访",
                            detail="查看phone", at=created)]
            by_township.setdefault(township, []).append(ref)
            if len(batch) == 5000:
                conn.execute(insert(Lead), batch)
                conn.execute(insert(AuditEvent), audits)
                batch, audits = [], []
        if batch:
            conn.execute(insert(Lead), batch)
            conn.execute(insert(AuditEvent), audits)
    # A table bulk-loaded a moment ago has no visibility map yet; autovacuum gives a live one
    # soon after, and the counts by status are index-only scans from then on.
    with runtime.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE leads"))
        conn.execute(text("VACUUM ANALYZE audit_log"))
    return by_township


def measure(runtime, refs: dict[str, list[str]], requests: int) -> list[dict]:
    """Time each scenario through the real app."""
    _, caseworker, county = clients(runtime)
    since = (dt.date.today() - dt.timedelta(days=90)).isoformat()
    mine = [r for t in CASEWORKER_TOWNSHIPS for r in refs.get(t, [])]
    rng = random.Random(7)
    scenarios = [
        ("queue", "caseworker: new leads of their townships", caseworker, lambda: "/workbench/leads"),
        ("queue", "caseworker: 江背镇, contacted, 低保", caseworker,
         lambda: "/workbench/leads?status=contacted&township=江背镇&program=dibao"),
        ("queue", "county: every new lead", county, lambda: "/workbench/leads?status=new"),
        ("queue", "county: all statuses, urgent, last 90 days", county,
         lambda: f"/workbench/leads?status=&urgency=high&since={since}"),
        ("queue", "county: every status (全部)", county, lambda: "/workbench/leads?status="),
        ("queue", "county: new, 低保", county, lambda: "/workbench/leads?status=new&program=dibao"),
        ("queue", "county: every status, 医疗救助", county, lambda: "/workbench/leads?status=&program=yiliao"),
        ("queue", "county: 梅窖镇, closed, page 3", county, lambda: "/workbench/leads?status=closed&township=梅窖镇&page=3"),
        ("lead", "caseworker: a lead page", caseworker, lambda: f"/workbench/leads/{rng.choice(mine)}"),
        ("lead", "county: a lead page", county, lambda: f"/workbench/leads/{rng.choice(mine)}"),
    ]
    results = []
    for kind, name, client, path in scenarios:
        results.append({"kind": kind, "scenario": name, **timed(client, path, requests, warm_up=5)})
    return results


def report(results: list[dict], leads: int, fill_seconds: float, kept: str | None) -> None:
    print(f"{leads:,} leads in PostgreSQL, written in {fill_seconds:.0f} s" + (f" (schema {kept} kept)" if kept else ""))
    print(f"{'scenario':52} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for r in results:
        print(f"{r['kind'] + ' — ' + r['scenario']:52} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['max_ms']:8.1f}")


if __name__ == "__main__":
    sys.exit(main())
