"""The screening flow: slots as data (knowledge/screening/flow.yaml), validated at load.

Like a Rasa form, the next question is the first required slot still empty;
unlike a step index, slots are addressed by their stable names, so reordering
the YAML never breaks a conversation in flight.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import KnowledgeError
from knowledge import KNOWLEDGE_DIR

# The contract's slot vocabulary (docs/contract.md, "Screening slots").
CONTRACT_SLOTS = (
    "consent", "program", "name", "id_number", "phone", "age", "township", "village", "residence",
    "household_size", "household_monthly_income", "owns_vehicle", "house_count", "savings",
    "labor_capacity", "has_supporter", "disability_level", "serious_illness", "medical_expense_year",
    "emergency", "emergency_description", "confirm",
)
KINDS = ("yes_no", "car", "illness", "emergency", "labor", "supporter", "choice", "count", "money", "age",
         "id_number", "phone", "township", "village", "residence", "disability_level", "text", "name")
DERIVATIONS = ("age_from_id", "channel_phone")
SLOT_FIELDS = {"name", "kind", "ask", "ask_sms", "example", "choices", "values", "aliases", "when", "when_any",
               "derive", "minimum"}


@dataclass(frozen=True)
class Slot:
    """One question of the flow."""

    name: str
    kind: str
    ask: str
    ask_sms: str = ""   # a shorter question for SMS, where every character costs
    example: str = ""
    choices: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    aliases: tuple[str, ...] = ()
    when: tuple[tuple[str, tuple], ...] = ()          # all must hold
    when_any: tuple[tuple[tuple[str, tuple], ...], ...] = ()  # one group must hold
    derive: str | None = None
    minimum: int | None = None

    def applies(self, values: dict) -> bool:
        """Whether this slot is needed given what is known so far."""
        def holds(conditions) -> bool:
            return all(name in values and values[name] in allowed for name, allowed in conditions)
        if self.when and not holds(self.when):
            return False
        return not self.when_any or any(holds(group) for group in self.when_any)


@dataclass(frozen=True)
class Flow:
    """An ordered set of slots with a retry limit."""

    id: str
    version: int
    retry_limit: int
    slots: tuple[Slot, ...]
    by_name: dict[str, Slot] = field(repr=False, default_factory=dict)
    correction_markers: tuple[str, ...] = ()
    question_markers: tuple[str, ...] = ()
    program_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    correction_cues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    consent_version: str = "1"   # changes whenever the consent text does; stored with each consent

    def slot(self, name: str) -> Slot:
        """The slot with this name (KeyError for an unknown one)."""
        return self.by_name[name]

    def next_slot(self, values: dict, skipped: set[str]) -> Slot | None:
        """The first slot that applies and is neither answered nor skipped."""
        for slot in self.slots:
            if slot.name not in values and slot.name not in skipped and slot.applies(values):
                return slot
        return None


def load_flow(path: Path | None = None) -> Flow:
    """Read and validate the flow; every problem names the file and slot."""
    path = Path(path or KNOWLEDGE_DIR / "screening" / "flow.yaml")
    rel = f"{path.parent.name}/{path.name}"
    problems: list[str] = []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError([f"{rel}: cannot read ({exc})"]) from None
    slots: list[Slot] = []
    seen: set[str] = set()
    for raw in doc.get("slots") or []:
        slot = _read_slot(raw, rel, seen, problems)
        if slot:
            slots.append(slot)
            seen.add(slot.name)
    if not slots or slots[0].name != "consent":
        problems.append(f"{rel}: the first slot must be consent (asked before any personal data)")
    if slots and slots[-1].name != "confirm":
        problems.append(f"{rel}: the last slot must be confirm (the resident checks a summary)")
    cues = doc.get("correction_cues") or {}
    for name in sorted(set(cues) - seen):
        problems.append(f"{rel}: correction_cues names {name!r}, which is not a slot")
    if problems:
        raise KnowledgeError(problems)
    return Flow(id=doc.get("id", "screening"), version=int(doc.get("version", 1)),
                retry_limit=int(doc.get("retry_limit", 3)), slots=tuple(slots),
                by_name={s.name: s for s in slots},
                correction_markers=tuple(doc.get("correction_markers") or ()),
                question_markers=tuple(doc.get("question_markers") or ()),
                program_words={k: tuple(v) for k, v in (doc.get("program_words") or {}).items()},
                correction_cues={k: tuple(v) for k, v in cues.items()},
                consent_version=str(doc.get("consent_version", "1")))


def _read_slot(raw: Any, rel: str, earlier: set[str], problems: list[str]) -> Slot | None:
    name = raw.get("name") if isinstance(raw, dict) else None
    where = f"{rel}: slot {name or '?'}"
    before = len(problems)
    if name not in CONTRACT_SLOTS:
        problems.append(f"{where}: not a contract slot name")
    elif name in earlier:
        problems.append(f"{where}: defined twice")
    for key in sorted(set(raw) - SLOT_FIELDS if isinstance(raw, dict) else ()):
        problems.append(f"{where}: unknown field {key!r}")
    if raw.get("kind") not in KINDS:
        problems.append(f"{where}: unknown kind {raw.get('kind')!r}")
    if not isinstance(raw.get("ask"), str) or not raw["ask"].strip():
        problems.append(f"{where}: ask must be a text")
    if raw.get("derive") and raw["derive"] not in DERIVATIONS:
        problems.append(f"{where}: unknown derivation {raw['derive']!r}")
    choices = tuple(raw.get("choices") or ())
    values = tuple(raw.get("values") or ())
    if values and len(values) != len(choices):
        problems.append(f"{where}: values and choices differ in length")
    when = _conditions(raw.get("when") or {}, where, earlier, problems)
    when_any = tuple(_conditions(g, where, earlier, problems) for g in raw.get("when_any") or ())
    for text in (raw.get("ask") or "", raw.get("ask_sms") or "", raw.get("example") or ""):
        for _, field_name, _, _ in string.Formatter().parse(text):
            if field_name and field_name not in ("bureau", "retention", "summary", "county"):
                problems.append(f"{where}: unknown placeholder {{{field_name}}}")
    if len(problems) > before:
        return None
    return Slot(name=name, kind=raw["kind"], ask=raw["ask"].strip(), ask_sms=(raw.get("ask_sms") or "").strip(),
                example=raw.get("example", ""),
                choices=choices, values=values, aliases=tuple(raw.get("aliases") or ()),
                when=when, when_any=when_any, derive=raw.get("derive"), minimum=raw.get("minimum"))


def _conditions(raw: Any, where: str, earlier: set[str], problems: list[str]) -> tuple:
    if not isinstance(raw, dict):
        problems.append(f"{where}: a condition must map slot names to allowed values")
        return ()
    out = []
    for name, allowed in raw.items():
        if name not in earlier:
            problems.append(f"{where}: condition on {name!r}, which is not asked before it")
        out.append((name, tuple(allowed if isinstance(allowed, list) else [allowed])))
    return tuple(out)
