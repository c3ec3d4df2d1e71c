"""The database: the engine, the unit of work, and SQLite-only tuning.

Every service takes a `Database.unit_of_work()` session (the plain ORM). The one
exception is the turn pipeline (bot/dialogue/turns.py), whose few per-message
statements run on a pooled DBAPI connection; schema revisions: bot/storage/schema.py.
"""
from __future__ import annotations

import contextlib
import contextvars
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from bot.storage import schema
from bot.storage.checkpoint import BACKSTOP_PAGES, WalCheckpointer

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

    The turn pipeline works a turn out this way before it has claimed the message
    (bot/dialogue/turns.py): a turn that needs the database is worked out again after claiming.
    """
    token = _NO_DATABASE.set(True)
    try:
        yield
    finally:
        _NO_DATABASE.reset(token)


def guard() -> None:
    """Raise DatabaseTouched inside `no_database()`; every way into the database calls it."""
    if _NO_DATABASE.get():
        raise DatabaseTouched


class Database:
    """A SQLAlchemy engine for one database URL, and the unit of work every service takes."""

    def __init__(self, url: str, wait_seconds: float = 30.0):
        self.url = url
        self.wait_seconds = wait_seconds
        self.engine = make_engine(url, wait_seconds)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        database = self.engine.url.database
        self.checkpointer = (WalCheckpointer(database) if self.engine.dialect.name == "sqlite"
                             and database not in (None, "", ":memory:") else None)
        self._on_dispose: list = []   # background users of the pool, stopped before it closes

    @property
    def is_postgresql(self) -> bool:
        """PostgreSQL (else SQLite): where one statement may write two tables (WITH … UPDATE)."""
        return self.engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One session for a request, a turn or a job: commits at the end, or rolls everything back.

        Services take this session, so a change, its audit row and its outbox message are
        written together or not at all.
        """
        guard()
        if self.checkpointer is not None:
            self.checkpointer.ensure_running()
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    session = unit_of_work  # the older name, for code written before unit_of_work()

    def current_revision(self) -> str | None:
        """The schema revision recorded in the database, or None for an empty one."""
        return schema.current_revision(self.engine)

    def ensure_schema(self) -> None:
        """Start-up check: an empty database is created at the head; an outdated one is refused
        (SchemaError: run `jiuzhu db upgrade`). Safe when several processes start at once."""
        schema.check(self.engine, create_if_empty=True)

    def check_schema(self) -> None:
        """Start-up check of a server process: refuse any database not at the head revision."""
        schema.check(self.engine, create_if_empty=False)

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 — any failure means "not reachable"
            return False

    def dispose(self) -> None:
        """Close every pooled connection and stop this process's checkpointing thread (before
        a fork, and at the end); using the database again reopens and restarts them."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        for stop in list(self._on_dispose):
            stop()  # (a thread mid-query finishes first: no connection escapes the dispose)
        self.engine.dispose()

    def when_disposed(self, stop) -> None:
        """Call `stop()` at `dispose()`, before the pool closes (once however often registered)."""
        if stop not in self._on_dispose:
            self._on_dispose.append(stop)


def is_unique_violation(error: BaseException) -> bool:
    """True for PostgreSQL's unique_violation (psycopg sets the SQLSTATE on the error)."""
    return getattr(error, "sqlstate", None) == "23505"


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


def make_engine(url: str, wait_seconds: float = 30.0) -> Engine:
    """An engine with the settings each backend needs for many concurrent workers.

    `wait_seconds` bounds how long a statement waits for SQLite's write lock, and a new
    PostgreSQL connection for the server: a database that is down must give a webhook
    its polite answer within the channel's deadline, not after gunicorn's timeout.
    """
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": wait_seconds})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets readers and a writer overlap
            cursor = dbapi_conn.cursor()
            _enable_wal(cursor)
            # With WAL, NORMAL keeps the database consistent and only risks the last commits on
            # power loss; FULL syncs every commit and tripled webhook p99 under concurrent writes.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
            # A commit checkpoints the log only if the background checkpointer fell far behind.
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = create_engine(url, pool_size=5, max_overflow=10,
                           connect_args={"connect_timeout": max(1, round(wait_seconds))})

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
