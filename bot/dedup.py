"""Exactly-once webhook handling: the first process to claim a message id handles it.

A unique row per (channel, message id) is the lock, so it holds across server
processes and machines sharing the database; a retry finds the stored reply.

A retry that finds no reply yet means the sender stopped waiting for the first
delivery (WeChat retries after 5 s): it marks the message late, so the first
delivery, when it is done, sends its reply another way instead of into a
connection nobody reads (take_over_on / store_reply_on).

The `*_on(tx, …)` functions run inside the caller's transaction, so the
conversation engine can claim a message together with its reply and the
conversation's new state, in one transaction (bot/engine.py).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from bot.storage.db import Database, Sql, Tx
from bot.storage.models import ProcessedMessage, utcnow

# ON CONFLICT DO NOTHING: a second claim changes no row instead of raising an error that would
# abort the caller's transaction on PostgreSQL (SQLite ≥ 3.24 and PostgreSQL spell it alike).
_CLAIM = Sql("""INSERT INTO processed_messages (channel, message_id, created_at, reply)
                VALUES (:channel, :message_id, :now, :reply)
                ON CONFLICT (channel, message_id) DO NOTHING""")
_REPLY = Sql("SELECT reply FROM processed_messages WHERE channel = :channel AND message_id = :message_id")
_STORE = Sql("""UPDATE processed_messages SET reply = :reply
                WHERE channel = :channel AND message_id = :message_id AND reply IS NULL""")
LATE = {"late": True}  # the stored "reply" of a message whose first delivery was given up on


def claim_on(tx: Tx, channel: str, message_id: str, reply: dict | None = None) -> bool:
    """Claim inside the caller's transaction: True for the first claim, False for a retry.

    `reply`: the reply for retries, when it is known already (one statement instead of two).
    On PostgreSQL a claim made by a transaction still open elsewhere waits for it
    to end, so two processes can never both get True.
    """
    return tx.run(_CLAIM, {"channel": channel, "message_id": message_id[:128], "now": tx.time(utcnow()),
                           "reply": None if reply is None else tx.json(reply)}) == 1


def stored_reply_on(tx: Tx, channel: str, message_id: str) -> dict | None:
    """The reply given to the first delivery, or None while it is still being worked on."""
    row = tx.first(_REPLY, {"channel": channel, "message_id": message_id[:128]})
    return tx.from_json(row[0]) if row and row[0] is not None else None


def take_over_on(tx: Tx, channel: str, message_id: str) -> dict | None:
    """For a retry: the reply stored for the first delivery, or None when there is none to give.

    None marks a message still being worked on as late (see the module docstring).
    """
    params = {"channel": channel, "message_id": message_id[:128]}
    if tx.run(_STORE, {**params, "reply": tx.json(LATE)}) == 1:
        return None
    stored = stored_reply_on(tx, channel, message_id)
    return None if stored == LATE else stored


def store_reply_on(tx: Tx, channel: str, message_id: str, reply: dict) -> bool:
    """Keep the reply (inside the caller's transaction) so a retry of the same message gets it.

    False when a retry has marked the message late: nobody waits for this delivery's reply.
    """
    return tx.run(_STORE, {"channel": channel, "message_id": message_id[:128], "reply": tx.json(reply)}) == 1


def claim_message(db: Database, channel: str, message_id: str) -> bool:
    """True for the first claim of this message; False for every retry."""
    with db.transaction() as tx:
        return claim_on(tx, channel, message_id)


def store_reply(db: Database, channel: str, message_id: str, reply: dict) -> None:
    """Keep the reply so a retry of the same message gets it."""
    with db.transaction() as tx:
        store_reply_on(tx, channel, message_id, reply)


def stored_reply(db: Database, channel: str, message_id: str) -> dict | None:
    """The reply given to the first delivery, or None while it is still being worked on."""
    with db.transaction() as tx:
        return stored_reply_on(tx, channel, message_id)


def prune(db: Database, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Forget message ids old enough that no retry can come."""
    with db.session() as s:
        return s.execute(delete(ProcessedMessage).where(
            ProcessedMessage.created_at < utcnow() - older_than)).rowcount
