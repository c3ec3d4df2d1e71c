"""Full screenings under load, with and without faults, through gunicorn on PostgreSQL + Redis.

200 simulated residents (half WeChat, half SMS) each run a whole screening at once against
gunicorn (deploy/gunicorn.conf.py, 4 workers) on a fresh PostgreSQL schema reached through a
TCP proxy. First a baseline without faults, then the same load while workers are killed with
-9 and the database connection is cut and restored (as a PostgreSQL restart looks to the app).
A message that gets no answer is retried with the same MsgId up to 3 times, as WeChat does.
Only 127.0.0.1 is contacted; the run stops by itself (tests/tools/loadrig.py).

    .venv/bin/python bench/bench_faults.py [--residents 200] [--workers 4] [--json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench/results/faults.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=150, help="seconds a run may take at most (default 150)")
    parser.add_argument("--think", type=float, default=6.0,
                        help="mean seconds a resident takes to type an answer (default 6)")
    parser.add_argument("--json", action="store_true", help=f"also write {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    from tests.tools.loadrig import Rig

    runs = {}
    for name, faults in (("baseline", []),
                         ("faults", [(20, "kill"), (40, "db:3"), (60, "kill"), (80, "kill"), (100, "db:2"), (120, "kill")])):
        tmp = Path(tempfile.mkdtemp(prefix=f"jiuzhu-faults-{name}-"))
        try:
            with Rig(tmp, workers=args.workers) as rig:
                figures = rig.run(args.residents, faults=faults, deadline=args.deadline, think=args.think)
                runs[name] = {**figures.summary(), "problems": figures.problems(),
                              "lost_examples": figures.lost[:5]}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print_run(name, runs[name])
    report = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "cpus": os.cpu_count(), "workers": args.workers, "think_seconds": args.think,
              "load_average_before": os.getloadavg(), "runs": runs}
    if args.json:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0 if not runs["faults"]["problems"] and not runs["baseline"]["problems"] else 1


def print_run(name: str, r: dict) -> None:
    print(f"\n== {name}: {r['residents']} residents, {r['seconds']} s", flush=True)
    print(f"   answered {r['answered']} messages, {r['per_second']}/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
    print(f"   attempts: {r['statuses']}; answered on a retry: {r['retried']}")
    print(f"   finished {r['finished']}, cut off by the deadline {r['cut_off_by_deadline']}; "
          f"lost {r['lost']}, doubled {r['doubled']}, unfinished {r['unfinished']}; "
          f"leads {r['leads']} for {r['distinct_lead_residents']} residents")
    for fault in r["faults"]:
        print(f"   fault {fault}")
    for problem in r["problems"]:
        print(f"   PROBLEM {problem}")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
