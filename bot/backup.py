"""`jiuzhu backup` and `jiuzhu restore`: the database and the configuration in one archive.

An archive (`jiuzhu-backup-20261202T113000Z.tar.gz`, mode 0600) holds:

- `manifest.json` — when, which backend and schema revision, the sha256 of each file, and a
  fingerprint of JIUZHU_DATA_KEY (a keyed hash: it tells whether a key is the right one,
  and nothing about the key);
- `database.pgdump` (pg_dump, custom format) or `database.sqlite3` (SQLite's backup API);
- `config/config.toml` — the configuration file in use.

Secrets are not in it: personal data stays encrypted inside the dump, and the data key must be
kept apart (a password manager, a sealed envelope) — without it the backup's personal data is lost.
A restore goes into an empty database (or `--replace`), checks the files and the key first,
and never mixes backends.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bot.storage import dumps
from bot.storage.dumps import BackupError
from bot.storage.schema import head_revision

FORMAT = 1
DATABASE_FILE = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
CONFIG_FILE = "config/config.toml"
COUNTED = ("leads", "audit_log", "conversations", "outbox", "unanswered_questions", "users")


def key_fingerprint(protector) -> str:
    """A keyed hash naming the data key without revealing it."""
    return protector.blind_index("backup key check", "jiuzhu")[:16]


@dataclass(frozen=True)
class Restored:
    """What a restore brought back."""

    revision: str | None
    counts: dict[str, int]
    config_written: Path | None
    needs_upgrade: bool


def create_backup(runtime, output: Path) -> tuple[Path, dict]:
    """Write the archive into the folder `output` (or to the file `output`); (its path, the manifest)."""
    config = runtime.config
    backend = dumps.backend_of(config.database_url)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    if output.is_dir() or not output.suffix:
        output.mkdir(parents=True, exist_ok=True)
        output = output / f"jiuzhu-backup-{now:%Y%m%dT%H%M%SZ}.tar.gz"
    db = _database(config.database_url)
    try:
        revision, counts = db.current_revision(), _counts(db)
    finally:
        db.dispose()
    if revision is None:
        raise BackupError("the database is empty: nothing to back up")
    with tempfile.TemporaryDirectory(prefix="jiuzhu-backup-") as work:
        work_dir = Path(work)
        database_file = work_dir / DATABASE_FILE[backend]
        if backend == "postgresql":
            dumps.pg_dump(config.database_url, database_file)
        else:
            dumps.sqlite_backup(config.database_url, database_file)
        files = {DATABASE_FILE[backend]: database_file, CONFIG_FILE: config.path}
        manifest = {"format": FORMAT, "created_at": now.isoformat().replace("+00:00", "Z"), "backend": backend,
                    "schema": dumps.pg_schema(config.database_url) if backend == "postgresql" else None,
                    "revision": revision, "key_fingerprint": key_fingerprint(runtime.protector),
                    "counts": counts, "files": {name: _sha256(path) for name, path in files.items()}}
        manifest_path = work_dir / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        partial = output.with_name(output.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(manifest_path, arcname="manifest.json")
            for name, path in files.items():
                tar.add(path, arcname=name)
        partial.replace(output)  # a crash never leaves a half archive under the real name
    return output, manifest


def read_manifest(archive: Path) -> dict:
    """The archive's manifest (BackupError if it is not a jiuzhu backup)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.loads(member.read().decode("utf-8")) if member else None
    except (OSError, tarfile.TarError, KeyError, ValueError):
        raise BackupError(f"{archive} is not a jiuzhu backup archive") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: unknown backup format")
    return manifest


def restore_backup(runtime, archive: Path, replace: bool = False, config_to: Path | None = None) -> Restored:
    """Restore the archive into the configured database (and its config file to `config_to`)."""
    manifest = read_manifest(archive)
    url = runtime.config.database_url
    backend = dumps.backend_of(url)
    if manifest["backend"] != backend:
        raise BackupError(f"this backup is of a {manifest['backend']} database and JIUZHU_DATABASE_URL is "
                          f"{backend}: restore into the same kind of database")
    if manifest["key_fingerprint"] != key_fingerprint(runtime.protector):
        raise BackupError("this backup was made under another JIUZHU_DATA_KEY: set the key it was made "
                          "with, or its personal data cannot be read")
    if backend == "postgresql" and manifest.get("schema") != dumps.pg_schema(url):
        raise BackupError(f"this backup holds schema {manifest.get('schema') or 'public'}; the target URL's "
                          f"search_path is {dumps.pg_schema(url) or 'public'}")
    db = _database(url)  # never runtime.db: that would create a schema in the empty target
    try:
        if not replace and not dumps.is_empty(db.engine):
            raise BackupError("the target database is not empty: restore into an empty one, or pass "
                              "--replace to overwrite it")
        db.dispose()  # no pooled connection holds the old pages or tables
        with tempfile.TemporaryDirectory(prefix="jiuzhu-restore-") as work:
            extracted = _extract_checked(archive, manifest, Path(work))
            database_file = extracted[DATABASE_FILE[backend]]
            if backend == "postgresql":
                dumps.pg_restore(url, database_file, replace)
            else:
                dumps.sqlite_restore(url, database_file)
            written = _write_config(extracted[CONFIG_FILE], config_to, replace) if config_to else None
        revision = db.current_revision()
        return Restored(revision, _counts(db), written, needs_upgrade=revision != head_revision())
    finally:
        db.dispose()


def _database(url: str):
    from bot.storage.db import Database

    return Database(url, wait_seconds=60.0)


def _extract_checked(archive: Path, manifest: dict, into: Path) -> dict[str, Path]:
    """Each file the manifest lists, extracted and checked against its sha256."""
    out = {}
    with tarfile.open(archive, "r:gz") as tar:
        for name, digest in manifest["files"].items():
            member = tar.getmember(name)
            if not member.isfile():
                raise BackupError(f"{archive}: {name} is not a file")
            target = into / name.replace("/", "_")
            with tar.extractfile(member) as source, target.open("wb") as sink:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
            if _sha256(target) != digest:
                raise BackupError(f"{archive}: {name} is damaged (its checksum does not match)")
            out[name] = target
    return out


def _write_config(source: Path, target: Path, replace: bool) -> Path:
    text = source.read_bytes()
    if target.exists() and target.read_bytes() != text and not replace:
        raise BackupError(f"{target} exists and differs from the backup's configuration: pass --replace, "
                          "or another --config-to path")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(text)
    return target


def _counts(db) -> dict[str, int]:
    from bot.storage.models import Base

    tables = Base.metadata.tables
    try:
        with db.engine.connect() as conn:
            return {name: conn.execute(select(func.count()).select_from(tables[name])).scalar_one()
                    for name in COUNTED}
    except Exception:  # noqa: BLE001 — an empty or older schema: no counts to show
        return {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
