"""Who the applicant is: resident ID number, mobile number, name, and free text kept as written."""
from __future__ import annotations

import datetime as dt
import re

from bot.screening.parsing.registry import Parsed, _fail, _good, _kind
from bot.screening.parsing.words import _CN_DIGITS, _compact, _key, _tidy
from bot.textnorm import normalize_text

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9x]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# a figure of a few digits with a unit of age, people, money or property: not a phone number
_OTHER_FIGURE = re.compile(r"(?<![0-9])[0-9][0-9十百千万]{0,6}(?:岁|周岁|口|个人|人|元|块|级|套|亩)")
_NAME_PUNCT = re.compile(r"[^\w\s·•]+")  # 阿卜杜·热合曼 keeps its dot
_SEPARATORS = re.compile(r"[\s\-–—_.()]+")


def id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character (0-9 or X) for the first 17 digits of an ID number."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


class IdentityParsers:
    """The id_number, phone, name and text parsers of AnswerParsers."""

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
        if _OTHER_FIGURE.search(clean):  # 她82岁, 三口人, 一千五百块: another question's answer, not a short number
            return _fail("other_subject")
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
            return _fail("not_understood" if _compact(clean) else "empty")  # 本人: a wrapper, no name
        if re.search(r"[0-9]", value) or len(value) > 20 or any(w in value for w in self._v["name"]["not_names"]):
            return _fail("not_understood")
        if self._who_not_name(_key(value)):
            return _fail("not_understood")
        return _good(value)

    def _who_not_name(self, word: str) -> bool:
        """我, 我奶奶, 她女儿, 我家老伴: who someone is, not what they are called."""
        pronouns = sorted(self._v["name"]["pronouns"], key=len, reverse=True)
        rest = word
        for _ in range(2):  # 我家 + 老伴
            lead = next((p for p in pronouns if rest.startswith(p)), "")
            rest = rest[len(lead):].removeprefix("的")
        return not rest or rest in self._v["name"]["relations"] or rest in pronouns

    @_kind("text")
    def _parse_text(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Any answer with a letter or digit in it (village, what happened), tidied but kept as written."""
        value = _tidy(text)
        if _key(value) in self._v["name"]["refusals"]:  # 跳过, 不想说: skipped, not what happened
            return _fail("not_understood")
        return _good(value) if any(ch.isalnum() for ch in value) else _fail("empty")
