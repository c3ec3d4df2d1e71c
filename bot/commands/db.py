"""`jiuzhu db upgrade` and `jiuzhu db check`: the schema at deploy time."""
from __future__ import annotations

import sys

from bot.runtime import Runtime

UPGRADE_WAIT_SECONDS = 60.0  # a migration may wait for the server processes' short transactions


def register(sub, common) -> None:
    """Add `db upgrade` and `db check`."""
    db = sub.add_parser("db", help="the database schema (migrations run at deploy time)")
    db_sub = db.add_subparsers(metavar="ACTION")
    up = db_sub.add_parser("upgrade", parents=[common], help="run the migrations up to the newest")
    up.set_defaults(func=run_upgrade)
    check = db_sub.add_parser("check", parents=[common], help="exit 1 unless the schema is the newest")
    check.set_defaults(func=run_check)


def _database(args):
    from bot.storage.db import Database

    return Database(Runtime.from_path(args.config).config.database_url, wait_seconds=UPGRADE_WAIT_SECONDS)


def run_upgrade(args) -> int:
    """Migrate to the head revision (a no-op at the head) and say what changed."""
    from bot.storage import schema

    runtime = Runtime.from_path(args.config)
    db = _database(args)
    try:
        # data migrations seal existing rows under the deployment's key (built only if needed)
        before, after = schema.upgrade(db.engine, protector=lambda: runtime.protector)
    finally:
        db.dispose()
    print(f"database schema: {before or 'empty'} → {after}" if before != after
          else f"database schema: {after} (the newest; nothing to do)")
    return 0


def run_check(args) -> int:
    """Print the revision; 1 when it is not the head (what server start-ups would refuse)."""
    from bot.storage import schema

    db = _database(args)
    try:
        found = db.current_revision()
    finally:
        db.dispose()
    head = schema.head_revision()
    print(f"database schema: {found or 'empty'}; the code needs {head}")
    if found != head:
        print("run `jiuzhu db upgrade`", file=sys.stderr)
        return 1
    return 0
