"""`jiuzhu worker`: send what the outbox holds, with retries; also the hourly purge and the
insight fold every ten minutes.

Several workers may run at once (each message goes to exactly one of them).
SIGTERM or Ctrl-C lets the message being sent finish, then the worker exits;
`--once` delivers what is due now and exits (for cron and tests).
"""
from __future__ import annotations

import sys

import datetime as dt
import logging
import os
import signal
import threading
import time

from bot.devkey import refuse_development_key
from bot.errors import ConfigError
from bot.runtime import Runtime

log = logging.getLogger(__name__)

PURGE_LEASE = "lease:purge"   # api_tokens row: when any worker may purge next
FOLD_LEASE = "lease:insight-fold"         # … and fold the insight events into insight_daily
FOLD_EVERY = dt.timedelta(minutes=10)     # the dashboard reads the events since the last fold raw
HOUSEKEEPING_SECONDS = 60     # stuck rows and the purge lease are checked this often


def register(sub, common) -> None:
    """Add `worker`."""
    worker = sub.add_parser("worker", parents=[common], help="send queued SMS and WeChat messages")
    worker.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    worker.set_defaults(func=run_worker_command)

    outbox = sub.add_parser("outbox", help="outbound messages that need a person")
    outbox_sub = outbox.add_subparsers(metavar="ACTION")
    failed = outbox_sub.add_parser("failed", parents=[common], help="failed messages (outcome unknown first to check)")
    failed.set_defaults(func=run_outbox_failed)
    again = outbox_sub.add_parser("requeue", parents=[common], help="send a failed message again")
    again.add_argument("id", type=int)
    again.set_defaults(func=run_outbox_requeue)


def run_outbox_failed(args) -> int:
    """List failed outbound messages (masked recipient, reason, never the text)."""
    from bot.outbox import needing_attention
    from bot.runtime import Runtime

    rows = needing_attention(Runtime.from_path(args.config))
    for row in rows:
        print(f"{row['id']:6d} {row['channel']:6s} {row['recipient']:14s} tries {row['attempts']} "
              f"{row['updated_at'][:16]}  {row['error']}")
    print(f"{len(rows)} failed message(s)")
    return 0


def run_outbox_requeue(args) -> int:
    """Queue one failed message again (after checking it did not arrive: unknown outcomes may have)."""
    from bot.outbox import requeue
    from bot.runtime import Runtime

    if not requeue(Runtime.from_path(args.config), args.id):
        print(f"jiuzhu outbox requeue: no failed message {args.id}", file=sys.stderr)
        return 1
    print(f"message {args.id} queued again")
    return 0


def run_worker_command(args) -> int:
    """Build the senders from the environment and run until SIGTERM (or once)."""
    from bot.logs import configure_logging
    from bot.subscriptions import outbox_refusal
    from handlers.senders import build_senders  # the providers' clients (no HTTP routes, no Flask)

    configure_logging()
    if not os.environ.get("JIUZHU_LOG_LEVEL"):  # a service: its log shows operators what was sent
        logging.getLogger().setLevel("INFO")
        logging.getLogger("twilio.http_client").setLevel("WARNING")  # request headers, per message
    runtime = Runtime.from_path(args.config)
    refuse_development_key(runtime.config)  # it writes personal data to the database too
    runtime.create_empty_schema = False  # a server role: `jiuzhu db upgrade` migrates, at deploy time
    runtime.db  # noqa: B018 — refuse to start on a database whose schema is not the head
    senders = build_senders(runtime)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # let the message being sent finish
        signal.signal(signum, lambda *_: stop.set())
    totals = run_worker(runtime, senders, outbox_refusal(runtime), once=args.once, stop=stop)
    print(", ".join(f"{n} {outcome}" for outcome, n in sorted(totals.items())) or "nothing to send")
    return 0


def run_worker(runtime, senders: dict, refusal, once: bool = False,
               stop: threading.Event | None = None) -> dict[str, int]:
    """Deliver due messages until `stop` is set (or, with once, until nothing is due); the outcome counts.

    `refusal(channel, recipient)` says why a recipient must not be written to (bot.subscriptions).
    """
    from bot.housekeeping import purge
    from bot.insight.rollup import fold
    from bot.outbox import Policy, deliver_due, fail_stuck
    from bot.pacing import Pacer
    from bot.storage.models import utcnow

    settings = runtime.config.worker
    policy = Policy.of(settings)
    poll = settings.poll_seconds
    purge_every = dt.timedelta(minutes=settings.purge_every_minutes)
    pacer = Pacer.of(runtime.config.outbox)
    # A row is in `sending` only while its own send runs (the rest of a batch waits leased, queued).
    longest = max(s.max_seconds for s in senders.values())
    if policy.stuck_minutes * 60 <= longest:
        raise ConfigError("worker.stuck_minutes", f"must exceed the longest send ({longest:.0f} s)")
    stop = stop or threading.Event()
    started = utcnow()  # --once: rows retried during this run wait for the next run
    housekeeping_due = 0.0
    totals: dict[str, int] = {}
    while not stop.is_set():
        try:
            if time.monotonic() >= housekeeping_due:
                housekeeping_due = time.monotonic() + HOUSEKEEPING_SECONDS
                if claim_lease(runtime.db, PURGE_LEASE, purge_every):
                    purge(runtime)
                if claim_lease(runtime.db, FOLD_LEASE, FOLD_EVERY):
                    fold(runtime.db, runtime.insight.zone)
                fail_stuck(runtime, dt.timedelta(minutes=policy.stuck_minutes))
            outcomes = deliver_due(runtime, senders, refusal, policy, stop=stop,
                                   now=started if once else None, pacer=pacer)
            for sender in senders.values():  # WeChat 群发: many outbox rows a call (handlers/wechat_mass.py)
                if hasattr(sender, "deliver_batches"):
                    outcomes.update(sender.deliver_batches(runtime, policy, stop=stop, now=started if once else None))
        except Exception:
            if once:
                raise
            log.exception("worker: this round failed (database unreachable?); trying again")
            stop.wait(poll)
            continue
        for outcome, n in outcomes.items():
            totals[outcome] = totals.get(outcome, 0) + n
        if outcomes:
            log.info("outbox: %s", ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())))
        elif once:
            break
        else:
            stop.wait(poll)  # nothing due: poll again soon (WeChat replies are waited for)
    return totals


def claim_lease(db, name: str, every: dt.timedelta) -> bool:
    """True for the one process (of all workers and cron runs) whose turn it is; next turn in `every`."""
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from bot.storage.models import ApiToken, utcnow

    now = utcnow()
    with db.session() as s:
        if s.execute(update(ApiToken).where(ApiToken.name == name, ApiToken.expires_at <= now)
                     .values(expires_at=now + every)).rowcount:
            return True
    try:
        with db.session() as s:
            s.add(ApiToken(name=name, value="worker", expires_at=now + every))
        return True
    except IntegrityError:  # the lease exists and is not due (or a parallel worker just took it)
        return False
