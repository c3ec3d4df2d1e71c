"""Where the household lives: a configured township, and an urban or rural household."""
from __future__ import annotations

import re
from itertools import islice, product

from bot.matching.pinyin import fuzzy_syllable
from bot.screening.parsing.registry import Parsed, _fail, _good, _kind
from bot.screening.parsing.words import _compact, _key, _Words
from bot.textnorm import normalize_text

_LATIN = re.compile(r"[a-z]+")
_LATIN_FOLDS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ng", "n"), ("l", "n"), ("f", "h"))


class PlaceParsers:
    """The township and residence parsers of AnswerParsers."""

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
