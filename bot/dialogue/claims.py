"""A webhook message's claim: taken, taken over when its lease ran out, or held by a live worker.

WeChat retries a MsgId after ~5 s and ~10 s and waits 5 s for each answer; Twilio may retry a
MessageSid. A retry that finds the claim held by a live worker waits for that worker's reply
(turns.py polls `claim_or_take_over`); the lease is short enough (`[conversation]
claim_lease_seconds`, about 4 s) that the first or second retry takes over a claim whose worker
died. The owner token fences a slow original: only the owner stores the reply.
"""
from __future__ import annotations

import datetime as dt
import enum
import logging

from sqlalchemy import delete

from bot.dialogue.turn_sql import CLAIM_LEASED, CLAIM_ROW, LATE, MARK_LATE, TAKE_OVER, Link, Tx
from bot.storage.db import Database
from bot.storage.models import ProcessedMessage, utcnow

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1  # a waiting retry looks at the claim this often (one indexed read)


class Held(enum.Enum):
    """Why a delivery did not get the claim."""

    BUSY = "busy"    # a live worker holds it and has no reply yet: worth waiting for
    LATE = "late"    # a live worker holds it and sends its reply through the outbox


def claim_or_take_over(tx: Tx, params: dict, now: dt.datetime):
    """None: the claim is ours now (new, or taken over from a worker whose lease ran out).
    Otherwise the stored reply (a dict: the first delivery's answer) or a Held."""
    if tx.run(CLAIM_LEASED, params) == 1:
        return None
    row = tx.first(CLAIM_ROW, params)
    if row is None:  # pruned between the two statements: nobody holds it
        return Held.BUSY
    reply = tx.from_json(row[0]) if row[0] is not None else None
    if reply is not None and reply != LATE:
        return _Replayed(reply)
    if not expired(row[2], now):
        return Held.BUSY if reply is None else Held.LATE
    if tx.run(TAKE_OVER, {**params, "old": row[1] or ""}) != 1:
        return Held.BUSY  # another retry took it over first: wait for that one
    log.warning("%s: took over a claim whose lease ran out (its worker died?)", params["channel"])
    return None


class _Replayed(dict):
    """The reply the first delivery kept (a dict the caller turns into Outcome.REPLAYED)."""


def give_up(link: Link, params: dict):
    """The channel stops waiting: mark the claim late (its worker sends through the outbox), unless
    its reply landed meanwhile. The stored reply, or Held.LATE."""
    with link.transaction() as tx:
        if tx.run(MARK_LATE, {**params, "late": tx.json(LATE)}) == 1:
            return Held.LATE
        row = tx.first(CLAIM_ROW, params)
        reply = tx.from_json(row[0]) if row is not None and row[0] is not None else None
    return _Replayed(reply) if reply is not None and reply != LATE else Held.LATE


def is_replayed(found) -> bool:
    return isinstance(found, _Replayed)


def expired(lease_until, now: dt.datetime) -> bool:
    """Whether a claim's lease has run out (a claim from before leases counts as run out)."""
    if lease_until is None:
        return True
    if isinstance(lease_until, str):  # SQLite: stored as SQLAlchemy stores it, UTC without an offset
        lease_until = dt.datetime.fromisoformat(lease_until)
    if lease_until.tzinfo is None:
        lease_until = lease_until.replace(tzinfo=dt.timezone.utc)
    return lease_until <= now


def prune(db: Database, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Forget message ids old enough that no retry can come."""
    with db.unit_of_work() as s:
        return s.execute(delete(ProcessedMessage).where(
            ProcessedMessage.created_at < utcnow() - older_than)).rowcount
