"""Turn residents' free-text answers into the normalised slot values of contract.md.

One parser per answer kind (a slot's type), found through the _PARSERS
registry; the flow maps slots to kinds. The words residents use live in
knowledge/lexicon/answers.yaml — this module and its parts hold only the
mechanics. A parser stores nothing the resident did not say: no parser raises
on any text, and what it cannot use comes back as a Parsed with a problem key:

    empty, not_understood, ambiguous (two answers in one message), unsure
    (不知道), out_of_range, id_length, id_birth_date, id_check_digit,
    phone_length, unknown_township, missing_level (残疾 without its 级);
    question — the reply only asks something (吃了低保养老金还有冇得领？): it
        answers no question, whatever 有/冇 it holds; the screener may answer it;
    confused — 啥意思, 么子, ？, 身份证在我崽那里冇带: the resident needs help with
        the current question (what it means, that 跳过 works), not a policy answer;
    ability_unclear — 下岗了 at the labour question: having no job says nothing of
        being able to work; the question is explained and asked again;
    emergency_mentioned — 屋里昨晚着火了 at another question: no answer to it; the
        screener may ask whether to record the emergency;
    readback — a plausible value the resident may not have meant (a bare 1 at a
        money question, age 2, a bare 1 or 2 house): Parsed.readback is True and
        Parsed.value holds it; the screener asks "您是说……吗？" and stores it only
        after a yes (AnswerParsers.confirms reads that reply).

This is the public front: AnswerParsers, built from the vocabulary, combines
the parsers of bot/screening/parsing/ — registry (Parsed, the kind registry),
words (shared text helpers), vocabulary (answers.yaml's schema and check),
yes_no_choice (yes/no, its topic kinds illness, emergency and car; choice),
ability (labor and supporter: what a person can do, told as circumstances),
numbers (count, money, age), identity (ID, phone, name, text), places (township,
village, residence), disability, and doubts (questions,
confusion and emergencies found in a reply, applied to every kind by parse).
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.errors import KnowledgeError
from bot.screening.parsing.ability import AbilityParsers
from bot.screening.parsing.disability import DisabilityParsers
from bot.screening.parsing.doubts import Doubts
from bot.screening.parsing.identity import IdentityParsers
from bot.screening.parsing.numbers import NumberParsers
from bot.screening.parsing.places import PlaceParsers
from bot.screening.parsing.registry import _PARSERS, Parsed, _fail
from bot.screening.parsing.vocabulary import (
    _POLARITY,
    _SCHEMA,
    ANSWERS_FILE,
    check_vocabulary,
)
from bot.screening.parsing.words import _compact, _key, _Words
from bot.screening.parsing.yes_no_choice import YesNoChoiceParsers
from bot.textnorm import normalize_text
from knowledge import KNOWLEDGE_DIR

__all__ = ["KINDS", "AnswerParsers", "Parsed"]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class AnswerParsers(YesNoChoiceParsers, AbilityParsers, NumberParsers, IdentityParsers, PlaceParsers,
                    DisabilityParsers):
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
        polar = ({w: _POLARITY[key] for key in _POLARITY for w in yes_no[key]}
                 | {w: (None, None) for w in yes_no["negators"] if not self._listed(w)})
        self._yes_no = _Words(polar)
        # the illness and emergency questions also take their own words as a yes
        self._topic_words = {topic: _Words(polar | dict.fromkeys(v["topics"][topic], (True, "strong")))
                             for topic in ("illness", "emergency")}
        self._doubts = Doubts(v)
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
        """Parse one answer of the given kind; ValueError for an unknown kind (a flow bug).

        Only what answers the question is parsed: question clauses are dropped first
        ("冇得车，低保能领多少？" is 冇得车), and a reply that is only a question, only
        confusion, or an emergency told at another question is a problem, not a value.
        """
        parser = _PARSERS.get(kind)
        if parser is None:
            raise ValueError(f"unknown answer kind {kind!r}; known: {', '.join(sorted(_PARSERS))}")
        text = text if isinstance(text, str) else ""
        choices = list(choices) if choices else None
        doubts = self._doubts
        rest, asked = doubts.without_questions(text)
        result = parser(self, rest, choices) if rest or not asked else _fail("question")
        if doubts.confused(text) and not (kind == "choice" and result.ok):  # 不懂 at the programme is 不清楚
            return _fail("confused")
        if kind in _NAMED and doubts.unavailable(text):  # 不记得了 is no village
            return _fail("confused")
        if kind in _NAMED and doubts.emergency(text):  # 屋里昨晚着火了 is no village either
            return _fail("emergency_mentioned")
        if result.ok or result.readback:
            return result
        if kind not in ("emergency", "text") and doubts.emergency(text):
            return _fail("emergency_mentioned")
        if doubts.unavailable(text):
            return _fail("confused")
        return _fail("question") if asked else result

    def confirms(self, text: str) -> bool | None:
        """The resident's reply to "您是说……吗？": True, False, or None when it is no plain yes or no.

        A reply with a number in it ("不是，两套") is a new answer, not a yes or no.
        """
        compact = _compact(normalize_text(text))
        if compact not in self._digits and _NUMERAL.search(compact):
            return None
        verdict = self._parse_yes_no(text)
        return verdict.value if verdict.ok else None


KINDS = frozenset(_PARSERS)
_NAMED = ("name", "village")  # open answers where "I can't say now" would pass as a value
_NUMERAL = re.compile(r"[0-9零〇一二两三四五六七八九十百千万]")
