"""Subcommands of the `jiuzhu` CLI, one module per area; none imports bot.cli back."""
from __future__ import annotations

import json
import sys


def print_json(obj: dict) -> None:
    """One JSON object on one line, flushed (scripts wait for it)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
