"""The compiled hot loops (bot/matching/_scorer.c), or None where they were not built.

The extension is optional (pyproject.toml): without a C compiler the package still
installs and every caller falls back to its Python/numpy reference — the same
answers, slower. A build left over from an older checkout is ignored: its
ABI_VERSION no longer matches the source.
"""
import os

ABI_VERSION = 7

try:
    from bot.matching import _scorer
except ImportError:  # pragma: no cover - depends on the build
    _scorer = None
if os.environ.get("JIUZHU_PURE_PYTHON"):  # to run (and test) the reference paths on purpose
    _scorer = None
if _scorer is not None and getattr(_scorer, "ABI_VERSION", None) != ABI_VERSION:
    _scorer = None
