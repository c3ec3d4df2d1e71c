"""The shape knowledge/lexicon/answers.yaml must have, and the check that reports every deviation."""
from __future__ import annotations

from typing import Any

from bot.screening.parsing.words import _key

ANSWERS_FILE = "lexicon/answers.yaml"
_SCHEMA: dict[str, dict[str, type]] = {
    "yes_no": {"affirm": list, "deny": list, "affirm_weak": list, "deny_weak": list, "negators": list,
               "neutral": list, "unsure": list, "clause_breaks": list, "digits": dict},
    "choice": {"ordinal_prefixes": list, "ordinal_suffixes": list, "synonyms": dict},
    "numbers": {"approx_fillers": list, "not_numbers": list, "correction_cues": list, "total_cues": list},
    "topics": {"illness": list, "illness_hints": list, "emergency": list, "policy": list, "supporter_unable": list,
               "supporter_away": list},
    "ability": {"past": list, "now": list, "labor_able": list, "labor_unable": list, "labor_limits": list,
                "job_status": list, "self": list, "relatives": list, "supporter_plain": list, "particles": list},
    "questions": {"words": list, "either_or": list, "particles": list, "soft_endings": list,
                  "indefinite_before": list,
                  "indefinite_after": list},
    "confused": {"words": list, "fillers": list, "unavailable": list},
    "count": {"people_units": list, "units": list, "not_count": list, "words": dict, "zero": list, "doubtful_bare": list},
    "money": {"units": list, "not_amount": list, "not_even": list, "zero": list, "vague": list,
              "approx": dict, "debt": list, "doubtful_below": int},
    "vehicle": {"car": list, "not_car": list},
    "age": {"age_units": list, "year_units": list, "doubtful_below": int},
    "residence": {"urban_hukou": list, "rural_hukou": list, "urban": list, "rural": list},
    "disability": {"level_suffix": list, "has_disability": list},
    "township": {"suffixes": list, "aliases": dict},
    "name": {"wrappers": list, "fillers": list, "trailing": list, "pronouns": list, "relations": list,
             "refusals": list},
    "village": {"wrappers": list, "trailing": list},
}
_POLARITY = {"affirm": (True, "strong"), "deny": (False, "strong"), "affirm_weak": (True, "weak"),
             "deny_weak": (False, "weak"), "neutral": (None, None), "unsure": ("unsure", None)}


def check_vocabulary(vocabulary: Any) -> list[str]:
    """Every problem with the answers vocabulary, each naming the file and key."""
    if not isinstance(vocabulary, dict):
        return [f"{ANSWERS_FILE}: must be a mapping"]
    problems = []
    for section, fields in _SCHEMA.items():
        body = vocabulary.get(section)
        if not isinstance(body, dict):
            problems.append(f"{ANSWERS_FILE}: {section}: missing section")
            continue
        for key, kind in fields.items():
            value, where = body.get(key), f"{ANSWERS_FILE}: {section}.{key}"
            if not isinstance(value, kind) or isinstance(value, bool):  # YAML's yes is no number
                problems.append(f"{where}: expected a {kind.__name__}")
            elif kind is list and not all(isinstance(w, str) and _key(w) for w in value):
                problems.append(f"{where}: every entry must be a word (quote yes/no: YAML reads booleans)")
    if not problems:
        seen: dict[str, str] = {}
        for key in _POLARITY:
            for word in map(_key, vocabulary["yes_no"][key]):
                if seen.setdefault(word, key) != key:
                    problems.append(f"{ANSWERS_FILE}: yes_no: {word!r} is in both {seen[word]} and {key}")
        for key, words in vocabulary["choice"]["synonyms"].items():
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                problems.append(f"{ANSWERS_FILE}: choice.synonyms.{key}: must be a list of words")
        for where, mapping, kind in (("count.words", vocabulary["count"]["words"], int),
                                     ("yes_no.digits", vocabulary["yes_no"]["digits"], bool),
                                     ("township.aliases", vocabulary["township"]["aliases"], str)):
            if any(type(val) is not kind for val in mapping.values()):  # True is an int to isinstance
                problems.append(f"{ANSWERS_FILE}: {where}: every value must be a {kind.__name__}")
    return problems
