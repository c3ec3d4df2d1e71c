"""Eligibility rules of the guided pre-screening: likely programs, urgency, documents.

Rules are a registry of small functions run in registration
order, so a later rule sees earlier findings: 低保 gives way to 特困, 医疗救助
follows the household's programs. Thresholds come from config.toml (county
standards) or knowledge/screening/rules.yaml (practice to confirm locally);
every resident-facing sentence lives in knowledge/screening/*.yaml.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from bot.config import Config
from bot.errors import KnowledgeError
from bot.domain import PROGRAMS
from bot.placeholders import base_values
# The household, the documents checklist and the YAML checks live in their own modules.
from bot.screening.documents import read_documents, select_documents
from bot.screening.household import Household, Thresholds, read_thresholds
from bot.screening.rules_validation import (FIGURES, NOTE_TEXTS, RULES_FILE, USE_NAMES, check_rules,
                                            load_rule_files, lookup, placeholders)


@dataclass(frozen=True)
class ProgramResult:
    """One likely program and why, in plain words for the resident and caseworker."""

    program: str   # dibao, tekun, linshi, yiliao, bianyuan
    reason: str    # the figures compared and the conclusion; the caseworker reads it too
    source: str = ""   # the rules applied, as rules.yaml names them
    grounds: tuple[str, ...] = ()   # the keys of the texts the reason is made of


@dataclass(frozen=True)
class Note:
    """Something else the resident should know; `key` names the text (notes.<key>, standards)."""

    key: str
    text: str


@dataclass(frozen=True)
class Assessment:
    """The outcome of a pre-screening: programs, urgency, documents, what else to know."""

    programs: tuple[ProgramResult, ...]
    urgency: str                 # "high" or "normal"
    documents: tuple[str, ...]
    notes: tuple[Note, ...]      # after the reasons: why not listed, 单人保, the standards note
    emergency: bool = False      # a sudden event: the resident should seek help now


@dataclass(frozen=True)
class Finding:
    """What one rule concluded; `blocked` names the assets that rule the program out."""

    program: str
    texts: tuple[str, ...] = ()          # keys under programs.<program>.texts, in order
    urgent: bool = False
    blocked: tuple[str, ...] = ()
    related: tuple[str, ...] = ()        # programs quoted as {household_programs}


@dataclass(frozen=True)
class Rule:
    """A registered eligibility rule and the texts it may use."""

    program: str
    texts: tuple[str, ...]
    check: Callable[[Household, Mapping[str, Finding]], Finding | None]


RULES: dict[str, Rule] = {}
INCOME_PROGRAMS = ("tekun", "dibao", "bianyuan")   # judged on the per-capita income


def register_rule(program: str, texts: tuple[str, ...]):
    """Add a rule to the registry; rules run in the order they are registered."""
    def decorate(check):
        RULES[program] = Rule(program, texts, check)
        return check
    return decorate


def _likely(found: Mapping[str, Finding], program: str) -> bool:
    return program in found and not found[program].blocked


@register_rule("tekun", ("labour_elderly", "labour_child", "labour_disability", "labour_stated",
                         "likely", "alone_elderly"))
def check_tekun(h: Household, found: Mapping[str, Finding]) -> Finding | None:
    """特困: no labour capacity, no able supporter, income below the 低保 standard (S3)."""
    why = h.no_labour_reason()
    if why is None or h.flag("has_supporter") is not False or not h.below(h.standard):
        return None
    # Very old people alone with nobody bound to support them are the ones most
    # likely to be unable to look after themselves already (S3 gives them priority
    # for 集中供养): the caseworker should visit them before the rest of the list.
    alone_old = h.size == 1 and h.age is not None and h.age >= h.t.alone_priority_age
    texts = (f"labour_{why}", "likely") + (("alone_elderly",) if alone_old else ())
    return Finding("tekun", texts, urgent=alone_old, blocked=h.asset_problems())


@register_rule("dibao", ("likely", "disability", "single_person_fallback", "single_person"))
def check_dibao(h: Household, found: Mapping[str, Finding]) -> Finding | None:
    """低保: per-capita income below the standard, assets within limits (S2); 重残单人保 (S5)."""
    # 特困 already covers basic living (at a higher standard); the two are not combined.
    if _likely(found, "tekun"):
        return None
    # 单人保 is for one member of a larger 低保边缘 household; alone, he is the household.
    severe = h.disability in h.t.single_person_disability_levels and (h.size or 0) > 1
    if h.below(h.standard):
        extra = ("single_person_fallback",) if severe else ("disability",) if h.disability else ()
        return Finding("dibao", ("likely", *extra), blocked=h.asset_problems())
    if severe and h.below(h.bianyuan_line):
        return Finding("dibao", ("single_person",), blocked=h.asset_problems())
    return None


@register_rule("bianyuan", ("likely",))
def check_bianyuan(h: Household, found: Mapping[str, Finding]) -> Finding | None:
    """低保边缘: not below the 低保 standard, below standard × multiplier (S2, S5)."""
    if h.per_capita is None or h.below(h.standard) or not h.below(h.bianyuan_line):
        return None
    return Finding("bianyuan", ("likely",), blocked=h.asset_problems())


@register_rule("linshi", ("emergency", "expense"))
def check_linshi(h: Household, found: Mapping[str, Finding]) -> Finding | None:
    """临时救助: a sudden event, or medical costs beyond what the income can bear (S1, S7)."""
    spending = h.flag("serious_illness") is True and h.expense_share_above(h.t.linshi_expense_ratio)
    texts = (("emergency",) if h.emergency else ()) + (("expense",) if spending else ())
    return Finding("linshi", texts, urgent=h.emergency) if texts else None


@register_rule("yiliao", ("member", "expense"))
def check_yiliao(h: Household, found: Mapping[str, Finding]) -> Finding | None:
    """医疗救助: a serious illness in a 特困/低保/边缘 household, or costs beyond the income (S12)."""
    if h.flag("serious_illness") is not True:
        return None
    members = tuple(p for p in INCOME_PROGRAMS if _likely(found, p))
    if members:
        return Finding("yiliao", ("member",), related=members)
    if h.expense_share_above(h.t.yiliao_expense_ratio):
        return Finding("yiliao", ("expense",))
    return None


class EligibilityRules:
    """The screening rules, thresholds and texts, validated once at start-up."""

    def __init__(self, config: Config, rules_doc: dict, documents_doc: dict):
        problems: list[str] = []
        self.config = config
        self._base = base_values(config)
        self._doc = rules_doc if isinstance(rules_doc, dict) else {}
        if not isinstance(rules_doc, dict):
            problems.append(f"{RULES_FILE}: must be a mapping")
        self._effective = check_rules(self._doc, RULES, self._base, problems)
        self.thresholds: Thresholds | None = read_thresholds(
            self._doc.get("thresholds"), f"{RULES_FILE}: thresholds", problems)
        self.documents = read_documents(documents_doc, problems)
        if problems:
            raise KnowledgeError(problems)

    @property
    def forms(self) -> frozenset[str]:
        """Checklist names that are forms the window hands out (documents.yaml `form: true`)."""
        return frozenset(d.name for d in self.documents if d.form)

    @classmethod
    def from_knowledge(cls, config: Config, directory: Path | None = None) -> EligibilityRules:
        """Load and validate knowledge/screening/rules.yaml and documents.yaml."""
        return cls(config, *load_rule_files(directory))

    def assess(self, fields: dict, today: dt.date | None = None) -> Assessment:
        """Screen one household's normalised slot values (any may be missing)."""
        today = today or dt.date.today()
        h = Household(fields, self.config.county.standards, self.thresholds)
        found: dict[str, Finding] = {}
        for rule in RULES.values():
            if self._effective[rule.program] > today:
                continue  # committed ahead of time, not in force yet
            finding = rule.check(h, found)
            if finding is not None:
                found[rule.program] = finding
        requested = fields.get("program")
        likely = sorted((f for f in found.values() if not f.blocked),
                        key=lambda f: (not f.urgent, f.program != requested, PROGRAMS.index(f.program)))
        writer = _Writer(self._doc, self._values(h))
        programs = tuple(ProgramResult(f.program, self._reason(f, writer),
                                       str(self._doc["programs"][f.program].get("source") or ""),
                                       f.texts)
                         for f in likely)
        urgency = "high" if h.emergency or any(f.urgent for f in likely) else "normal"
        listed = {f.program for f in likely}
        documents = select_documents(self.documents, h, listed)
        in_force = {p for p, date in self._effective.items() if date <= today}
        notes = self._notes(h, found, listed, requested, in_force, writer)
        if writer.quoted_figure and not self.config.county.standards.verified:
            notes += (Note("standards", writer.fill("standards_note_unverified")),)  # said once
        return Assessment(programs, urgency, documents, notes, emergency=h.emergency)

    def _notes(self, h: Household, found: Mapping[str, Finding], listed: set[str],
               requested: Any, in_force: set[str], writer: _Writer) -> tuple[Note, ...]:
        """What else the resident should know: why nothing (or less) was listed, 单人保, 特困."""
        extra: dict[str, str] = {}
        blocked = [f for f in found.values() if f.blocked]
        if blocked:
            extra["program_list"] = self._names(f.program for f in blocked)
            items = dict.fromkeys(item for f in blocked for item in f.blocked)
            extra["asset_list"] = self._doc["asset_separator"].join(writer.fill(f"assets.{i}") for i in items)
        if requested in PROGRAMS:
            extra["program_name"] = self._names([requested])
        conditional = (h.disability in h.t.single_person_conditional_levels
                       or h.flag("serious_illness") is True)
        # Not "missing" when 特困 is offered instead (its reason names 低保 as the fallback),
        # when the assets note already says why, or when the income needed to judge is unknown.
        covered = ((requested == "dibao" and "tekun" in listed)
                   or requested in {f.program for f in blocked}
                   or (h.per_capita is None and requested in INCOME_PROGRAMS))
        tekun_possible = (h.no_labour_reason() is not None and h.flag("has_supporter") is None
                          and h.below(h.standard) and "tekun" not in found)
        wanted = {
            "no_program": not listed,
            "above_lines": h.per_capita is not None and not h.below(h.bianyuan_line),
            "assets": bool(blocked),
            "missing_income": h.per_capita is None,
            "requested_not_listed": requested in PROGRAMS and requested not in listed and not covered,
            "single_person": "bianyuan" in listed and "dibao" not in listed and conditional
                             and (h.size or 0) > 1,
            "supporter_unknown": tekun_possible and "tekun" in in_force,
        }
        return tuple(Note(key, writer.fill(f"notes.{key}", extra)) for key in NOTE_TEXTS if wanted[key])

    def _reason(self, finding: Finding, writer: _Writer) -> str:
        """The finding's sentences, in order."""
        extra = {"household_programs": self._names(finding.related)}
        return "".join(writer.fill(f"programs.{finding.program}.texts.{key}", extra)
                       for key in finding.texts)

    def _values(self, h: Household) -> dict[str, str]:
        """Every per-household placeholder a screening text may use."""
        values = dict(self._base, **{name: "" for name in USE_NAMES})
        values.update(h.values())
        fill = _Writer(self._doc, values).fill
        values["area"] = fill(f"areas.{h.residence}")
        values["residence_note"] = fill("residence_assumed") if h.residence_assumed else ""
        described = str(h.fields.get("emergency_description") or "").strip()[:40]
        values["emergency_description"] = described or fill("emergency_default")
        values["level_name"] = fill(f"level_names.{h.disability}") if h.disability else ""
        return values

    def _names(self, programs) -> str:
        return self._doc["list_separator"].join(self._doc["program_names"][p] for p in programs)


class _Writer:
    """Fills one assessment's texts, remembering whether any quoted a county figure."""

    def __init__(self, doc: dict, values: Mapping[str, str]):
        self.doc = doc
        self.values = values
        self.quoted_figure = False

    def fill(self, path: str, extra: Mapping[str, str] | None = None) -> str:
        """The text at a dotted path of rules.yaml with its placeholders filled."""
        template = lookup(self.doc, path)
        if placeholders(template) & FIGURES:
            self.quoted_figure = True
        # Validation admits only known names; one not filled yet reads as empty, never a crash.
        return template.format_map(_Blank({**self.values, **(extra or {})}))


class _Blank(dict):
    """Placeholder values where a name without a value is empty text."""

    def __missing__(self, key: str) -> str:
        return ""
