"""A consistent copy of the database and its way back: pg_dump / pg_restore, SQLite's backup API.

Both take a snapshot while the servers keep writing: pg_dump reads one transaction's
snapshot, SQLite's online backup copies the pages under a read lock (WAL included).
bot/backup.py wraps a dump with the configuration and a manifest.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url

from bot.errors import JiuzhuError

DUMP_TIMEOUT_SECONDS = 3600
_SEARCH_PATH = re.compile(r"search_path\s*=\s*([^\s,]+)")


class BackupError(JiuzhuError):
    """A backup or a restore could not be made; the text says why and what to do."""


def backend_of(url: str) -> str:
    """"postgresql" or "sqlite" (anything else is refused)."""
    name = make_url(url).get_backend_name()
    if name not in ("postgresql", "sqlite"):
        raise BackupError(f"backups cover PostgreSQL and SQLite, not {name}")
    return name


def pg_schema(url: str) -> str | None:
    """The schema a URL's `options=-csearch_path=…` puts first (None: the database's own, public)."""
    options = make_url(url).query.get("options")
    if isinstance(options, tuple):
        options = " ".join(options)
    found = _SEARCH_PATH.search(options or "")
    return found.group(1).strip("\"'") if found else None


def is_empty(engine: Engine) -> bool:
    """No table at all in the database (PostgreSQL: in the URL's schema)."""
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


# ---- PostgreSQL --------------------------------------------------------------------------------
def _libpq(url: str) -> tuple[str, dict]:
    """(a libpq conninfo string, the environment carrying the password): never a password in argv."""
    import psycopg.conninfo

    parsed = make_url(url)
    params = {"host": parsed.host, "port": parsed.port, "dbname": parsed.database, "user": parsed.username}
    for key, value in parsed.query.items():
        params[key] = " ".join(value) if isinstance(value, tuple) else value
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v is not None}), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found on PATH: install the PostgreSQL client tools "
                          "(Debian: postgresql-client) of the server's major version")
    return found


def _run(argv: list[str], env: dict, what: str) -> None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=DUMP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} took longer than {DUMP_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BackupError(f"{what} failed: " + " | ".join(detail))


def pg_dump(url: str, target: Path) -> None:
    """pg_dump's custom format (compressed, restorable table by table); only the URL's schema when
    it names one, without owners or grants (the restoring role owns what it restores)."""
    conninfo, env = _libpq(url)
    argv = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"]
    if schema := pg_schema(url):
        argv.append(f"--schema={schema}")
    _run([*argv, f"--dbname={conninfo}"], env, "pg_dump")


def pg_restore(url: str, dump: Path, replace: bool) -> None:
    """pg_restore in one transaction: all of it or nothing; `replace` drops what the dump brings first."""
    conninfo, env = _libpq(url)
    argv = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if replace:
        argv += ["--clean", "--if-exists"]
    _run([*argv, f"--dbname={conninfo}", str(dump)], env, "pg_restore")


# ---- SQLite ------------------------------------------------------------------------------------
def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL (a backup of an in-memory database means nothing)."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up or restore into")
    return Path(database)


def sqlite_backup(url: str, target: Path) -> None:
    """SQLite's online backup of the whole file, consistent while others write."""
    source_path = sqlite_path(url)
    if not source_path.exists():
        raise BackupError(f"no SQLite database at {source_path}")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the archive
    finally:
        copy.close()
        source.close()


def sqlite_restore(url: str, copy_path: Path) -> None:
    """Copy the archived file into the target database through the backup API (a server holding
    the file open sees the restored pages, and the WAL stays consistent)."""
    target_path = sqlite_path(url)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    copy = sqlite3.connect(f"file:{copy_path}?mode=ro", uri=True)
    target = sqlite3.connect(target_path, timeout=60)
    try:
        copy.backup(target)
        target.execute("PRAGMA journal_mode=WAL")  # as bot.storage.db keeps it
    finally:
        target.close()
        copy.close()
