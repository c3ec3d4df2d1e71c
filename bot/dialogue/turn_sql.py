"""The turn pipeline's hand-written SQL and the one pooled connection a turn runs it on.

Only bot/dialogue/turns.py uses this module. A webhook message's few statements run
on the DBAPI cursor directly: SQLAlchemy's per-execution work (compiled-cache
look-up, parameter and result processing, connection events) cost several times
what SQLite spends on them (bench/README.md). Everything else uses the ORM.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from bot.storage.db import Database, guard

LATE = {"late": True}  # the "reply" of a claim whose first delivery a retry gave up on


def is_outage(error: BaseException) -> bool:
    """True when `error` means the database cannot be reached or is locked past our wait."""
    if isinstance(error, (sqlite3.OperationalError, sa_exc.OperationalError, sa_exc.DisconnectionError,
                          sa_exc.TimeoutError, ConnectionError, TimeoutError)):
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    try:
        import psycopg
    except ImportError:  # (a SQLite-only installation)
        return False
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))


class Sql:
    """A statement written once with :name parameters, for sqlite3 and for psycopg."""

    def __init__(self, text: str):
        self.sqlite = " ".join(text.split())
        self.postgresql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", self.sqlite)  # psycopg's pyformat


class Tx:
    """A DBAPI cursor in a transaction, with the value conversions SQLAlchemy would do."""

    def __init__(self, cursor, sqlite: bool):
        self.cursor = cursor
        self.sqlite = sqlite

    @classmethod
    def of(cls, session: Session) -> Tx:
        """The cursor of a unit of work's own connection: its statements share the session's transaction."""
        connection = session.connection()
        return cls(connection.connection.cursor(), sqlite=connection.dialect.name == "sqlite")

    def run(self, sql: Sql, params: dict) -> int:
        """Execute; the number of rows changed."""
        self.cursor.execute(sql.sqlite if self.sqlite else sql.postgresql, params)
        return self.cursor.rowcount

    def run_many(self, sql: Sql, rows: list[dict]) -> None:
        """Execute once per parameter set."""
        self.cursor.executemany(sql.sqlite if self.sqlite else sql.postgresql, rows)

    def first(self, sql: Sql, params: dict) -> tuple | None:
        """The first row, or None."""
        self.run(sql, params)
        return self.cursor.fetchone()

    @staticmethod
    def json(value) -> str | None:
        """A JSON column's parameter (PostgreSQL casts the text; SQLite stores it)."""
        return None if value is None else json.dumps(value)

    @staticmethod
    def from_json(value):
        """A JSON column's value: psycopg has decoded it already, sqlite3 has not."""
        return json.loads(value) if isinstance(value, (str, bytes)) else value

    def day(self, value: dt.date):
        """A Date parameter: on SQLite the ISO text SQLAlchemy stores (sqlite3's own date adapter is deprecated)."""
        return value.isoformat() if self.sqlite else value

    def time(self, value: dt.datetime):
        """A DateTime(timezone=True) parameter: stored on SQLite as SQLAlchemy stores it (UTC, no offset)."""
        if not self.sqlite:
            return value
        # isoformat spells it as strftime("%Y-%m-%d %H:%M:%S.%f") would, for less (bench/README.md)
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


class Link:
    """One pooled DBAPI connection for one turn's statements: checked out at the first
    transaction, back to the pool at the end (a pool round trip costs more Python than
    SQLite spends on a statement). A connection the server dropped renews the pool."""

    def __init__(self, db: Database):
        self.db = db
        self.sqlite = db.engine.dialect.name == "sqlite"
        self.connection = None

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _checkout(self):
        guard()
        if self.db.checkpointer is not None:
            self.db.checkpointer.ensure_running()
        if self.connection is None or not self.connection.is_valid:
            self.connection = self.db.engine.raw_connection()
        return self.connection

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Commits on success, rolls back on error."""
        connection = self._checkout()
        try:
            yield Tx(connection.cursor(), sqlite=self.sqlite)
            connection.commit()
        except BaseException as error:
            if not self._dropped_if_disconnected(connection, error):
                connection.rollback()
            raise

    @contextlib.contextmanager
    def autocommit(self) -> Iterator[Tx]:
        """One statement that is a transaction of its own: on PostgreSQL in autocommit (one
        round trip instead of BEGIN, statement, COMMIT); on SQLite simply a transaction."""
        if self.sqlite:
            with self.transaction() as tx:
                yield tx
            return
        connection = self._checkout()
        cursor = None
        try:
            connection.dbapi_connection.autocommit = True
            cursor = connection.cursor()
            yield Tx(cursor, sqlite=False)
        except BaseException as error:
            self._dropped_if_disconnected(connection, error)
            raise
        finally:
            if cursor is not None:
                cursor.close()
            if connection.dbapi_connection is not None:
                try:
                    connection.dbapi_connection.autocommit = False
                except Exception:  # noqa: BLE001 — closed under us: never hand it out again
                    connection.invalidate()

    def _dropped_if_disconnected(self, connection, error: BaseException) -> bool:
        """True (and the pool renewed) when `error` means the server went away."""
        if not self.db.engine.dialect.is_disconnect(error, connection.dbapi_connection, None):
            return False
        connection.invalidate()  # never reuse this one …
        self.db.engine.pool.dispose()  # … nor its siblings (as SQLAlchemy does itself)
        return True


# ON CONFLICT DO NOTHING: SQLite ≥ 3.24 and PostgreSQL spell it alike; a second claim changes no row
# instead of raising an error that would abort the transaction on PostgreSQL.
CLAIM_LEASED = Sql("""INSERT INTO processed_messages (channel, message_id, created_at, owner, lease_until)
                       VALUES (:channel, :message_id, :now, :owner, :lease_until)
                       ON CONFLICT (channel, message_id) DO NOTHING""")
CLAIM_WITH_REPLY = Sql("""INSERT INTO processed_messages (channel, message_id, created_at, reply)
                           VALUES (:channel, :message_id, :now, :reply)
                           ON CONFLICT (channel, message_id) DO NOTHING""")
CLAIM_ROW = Sql("""SELECT reply, owner, lease_until FROM processed_messages
                    WHERE channel = :channel AND message_id = :message_id""")
TAKE_OVER = Sql("""UPDATE processed_messages SET owner = :owner, lease_until = :lease_until, reply = NULL
                    WHERE channel = :channel AND message_id = :message_id AND COALESCE(owner, '') = :old""")
MARK_LATE = Sql("""UPDATE processed_messages SET reply = :late
                    WHERE channel = :channel AND message_id = :message_id AND reply IS NULL""")
STORE_REPLY = Sql("""UPDATE processed_messages SET reply = :reply
                      WHERE channel = :channel AND message_id = :message_id AND owner = :owner
                      AND reply IS NULL""")
STORE_LATE = Sql("""UPDATE processed_messages SET reply = :reply
                     WHERE channel = :channel AND message_id = :message_id AND owner = :owner""")
LOAD = Sql("SELECT id, version, state FROM conversations WHERE channel = :channel AND user_key = :user_key")
# A parallel process may create the same conversation a moment earlier: nothing happens, then we read theirs.
CREATE = Sql("""INSERT INTO conversations (channel, user_key, user_ref, state, version, created_at, updated_at)
                 VALUES (:channel, :user_key, :user_ref, :state, 0, :now, :now)
                 ON CONFLICT (channel, user_key) DO NOTHING""")
SAVE = Sql("""UPDATE conversations SET state = :state, version = :version + 1, updated_at = :now
               WHERE id = :id AND version = :version""")
# The conversation, if it exists, and whether the message has a claim (one statement, one round trip).
PEEK = Sql("""SELECT c.id, c.version, c.state, p.message_id
               FROM (SELECT 1 AS one) AS probe
               LEFT JOIN conversations AS c ON c.channel = :channel AND c.user_key = :user_key
               LEFT JOIN processed_messages AS p ON p.channel = :channel AND p.message_id = :message_id""")
# PostgreSQL only (SQLite allows no INSERT or UPDATE inside WITH): save the conversation if nobody
# else did since it was loaded and, only then, claim the message with its reply. A message claimed
# already makes the INSERT a unique violation, which undoes the UPDATE too; a conversation changed
# meanwhile leaves nothing to insert from: no row at all.
SAVE_AND_CLAIM = Sql("""WITH saved AS (
                           UPDATE conversations SET state = :state, version = :version + 1, updated_at = :now
                           WHERE id = :id AND version = :version RETURNING id)
                         INSERT INTO processed_messages (channel, message_id, created_at, reply)
                         SELECT :channel, :message_id, :now, CAST(:reply AS json) FROM saved""")
UNANSWERED = Sql("""INSERT INTO unanswered_questions
                       (text, channel, outcome, best_topic, confidence, conversation_id, created_at)
                       VALUES (:text, :channel, :outcome, :best_topic, :confidence, :conversation_id, :created_at)""")
# Insight events (bot/insight/): written with the turn, in its transaction.
EVENT_COLUMNS = "day, kind, subject, channel, township, programme, age_band, campaign"
EVENTS = Sql(f"""INSERT INTO insight_events ({EVENT_COLUMNS})
                 VALUES (:day, :kind, :subject, :channel, :township, :programme, :age_band, :campaign)""")
# PostgreSQL's one-statement claims (above) with the turn's events: inserted only from the claimed
# row, so a claim lost (no row) writes none; the row count is the number of events written.
_EVENT_ROWS = f"""INSERT INTO insight_events ({EVENT_COLUMNS})
                  SELECT e.day, e.kind, e.subject, e.channel, e.township, e.programme, e.age_band, e.campaign
                  FROM claimed, json_to_recordset(CAST(:events AS json)) AS e(day date, kind text,
                       subject text, channel text, township text, programme text, age_band text, campaign text)"""
CLAIM_WITH_REPLY_AND_EVENTS = Sql(f"""WITH claimed AS (
                                        INSERT INTO processed_messages (channel, message_id, created_at, reply)
                                        VALUES (:channel, :message_id, :now, CAST(:reply AS json))
                                        ON CONFLICT (channel, message_id) DO NOTHING RETURNING id)
                                      {_EVENT_ROWS}""")
SAVE_AND_CLAIM_WITH_EVENTS = Sql(f"""WITH saved AS (
                                       UPDATE conversations SET state = :state, version = :version + 1,
                                                                updated_at = :now
                                       WHERE id = :id AND version = :version RETURNING id),
                                     claimed AS (
                                       INSERT INTO processed_messages (channel, message_id, created_at, reply)
                                       SELECT :channel, :message_id, :now, CAST(:reply AS json) FROM saved
                                       RETURNING id)
                                     {_EVENT_ROWS}""")
