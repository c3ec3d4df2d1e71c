"""Columns sealed at rest: JSON encrypted by the database's data protector on the way in and out.

A lead's answers (village, what happened in an emergency, income, savings, illness, disability…),
its programmes' reasons (they quote the income) and its documents checklist (残疾证 says what
it is for) are `SealedJSON` columns: the ORM and Core statements read and write plain
Python values, the database only ever holds AES-GCM ciphertext. So code that reads
`lead.fields` keeps working, and a copy of the database (a dump, a backup, a replica)
shows nothing of them without JIUZHU_DATA_KEY.

The type needs the key, and a column type knows only the dialect it runs on, which is one
per engine: `bind(database, protector)` ties a protector (or a function building it on first
use) to a database's engine. bot.runtime.Runtime and bot.screening.leads.LeadStore bind
theirs; reading a sealed column of an unbound database is an error saying so, never garbage.
What stays in the clear is what the queue and the dashboard filter and count on: township,
programme ids (`Lead.program_ids`), urgency, status, dates.
"""
from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy.types import Text, TypeDecorator

_BOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # dialect → () -> DataProtector


class NotBound(RuntimeError):
    """A sealed column was used on a database no protector was bound to."""


def bind(database, protector) -> None:
    """Seal and unseal this database's sealed columns with `protector` (or a function returning it)."""
    engine = getattr(database, "engine", database)
    _BOUND[engine.dialect] = protector if callable(protector) else (lambda: protector)


def protector_of(dialect):
    """The protector bound to the engine of this dialect (NotBound if none)."""
    factory: Callable | None = _BOUND.get(dialect)
    if factory is None:
        raise NotBound("a sealed column was read or written on a database without a data protector: "
                       "open it through bot.runtime.Runtime or LeadStore (bot.storage.sealing.bind)")
    return factory()


class SealedJSON(TypeDecorator):
    """A JSON value stored as one sealed text (base64 of AES-256-GCM; see bot.privacy)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        """Python value → sealed text."""
        if value is None:
            return None
        return protector_of(dialect).seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect) -> Any:
        """Sealed text → Python value (ValueError under another key or when damaged)."""
        if value is None:
            return None
        return json.loads(protector_of(dialect).unseal(value))
