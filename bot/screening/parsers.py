"""Turn residents' free-text answers into the normalised slot values of contract.md.

One parser per answer kind (a slot's type), found through the _PARSERS
registry; the flow maps slots to kinds. The words residents use live in
knowledge/lexicon/answers.yaml — this module holds only the mechanics. No
parser raises on any text: what it cannot use comes back as a Parsed with a
problem key:

    empty, not_understood, ambiguous (two answers in one message), unsure
    (不知道), out_of_range, id_length, id_birth_date, id_check_digit,
    phone_length, unknown_township, missing_level (残疾 without its 级).
"""
from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from itertools import islice, product
from pathlib import Path
from typing import Any, Callable

import yaml

from bot.errors import KnowledgeError
from bot.matching.pinyin import fuzzy_syllable
from bot.textnorm import normalize_text, parse_chinese_number
from knowledge import KNOWLEDGE_DIR

ANSWERS_FILE = "lexicon/answers.yaml"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9x]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_CN_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")  # ID and phone read out digit by digit
_NUMERAL_RUN = re.compile(r"[0-9零〇一二两俩三四五六七八九十百千万亿.点]+")
# 三四千, 两三个, 五六十岁: neighbouring digits name a range (parse_chinese_number would read 34000)
_RANGE = re.compile(r"([一二两三四五六七八九])([二三四五六七八九])([十百千万亿].*)?")
_THOUSANDS = re.compile(r"(?<=[0-9]),(?=[0-9]{3}(?![0-9]))")
_SHORT_UNITS = re.compile(r"(?<=[0-9])\s*([wk])(?![a-z])")  # 2w, 3k in chat
_PUNCT = re.compile(r"[^\w\s]+")
_NAME_PUNCT = re.compile(r"[^\w\s·•]+")  # 阿卜杜·热合曼 keeps its dot
_NON_WORD = re.compile(r"[\W_]+")
_SEPARATORS = re.compile(r"[\s\-–—_.()]+")
_LATIN = re.compile(r"[a-z]+")
_LATIN_FOLDS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ng", "n"), ("l", "n"), ("f", "h"))
_SCHEMA: dict[str, dict[str, type]] = {
    "yes_no": {"affirm": list, "deny": list, "affirm_weak": list, "deny_weak": list, "negators": list,
               "neutral": list, "unsure": list, "clause_breaks": list, "digits": dict},
    "choice": {"ordinal_prefixes": list, "ordinal_suffixes": list, "synonyms": dict},
    "numbers": {"approx_fillers": list, "not_numbers": list, "correction_cues": list, "total_cues": list},
    "count": {"people_units": list, "units": list, "words": dict, "zero": list},
    "money": {"units": list, "not_amount": list, "not_even": list, "zero": list, "vague": list,
              "approx": dict, "debt": list},
    "vehicle": {"car": list, "not_car": list},
    "age": {"age_units": list, "year_units": list},
    "residence": {"urban_hukou": list, "rural_hukou": list, "urban": list, "rural": list},
    "disability": {"level_suffix": list, "has_disability": list},
    "township": {"suffixes": list, "aliases": dict},
    "name": {"wrappers": list, "fillers": list, "trailing": list},
}
_POLARITY = {"affirm": (True, "strong"), "deny": (False, "strong"), "affirm_weak": (True, "weak"),
             "deny_weak": (False, "weak"), "neutral": (None, None), "unsure": ("unsure", None)}


@dataclass(frozen=True)
class Parsed:
    """One parsed answer: the normalised value, or the problem that stopped it."""

    ok: bool
    value: Any = None
    problem: str | None = None


@dataclass(frozen=True)
class _Number:
    """A number found in an answer and where it stands."""

    value: float
    start: int
    end: int
    spread: bool = False  # a range such as 三四千; value is its middle


class _Words:
    """Known words → tags, found longest first from left to right."""

    def __init__(self, tags: dict[str, Any]):
        self.tags = {word: tag for word, tag in tags.items() if word}
        self.longest = max(map(len, self.tags), default=0)

    def scan(self, text: str) -> list[tuple[int, int, Any]]:
        """(start, end, tag) of every known word, without overlaps."""
        found, i = [], 0
        while i < len(text):
            for j in range(min(len(text), i + self.longest), i, -1):
                if text[i:j] in self.tags:
                    found.append((i, j, self.tags[text[i:j]]))
                    i = j
                    break
            else:
                i += 1
        return found

    def tags_in(self, text: str) -> set:
        """The tags of the words found in text."""
        return {tag for _, _, tag in self.scan(text)}


_PARSERS: dict[str, Callable[..., Parsed]] = {}


def _kind(name: str) -> Callable:
    """Register the decorated method as the parser of one answer kind."""
    def register(method: Callable) -> Callable:
        """Remember the method under its kind."""
        _PARSERS[name] = method
        return method
    return register


def _good(value: Any) -> Parsed:
    """An understood answer."""
    return Parsed(True, value)


def _fail(problem: str) -> Parsed:
    """An answer that cannot be used, and why."""
    return Parsed(False, None, problem)


def _compact(text: str) -> str:
    """Letters, digits and characters only: what word matching compares."""
    return _NON_WORD.sub("", text)


def _key(word: Any) -> str:
    """A vocabulary word in the form answers are compared in."""
    return _compact(normalize_text(str(word)))


def _tidy(text: str) -> str:
    """NFKC, no control or format characters, single spaces; case and punctuation kept."""
    text = unicodedata.normalize("NFKC", text)
    kept = (ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    return " ".join("".join(kept).split())


def id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character (0-9 or X) for the first 17 digits of an ID number."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


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
            if not isinstance(value, kind):
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


class AnswerParsers:
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

    # ---- yes / no -----------------------------------------------------------------
    @_kind("yes_no")
    def _parse_yes_no(self, text: str, choices: list[str] | None = None) -> Parsed:
        """有/没有, 同意/不同意, 能/干不了: the last clause with a clear answer decides; a no wins inside it."""
        clean = normalize_text(text)
        compact = _compact(clean)
        if not compact:
            return _fail("empty")
        if compact in self._digits:
            return _good(self._digits[compact])
        for word in self._v["yes_no"]["clause_breaks"]:
            clean = clean.replace(word, ",")
        clauses = [_compact(c) for c in _PUNCT.split(clean) if _compact(c)]
        lead = self._leading_answer(clauses)
        if lead is not None:
            return _good(lead)
        signals = [self._clause_signals(c) for c in clauses]
        # content words (有, 没有, 干不了, 白血病) outrank bare 对/好/不是: "对，没有" is a no
        for level in ("strong", "weak"):
            for found in reversed(signals):
                polarities = {p for p, lv in found if lv == level}
                if polarities:
                    return _good(False not in polarities)
        if any(p == "unsure" for found in signals for p, _ in found):
            return _fail("unsure")
        return _fail("not_understood")

    def _leading_answer(self, clauses: list[str]) -> bool | None:
        """'冇，病是去年查出来的': a bare 有/冇 first answers the question; what follows explains —
        unless it says the opposite in so many words ('没有，老婆有糖尿病' is a yes)."""
        if len(clauses) < 2:
            return None
        polar = self._v["yes_no"]["polar"]
        first = clauses[0]
        if first not in polar:
            return None
        answer = bool(polar[first])
        # only an explicit 有/没有 later on contradicts it (是 is also just a copula)
        opposite = ("有", "能") if not answer else ("没有", "冇", "没", "无", "不能")
        rest = "".join(clauses[1:])
        return None if any(w in rest for w in opposite) else answer

    def _clause_signals(self, clause: str) -> list[tuple[Any, str | None]]:
        """(polarity, level) of each word of one clause; a negator turns the yes word after it into a no."""
        tokens = self._yes_no.scan(clause)
        out, i = [], 0
        while i < len(tokens):
            start, end, tag = tokens[i]
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            negated = nxt and nxt[2] == (True, "strong") and nxt[0] - end <= 2
            if clause[start:end] in self._negators and negated:
                out.append((False, "strong"))  # 冇大病, 没什么病, 没有劳动能力
                i += 2
                continue
            out.append(tag)
            i += 1
        return out

    # ---- choices ------------------------------------------------------------------
    @_kind("choice")
    def _parse_choice(self, text: str, choices: list[str] | None = None) -> Parsed:
        """One of the flow's options by number, label or synonym; the value is its 0-based index."""
        if not choices:
            raise ValueError("answer kind 'choice' needs the list of choices")
        compact = _compact(normalize_text(text))
        if not compact:
            return _fail("empty")
        match = self._ordinal.fullmatch(compact)
        number = parse_chinese_number(match.group(1)) if match else None
        if number is not None and math.isfinite(number):
            return _good(int(number) - 1) if 1 <= number <= len(choices) else _fail("out_of_range")
        terms = self._choice_terms(choices)
        hits = _Words(terms).tags_in(compact)
        if not hits and compact.isascii():  # dibao, linshi: typed pinyin
            hits = _Words({_pinyin_key(t): i for t, i in terms.items()}).tags_in(compact)
        if not hits and len(compact) >= 2:  # 临时 for 临时救助（突发困难）
            hits = {i for t, i in terms.items() if compact in t}
        if len(hits) == 1:
            return _good(hits.pop())
        return _fail("ambiguous" if hits else "not_understood")

    def _choice_terms(self, choices: list[str]) -> dict[str, int]:
        """Every name of each option: the label, its parts, and the synonyms of the word it is built on."""
        terms: dict[str, int] = {}
        for index, label in enumerate(choices):
            clean = normalize_text(str(label))
            full = _compact(clean)
            # 低保边缘家庭 is built on 低保边缘, not 低保: the longest vocabulary key it contains
            key = max((k for k in self._synonyms if k and k in full), key=len, default=None)
            extra = [key, *self._synonyms[key]] if key else []
            for term in [full, *map(_compact, _PUNCT.split(clean)), *extra]:
                if term:
                    terms.setdefault(term, index)
        return terms

    # ---- numbers ------------------------------------------------------------------
    def _numbers(self, clean: str) -> tuple[str, list[_Number]]:
        """The numbers in an answer, with the prepared text their positions refer to."""
        text = _THOUSANDS.sub("", clean)
        text = _SHORT_UNITS.sub(lambda m: "万" if m.group(1) == "w" else "千", text)
        text = self._fillers.sub("", text)  # 十来万 → 十万
        masked = text
        for start, end, _ in self._not_numbers.scan(text):  # 一起, 一直: not the number one
            masked = masked[:start] + "_" * (end - start) + masked[end:]
        found = []
        for match in _NUMERAL_RUN.finditer(masked):
            start, end = match.span()
            while start < end and masked[start] in ".点":
                start += 1
            while end > start and masked[end - 1] in ".点":  # 一点 is "a bit", not 1.
                end -= 1
            read = _read_number(masked[start:end])
            if read:
                # a minus sign, not the dash of a range (1-2个)
                negative = start > 0 and masked[start - 1] in "-负" and not masked[max(start - 2, 0)].isdigit()
                found.append(_Number(-read[0] if negative else read[0], start, end, read[1]))
        return text, found

    def _pick(self, text: str, numbers: list[_Number], *preferred: list[str]) -> tuple[_Number, bool]:
        """The number the answer is about and whether a cue chose it: after a correction the last,
        after a total the first following, else the first followed by a preferred unit."""
        cues = self._cues.scan(text)
        if any(tag == "correction" for _, _, tag in cues):
            return numbers[-1], True
        totals = [end for _, end, tag in cues if tag == "total"]
        following = [n for n in numbers if totals and n.start >= totals[-1]]
        if following:
            return following[0], True
        for units in preferred:
            for number in numbers:
                if _followed_by(text, number, units):
                    return number, False
        return numbers[0], False

    @_kind("count")
    def _parse_count(self, text: str, choices: list[str] | None = None) -> Parsed:
        """People or homes: 五个人 → 5, 就我一个 → 1, 一栋老屋 → 1, 冇 → 0."""
        clean = normalize_text(text)
        compact = _compact(clean)
        if not compact:
            return _fail("empty")
        prepared, numbers = self._numbers(clean)
        if not numbers:
            words = self._count_words.tags_in(compact) or self._count_zero.tags_in(compact)
            return _good(words.pop()) if len(words) == 1 else _fail("not_understood")
        number, _ = self._pick(prepared, numbers, self._v["count"]["people_units"], self._v["count"]["units"])
        if number.spread:
            return _fail("ambiguous")
        if not number.value.is_integer():
            return _fail("not_understood")
        return _good(int(number.value)) if 0 <= number.value <= 50 else _fail("out_of_range")

    @_kind("money")
    def _parse_money(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Yuan: 一个月一千八左右 → 1800, 3.5万 → 35000, 八百多 → 800, 两千块都冇 → 0, 冇 → 0."""
        clean = normalize_text(text)
        compact = _compact(clean)
        if not compact:
            return _fail("empty")
        prepared, numbers = self._numbers(clean)
        debts = [c for c in _PUNCT.split(prepared) if any(d in c for d in self._v["money"]["debt"])]
        numbers = [n for n in numbers if not any(prepared[n.start:n.end] in c for c in debts)]  # 欠了两万
        vague = [(s, e) for s, e, tag in self._money_words.scan(prepared) if tag == "vague"]
        numbers = [n for n in numbers if not _followed_by(prepared, n, self._v["money"]["not_amount"])
                   and not any(s <= n.start < e for s, e in vague)]  # 几千 says little
        if not numbers:
            for word, value in self._v["money"]["approx"].items():  # 几百块 → about 500
                if word in compact:
                    return _good(float(value))
            tags = self._money_words.tags_in(compact)
            return _good(0.0) if tags == {"zero"} else _fail("not_understood")
        for number in numbers:
            after = prepared[number.end:].lstrip()
            after = after[len(next((u for u in self._v["money"]["units"] if after.startswith(u)), "")):]
            if after.lstrip().startswith(tuple(self._v["money"]["not_even"])):
                return _good(0.0)  # 两千块都冇: not even that, so nothing to count
        number, by_cue = self._pick(prepared, numbers)
        if not by_cue:
            marked = [n for n in numbers if _followed_by(prepared, n, self._v["money"]["units"])
                      or any(c in prepared[n.start:n.end] for c in "百千万亿")]
            pool = marked or numbers
            if len({n.value for n in pool}) > 1:
                return _fail("ambiguous")  # 我两千，老婆一千五: ask for the household total
            number = pool[-1]
        return _good(float(number.value)) if 0 <= number.value <= 1e8 else _fail("out_of_range")

    @_kind("car")
    def _parse_car(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Owns a car? '只有一部电动车' is a no: motorbikes, e-bikes and disability scooters do not count."""
        compact = _compact(normalize_text(text))
        words = self._v["vehicle"]
        if any(w in compact for w in words["not_car"]) and not any(w in compact for w in words["car"]):
            return _good(False)
        return self._parse_yes_no(text, choices)

    @_kind("age")
    def _parse_age(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Years: 47, 六十八, 56岁, 七十多了; a birth year (1958年) gives the age this year."""
        clean = normalize_text(text)
        if not _compact(clean):
            return _fail("empty")
        prepared, numbers = self._numbers(clean)
        if not numbers:
            return _fail("not_understood")
        aged = [n for n in numbers if _followed_by(prepared, n, self._v["age"]["age_units"])]
        number = (aged or numbers)[0]
        if number.spread:
            return _fail("ambiguous")
        value, this_year = number.value, dt.date.today().year
        born_in = _followed_by(prepared, number, self._v["age"]["year_units"]) or 1900 <= value <= this_year
        if not aged and born_in:
            year = int(value) if value >= 100 else int(value) + (2000 if value <= this_year % 100 else 1900)
            value = this_year - year
        return _good(int(value)) if 0 <= value <= 120 else _fail("out_of_range")

    # ---- identity -----------------------------------------------------------------
    @_kind("id_number")
    def _parse_id_number(self, text: str, choices: list[str] | None = None) -> Parsed:
        """18-character resident ID (GB 11643-1999): length, birth date and check digit verified."""
        clean = _SEPARATORS.sub("", normalize_text(text).translate(_CN_DIGITS))
        if not clean:
            return _fail("empty")
        runs = re.findall(r"[0-9]+x?", clean)
        whole = [r for r in runs if len(r) == 18]
        candidate = whole[0] if len(whole) == 1 else "".join(runs)
        if not candidate:
            return _fail("not_understood")
        if len(candidate) != 18:
            return _fail("id_length")
        if not _ID_SHAPE.fullmatch(candidate):
            return _fail("not_understood")
        try:
            born = dt.date(int(candidate[6:10]), int(candidate[10:12]), int(candidate[12:14]))
        except ValueError:
            return _fail("id_birth_date")
        if not dt.date(1900, 1, 1) <= born <= dt.date.today():
            return _fail("id_birth_date")
        if id_check_digit(candidate[:17]) != candidate[17].upper():
            return _fail("id_check_digit")
        return _good(candidate.upper())

    @_kind("phone")
    def _parse_phone(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Mainland mobile number, 11 digits from 13-19; spaces, dashes and +86 allowed."""
        clean = _SEPARATORS.sub("", normalize_text(text).translate(_CN_DIGITS))
        if not clean:
            return _fail("empty")
        runs = re.findall(r"[0-9]+", clean)
        for digits in [*runs, "".join(runs)]:
            for prefix in ("", "86", "0086"):
                if digits.startswith(prefix) and _MOBILE.fullmatch(digits[len(prefix):]):
                    return _good(digits[len(prefix):])
        digits = "".join(runs)
        if not digits:
            return _fail("not_understood")
        return _fail("not_understood" if len(digits) == 11 else "phone_length")

    @_kind("name")
    def _parse_name(self, text: str, choices: list[str] | None = None) -> Parsed:
        """The applicant's name without its wrapper: 我叫黄春生 → 黄春生, 名字是谢玉莲 → 谢玉莲."""
        clean = _tidy(text)
        cut = max(((clean.rfind(w) + len(w)) for w in self._wrappers if w in clean), default=0)
        fillers = set(self._v["name"]["fillers"])
        parts = [p.strip() for p in _NAME_PUNCT.split(clean[cut:])]
        value = next((p for p in parts if p and _key(p) not in fillers), "")
        for word in self._v["name"]["trailing"]:
            if value.endswith(word) and len(value) > len(word) + 1:
                value = value[: -len(word)].rstrip()
        value = re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", value)
        if not _compact(value):
            return _fail("empty")
        return _fail("not_understood") if re.search(r"[0-9]", value) or len(value) > 20 else _good(value)

    @_kind("text")
    def _parse_text(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Any answer with a letter or digit in it (village, what happened), tidied but kept as written."""
        value = _tidy(text)
        return _good(value) if any(ch.isalnum() for ch in value) else _fail("empty")

    # ---- places and households ----------------------------------------------------
    def _index_townships(self, vocab: dict) -> None:
        """Names, stems (崇贤), aliases and pinyin readings of every configured township."""
        from pypinyin import Style, pinyin

        names: dict[str, str] = {}
        self._town_readings: dict[str, set[tuple[str, ...]]] = {}
        for name in self.townships:
            cut = next((len(s) for s in vocab["suffixes"] if name.endswith(s) and len(name) > len(s) + 1), 0)
            stem = name[: len(name) - cut]
            names[_key(name)] = names[_key(stem)] = name
            # every reading of a heteronym: 长冈 is chang gang, though lazy_pinyin says zhang
            readings = pinyin(stem, style=Style.NORMAL, heteronym=True, errors="ignore")
            self._town_readings[name] = {r for r in islice(product(*readings), 16) if len(r) >= 2}
        for alias, target in vocab["aliases"].items():
            if target in self.townships:
                names.setdefault(_key(alias), target)
        self._town_names = _Words(names)

    @_kind("township")
    def _parse_township(self, text: str, choices: list[str] | None = None) -> Parsed:
        """A configured township, by name, stem (崇贤), inside an address, typed pinyin or homophone typo."""
        compact = _compact(normalize_text(text))
        if not compact:
            return _fail("empty")
        hits = self._town_names.tags_in(compact) or self._sounds_like_township(compact)
        return _good(hits.pop()) if len(hits) == 1 else _fail("unknown_township")

    def _sounds_like_township(self, compact: str) -> set[str]:
        """Townships whose stem sounds like part of the answer, strictly first, then with southern merges."""
        from pypinyin import Style, lazy_pinyin

        latin = "".join(_LATIN.findall(compact))
        hanzi = "".join(ch for ch in compact if "\u4e00" <= ch <= "\u9fff")
        syllables = lazy_pinyin(hanzi, style=Style.NORMAL) if hanzi else []
        for loose in (False, True):
            hits = set()
            for name, readings in self._town_readings.items():
                for reading in readings:
                    if latin and _fold_latin("".join(reading), loose) in _fold_latin(latin, loose):
                        hits.add(name)
                    if len(syllables) >= len(reading) and _has_run(syllables, reading, loose):
                        hits.add(name)
            if hits:
                return hits
        return set()

    @_kind("residence")
    def _parse_residence(self, text: str, choices: list[str] | None = None) -> Parsed:
        """城镇/农村 household → 'urban'/'rural'; 户口 words outrank where one lives; a digit picks a choice."""
        found = self._residence.scan(_compact(normalize_text(text)))
        for hukou in (True, False):
            kinds = {kind for _, _, (kind, is_hukou) in found if is_hukou == hukou}
            if kinds:
                return _good(kinds.pop()) if len(kinds) == 1 else _fail("ambiguous")
        if choices:
            picked = self._parse_choice(text, choices)
            if picked.ok:
                return self._parse_residence(choices[picked.value])
        return _fail("empty" if not _compact(normalize_text(text)) else "not_understood")

    @_kind("disability_level")
    def _parse_disability_level(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Certificate level 1–4, the most severe (lowest) if several; None when nobody has one."""
        clean = normalize_text(text)
        if not _compact(clean):
            return _fail("empty")
        prepared, numbers = self._numbers(clean)
        levels = [n for n in numbers if _followed_by(prepared, n, self._v["disability"]["level_suffix"])]
        if not levels and len(numbers) == 1:
            run = prepared[numbers[0].start:numbers[0].end]
            levels = numbers if _compact(prepared) == _compact(run) else []  # a bare "4"
        if levels:
            if any(n.spread for n in levels):
                return _fail("ambiguous")
            values = {n.value for n in levels}
            return _good(int(min(values))) if values <= {1, 2, 3, 4} else _fail("out_of_range")
        verdict = self._parse_yes_no(text)
        if verdict.ok and verdict.value is False:
            return _good(None)
        if verdict.ok or self._disability_yes.scan(_compact(clean)):
            return _fail("missing_level")
        return _fail(verdict.problem or "not_understood")


KINDS = frozenset(_PARSERS)


def _read_number(run: str) -> tuple[float, bool] | None:
    """(value, is_range) of one numeral run, or None when it is not a number."""
    match = _RANGE.fullmatch(run)
    if match and int(match[2].translate(_CN_DIGITS)) == int(match[1].translate(_CN_DIGITS)) + 1:
        low = parse_chinese_number(match[1] + (match[3] or ""))
        high = parse_chinese_number(match[2] + (match[3] or ""))
        if low is not None and high is not None:
            return (low + high) / 2, True
    value = parse_chinese_number(run)
    return (value, False) if value is not None and math.isfinite(value) else None


def _followed_by(text: str, number: _Number, words: list[str]) -> bool:
    """Whether one of the words comes right after the number (spaces allowed)."""
    return bool(words) and text[number.end:].lstrip().startswith(tuple(words))


def _pinyin_key(term: str) -> str:
    """Toneless pinyin of a term, run together: 低保 → dibao."""
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(term, style=Style.NORMAL))


def _fold_latin(text: str, loose: bool) -> str:
    """Typed pinyin with the sounds southern speakers merge folded together (when loose)."""
    if loose:
        for long, short in _LATIN_FOLDS:
            text = text.replace(long, short)
    return text


def _has_run(syllables: list[str], reading: tuple[str, ...], loose: bool) -> bool:
    """Whether the reading occurs as consecutive syllables (fuzzily compared when loose)."""
    fold = fuzzy_syllable if loose else (lambda s: s)
    want = [fold(s) for s in reading]
    have = [fold(s) for s in syllables]
    return any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))
