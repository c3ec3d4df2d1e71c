"""Answers that are numbers: how many people or homes, how much money, how old."""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from bot.screening.parsing.registry import Parsed, _doubt, _fail, _good, _kind
from bot.screening.parsing.words import _CN_DIGITS, _PUNCT, _compact
from bot.textnorm import normalize_text, parse_chinese_number

_NUMERAL_RUN = re.compile(r"[0-9零〇一二两俩三四五六七八九十百千万亿.点]+")
# 三四千, 两三个, 五六十岁: neighbouring digits name a range (parse_chinese_number would read 34000)
_RANGE = re.compile(r"([一二两三四五六七八九])([二三四五六七八九])([十百千万亿].*)?")
_THOUSANDS = re.compile(r"(?<=[0-9]),(?=[0-9]{3}(?![0-9]))")
_SHORT_UNITS = re.compile(r"(?<=[0-9])\s*([wk])(?![a-z])")  # 2w, 3k in chat


@dataclass(frozen=True)
class _Number:
    """A number found in an answer and where it stands."""

    value: float
    start: int
    end: int
    spread: bool = False  # a range such as 三四千; value is its middle


class NumberParsers:
    """The count, money and age parsers of AnswerParsers, and the number finding they share."""

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
        if self._not_even_one(compact):
            return _good(0)  # 一间房都冇: not even one
        prepared, numbers = self._numbers(clean)
        measured = [n for n in numbers if _followed_by(prepared, n, self._v["count"]["not_count"])]
        if numbers and len(measured) == len(numbers):
            return _fail("not_understood")  # 儿子有残疾证，一级 at the house question: no count said
        numbers = [n for n in numbers if n not in measured]
        if not numbers:
            words = self._count_words.tags_in(compact) or self._count_zero.tags_in(compact)
            return _good(words.pop()) if len(words) == 1 else _fail("not_understood")
        number, _ = self._pick(prepared, numbers, self._v["count"]["people_units"], self._v["count"]["units"])
        if number.spread:
            return _fail("ambiguous")
        if not number.value.is_integer():
            return _fail("not_understood")
        if not 0 <= number.value <= 50:
            return _fail("out_of_range")
        if compact in self._v["count"]["doubtful_bare"]:  # a bare 1 or 2 may be the menu's 有 / 没有
            return _doubt(int(number.value))
        return _good(int(number.value))

    def _not_even_one(self, compact: str) -> bool:
        """'一X都没有' / '一个也冇': the one counted is the none there is."""
        at = compact.find("一")
        if at < 0:
            return False
        rest = compact[at + 1:]
        for marker in ("都", "也"):
            head, found, tail = rest.partition(marker)
            if found and len(head) <= 3 and any(tail.startswith(z) for z in ("没", "冇", "无", "莫")):
                return True
        return False

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
        if not 0 <= number.value <= 1e8:
            return _fail("out_of_range")
        bare = _compact(prepared) == _compact(prepared[number.start:number.end])
        if bare and 0 < number.value < self._v["money"]["doubtful_below"]:  # 1 is a menu number, not 1 元
            return _doubt(float(number.value))
        return _good(float(number.value))

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
        if not 1 <= value <= 120:
            return _fail("out_of_range")
        # a child applicant is possible (特困 covers minors) but a bare 2 is more often a menu number
        return _doubt(int(value)) if value < self._v["age"]["doubtful_below"] else _good(int(value))


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
