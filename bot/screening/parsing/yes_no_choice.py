"""Closed questions: yes/no (and the car, illness and emergency questions built on it) and a choice among the flow's options."""
from __future__ import annotations

import math
from typing import Any

from bot.screening.parsing.registry import Parsed, _doubt, _fail, _good, _kind
from bot.screening.parsing.words import _PUNCT, _compact, _Words
from bot.textnorm import normalize_text, parse_chinese_number


class YesNoChoiceParsers:
    """The yes_no, choice and car parsers of AnswerParsers."""

    # ---- yes / no -----------------------------------------------------------------
    @_kind("yes_no")
    def _parse_yes_no(self, text: str, choices: list[str] | None = None, topic: str | None = None) -> Parsed:
        """有/没有, 同意/不同意, 能/干不了: the last clause with a clear answer decides; a no wins inside it.

        With a topic (a question about the household: illness, car …) the topic's own words
        are a yes too, and a clause naming a programme ("有低保") answers nothing.
        """
        clean = normalize_text(text)
        compact = _compact(clean)
        if not compact:
            return _fail("empty")
        if compact in self._digits:
            return _good(self._digits[compact])
        for word in self._v["yes_no"]["clause_breaks"]:
            clean = clean.replace(word, ",")
        clauses = [_compact(c) for c in _PUNCT.split(clean) if _compact(c)]
        if topic:
            clauses = [c for c in clauses if not any(w in c for w in self._v["topics"]["policy"])]
        lead = self._leading_answer(clauses)
        if lead is not None:
            return _good(lead)
        scanner = self._topic_words.get(topic, self._yes_no)
        signals = [self._clause_signals(c, scanner) for c in clauses]
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

    def _clause_signals(self, clause: str, scanner: _Words) -> list[tuple[Any, str | None]]:
        """(polarity, level) of each word of one clause; a negator turns the yes word after it into a no."""
        tokens = scanner.scan(clause)
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

    @_kind("car")
    def _parse_car(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Owns a car? '只有一部电动车' is a no: motorbikes, e-bikes and disability scooters do not count."""
        compact = _compact(normalize_text(text))
        words = self._v["vehicle"]
        if any(w in compact for w in words["not_car"]) and not any(w in compact for w in words["car"]):
            return _good(False)
        return self._parse_yes_no(text, choices, topic="car")

    # The household's own facts: a programme named in a clause is no answer to them.
    @_kind("illness")
    def _parse_illness(self, text: str, choices: list[str] | None = None) -> Parsed:
        """A serious or chronic illness in the household? 孩子白血病, 有高血压 → yes; 冇大病 → no.

        A hint that is no illness named (老伴身体不好, 有个儿子，残疾了, 有，腰不好) is read back
        as a yes — never a no because of the 不好, nor a yes because of the 有.
        """
        parsed = self._parse_yes_no(text, choices, topic="illness")
        compact = _compact(normalize_text(text))
        topics = self._v["topics"]
        if any(w in compact for w in topics["illness_hints"]) and not any(w in compact for w in topics["illness"]):
            return parsed if parsed.ok and parsed.value is False and self._plain_no(compact) else _doubt(True)
        return parsed

    @_kind("emergency")
    def _parse_emergency(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Something sudden happened? 前天夜里屋里着火了, 突然查出来 → yes."""
        return self._parse_yes_no(text, choices, topic="emergency")


def _pinyin_key(term: str) -> str:
    """Toneless pinyin of a term, run together: 低保 → dibao."""
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(term, style=Style.NORMAL))
