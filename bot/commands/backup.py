"""`jiuzhu backup` and `jiuzhu restore`: the database and the configuration (see bot/backup.py)."""
from __future__ import annotations

from pathlib import Path

from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add `backup` and `restore`."""
    backup = sub.add_parser("backup", parents=[common],
                            help="archive the database (pg_dump / SQLite backup) and config.toml")
    backup.add_argument("--output", "-o", default=".", help="a folder (default: here) or the archive's file name")
    backup.set_defaults(func=run_backup)
    restore = sub.add_parser("restore", parents=[common], help="restore a backup into an empty database")
    restore.add_argument("archive", help="a jiuzhu-backup-….tar.gz")
    restore.add_argument("--config-to", help="also write the backup's config.toml to this path")
    restore.add_argument("--replace", action="store_true",
                         help="overwrite a database (and --config-to file) that is not empty")
    restore.set_defaults(func=run_restore)


def run_backup(args) -> int:
    """Write the archive and say what it holds."""
    from bot.backup import create_backup

    path, manifest = create_backup(Runtime.from_path(args.config), Path(args.output))
    counts = ", ".join(f"{n} {name}" for name, n in manifest["counts"].items())
    print(f"backup written: {path} ({manifest['backend']}, schema {manifest['revision']}; {counts})")
    print("keep JIUZHU_DATA_KEY apart from it: without that key the personal data cannot be read")
    return 0


def run_restore(args) -> int:
    """Restore, then say what came back and what to run next."""
    from bot.backup import restore_backup

    restored = restore_backup(Runtime.from_path(args.config), Path(args.archive), replace=args.replace,
                              config_to=Path(args.config_to) if args.config_to else None)
    counts = ", ".join(f"{n} {name}" for name, n in restored.counts.items())
    print(f"restored: schema {restored.revision}; {counts}")
    if restored.config_written:
        print(f"configuration written to {restored.config_written}")
    if restored.needs_upgrade:
        print("the backup's schema is older than this code: run `jiuzhu db upgrade` before starting the servers")
    return 0
