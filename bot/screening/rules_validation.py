"""Loading and checking the screening YAML: what rules.yaml must hold, and its texts.

Every resident-facing sentence of the screening lives in knowledge/screening/*.yaml;
this module reads those files and checks, once at start-up, that each text the
rules may use exists and only uses placeholders that will be filled.
"""
from __future__ import annotations

import datetime as dt
import string
from pathlib import Path
from typing import Any, Mapping

import yaml

from bot.domain import PROGRAMS
from bot.errors import KnowledgeError
from bot.placeholders import COUNTY_FIGURES
from bot.screening.household import Household
from knowledge import KNOWLEDGE_DIR

RULES_FILE = "screening/rules.yaml"
DOCUMENTS_FILE = "screening/documents.yaml"
ASSET_ITEMS = ("vehicle", "houses", "savings")
NOTE_TEXTS = ("no_program", "above_lines", "assets", "missing_income", "requested_not_listed",
              "single_person", "supporter_unknown")   # also the order they are said in
TOP_TEXTS = ("standards_note_unverified", "residence_assumed", "emergency_default", "list_separator",
             "asset_separator",
             "areas.urban", "areas.rural", *(f"level_names.{n}" for n in range(1, 5)))
# Placeholders filled per use rather than per household.
USE_NAMES = frozenset({"household_programs", "program_list", "asset_list", "program_name"})
# A text quoting one of these is followed, once per assessment, by the standards note
# while config.toml has the figures unverified.
FIGURES = COUNTY_FIGURES | {"standard", "bianyuan_line", "savings_limit"}


def load_rule_files(directory: Path | None = None) -> list[Any]:
    """Parse rules.yaml and documents.yaml, raising KnowledgeError if either fails."""
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
    return docs


def check_rules(doc: dict, rules: Mapping[str, Any], base: Mapping[str, str],
                problems: list[str]) -> dict[str, dt.date]:
    """Check programs, effective dates and every text; return each rule's date."""
    effective = {}
    programs = doc.get("programs") if isinstance(doc.get("programs"), dict) else {}
    names = doc.get("program_names") if isinstance(doc.get("program_names"), dict) else {}
    for where, mapping in (("programs", programs), ("program_names", names)):
        for name in mapping:
            if name not in rules:
                problems.append(f"{RULES_FILE}: {where}.{name}: unknown program {name!r}")
    paths = list(TOP_TEXTS) + [f"program_names.{p}" for p in PROGRAMS]
    paths += [f"assets.{a}" for a in ASSET_ITEMS] + [f"notes.{n}" for n in NOTE_TEXTS]
    for rule in rules.values():
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
    # The last four are filled per household by EligibilityRules._values (rules.py).
    allowed = set(base) | Household.VALUE_NAMES | USE_NAMES | {
        "area", "residence_note", "emergency_description", "level_name"}
    for path in paths:
        check_text(lookup(doc, path), path, allowed, problems)
    return effective


def lookup(doc: Any, path: str) -> Any:
    """The value at a dotted path of a YAML document, or None."""
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def check_text(text: Any, path: str, allowed: set[str], problems: list[str]) -> None:
    """A non-empty text whose placeholders exist."""
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
        if name == "standards_note":
            problems.append(f"{where}: {{standards_note}} is added once by the assessment, "
                            "not by each text")
        else:
            problems.append(f"{where}: unknown placeholder {{{name}}}")


def placeholders(text: str) -> frozenset[str]:
    """The placeholder names of a (validated) text."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)
