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
        # Per township, strict then loose: its readings typed as pinyin ("chongxian") and as
        # a run of syllables (" chong xian "), folded once here rather than at every answer.
        self._town_sounds: dict[str, tuple[tuple[set[str], set[str]], ...]] = {}
        for name in self.townships:
            cut = next((len(s) for s in vocab["suffixes"] if name.endswith(s) and len(name) > len(s) + 1), 0)
            stem = name[: len(name) - cut]
            names[_key(name)] = names[_key(stem)] = name
            # every reading of a heteronym: 长冈 is chang gang, though lazy_pinyin says zhang
            readings = pinyin(stem, style=Style.NORMAL, heteronym=True, errors="ignore")
            spoken = {r for r in islice(product(*readings), 16) if len(r) >= 2}
            self._town_sounds[name] = tuple(
                ({_fold_latin("".join(r), loose) for r in spoken}, {_run_key(r, loose) for r in spoken})
                for loose in (False, True))
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
            typed = _fold_latin(latin, loose) if latin else ""
            said = _run_key(syllables, loose) if syllables else ""
            hits = {name for name, sounds in self._town_sounds.items()
                    if (typed and any(r in typed for r in sounds[loose][0]))
                    or (said and any(r in said for r in sounds[loose][1]))}
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


def _run_key(syllables, loose: bool) -> str:
    """Syllables as " a b c ": one reading occurs as consecutive syllables of an answer
    exactly when its key is a substring of the answer's (folded alike when loose)."""
    return " " + " ".join(fuzzy_syllable(s) if loose else s for s in syllables) + " "
