"""Clean up what residents type before anything tries to understand it.

NFKC folds full-width letters and digits (ｄｉｂａｏ, １２３) into ASCII; control
characters, zero-width marks and emoji are dropped; runs of whitespace become
one space. Chinese numerals with a unit (两千五, 一千二百, 1千8) become digits so
"六十岁" and "60岁" read the same.

A message is cleaned once: the engine wraps what a resident sent in a
`MessageText`, which carries the clean form with it, and every reader down
the line (commands, numbered choices, the matcher, the answer parsers) gets
it from there. Nothing here remembers residents' text beyond that one value.
"""
from __future__ import annotations

import re
import unicodedata
from functools import cached_property

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9, "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5,
           "陆": 6, "柒": 7, "捌": 8, "玖": 9}
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG = {"万": 10_000, "亿": 100_000_000}
_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS) + "".join(_BIG)
# A numeral run worth converting has a unit in it, or is at least two digits
# long: a lone 一 in 一下 or 一起 is not a number.
_NUMERAL_RUN = re.compile(rf"[0-9{_NUMERAL_CHARS}点.]+")
_SPACES = re.compile(r"\s+")
# Most questions are only these characters: common CJK, CJK punctuation, printable ASCII
# but ^ and ` (modifier symbols, dropped), and what NFKC maps to one of them: full-width
# ASCII (，？１Ａ, not ＾ or ｀) and the ideographic space. None of them composes, so NFKD
# gives what NFKC would, without NFKC's composition pass (its cost: bench/README.md), and
# no per-character filter is needed.
_PLAIN = re.compile(r"[\u4e00-\u9fff\u3000-\u3003\u3008-\u3011\u3014-\u301f !-\]_a-~"
                    r"\uff01-\uff3d\uff3f\uff41-\uff5e]*")
_NOT_WORD = re.compile(r"[\s\W_]+")


class MessageText(str):
    """One message as the resident sent it (it is that string) and its clean form, worked out once.

    A str, so every reader that takes text reads it unchanged; `normalize_text` of a
    MessageText is its `clean` form without working it out again. A slice or a
    replacement is a plain str again, cleaned when asked. The value lives as long as
    the message is handled: no cache outlives it.
    """

    @property
    def raw(self) -> str:
        """The text as sent."""
        return str(self)

    @cached_property
    def clean(self) -> str:
        """normalize_text of the message."""
        return _normalize(self)

    @cached_property
    def compact(self) -> str:
        """The clean text without spaces and punctuation: how command words are compared."""
        return _NOT_WORD.sub("", self.clean)


def normalize_text(text: str) -> str:
    """NFKC, drop control/format/emoji characters, collapse whitespace, lowercase."""
    if type(text) is MessageText:
        return text.clean
    return _normalize(text)


def compact_text(text: str) -> str:
    """normalize_text without spaces and punctuation (a MessageText has it already)."""
    if type(text) is MessageText:
        return text.compact
    return _NOT_WORD.sub("", _normalize(text))


def _normalize(text: str) -> str:
    if _PLAIN.fullmatch(text):
        return _SPACES.sub(" ", unicodedata.normalize("NFKD", text)).strip().lower()
    return _filter_characters(unicodedata.normalize("NFKC", text))


def _filter_characters(text: str) -> str:
    """normalize_text after NFKC, character by character (what the _PLAIN shortcut must equal)."""
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r ":
            kept.append(" ")
        elif cat[0] == "C" or cat == "So" or cat == "Sk" or cat[0] == "M" and not kept:
            continue  # control, format (zero-width), private use, symbols/emoji
        else:
            kept.append(ch)
    return _SPACES.sub(" ", "".join(kept)).strip().lower()


def parse_chinese_number(token: str) -> float | None:
    """'两千五' → 2500, '1千8' → 1800, '一点五' → 1.5, '3.5万' → 35000; None if not a number."""
    token = token.strip().replace("点", ".")
    if not token:
        return None
    try:
        return float(token)
    except ValueError:
        pass
    if "." in token:
        unit = _UNITS.get(token[-1]) or _BIG.get(token[-1])
        if unit:  # 3.5万, 一点五万: a decimal count of the unit
            head = parse_chinese_number(token[:-1])
            return None if head is None else round(head * unit, 6)  # 1.1*10000 is not 11000.0
        whole, _, frac = token.partition(".")
        w = parse_chinese_number(whole) if whole else 0.0
        digits = "".join(str(_DIGITS[c]) if c in _DIGITS else c for c in frac)
        if w is None or not digits.isdigit():
            return None
        return w + float("0." + digits)
    total = section = 0.0
    number: float | None = None
    last_unit: float | None = None
    after_unit = False  # the pending number came right after a unit: 两千五
    i = 0
    while i < len(token):
        ch = token[i]
        if "0" <= ch <= "9":  # (str.isdigit is true for ¹ and ٣, which float() refuses: found by fuzzing)
            j = i
            while j < len(token) and "0" <= token[j] <= "9":
                j += 1
            value, i = float(token[i:j]), j
            after_unit, number = last_unit is not None and number is None, value
            continue
        i += 1
        if ch in ("零", "〇"):
            last_unit, number, after_unit = None, None, False
        elif ch in _DIGITS:
            if number is not None and not after_unit:
                number = number * 10 + _DIGITS[ch]  # 二五 → 25
            else:
                after_unit, number = last_unit is not None, float(_DIGITS[ch])
        elif ch in _UNITS:
            section += (1 if number is None else number) * _UNITS[ch]
            number, last_unit, after_unit = None, _UNITS[ch], False
        elif ch in _BIG:
            total += ((section + (number or 0)) or 1) * _BIG[ch]
            section, number, last_unit, after_unit = 0.0, None, _BIG[ch], False
        else:
            return None
    if number is not None and after_unit and last_unit and last_unit >= 100:
        number *= last_unit / 10  # a bare digit after 百/千/万 counts in the next unit down
    return total + section + (number or 0)


def normalize_numbers(text: str) -> str:
    """Replace Chinese numeral runs that clearly are numbers with digits."""
    def convert(match: re.Match) -> str:
        run = match.group(0)
        has_unit = any(c in run for c in "十拾百佰千仟万亿")
        has_cjk_digit = any(c in _DIGITS for c in run)
        if not has_cjk_digit and not has_unit:
            return run
        if not has_unit and sum(c in _DIGITS for c in run) < 2:
            return run
        value = parse_chinese_number(run.strip("点."))
        if value is None:
            return run
        return f"{value:.0f}" if value.is_integer() else f"{value:g}"
    return _NUMERAL_RUN.sub(convert, text)
