"""Derived objects (the fitted matcher, the semantic layer) kept on disk between runs.

One file per knowledge-base key: a start-up only loads it. Writes are atomic
(parallel processes never read half a file); a torn or stale file is rebuilt,
never fatal; each edit of the knowledge base makes a new file, so only the few
newest of a kind are kept.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Callable

KEEP = 4


def cached(path: Path, key: str, build: Callable[[], Any], use_cache: bool = True) -> Any:
    """The object pickled at `path` if its `.key` is `key`, else build() (then written there)."""
    if use_cache and path.exists():
        try:
            with path.open("rb") as fh:
                found = pickle.load(fh)
            if getattr(found, "key", None) == key:
                return found
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass  # a stale or torn cache file is rebuilt
    built = build()
    if use_cache:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump(built, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        _prune(path)
    return built


def _prune(current: Path) -> None:
    """Delete all but the newest files of the same kind (the name before its key)."""
    def age(p: Path) -> float:
        try:
            return -p.stat().st_mtime
        except OSError:  # another process pruned it meanwhile
            return 0.0

    kind = current.name.rsplit("-", 1)[0]
    for stale in sorted(current.parent.glob(f"{kind}-*{current.suffix}"), key=age)[KEEP:]:
        if stale != current:
            stale.unlink(missing_ok=True)  # another process may have pruned it already
