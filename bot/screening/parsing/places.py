"""Where the household lives: a configured township, and an urban or rural household."""
from __future__ import annotations

import functools
import re
from itertools import islice, product

from bot.matching.pinyin import fuzzy_syllable, strip_tone
from bot.screening.parsing.registry import Parsed, _fail, _good, _kind
from bot.screening.parsing.words import _compact, _key, _tidy, _Words
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
        # Folded once here rather than at every answer, strict then loose (southern merges):
        # each township's readings typed as pinyin ("chongxian"), and as syllable runs indexed
        # by their first syllable (chong → [(崇贤乡, ("xian",))]).
        self._town_typed: dict[str, tuple[set[str], set[str]]] = {}
        self._town_runs: tuple[dict[str, list], dict[str, list]] = ({}, {})
        for name in self.townships:
            cut = next((len(s) for s in vocab["suffixes"] if name.endswith(s) and len(name) > len(s) + 1), 0)
            stem = name[: len(name) - cut]
            names[_key(name)] = names[_key(stem)] = name
            # every reading of a heteronym: 长冈 is chang gang, though lazy_pinyin says zhang
            readings = pinyin(stem, style=Style.NORMAL, heteronym=True, errors="ignore")
            spoken = {r for r in islice(product(*readings), 16) if len(r) >= 2}
            self._town_typed[name] = ({"".join(r) for r in spoken}, {_fold_latin("".join(r), True) for r in spoken})
            for loose, runs in enumerate(self._town_runs):
                for run in {_fold_run(r, bool(loose)) for r in spoken}:
                    runs.setdefault(run[0], []).append((name, run[1:]))
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
        """Townships whose stem sounds like part of the answer, strictly first, then with southern merges.

        The answer is read with each character's usual reading (every reading of every
        character would hear a township in ordinary sentences: 能 can be read tai); the
        townships' side has all their readings.
        """
        latin = "".join(_LATIN.findall(compact))
        said = [_usual_reading(ch) for ch in compact if "\u4e00" <= ch <= "\u9fff"]
        for loose in (False, True):
            typed = _fold_latin(latin, loose) if latin else ""
            hits = {name for name, forms in self._town_typed.items()
                    if typed and any(r in typed for r in forms[loose])}
            heard = [fuzzy_syllable(r) if loose else r for r in said]
            runs = self._town_runs[loose]
            for i, syllable in enumerate(heard):
                for name, rest in runs.get(syllable, ()):
                    if tuple(heard[i + 1:i + 1 + len(rest)]) == rest:
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


    @_kind("village")
    def _parse_village(self, text: str, choices: list[str] | None = None) -> Parsed:
        """The village or community as written (我住在太平村 → 太平村); a number, 我 or 不知道 is none."""
        value = _tidy(text).strip("，。,.!！ ")
        vocab = self._v["village"]
        for word in sorted(vocab["wrappers"], key=len, reverse=True):
            if value.startswith(word) and len(value) > len(word):
                value = value[len(word):].lstrip()
                break
        for word in sorted(vocab["trailing"], key=len, reverse=True):
            if value.endswith(word) and len(value) > len(word) + 1:
                value = value[: -len(word)].rstrip()
        compact = _key(value)
        if not compact:
            return _fail("empty")
        # 0, 12: a menu number or a house number, not a village; 我, 不知道: no village at all
        words = set(self._v["yes_no"]["unsure"]) | set(self._v["name"]["pronouns"])
        refused = compact in self._v["name"]["refusals"]  # 跳过, 保密: skipped, not a village
        if not any(ch.isalpha() for ch in compact) or compact in words or compact in self._yes_no.tags or refused:
            return _fail("not_understood")
        return _good(value)


def _fold_latin(text: str, loose: bool) -> str:
    """Typed pinyin with the sounds southern speakers merge folded together (when loose)."""
    if loose:
        for long, short in _LATIN_FOLDS:
            text = text.replace(long, short)
    return text


def _fold_run(syllables, loose: bool) -> tuple[str, ...]:
    """A reading as a tuple of syllables, folded alike when loose."""
    return tuple(fuzzy_syllable(s) if loose else s for s in syllables)


@functools.lru_cache(maxsize=8192)
def _usual_reading(ch: str) -> str:
    """A character's most common toneless reading ('长' → 'zhang'), from pypinyin's table."""
    from pypinyin.pinyin_dict import pinyin_dict

    raw = pinyin_dict.get(ord(ch))
    return strip_tone(raw.split(",", 1)[0].strip()) if raw else ""
