"""Exactly-once webhook handling: the first process to claim a message id handles it.

A unique row per (channel, message id) is the lock, so it holds across server
processes and machines sharing the database; a retry finds the stored reply.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.storage.db import Database
from bot.storage.models import ProcessedMessage, utcnow


def claim_message(db: Database, channel: str, message_id: str) -> bool:
    """True for the first claim of this message; False for every retry."""
    table = ProcessedMessage.__table__
    try:
        with db.engine.begin() as conn:  # Core: runs for every webhook message
            conn.execute(insert(table).values(channel=channel, message_id=message_id[:128],
                                              created_at=utcnow()))
        return True
    except IntegrityError:
        return False


def store_reply(db: Database, channel: str, message_id: str, reply: dict) -> None:
    """Keep the reply so a retry of the same message gets it."""
    table = ProcessedMessage.__table__
    with db.engine.begin() as conn:
        conn.execute(update(table).where(table.c.channel == channel,
                                         table.c.message_id == message_id[:128]).values(reply=reply))


def stored_reply(db: Database, channel: str, message_id: str) -> dict | None:
    """The reply given to the first delivery, or None while it is still being worked on."""
    with db.session() as s:
        return s.execute(select(ProcessedMessage.reply).where(
            ProcessedMessage.channel == channel,
            ProcessedMessage.message_id == message_id[:128])).scalar_one_or_none()


def prune(db: Database, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Forget message ids old enough that no retry can come."""
    with db.session() as s:
        return s.execute(delete(ProcessedMessage).where(
            ProcessedMessage.created_at < utcnow() - older_than)).rowcount
