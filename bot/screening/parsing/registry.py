"""What a parser returns (Parsed) and the registry that maps answer kinds to parsers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Parsed:
    """One parsed answer: the normalised value, or the problem that stopped it.

    readback: the answer gives a plausible value (in `value`) that the resident may not have
    meant — a bare 1 at a money question, age 2. It is not ok: the screener asks
    "您是说……吗？" and stores `value` only after a yes.
    """

    ok: bool
    value: Any = None
    problem: str | None = None
    readback: bool = False


_PARSERS: dict[str, Callable[..., Parsed]] = {}


def _kind(name: str) -> Callable:
    """Register the decorated method as the parser of one answer kind."""
    def register(method: Callable) -> Callable:
        """Remember the method under its kind."""
        _PARSERS[name] = method
        return method
    return register


def _good(value: Any) -> Parsed:
    """An understood answer."""
    return Parsed(True, value)


def _fail(problem: str) -> Parsed:
    """An answer that cannot be used, and why."""
    return Parsed(False, None, problem)


def _doubt(value: Any) -> Parsed:
    """A value to read back to the resident before it is stored."""
    return Parsed(False, value, "readback", readback=True)
