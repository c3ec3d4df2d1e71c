"""The documents checklist of the pre-screening: its conditions and documents.yaml.

Each document of knowledge/screening/documents.yaml is listed when all its `when`
conditions (the registry below) hold and, if it names programs, one of them is likely.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from bot.screening.household import Household
from bot.domain import PROGRAMS
from bot.screening.rules_validation import DOCUMENTS_FILE

CONDITIONS: dict[str, Callable[[Household], bool]] = {
    "always": lambda h: True,
    "disability": lambda h: h.disability is not None,
    "serious_illness": lambda h: h.flag("serious_illness") is True,
    "medical_expense": lambda h: h.medical_expense > 0,
    "emergency": lambda h: h.emergency,
    # Someone must be able to work for the income to be earned: the applicant, or
    # (we cannot tell) another member of a larger household.
    "earned_income": lambda h: bool(h.income) and (h.flag("labor_capacity") is True
                                                    or (h.size or 0) > 1),
}


@dataclass(frozen=True)
class Document:
    """One checklist line and when it applies."""

    name: str
    when: tuple[str, ...]
    programs: tuple[str, ...]
    form: bool = False   # handed out at the window: nothing to bring from home


def read_documents(doc: Any, problems: list[str]) -> tuple[Document, ...]:
    """The checklist of documents.yaml; conditions and programs must be known."""
    items = doc.get("documents") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        problems.append(f"{DOCUMENTS_FILE}: documents: must be a non-empty list")
        return ()
    out, seen = [], set()
    for i, raw in enumerate(items):
        key = f"{DOCUMENTS_FILE}: documents[{i}]"
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{key}.name: missing text")
            continue
        key = f"{key} ({name})"
        for extra in sorted(set(raw) - {"name", "when", "programs", "form"}):
            problems.append(f"{key}: unknown field {extra!r}")
        if not isinstance(raw.get("form", False), bool):
            problems.append(f"{key}.form: must be true or false")
        when, programs = (_as_tuple(raw.get(k)) for k in ("when", "programs"))
        problems += [f"{key}.when: unknown condition {c!r}" for c in when if c not in CONDITIONS]
        problems += [f"{key}.programs: unknown program {p!r}" for p in programs if p not in PROGRAMS]
        if not when and not programs:
            problems.append(f"{key}: needs 'when' or 'programs'")
        if name in seen:
            problems.append(f"{key}: listed twice")
        seen.add(name)
        out.append(Document(name.strip(), when, programs, raw.get("form") is True))
    return tuple(out)


def select_documents(documents: tuple[Document, ...], h: Household,
                     listed: set[str]) -> tuple[str, ...]:
    """The checklist for one household, each name once, given its likely programs."""
    return tuple(dict.fromkeys(
        d.name for d in documents
        if all(CONDITIONS[c](h) for c in d.when)
        and (not d.programs or listed.intersection(d.programs))))


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)
