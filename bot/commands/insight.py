"""`jiuzhu insight`: the insight events of the last days, counted (no text, no personal data)."""
from __future__ import annotations

import datetime as dt
import sys

from bot.commands import print_json
from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add `insight`."""
    insight = sub.add_parser("insight", parents=[common],
                             help="counts of questions, screening steps and outbox outcomes per day")
    insight.add_argument("--days", type=int, default=7, help="the last N days, today included (default 7)")
    insight.add_argument("--by", default="kind,subject",
                         help="columns to count by (day, kind, subject, channel, township, programme, "
                              "age_band, campaign; default kind,subject)")
    insight.add_argument("--fold", action="store_true", help="fold the closed days into insight_daily first")
    insight.add_argument("--json", action="store_true", help="one JSON line per count")
    insight.set_defaults(func=run_insight)


def run_insight(args) -> int:
    """Print the counts, largest first."""
    from bot.insight.rollup import GROUPS, counts, fold

    by = tuple(c.strip() for c in args.by.split(",") if c.strip())
    unknown = [c for c in by if c not in GROUPS]
    if unknown or args.days < 1:
        print(f"jiuzhu insight: --by takes {', '.join(GROUPS)}; --days at least 1"
              + (f" (not {', '.join(unknown)})" if unknown else ""), file=sys.stderr)
        return 2
    runtime = Runtime.from_path(args.config)
    if args.fold:
        fold(runtime.db, runtime.insight.zone)
    until = runtime.insight.today()
    since = until - dt.timedelta(days=args.days - 1)
    with runtime.db.unit_of_work() as session:
        totals = counts(session, since, until, by=by)
    rows = sorted(totals.items(), key=lambda item: (-item[1], [str(v) for v in item[0]]))
    for key, count in rows:
        values = {name: (value.isoformat() if isinstance(value, dt.date) else value) for name, value in zip(by, key)}
        if args.json:
            print_json({**values, "count": count})
        else:
            print(f"{count:8d}  " + "  ".join(str(v) or "-" for v in values.values()))
    if not args.json:
        print(f"{sum(totals.values())} event(s) from {since} to {until}")
    return 0
