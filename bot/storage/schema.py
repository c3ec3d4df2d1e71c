"""Schema revisions: read the head from the migration scripts, check a database, upgrade it.

Migrations run at deploy time (`jiuzhu db upgrade`), never raced by server
processes: web and worker processes only check the revision at start-up and
refuse an outdated database with a message that says what to run. An empty
database — a new local SQLite file, a fresh test schema — is created at the
head on first use (contract: "a missing database is created on first use").
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import re
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from bot.errors import JiuzhuError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|None)", re.M)


class SchemaError(JiuzhuError):
    """The database's schema is not the one this code needs."""


@functools.cache
def head_revision() -> str:
    """The newest migration, read from the scripts (Alembic itself is not imported for this)."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = {m.group(1): m.group(2) or m.group(3) for m in _REVISION.finditer(script.read_text("utf-8"))}
        if "revision" in found:
            revisions.add(found["revision"])
            if found.get("down_revision"):
                parents.add(found["down_revision"])
    heads = revisions - parents
    if len(heads) != 1:
        raise SchemaError(f"migrations must have exactly one head, found {sorted(heads) or 'none'}")
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, or None for an empty one."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check(engine: Engine, create_if_empty: bool) -> None:
    """Start-up: nothing to do at the head; an empty database is created if allowed; else refuse."""
    found = current_revision(engine)
    if found == head_revision():
        return
    if found is None and create_if_empty:
        with _migration_lock(engine):
            if current_revision(engine) is None:  # (another process may have created it meanwhile)
                _alembic_upgrade(engine)
        return
    if found is None:
        raise SchemaError("the database has no schema yet: run `jiuzhu db upgrade` first")
    raise SchemaError(f"the database schema is at revision {found}, this code needs {head_revision()}: "
                      "run `jiuzhu db upgrade` (at deploy time, before starting the new version)")


def upgrade(engine: Engine, revision: str = "head", protector=None) -> tuple[str | None, str | None]:
    """Run the migrations up to `revision` (once, even if several run at once): (before, after).

    `protector` (a DataProtector, or a function building it) is for data migrations that move
    or seal data only the data key reads (0012: keyed hashes of encrypted phone numbers; 0013:
    sealed lead answers); an empty database never needs it.
    """
    with _migration_lock(engine):
        before = current_revision(engine)
        if before != head_revision() or revision != "head":
            _alembic_upgrade(engine, revision, protector)
        return before, current_revision(engine)


def downgrade(engine: Engine, revision: str, protector=None) -> None:
    """Step back to `revision` (tests of a data migration's way back)."""
    with _migration_lock(engine):
        _alembic("downgrade", engine, revision, protector)


def _alembic_upgrade(engine: Engine, revision: str = "head", protector=None) -> None:
    _alembic("upgrade", engine, revision, protector)


def _alembic(action: str, engine: Engine, revision: str, protector) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _transactional(engine) as migrating, migrating.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["protector"] = protector
        getattr(command, action)(cfg, revision)


@contextlib.contextmanager
def _transactional(engine: Engine) -> Iterator[Engine]:
    """An engine whose transactions cover DDL too, so a migration that fails leaves nothing behind.

    PostgreSQL's do. Python's sqlite3 driver opens a transaction only before INSERT, UPDATE
    and DELETE, so a CREATE TABLE commits at once: a data migration refusing (the wrong data
    key, say) after an earlier one created its tables would leave a schema that no revision
    describes. For SQLite a separate engine lets SQLAlchemy emit BEGIN itself (its
    documented recipe), without changing how the application's own connections behave.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        yield engine  # (an in-memory database lives in its one connection: no second engine)
        return
    from sqlalchemy import create_engine, event

    migrating = create_engine(engine.url)

    @event.listens_for(migrating, "connect")
    def _no_driver_transactions(dbapi_conn, _record):
        dbapi_conn.isolation_level = None

    @event.listens_for(migrating, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        yield migrating
    finally:
        migrating.dispose()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """One migrating process at a time: an advisory lock (PostgreSQL), a lock file (SQLite)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(736042)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(736042)"))
                conn.commit()
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with Path(engine.url.database + ".migrate-lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        yield
