"""Conversation state in the database, so any process can continue any conversation."""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bot.privacy import DataProtector
from bot.storage.db import Database
from bot.storage.models import Conversation, utcnow


class ConcurrentUpdate(Exception):
    """Another process changed this conversation meanwhile; the caller retries."""


_TABLE = Conversation.__table__
# Built once (habit of this module since the Core change): statement construction cost more than the query.
_LOAD = select(_TABLE.c.id, _TABLE.c.version, _TABLE.c.state).where(
    _TABLE.c.channel == bindparam("p_channel"), _TABLE.c.user_key == bindparam("p_user_key"))
_SAVE = (update(_TABLE).where(_TABLE.c.id == bindparam("p_cid"), _TABLE.c.version == bindparam("p_version"))
         .values(state=bindparam("p_state"), version=bindparam("p_new_version"), updated_at=bindparam("p_now")))
# A parallel process may create the same conversation a moment earlier: nothing happens, then we read theirs.
_CREATE = {name: dialect.insert(_TABLE).values(
    channel=bindparam("p_channel"), user_key=bindparam("p_user_key"), user_ref=bindparam("p_user_ref"),
    state=bindparam("p_empty"), version=0, created_at=bindparam("p_now"), updated_at=bindparam("p_now"))
    .on_conflict_do_nothing(index_elements=["channel", "user_key"]).inline()
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}


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
        with self.db.engine.begin() as conn:
            return self.load_on(conn, channel, user_id, self.user_key(channel, user_id))

    def load_on(self, conn: Connection, channel: str, user_id: str, key: str) -> tuple[int, int, dict]:
        """load() inside the caller's transaction; `key` is user_key(channel, user_id)."""
        row = conn.execute(_LOAD, {"p_channel": channel, "p_user_key": key}).first()
        if row is None:
            conn.execute(_CREATE[conn.dialect.name], {
                "p_channel": channel, "p_user_key": key, "p_user_ref": self.protector.encrypt(user_id),
                "p_empty": {}, "p_now": utcnow()})
            row = conn.execute(_LOAD, {"p_channel": channel, "p_user_key": key}).one()
        return row.id, row.version, dict(row.state or {})

    def save(self, conversation_id: int, version: int, state: dict) -> None:
        """Write state if nobody else did since it was loaded, else ConcurrentUpdate."""
        with self.db.engine.begin() as conn:
            self.save_on(conn, conversation_id, version, state)

    @staticmethod
    def save_on(conn: Connection, conversation_id: int, version: int, state: dict) -> None:
        """save() inside the caller's transaction (which the caller rolls back on ConcurrentUpdate)."""
        result = conn.execute(_SAVE, {"p_cid": conversation_id, "p_version": version, "p_state": state,
                                      "p_new_version": version + 1, "p_now": utcnow()})
        if result.rowcount != 1:
            raise ConcurrentUpdate(conversation_id)

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
