"""The disability certificate level, the one answer that mixes a number with a yes/no."""
from __future__ import annotations

from bot.screening.parsing.numbers import _followed_by
from bot.screening.parsing.registry import Parsed, _fail, _good, _kind
from bot.screening.parsing.words import _compact
from bot.textnorm import normalize_text


class DisabilityParsers:
    """The disability_level parser of AnswerParsers."""

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
            bare = _compact(prepared) == _compact(run)
            if bare and choices and run.isdigit():  # SMS shows the levels as a numbered menu
                picked = self._parse_choice(run, choices)
                return self._parse_disability_level(choices[picked.value]) if picked.ok else _fail("out_of_range")
            levels = numbers if bare else []  # a bare "4"
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
