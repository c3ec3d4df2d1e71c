"""The `jiuzhu` command line (contract: docs/contract.md)."""
from __future__ import annotations

import argparse
import os
import sys

from bot.errors import JiuzhuError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jiuzhu` console script."""
    from bot.logs import configure_logging

    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except JiuzhuError as exc:
        print(f"jiuzhu: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def build_parser() -> argparse.ArgumentParser:
    """All subcommands; each module registers its own."""
    from bot.commands import (backup, brief, conversation, db, demo, faq, insight, kb, screening, serving, users,
                              wechat, worker)

    parser = argparse.ArgumentParser(prog="jiuzhu", description="救助通 — social-assistance assistant")
    common = argparse.ArgumentParser(add_help=False)
    # JIUZHU_CONFIG as the server reads it: a deployment's `jiuzhu worker` / `db upgrade` under the
    # same systemd environment use the same file without repeating it
    common.add_argument("--config", default=os.environ.get("JIUZHU_CONFIG") or None,
                        help="config file (default: $JIUZHU_CONFIG, else ./config.toml, else the packaged one)")
    sub = parser.add_subparsers(metavar="COMMAND")
    for module in (faq, kb, conversation, screening, serving, wechat, worker, db, backup, users, insight, brief,
                   demo):
        module.register(sub, common)
    return parser
