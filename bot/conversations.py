"""Conversation state in the database, so any process can continue any conversation."""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

from sqlalchemy import select

from bot.privacy import DataProtector
from bot.storage.db import Database, Sql, Tx
from bot.storage.models import Conversation, utcnow


class ConcurrentUpdate(Exception):
    """Another process changed this conversation meanwhile; the caller retries."""


_LOAD = Sql("SELECT id, version, state FROM conversations WHERE channel = :channel AND user_key = :user_key")
_SAVE = Sql("""UPDATE conversations SET state = :state, version = :version + 1, updated_at = :now
               WHERE id = :id AND version = :version""")
# The conversation, if it exists, provided the message has not been claimed (one statement,
# one round trip: the optimistic start of a webhook turn, see bot/engine.py).
_PEEK = Sql("""SELECT c.id, c.version, c.state, p.message_id
               FROM (SELECT 1 AS one) AS probe
               LEFT JOIN conversations AS c ON c.channel = :channel AND c.user_key = :user_key
               LEFT JOIN processed_messages AS p ON p.channel = :channel AND p.message_id = :message_id""")
# PostgreSQL only (SQLite allows no INSERT or UPDATE inside WITH): save the conversation if
# nobody else did since it was loaded and, only then, claim the message with its reply — one
# statement, so in autocommit one round trip. A message claimed already makes the INSERT a
# unique violation, which undoes the UPDATE too; a conversation changed meanwhile leaves
# nothing to insert from: no row at all.
_SAVE_AND_CLAIM = Sql("""WITH saved AS (
                           UPDATE conversations SET state = :state, version = :version + 1, updated_at = :now
                           WHERE id = :id AND version = :version RETURNING id)
                         INSERT INTO processed_messages (channel, message_id, created_at, reply)
                         SELECT :channel, :message_id, :now, CAST(:reply AS json) FROM saved""")
# A parallel process may create the same conversation a moment earlier: nothing happens, then we read theirs.
_CREATE = Sql("""INSERT INTO conversations (channel, user_key, user_ref, state, version, created_at, updated_at)
                 VALUES (:channel, :user_key, :user_ref, :state, 0, :now, :now)
                 ON CONFLICT (channel, user_key) DO NOTHING""")


class ConversationStore:
    """Loads and saves conversation state keyed by (channel, keyed hash of user id)."""

    def __init__(self, db: Database, protector: DataProtector):
        self.db = db
        self.protector = protector

    def user_key(self, channel: str, user_id: str) -> str:
        """The keyed hash that identifies a resident on a channel."""
        return self.protector.blind_index(f"user:{channel}", user_id)

    def load(self, channel: str, user_id: str) -> tuple[int, int, dict]:
        """(conversation id, version, state), creating the conversation if new."""
        with self.db.transaction() as tx:
            return self.load_on(tx, channel, user_id, self.user_key(channel, user_id))

    def load_on(self, tx: Tx, channel: str, user_id: str, key: str) -> tuple[int, int, dict]:
        """load() inside the caller's transaction; `key` is user_key(channel, user_id)."""
        row = tx.first(_LOAD, {"channel": channel, "user_key": key})
        if row is None:
            now = tx.time(utcnow())
            tx.run(_CREATE, {"channel": channel, "user_key": key, "user_ref": self.protector.encrypt(user_id),
                             "state": tx.json({}), "now": now})
            row = tx.first(_LOAD, {"channel": channel, "user_key": key})
        conversation_id, version, state = row
        return conversation_id, version, dict(tx.from_json(state) or {})

    @staticmethod
    def peek_on(tx: Tx, channel: str, key: str, message_id: str) -> tuple[int, int, dict] | None:
        """(conversation id, version, state) if the conversation exists and `message_id` is
        not claimed yet; otherwise None (and nothing is created)."""
        row = tx.first(_PEEK, {"channel": channel, "user_key": key, "message_id": message_id[:128]})
        if row is None or row[0] is None or row[3] is not None:
            return None
        return row[0], row[1], dict(tx.from_json(row[2]) or {})

    def save(self, conversation_id: int, version: int, state: dict) -> None:
        """Write state if nobody else did since it was loaded, else ConcurrentUpdate."""
        with self.db.transaction() as tx:
            self.save_on(tx, conversation_id, version, state)

    @staticmethod
    def save_on(tx: Tx, conversation_id: int, version: int, state: dict) -> None:
        """save() inside the caller's transaction (which the caller rolls back on ConcurrentUpdate)."""
        if tx.run(_SAVE, {"id": conversation_id, "version": version, "state": tx.json(state),
                          "now": tx.time(utcnow())}) != 1:
            raise ConcurrentUpdate(conversation_id)

    @staticmethod
    def save_and_claim_on(tx: Tx, conversation_id: int, version: int, state: dict, channel: str,
                          message_id: str, reply: dict | None) -> bool:
        """PostgreSQL: save() and claim the message with its reply, as one statement.

        False if the conversation changed since it was loaded (nothing was written); a
        message claimed already raises the unique violation (nothing was written either).
        """
        return tx.run(_SAVE_AND_CLAIM, {
            "id": conversation_id, "version": version, "state": tx.json(state), "now": tx.time(utcnow()),
            "channel": channel, "message_id": message_id[:128],
            "reply": None if reply is None else tx.json(reply)}) == 1

    @contextlib.contextmanager
    def editing(self, channel: str, user_id: str) -> Iterator[tuple[int, dict]]:
        """Load state, let the caller change it in place, save it afterwards (if it changed)."""
        conversation_id, version, state = self.load(channel, user_id)
        before = copy.deepcopy(state)
        yield conversation_id, state
        if state != before:
            self.save(conversation_id, version, state)


def purge_abandoned(db: Database, older_than) -> int:
    """Delete screening state (it holds personal data) from conversations idle longer than `older_than`."""
    cutoff = utcnow() - older_than
    purged = 0
    with db.session() as s:
        rows = s.execute(select(Conversation).where(Conversation.updated_at < cutoff)).scalars()
        for row in rows:
            if row.state and "screening" in row.state:
                row.state = {k: v for k, v in row.state.items() if k != "screening"}
                row.version += 1
                purged += 1
    return purged
