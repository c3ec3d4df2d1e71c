"""Eligibility rules of the guided pre-screening: likely programs, urgency, documents.

Rules are a registry of small functions (style habit 8) run in registration
order, so a later rule sees earlier findings: 低保 gives way to 特困, 医疗救助
follows the household's programs. Thresholds come from config.toml (county
standards) or knowledge/screening/rules.yaml (practice to confirm locally);
every resident-facing sentence lives in knowledge/screening/*.yaml.
"""
from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from bot.config import Config, Standards
from bot.errors import KnowledgeError
from bot.placeholders import COUNTY_FIGURES, base_values, format_number
from knowledge import KNOWLEDGE_DIR

PROGRAMS = ("tekun", "dibao", "bianyuan", "yiliao", "linshi")  # also the default ranking
RULES_FILE = "screening/rules.yaml"
DOCUMENTS_FILE = "screening/documents.yaml"
ASSET_ITEMS = ("vehicle", "houses", "savings")
STEP_TEXTS = ("urgent", "apply", "none", "assets", "missing_income",
              "requested_not_listed", "single_person")
TOP_TEXTS = ("preliminary", "standards_note_unverified", "residence_assumed",
             "emergency_default", "place_default", "areas.urban", "areas.rural")
# Placeholders filled per use rather than per household.
USE_NAMES = frozenset({"household_programs", "program_list", "asset_list", "program_name"})
# A text quoting one of these must carry {standards_note} while figures are unverified.
FIGURES = COUNTY_FIGURES | {"standard", "bianyuan_line", "savings_limit"}


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
class Thresholds:
    """The thresholds of rules.yaml (the county standards stay in config.toml)."""

    savings_months: float
    max_houses: float
    linshi_expense_ratio: float
    yiliao_expense_ratio: float
    tekun_elderly_age: float
    tekun_child_age: float
    tekun_disability_levels: tuple[int, ...]
    alone_priority_age: float
    single_person_disability_levels: tuple[int, ...]


def read_thresholds(raw: Any, where: str, problems: list[str]) -> Thresholds | None:
    """Positive numbers, and lists of disability levels 1–4 for the *_levels keys."""
    raw = raw if isinstance(raw, dict) else {}
    values, valid = {}, True
    for name in Thresholds.__dataclass_fields__:
        value, levels = raw.get(name), name.endswith("_levels")
        if levels:
            ok = isinstance(value, list) and all(type(v) is int and 1 <= v <= 4 for v in value)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        if not ok:
            problems.append(f"{where}.{name}: missing or not "
                            f"{'a list of levels 1-4' if levels else 'a positive number'}")
        valid = valid and ok
        values[name] = tuple(value) if levels and ok else value
    return Thresholds(**values) if valid else None


@dataclass(frozen=True)
class Household:
    """Normalised slot values as the rules read them; a missing or malformed slot is None."""

    fields: Mapping[str, Any]
    standards: Standards
    t: Thresholds

    VALUE_NAMES = frozenset({
        "per_capita", "income", "household_size", "standard", "bianyuan_line", "annual_income",
        "medical_expense", "age", "disability_level", "savings", "savings_limit", "house_count",
        "savings_months", "linshi_ratio_percent", "yiliao_ratio_percent", "alone_priority_age",
        "tekun_elderly_age", "tekun_child_age"})

    def flag(self, name: str) -> bool | None:
        """A yes/no slot, or None when it was not asked."""
        value = self.fields.get(name)
        return value if isinstance(value, bool) else None

    def number(self, name: str) -> float | None:
        """A numeric slot ≥ 0, or None when missing (a bool is not a number here)."""
        value = self.fields.get(name)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        return value if ok else None

    @property
    def size(self) -> int | None:
        """People living together, or None."""
        size = self.number("household_size")
        return int(size) if size and size >= 1 else None

    @property
    def income(self) -> float | None:
        """Monthly household income in yuan, or None."""
        return self.number("household_monthly_income")

    @property
    def age(self) -> float | None:
        """The applicant's age, or None."""
        return self.number("age")

    @property
    def disability(self) -> int | None:
        """The highest disability level in the household, or None."""
        level = self.number("disability_level")
        return int(level) if level else None

    @property
    def residence(self) -> str:
        """urban or rural; unknown counts as rural."""
        # Most of the county is rural, and the rural standard is the lower one, so an
        # unknown residence never makes a household look more eligible than it is.
        return "urban" if self.fields.get("residence") == "urban" else "rural"

    @property
    def residence_assumed(self) -> bool:
        """Whether the residence was not given."""
        return self.fields.get("residence") not in ("urban", "rural")

    @property
    def standard(self) -> float:
        """The 低保 standard (元/人·月) of the household's residence."""
        return self.standards.dibao_urban if self.residence == "urban" else self.standards.dibao_rural

    @property
    def bianyuan_line(self) -> float:
        """The 低保边缘 line: standard × multiplier."""
        # Rounded to the fen so 720 × 1.5 compares as exactly 1080.
        return round(self.standard * self.standards.bianyuan_multiplier, 2)

    @property
    def per_capita(self) -> float | None:
        """Monthly income per person, or None."""
        return None if self.income is None or self.size is None else self.income / self.size

    @property
    def annual_income(self) -> float | None:
        """Household income over 12 months, or None."""
        return None if self.income is None else self.income * 12

    @property
    def medical_expense(self) -> float:
        """Self-paid medical costs of the past 12 months (0 when unknown)."""
        return self.number("medical_expense_year") or 0

    @property
    def emergency(self) -> bool:
        """Whether a sudden event just happened."""
        return self.flag("emergency") is True

    @property
    def savings_limit(self) -> float | None:
        """Savings above this make 低保 unlikely [U], or None."""
        return None if self.size is None else self.standard * self.size * self.t.savings_months

    def below(self, line: float) -> bool:
        """Per-capita income strictly below a line (exactly at the standard is not below)."""
        return self.per_capita is not None and self.per_capita < line

    def expense_share_above(self, ratio: float) -> bool:
        """Self-paid medical costs above this share of the annual household income."""
        return self.annual_income is not None and self.medical_expense > ratio * self.annual_income

    def asset_problems(self) -> tuple[str, ...]:
        """The assets that make 低保/边缘/特困 unlikely; unknown assets are left to the township."""
        savings, houses, limit = self.number("savings"), self.number("house_count"), self.savings_limit
        return tuple(item for item, bad in (
            ("vehicle", self.flag("owns_vehicle") is True),
            ("houses", houses is not None and houses > self.t.max_houses),
            ("savings", savings is not None and limit is not None and savings > limit),
        ) if bad)

    def no_labour_reason(self) -> str | None:
        """Why the applicant counts as unable to work (S3), or None."""
        if self.age is not None and self.age >= self.t.tekun_elderly_age:
            return "elderly"
        if self.age is not None and self.age < self.t.tekun_child_age:
            return "child"
        if self.disability in self.t.tekun_disability_levels:
            return "disability"
        return "stated" if self.flag("labor_capacity") is False else None

    def values(self) -> dict[str, str]:
        """The household's figures as text for the {placeholders} of VALUE_NAMES."""
        def money(x: float | None) -> str:
            return "" if x is None else format_number(round(x))
        t = self.t
        return {
            "per_capita": money(self.per_capita), "income": money(self.income),
            "household_size": money(self.size), "standard": money(self.standard),
            "bianyuan_line": money(self.bianyuan_line), "annual_income": money(self.annual_income),
            "medical_expense": money(self.medical_expense), "age": money(self.age),
            "disability_level": money(self.disability), "savings": money(self.number("savings")),
            "savings_limit": money(self.savings_limit), "house_count": money(self.number("house_count")),
            "savings_months": format_number(t.savings_months),
            "linshi_ratio_percent": format_number(t.linshi_expense_ratio * 100),
            "yiliao_ratio_percent": format_number(t.yiliao_expense_ratio * 100),
            "alone_priority_age": format_number(t.alone_priority_age),
            "tekun_elderly_age": format_number(t.tekun_elderly_age),
            "tekun_child_age": format_number(t.tekun_child_age),
        }


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


class EligibilityRules:
    """The screening rules, thresholds and texts, validated once at start-up."""

    def __init__(self, config: Config, rules_doc: dict, documents_doc: dict):
        problems: list[str] = []
        self.config = config
        self._base = base_values(config)
        self._doc = rules_doc if isinstance(rules_doc, dict) else {}
        if not isinstance(rules_doc, dict):
            problems.append(f"{RULES_FILE}: must be a mapping")
        self._effective = self._check_rules(problems)
        self.thresholds: Thresholds | None = read_thresholds(
            self._doc.get("thresholds"), f"{RULES_FILE}: thresholds", problems)
        self.documents = _read_documents(documents_doc, problems)
        if problems:
            raise KnowledgeError(problems)

    @classmethod
    def from_knowledge(cls, config: Config, directory: Path | None = None) -> EligibilityRules:
        """Load and validate knowledge/screening/rules.yaml and documents.yaml."""
        directory = Path(directory or KNOWLEDGE_DIR)
        docs, problems = [], []
        for rel in (RULES_FILE, DOCUMENTS_FILE):
            try:
                docs.append(yaml.safe_load((directory / rel).read_text(encoding="utf-8")))
            except OSError as exc:
                problems.append(f"{rel}: cannot read ({exc.strerror})")
            except yaml.YAMLError as exc:
                problems.append(f"{rel}: not valid YAML ({getattr(exc, 'problem', exc)})")
        if problems:
            raise KnowledgeError(problems)
        return cls(config, *docs)

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
        documents = tuple(dict.fromkeys(
            d.name for d in self.documents
            if all(CONDITIONS[c](h) for c in d.when)
            and (not d.programs or listed.intersection(d.programs))))
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
        return _lookup(self._doc, path).format_map(_Blank({**values, **(extra or {})}))

    def _check_rules(self, problems: list[str]) -> dict[str, dt.date]:
        """Check programs, effective dates and every text; return each rule's date."""
        doc, effective = self._doc, {}
        programs = doc.get("programs") if isinstance(doc.get("programs"), dict) else {}
        names = doc.get("program_names") if isinstance(doc.get("program_names"), dict) else {}
        for where, mapping in (("programs", programs), ("program_names", names)):
            for name in mapping:
                if name not in RULES:
                    problems.append(f"{RULES_FILE}: {where}.{name}: unknown program {name!r}")
        paths = list(TOP_TEXTS) + [f"program_names.{p}" for p in PROGRAMS]
        paths += [f"assets.{a}" for a in ASSET_ITEMS] + [f"next_steps.{s}" for s in STEP_TEXTS]
        for rule in RULES.values():
            entry = programs.get(rule.program)
            if not isinstance(entry, dict):
                problems.append(f"{RULES_FILE}: programs.{rule.program}: missing")
                continue
            date = entry.get("effective")
            if not isinstance(date, dt.date):
                problems.append(f"{RULES_FILE}: programs.{rule.program}.effective: "
                                "must be a date (YYYY-MM-DD)")
            else:
                effective[rule.program] = date.date() if isinstance(date, dt.datetime) else date
            paths += [f"programs.{rule.program}.texts.{t}" for t in rule.texts]
        allowed = set(self._base) | Household.VALUE_NAMES | USE_NAMES | {
            "standards_note", "area", "residence_note", "emergency_description", "place"}
        for path in paths:
            _check_text(_lookup(doc, path), path, allowed, problems)
        return effective


class _Blank(dict):
    """Placeholder values where a name without a value is empty text."""

    def __missing__(self, key: str) -> str:
        return ""


def _lookup(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _check_text(text: Any, path: str, allowed: set[str], problems: list[str]) -> None:
    """A non-empty text whose placeholders exist; county figures carry their note."""
    where = f"{RULES_FILE}: {path}"
    if not isinstance(text, str) or not text.strip():
        problems.append(f"{where}: missing text")
        return
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        problems.append(f"{where}: bad braces ({exc}); write {{{{ for a literal brace")
        return
    for name in sorted(names - allowed):
        problems.append(f"{where}: unknown placeholder {{{name}}}")
    # Asset items are fragments of next_steps.assets, which carries the note for them.
    if names & FIGURES and "standards_note" not in names and not path.startswith("assets."):
        problems.append(f"{where}: quotes a county figure without {{standards_note}}")


def _read_documents(doc: Any, problems: list[str]) -> tuple[Document, ...]:
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
        for extra in sorted(set(raw) - {"name", "when", "programs"}):
            problems.append(f"{key}: unknown field {extra!r}")
        when, programs = (_as_tuple(raw.get(k)) for k in ("when", "programs"))
        problems += [f"{key}.when: unknown condition {c!r}" for c in when if c not in CONDITIONS]
        problems += [f"{key}.programs: unknown program {p!r}" for p in programs if p not in PROGRAMS]
        if not when and not programs:
            problems.append(f"{key}: needs 'when' or 'programs'")
        if name in seen:
            problems.append(f"{key}: listed twice")
        seen.add(name)
        out.append(Document(name.strip(), when, programs))
    return tuple(out)


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)
