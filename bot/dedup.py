"""Exactly-once webhook handling: the first process to claim a message id handles it.

A unique row per (channel, message id) is the lock, so it holds across server
processes and machines sharing the database; a retry finds the stored reply.

The `*_on(conn, …)` functions run inside the caller's transaction, so the
conversation engine can claim a message and load the conversation in one
transaction, and save it and store the reply in another (bot/engine.py). The
statements are built once: constructing them cost more than running them.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bot.storage.db import Database
from bot.storage.models import ProcessedMessage, utcnow

_TABLE = ProcessedMessage.__table__
_KEY = (_TABLE.c.channel == bindparam("p_channel")) & (_TABLE.c.message_id == bindparam("p_message_id"))
# INSERT … ON CONFLICT DO NOTHING: a second claim is a row count of 0, not an error that would
# abort the surrounding transaction (PostgreSQL). Both backends spell it the same way. inline(): no
# implicit RETURNING of the new id; preserve_rowcount: psycopg forgets an INSERT's count on close.
_CLAIM = {name: dialect.insert(_TABLE).values(channel=bindparam("p_channel"),
                                              message_id=bindparam("p_message_id"), created_at=bindparam("p_now"))
          .on_conflict_do_nothing(index_elements=["channel", "message_id"]).inline()
          .execution_options(preserve_rowcount=True)
          for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}
_REPLY = select(_TABLE.c.reply).where(_KEY)
_STORE = update(_TABLE).where(_KEY).values(reply=bindparam("p_stored"))


def _params(channel: str, message_id: str) -> dict:
    return {"p_channel": channel, "p_message_id": message_id[:128]}


def claim_on(conn: Connection, channel: str, message_id: str) -> bool:
    """Claim inside the caller's transaction: True for the first claim, False for a retry.

    On PostgreSQL a claim made by a transaction still open elsewhere waits for it
    to end, so two processes can never both get True.
    """
    result = conn.execute(_CLAIM[conn.dialect.name], {**_params(channel, message_id), "p_now": utcnow()})
    return result.rowcount == 1


def stored_reply_on(conn: Connection, channel: str, message_id: str) -> dict | None:
    """The reply given to the first delivery, or None while it is still being worked on."""
    return conn.execute(_REPLY, _params(channel, message_id)).scalar_one_or_none()


def store_reply_on(conn: Connection, channel: str, message_id: str, reply: dict) -> None:
    """Keep the reply (inside the caller's transaction) so a retry of the same message gets it."""
    conn.execute(_STORE, {**_params(channel, message_id), "p_stored": reply})


def claim_message(db: Database, channel: str, message_id: str) -> bool:
    """True for the first claim of this message; False for every retry."""
    with db.engine.begin() as conn:
        return claim_on(conn, channel, message_id)


def store_reply(db: Database, channel: str, message_id: str, reply: dict) -> None:
    """Keep the reply so a retry of the same message gets it."""
    with db.engine.begin() as conn:
        store_reply_on(conn, channel, message_id, reply)


def stored_reply(db: Database, channel: str, message_id: str) -> dict | None:
    """The reply given to the first delivery, or None while it is still being worked on."""
    with db.engine.connect() as conn:
        return stored_reply_on(conn, channel, message_id)


def prune(db: Database, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Forget message ids old enough that no retry can come."""
    with db.session() as s:
        return s.execute(delete(ProcessedMessage).where(
            ProcessedMessage.created_at < utcnow() - older_than)).rowcount
