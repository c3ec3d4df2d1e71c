"""The database: engine, sessions and schema migrations (Alembic)."""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import fcntl
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.checkpoint import BACKSTOP_PAGES, WalCheckpointer

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration; a test keeps it equal to Alembic's head, so the fast
# start-up check below never needs to import Alembic.
HEAD_REVISION = "0007"
PING_AFTER_IDLE_SECONDS = 10.0


class DatabaseTouched(BaseException):
    """Code run under `no_database()` tried to use the database.

    A BaseException, so that the `except Exception` which turns a bug into an apology
    lets it through to whoever set the guard.
    """


_NO_DATABASE: contextvars.ContextVar[bool] = contextvars.ContextVar("jiuzhu_no_database", default=False)


@contextlib.contextmanager
def no_database() -> Iterator[None]:
    """Run a block that must not read or write the database: any attempt raises DatabaseTouched.

    The conversation engine works a turn out this way before it has claimed the message
    (bot/engine.py): a turn that needs the database is worked out again after claiming.
    """
    token = _NO_DATABASE.set(True)
    try:
        yield
    finally:
        _NO_DATABASE.reset(token)


def _guard() -> None:
    if _NO_DATABASE.get():
        raise DatabaseTouched


class _Held:
    """The connection Database.one_connection() keeps for the block (None until first used)."""

    def __init__(self, db: Database):
        self.db, self.connection, self.busy = db, None, False


_HELD: contextvars.ContextVar[_Held | None] = contextvars.ContextVar("jiuzhu_held_connection", default=None)


class Database:
    """A SQLAlchemy engine plus a session factory for one database URL."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        database = self.engine.url.database
        self.checkpointer = (WalCheckpointer(database) if self.engine.dialect.name == "sqlite"
                             and database not in (None, "", ":memory:") else None)

    @property
    def is_postgresql(self) -> bool:
        """PostgreSQL (else SQLite): where one statement may write two tables (WITH … UPDATE)."""
        return self.engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        _guard()
        if self.checkpointer is not None:
            self.checkpointer.ensure_running()
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One short transaction on a pooled DBAPI connection, for the per-message statements
        (see Sql): commits on success, rolls back on error. Pre-ping and pool as for sessions."""
        _guard()
        if self.checkpointer is not None:
            self.checkpointer.ensure_running()
        connection = self._checkout()
        try:
            yield Tx(connection.cursor(), sqlite=self.engine.dialect.name == "sqlite")
            connection.commit()
        except BaseException as error:
            if not self._dropped_if_disconnected(connection, error):
                connection.rollback()
            raise
        finally:
            self._checkin(connection)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Tx]:
        """Like transaction(), for statements that only read: on PostgreSQL in autocommit,
        so a single SELECT is one round trip instead of BEGIN, SELECT, COMMIT. (SQLite's
        driver opens no transaction for a SELECT anyway.)"""
        with self._autocommit() as tx:
            yield tx

    @contextlib.contextmanager
    def one_statement(self) -> Iterator[Tx]:
        """For one statement that changes data and needs no other: on PostgreSQL in autocommit,
        where a statement is a transaction of its own — one round trip, not four (BEGIN, the
        statement, COMMIT, and the server's answers). On SQLite simply a transaction()."""
        if self.engine.dialect.name == "sqlite":
            with self.transaction() as tx:
                yield tx
            return
        with self._autocommit() as tx:
            yield tx

    @contextlib.contextmanager
    def _autocommit(self) -> Iterator[Tx]:
        _guard()
        connection = self._checkout()
        sqlite = self.engine.dialect.name == "sqlite"
        cursor = None
        try:
            if not sqlite:
                connection.dbapi_connection.autocommit = True
            cursor = connection.cursor()
            yield Tx(cursor, sqlite=sqlite)
        except BaseException as error:
            self._dropped_if_disconnected(connection, error)
            raise
        finally:
            if cursor is not None:  # a SQLite SELECT not run to its end would hold its read snapshot
                cursor.close()
            if not sqlite and connection.dbapi_connection is not None:
                try:
                    connection.dbapi_connection.autocommit = False
                except Exception:  # noqa: BLE001 — closed under us: never hand it out again
                    connection.invalidate()
            self._checkin(connection)

    @contextlib.contextmanager
    def one_connection(self) -> Iterator[None]:
        """Within this block, on this thread, transaction() and reading() share one pooled
        connection: checked out at the first of them, back to the pool at the end.

        A webhook message runs a read and a write transaction; a pool round trip costs more
        Python than SQLite spends on either. (Other threads, and sessions, are not affected.)
        """
        if _HELD.get() is not None:
            yield
            return
        held = _Held(self)
        token = _HELD.set(held)
        try:
            yield
        finally:
            _HELD.reset(token)
            if held.connection is not None:
                held.connection.close()

    def _checkout(self):
        held = _HELD.get()
        if held is None or held.db is not self or held.busy:  # (busy: a transaction inside another)
            return self.engine.raw_connection()
        if held.connection is None or not held.connection.is_valid:  # (invalidated: the server went away)
            held.connection = self.engine.raw_connection()
        held.busy = True
        return held.connection

    def _checkin(self, connection) -> None:
        held = _HELD.get()
        if held is not None and held.connection is connection:
            held.busy = False
            if connection.is_valid:
                return  # kept for the rest of the block
            held.connection = None
        connection.close()  # back to the pool (an invalidated one is discarded)

    def _dropped_if_disconnected(self, connection, error: BaseException) -> bool:
        """True (and the pool renewed) when `error` means the server went away."""
        if not self.engine.dialect.is_disconnect(error, connection.dbapi_connection, None):
            return False
        connection.invalidate()  # never reuse this one …
        self.engine.pool.dispose()  # … nor its siblings (as SQLAlchemy does itself)
        return True

    def current_revision(self) -> str | None:
        """The schema revision recorded in the database, or None for an empty one."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def ensure_schema(self) -> None:
        """Create or upgrade the schema; safe when several processes start at once."""
        if self.current_revision() == HEAD_REVISION:
            return
        with self._migration_lock():
            if self.current_revision() != HEAD_REVISION:
                upgrade(self.engine)

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 — any failure means "not reachable"
            return False

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(736042)"))
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(736042)"))
                    conn.commit()
        elif self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            lock_path = Path(self.engine.url.database + ".migrate-lock")
            with lock_path.open("a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        else:
            yield

    def dispose(self) -> None:
        """Close every pooled connection and stop this process's checkpointing thread (before
        a fork, and at the end); using the database again reopens and restarts them."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


def is_unique_violation(error: BaseException) -> bool:
    """True for PostgreSQL's unique_violation (psycopg sets the SQLSTATE on the error)."""
    return getattr(error, "sqlstate", None) == "23505"


class Sql:
    """A statement run for every webhook message, written once with :name parameters.

    The few statements each message needs run on the DBAPI cursor directly (Tx):
    SQLAlchemy's per-execution work (compiled-cache look-up, parameter and result
    processing, connection events) cost several times what SQLite spends on them.
    Everything else uses the ORM or Core as usual.
    """

    def __init__(self, text: str):
        self.sqlite = " ".join(text.split())
        self.postgresql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", self.sqlite)  # psycopg's pyformat


class Tx:
    """A cursor inside Database.transaction(), with the value conversions SQLAlchemy would do."""

    def __init__(self, cursor, sqlite: bool):
        self.cursor = cursor
        self.sqlite = sqlite

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
    def json(value) -> str:
        """A JSON column's parameter (PostgreSQL casts the text; SQLite stores it)."""
        return json.dumps(value)

    @staticmethod
    def from_json(value):
        """A JSON column's value: psycopg has decoded it already, sqlite3 has not."""
        return json.loads(value) if isinstance(value, (str, bytes)) else value

    def time(self, value: dt.datetime):
        """A DateTime(timezone=True) parameter: stored on SQLite as SQLAlchemy stores it (UTC, no offset)."""
        if not self.sqlite:
            return value
        # isoformat spells it as strftime("%Y-%m-%d %H:%M:%S.%f") would, at a fifth of the cost
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def _enable_wal(cursor, patience: float = 30.0) -> None:
    """PRAGMA journal_mode=WAL, waiting out other connections if need be.

    WAL is kept in the database file, so this only changes a new file. Changing it needs
    a moment when no other connection holds a lock, and SQLite answers "database is
    locked" at once instead of using the busy timeout: processes starting together on a
    new file (gunicorn workers, `jiuzhu worker`) failed 1 time in 20-30. So: retry.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def make_engine(url: str) -> Engine:
    """An engine with the settings each backend needs for many concurrent workers."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets readers and a writer overlap
            cursor = dbapi_conn.cursor()
            _enable_wal(cursor)
            # With WAL, NORMAL keeps the database consistent and only risks the last commits on
            # power loss; FULL syncs every commit and tripled webhook p99 under concurrent writes.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # A commit checkpoints the log only if the background checkpointer fell far behind.
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = create_engine(url, pool_size=5, max_overflow=10)

    # Pre-ping, but only a connection that sat idle: a ping on every checkout was a third of
    # a webhook message's round trips. One used within the last seconds is as alive as a
    # ping would show; if the server went away meanwhile, the statement fails, the pool is
    # renewed (Database.transaction, and SQLAlchemy's own disconnect handling) and WeChat retries.
    @event.listens_for(engine, "checkin")
    def _used(_dbapi_conn, record):
        record.info["used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):
        if time.monotonic() - record.info.get("used", 0.0) > PING_AFTER_IDLE_SECONDS:
            try:
                alive = engine.dialect.do_ping(dbapi_conn)
            except Exception:  # noqa: BLE001 — any failure: not alive
                alive = False
            if not alive:
                raise DisconnectionError("connection found dead on checkout")  # the pool reconnects

    return engine


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run Alembic migrations up to `revision` on this engine."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
