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
from bot.screening.rules_validation import RULES_FILE, USE_NAMES, check_rules, load_rule_files, lookup


@dataclass(frozen=True)
class ProgramResult:
    """One likely program and why, in plain words for the resident and caseworker."""

    program: str   # dibao, tekun, linshi, yiliao, bianyuan
    reason: str    # ends with the preliminary-screen wording of rules.yaml


@dataclass(frozen=True)
class Assessment:
    """The outcome of a pre-screening: programs, urgency, documents, what to do next."""

    programs: tuple[ProgramResult, ...]
    urgency: str                 # "high" or "normal"
    documents: tuple[str, ...]
    next_steps: str


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


@register_rule("dibao", ("likely",))
def check_dibao(h: Household, found: Mapping[str, Finding]) -> Finding | None:
    """低保: per-capita income below the standard of the residence, assets within limits (S2)."""
    # 特困 already covers basic living (at a higher standard); the two are not combined.
    if _likely(found, "tekun") or not h.below(h.standard):
        return None
    return Finding("dibao", ("likely",), blocked=h.asset_problems())


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
    members = tuple(p for p in ("tekun", "dibao", "bianyuan") if _likely(found, p))
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
        values = self._values(h)
        programs = tuple(ProgramResult(f.program, self._reason(f, values)) for f in likely)
        urgency = "high" if h.emergency or any(f.urgent for f in likely) else "normal"
        listed = {f.program for f in likely}
        documents = select_documents(self.documents, h, listed)
        return Assessment(programs, urgency, documents,
                          self._next_steps(h, found, listed, requested, values))

    def _next_steps(self, h: Household, found: Mapping[str, Finding], listed: set[str],
                    requested: Any, values: dict[str, str]) -> str:
        """Where to go and what to say, including why nothing (or less) was listed."""
        steps = (["urgent"] if h.emergency else []) + ["apply" if listed else "none"]
        extra: dict[str, str] = {}
        blocked = [f for f in found.values() if f.blocked]
        if blocked:
            steps.append("assets")
            extra["program_list"] = self._names(f.program for f in blocked)
            items = dict.fromkeys(item for f in blocked for item in f.blocked)
            extra["asset_list"] = "，".join(self._fill(f"assets.{i}", values) for i in items)
        if h.per_capita is None:
            steps.append("missing_income")
        if "bianyuan" in listed and (h.disability in h.t.single_person_disability_levels
                                     or h.flag("serious_illness") is True):
            steps.append("single_person")
        if requested in PROGRAMS and requested not in listed:
            steps.append("requested_not_listed")
            extra["program_name"] = self._names([requested])
        return "\n".join(self._fill(f"next_steps.{s}", values, extra) for s in steps)

    def _reason(self, finding: Finding, values: dict[str, str]) -> str:
        """The finding's sentences followed by the preliminary-screen wording."""
        extra = {"household_programs": self._names(finding.related)}
        body = "".join(self._fill(f"programs.{finding.program}.texts.{key}", values, extra)
                       for key in finding.texts)
        return body + self._doc["preliminary"]

    def _values(self, h: Household) -> dict[str, str]:
        """Every per-household placeholder a screening text may use."""
        values = dict(self._base, **{name: "" for name in USE_NAMES})
        values["standards_note"] = ("" if self.config.county.standards.verified
                                    else self._fill("standards_note_unverified", values))
        values.update(h.values())
        values["area"] = self._fill(f"areas.{h.residence}", values)
        values["residence_note"] = self._fill("residence_assumed", values) if h.residence_assumed else ""
        described = str(h.fields.get("emergency_description") or "").strip()[:40]
        values["emergency_description"] = described or self._fill("emergency_default", values)
        township = h.fields.get("township")
        values["place"] = (self.config.county.service_centers.get(township)
                           or self._fill("place_default", values))
        return values

    def _names(self, programs) -> str:
        return "、".join(self._doc["program_names"][p] for p in programs)

    def _fill(self, path: str, values: Mapping[str, str], extra: Mapping[str, str] | None = None) -> str:
        # Validation admits only known names; one not filled yet reads as empty, never a crash.
        return lookup(self._doc, path).format_map(_Blank({**values, **(extra or {})}))


class _Blank(dict):
    """Placeholder values where a name without a value is empty text."""

    def __missing__(self, key: str) -> str:
        return ""
