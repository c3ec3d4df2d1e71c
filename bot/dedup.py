"""Exactly-once webhook handling: the first process to claim a message id handles it.

A unique row per (channel, message id) is the lock, so it holds across server
processes and machines sharing the database; a retry finds the stored reply.

The `*_on(tx, …)` functions run inside the caller's transaction, so the
conversation engine can claim a message and load the conversation in one
transaction, and save it and store the reply in another (bot/engine.py).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from bot.storage.db import Database, Sql, Tx
from bot.storage.models import ProcessedMessage, utcnow

# ON CONFLICT DO NOTHING: a second claim changes no row instead of raising an error that would
# abort the caller's transaction on PostgreSQL (SQLite ≥ 3.24 and PostgreSQL spell it alike).
_CLAIM = Sql("""INSERT INTO processed_messages (channel, message_id, created_at) VALUES (:channel, :message_id, :now)
                ON CONFLICT (channel, message_id) DO NOTHING""")
_REPLY = Sql("SELECT reply FROM processed_messages WHERE channel = :channel AND message_id = :message_id")
_STORE = Sql("UPDATE processed_messages SET reply = :reply WHERE channel = :channel AND message_id = :message_id")


def claim_on(tx: Tx, channel: str, message_id: str) -> bool:
    """Claim inside the caller's transaction: True for the first claim, False for a retry.

    On PostgreSQL a claim made by a transaction still open elsewhere waits for it
    to end, so two processes can never both get True.
    """
    return tx.run(_CLAIM, {"channel": channel, "message_id": message_id[:128], "now": tx.time(utcnow())}) == 1


def stored_reply_on(tx: Tx, channel: str, message_id: str) -> dict | None:
    """The reply given to the first delivery, or None while it is still being worked on."""
    row = tx.first(_REPLY, {"channel": channel, "message_id": message_id[:128]})
    return tx.from_json(row[0]) if row and row[0] is not None else None


def store_reply_on(tx: Tx, channel: str, message_id: str, reply: dict) -> None:
    """Keep the reply (inside the caller's transaction) so a retry of the same message gets it."""
    tx.run(_STORE, {"channel": channel, "message_id": message_id[:128], "reply": tx.json(reply)})


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
