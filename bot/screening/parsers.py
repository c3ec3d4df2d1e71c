"""Turn residents' free-text answers into the normalised slot values of contract.md.

One parser per answer kind (a slot's type), found through the _PARSERS
registry; the flow maps slots to kinds. The words residents use live in
knowledge/lexicon/answers.yaml — this module and its parts hold only the
mechanics. No parser raises on any text: what it cannot use comes back as a
Parsed with a problem key:

    empty, not_understood, ambiguous (two answers in one message), unsure
    (不知道), out_of_range, id_length, id_birth_date, id_check_digit,
    phone_length, unknown_township, missing_level (残疾 without its 级).

This is the public front: AnswerParsers, built from the vocabulary, combines
the parsers of bot/screening/parsing/ — registry (Parsed, the kind registry),
words (shared text helpers), vocabulary (answers.yaml's schema and check),
yes_no_choice, numbers (count, money, age), identity (ID, phone, name, text),
places (township, residence) and disability.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.errors import KnowledgeError
from bot.screening.parsing.disability import DisabilityParsers
from bot.screening.parsing.identity import IdentityParsers, id_check_digit
from bot.screening.parsing.numbers import NumberParsers
from bot.screening.parsing.places import PlaceParsers
from bot.screening.parsing.registry import _PARSERS, Parsed
from bot.screening.parsing.vocabulary import (
    _POLARITY,
    _SCHEMA,
    ANSWERS_FILE,
    check_vocabulary,
)
from bot.screening.parsing.words import _key, _Words
from bot.screening.parsing.yes_no_choice import YesNoChoiceParsers
from knowledge import KNOWLEDGE_DIR

__all__ = ["ANSWERS_FILE", "KINDS", "AnswerParsers", "Parsed", "check_vocabulary", "id_check_digit"]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class AnswerParsers(YesNoChoiceParsers, NumberParsers, IdentityParsers, PlaceParsers, DisabilityParsers):
    """Parsers for every answer kind, built from the answers vocabulary and the county's townships."""

    def __init__(self, vocabulary: dict, townships: tuple[str, ...]):
        problems = check_vocabulary(vocabulary)
        if problems:
            raise KnowledgeError(problems)
        self.townships = tuple(townships)
        v = {section: {k: [_key(w) for w in val] if isinstance(val, list) else val for k, val in body.items()}
             for section, body in vocabulary.items() if section in _SCHEMA}
        self._v = v
        yes_no = v["yes_no"]
        self._yes_no = _Words({w: _POLARITY[key] for key in _POLARITY for w in yes_no[key]}
                              | {w: (None, None) for w in yes_no["negators"] if not self._listed(w)})
        self._negators = frozenset(yes_no["negators"])
        self._digits = {str(k): bool(val) for k, val in yes_no["digits"].items()}
        choice = v["choice"]
        self._ordinal = re.compile("(?:{})?([0-9]+|[一二两三四五六七八九十]+)(?:{})?".format(
            "|".join(map(re.escape, choice["ordinal_prefixes"])) or "(?!)",
            "|".join(map(re.escape, choice["ordinal_suffixes"])) or "(?!)"))
        self._synonyms = {_key(k): [_key(w) for w in words] for k, words in choice["synonyms"].items()}
        numbers = v["numbers"]
        self._fillers = re.compile("(?<=[0-9零〇一二两俩三四五六七八九十百千万])(?:{})+(?=[十百千万亿])".format(
            "|".join(map(re.escape, numbers["approx_fillers"])) or "(?!)"))
        self._not_numbers = _Words(dict.fromkeys(numbers["not_numbers"], True))
        self._cues = _Words(dict.fromkeys(numbers["correction_cues"], "correction")
                            | dict.fromkeys(numbers["total_cues"], "total"))
        self._count_words = _Words({_key(k): int(n) for k, n in v["count"]["words"].items()})
        self._count_zero = _Words(dict.fromkeys(v["count"]["zero"], 0))
        self._money_words = _Words(dict.fromkeys(v["money"]["zero"], "zero")
                                   | dict.fromkeys(v["money"]["vague"], "vague"))
        self._residence = _Words({w: (kind.split("_")[0], kind.endswith("hukou"))
                                  for kind, words in v["residence"].items() for w in words})
        self._disability_yes = _Words(dict.fromkeys(v["disability"]["has_disability"], True))
        self._wrappers = sorted(vocabulary["name"]["wrappers"], key=len, reverse=True)
        self._index_townships(v["township"])

    def _listed(self, word: str) -> bool:
        """Whether a yes/no word has a meaning of its own (a negator alone may not)."""
        return any(word in self._v["yes_no"][key] for key in _POLARITY)

    @classmethod
    def from_knowledge(cls, townships: tuple[str, ...], directory: Path | None = None) -> AnswerParsers:
        """Build the parsers from knowledge/lexicon/answers.yaml; KnowledgeError if unreadable or invalid."""
        path = Path(directory or KNOWLEDGE_DIR) / ANSWERS_FILE
        try:
            vocabulary = yaml.load(path.read_bytes(), Loader=_Loader)
        except OSError as exc:
            raise KnowledgeError([f"{ANSWERS_FILE}: cannot read ({exc.strerror})"]) from None
        except yaml.YAMLError as exc:
            raise KnowledgeError([f"{ANSWERS_FILE}: not valid YAML ({exc})"]) from None
        return cls(vocabulary, tuple(townships))

    def parse(self, kind: str, text: str, choices: list[str] | None = None) -> Parsed:
        """Parse one answer of the given kind; ValueError for an unknown kind (a flow bug)."""
        parser = _PARSERS.get(kind)
        if parser is None:
            raise ValueError(f"unknown answer kind {kind!r}; known: {', '.join(sorted(_PARSERS))}")
        return parser(self, text if isinstance(text, str) else "", list(choices) if choices else None)


KINDS = frozenset(_PARSERS)
