"""Conversation state in the database, so any process can continue any conversation."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.privacy import DataProtector
from bot.storage.db import Database
from bot.storage.models import Conversation, utcnow


class ConcurrentUpdate(Exception):
    """Another process changed this conversation meanwhile; the caller retries."""


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
        key = self.user_key(channel, user_id)
        table = Conversation.__table__
        # Core, not the ORM: this runs twice for every message and the ORM's bookkeeping
        # cost more than the query itself.
        with self.db.engine.connect() as conn:
            row = conn.execute(select(table.c.id, table.c.version, table.c.state).where(
                table.c.channel == channel, table.c.user_key == key)).first()
        if row is not None:
            return row.id, row.version, dict(row.state or {})
        try:
            with self.db.session() as s:
                row = Conversation(channel=channel, user_key=key, state={}, version=0,
                                   user_ref=self.protector.encrypt(user_id))
                s.add(row)
                s.flush()
                return row.id, 0, {}
        except IntegrityError:  # created by a parallel process a moment ago
            return self.load(channel, user_id)

    def save(self, conversation_id: int, version: int, state: dict) -> None:
        """Write state if nobody else did since it was loaded, else ConcurrentUpdate."""
        table = Conversation.__table__
        with self.db.engine.begin() as conn:
            result = conn.execute(
                update(table).where(table.c.id == conversation_id, table.c.version == version)
                .values(state=state, version=version + 1, updated_at=utcnow()))
        if result.rowcount != 1:
            raise ConcurrentUpdate(conversation_id)

    @contextlib.contextmanager
    def editing(self, channel: str, user_id: str) -> Iterator[tuple[int, dict]]:
        """Load state, let the caller change it in place, save it afterwards."""
        conversation_id, version, state = self.load(channel, user_id)
        yield conversation_id, state
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
