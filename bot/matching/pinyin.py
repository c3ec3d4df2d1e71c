"""Catch homophone typos (低包, 特捆, 医了救助) and typed pinyin (dibao biaozhun).

Pinyin input methods make residents pick the wrong character with the right
sound, and some type pinyin outright. Both are mapped back to the policy term
with the same (loosely compared) sound. Loosely: southern accents merge
zh/z, ch/c, sh/s, n/l, f/h and -ng/-n, so we do too.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import product

MAX_TERM_SYLLABLES = 8
_RETROFLEX = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_LATIN = re.compile(r"[a-zv]+")


def fuzzy_syllable(syllable: str) -> str:
    """Fold the sounds southern speakers merge, so 'lan' == 'nan', 'shi' == 'si'."""
    s = syllable
    for long, short in _RETROFLEX:
        if s.startswith(long):
            s = short + s[len(long):]
            break
    if s.startswith("n") and s != "n" and not s.startswith("ng"):
        s = "l" + s[1:]
    elif s.startswith("f"):
        s = "h" + s[1:]
    if s.endswith("ng") and len(s) > 2:
        s = s[:-1]
    return s


def strip_tone(reading: str) -> str:
    """'bǎo' → 'bao', 'lǜ' → 'lv'."""
    reading = reading.replace("ü", "v")
    decomposed = unicodedata.normalize("NFD", reading)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("u\u0308", "v")


def build_char_table() -> dict[str, tuple[str, ...]]:
    """Every CJK character → its toneless readings (most common first), from pypinyin."""
    from pypinyin.pinyin_dict import pinyin_dict  # a large module: only at index build

    table: dict[str, tuple[str, ...]] = {}
    for codepoint, readings in pinyin_dict.items():
        seen: list[str] = []
        for r in readings.split(","):
            plain = strip_tone(r.strip())
            if plain and plain.isascii() and plain not in seen:
                seen.append(plain)
        if seen:
            table[chr(codepoint)] = tuple(seen[:3])
    return table


@dataclass
class PinyinRestorer:
    """Rewrites sound-alike spellings of known policy terms back to the terms."""

    chars: dict[str, str]            # character → fuzzy syllable of its main reading
    terms: dict[str, str]            # "fuzzy syllables" → term
    syllables: frozenset[str]        # every valid toneless syllable, for typed pinyin
    longest: int
    words: frozenset[str] = frozenset()  # real words: never "corrected" (这个 is not 咋个)
    lengths: dict[str, tuple[int, ...]] | None = None  # first syllable → term lengths, longest first

    @classmethod
    def build(cls, table: dict[str, tuple[str, ...]], terms: list[str],
              words: frozenset[str] = frozenset()) -> PinyinRestorer:
        """Index the terms by every plausible reading of their characters."""
        index: dict[str, str] = {}
        for term in terms:
            if not (2 <= len(term) <= MAX_TERM_SYLLABLES) or not all(c in table for c in term):
                continue
            options = [table[c][:2] for c in term]
            for combo in product(*options):
                index.setdefault(" ".join(fuzzy_syllable(s) for s in combo), term)
        syllables = frozenset(s for readings in table.values() for s in readings)
        chars = {c: fuzzy_syllable(r[0]) for c, r in table.items()}
        longest = max((len(k.split()) for k in index), default=2)
        lengths: dict[str, set[int]] = {}
        for key in index:
            parts = key.split()
            lengths.setdefault(parts[0], set()).add(len(parts))
        return cls(chars=chars, terms=index, syllables=syllables, longest=longest, words=words,
                   lengths={k: tuple(sorted(v, reverse=True)) for k, v in lengths.items()})

    def split_latin(self, run: str) -> list[str] | None:
        """'dibaobiaozhun' → ['di', 'bao', 'biao', 'zhun'], or None if it is not pinyin."""
        out, i = [], 0
        while i < len(run):
            for j in range(min(len(run), i + 6), i, -1):
                if run[i:j] in self.syllables:
                    out.append(run[i:j])
                    i = j
                    break
            else:
                return None
        return out

    def restore(self, text: str) -> str:
        """Replace homophone typos and typed pinyin of known terms with the terms."""
        units: list[tuple[str, str | None, bool]] = []  # (surface, fuzzy syllable, is_latin)
        pos = 0
        for match in _LATIN.finditer(text):
            units.extend((c, self.chars.get(c), False) for c in text[pos:match.start()])
            parts = self.split_latin(match.group(0))
            if parts:
                units.extend((p, fuzzy_syllable(p), True) for p in parts)
            else:
                units.append((match.group(0), None, True))
            pos = match.end()
        units.extend((c, self.chars.get(c), False) for c in text[pos:])
        if not any(u[2] for u in units) and not self._may_have_typo(text):
            return text

        out: list[str] = []
        i = 0
        while i < len(units):
            for length in self.lengths.get(units[i][1], ()) if units[i][1] else ():
                if i + length > len(units):
                    continue
                window = units[i:i + length]
                if any(u[1] is None for u in window):
                    continue
                term = self.terms.get(" ".join(u[1] for u in window))
                if term and self._plausible(window, term, self.words):
                    out.append(term)
                    i += length
                    break
            else:
                unit = units[i]
                # keep typed-pinyin words apart so they do not glue to neighbours
                out.append(f" {unit[0]} " if unit[2] else unit[0])
                i += 1
        return re.sub(r"\s+", " ", "".join(out)).strip()

    def _may_have_typo(self, text: str) -> bool:
        return any("\u4e00" <= c <= "\u9fff" for c in text)

    @staticmethod
    def _plausible(window: list[tuple[str, str | None, bool]], term: str, words: frozenset[str]) -> bool:
        """Typed pinyin always counts; a Chinese spelling must share a character and not be a word."""
        if all(u[2] for u in window):
            return True
        if any(u[2] for u in window):
            return False
        surface = "".join(u[0] for u in window)
        if surface == term:
            return True
        return surface not in words and any(a == b for a, b in zip(surface, term))
