"""Conversation state in the database, so any process can continue any conversation.

A webhook turn loads and saves it through the turn pipeline (bot/dialogue/turns.py);
this store is the plain ORM way for everything else (tests, tools, the purge).
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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
        with self.db.unit_of_work() as s:
            found = self._find(s, channel, key)
            if found is not None:
                return found
        try:
            with self.db.unit_of_work() as s:
                s.add(Conversation(channel=channel, user_key=key, user_ref=self.protector.encrypt(user_id),
                                   state={}, version=0))
        except IntegrityError:  # a parallel process created it a moment ago: read theirs
            pass
        with self.db.unit_of_work() as s:
            return self._find(s, channel, key)

    @staticmethod
    def _find(session: Session, channel: str, key: str) -> tuple[int, int, dict] | None:
        row = session.execute(select(Conversation.id, Conversation.version, Conversation.state)
                              .where(Conversation.channel == channel, Conversation.user_key == key)).first()
        return None if row is None else (row.id, row.version, dict(row.state or {}))

    def save(self, conversation_id: int, version: int, state: dict) -> None:
        """Write state if nobody else did since it was loaded, else ConcurrentUpdate."""
        with self.db.unit_of_work() as s:
            changed = s.execute(update(Conversation)
                                .where(Conversation.id == conversation_id, Conversation.version == version)
                                .values(state=state, version=version + 1, updated_at=utcnow())).rowcount
            if changed != 1:
                raise ConcurrentUpdate(conversation_id)

    @contextlib.contextmanager
    def editing(self, channel: str, user_id: str) -> Iterator[tuple[int, dict]]:
        """Load state, let the caller change it in place, save it afterwards (if it changed)."""
        conversation_id, version, state = self.load(channel, user_id)
        before = copy.deepcopy(state)
        yield conversation_id, state
        if state != before:
            self.save(conversation_id, version, state)


def purge_abandoned(db: Database, older_than, on_purge=None) -> int:
    """Delete screening state (it holds personal data) from conversations idle longer than `older_than`.

    `on_purge(session, channel, sealed_screening)` runs for each, in the same unit of work
    (the purge counts where the screening was left: bot/housekeeping.py).
    """
    cutoff = utcnow() - older_than
    purged = 0
    with db.unit_of_work() as s:
        rows = s.execute(select(Conversation).where(Conversation.updated_at < cutoff)).scalars()
        for row in rows:  # the stored JSON as it is, any version: only its screening key goes
            if row.state and "screening" in row.state:
                if on_purge is not None:
                    on_purge(s, row.channel, row.state["screening"])
                row.state = {k: v for k, v in row.state.items() if k != "screening"}
                row.version += 1
                purged += 1
    return purged
