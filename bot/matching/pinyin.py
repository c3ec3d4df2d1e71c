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

from bot.matching.compiled import _scorer

MAX_TERM_SYLLABLES = 8
_RETROFLEX = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_LATIN = re.compile(r"[a-zv]+")
_SPACES = re.compile(r"\s+")


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
    """Rewrites sound-alike spellings and typed pinyin back to known words.

    Two word lists: policy terms, and the knowledge base's own vocabulary.
    Typed pinyin may become any of them ("nali shenqing" → 哪里申请); a Chinese
    spelling is corrected only when it is not itself a word and shares a
    character with the target, so ordinary text is left alone.
    """

    chars: dict[str, str]            # character → fuzzy syllable of its main reading
    keys: dict[str, str]             # "fuzzy syllables" → word (policy terms win), for typed pinyin
    term_keys: dict[str, str]        # the same for policy terms only: what a Chinese typo may become
    syllables: frozenset[str]        # every valid toneless syllable, for typed pinyin
    lengths: dict[str, tuple[int, ...]]  # first syllable → word lengths, longest first
    term_lengths: dict[str, tuple[int, ...]]  # the same for policy terms (all a Chinese typo may become)
    words: frozenset[str] = frozenset()  # real words: never "corrected" (这个 is not 咋个)
    single: dict[str, str] | None = None  # fuzzy syllable → likeliest character, for stray pinyin
    term_pairs: frozenset[str] = frozenset()  # "first second" syllables of every policy term

    @classmethod
    def build(cls, table: dict[str, tuple[str, ...]], terms: list[str], words: frozenset[str] = frozenset(),
              vocabulary: list[str] = (), char_counts: dict[str, int] | None = None) -> PinyinRestorer:
        """Index terms, then vocabulary words, by every plausible reading of their characters."""
        keys: dict[str, str] = {}
        term_keys: dict[str, str] = {}
        for word in [*terms, *vocabulary]:
            if not (2 <= len(word) <= MAX_TERM_SYLLABLES) or not all(c in table for c in word):
                continue
            for combo in product(*(table[c][:2] for c in word)):
                key = " ".join(fuzzy_syllable(s) for s in combo)
                keys.setdefault(key, word)
                if word in terms:
                    term_keys.setdefault(key, word)
        def lengths_of(index: dict[str, str]) -> dict[str, tuple[int, ...]]:
            found: dict[str, set[int]] = {}
            for key in index:
                parts = key.split()
                found.setdefault(parts[0], set()).add(len(parts))
            return {k: tuple(sorted(v, reverse=True)) for k, v in found.items()}
        single: dict[str, str] = {}
        for char, _ in sorted((char_counts or {}).items(), key=lambda kv: -kv[1]):
            if char in table:
                single.setdefault(fuzzy_syllable(table[char][0]), char)
        terms = set(terms)
        return cls(chars={c: fuzzy_syllable(r[0]) for c, r in table.items()}, keys=keys, term_keys=term_keys,
                   syllables=frozenset(s for readings in table.values() for s in readings),
                   lengths=lengths_of(keys), term_lengths=lengths_of(term_keys),
                   words=words | frozenset(vocabulary), single=single,
                   term_pairs=frozenset(" ".join(k.split()[:2]) for k in term_keys))

    def split_latin(self, run: str) -> list[str] | None:
        """'dibaobiaozhun' → ['di', 'bao', 'biao', 'zhun'], or None if it is not pinyin.

        Fewest syllables wins, so 'rengong' is ren-gong, not reng-o-ng.
        """
        best: list[list[str] | None] = [[]] + [None] * len(run)
        for end in range(1, len(run) + 1):
            for start in range(max(0, end - 6), end):
                head = best[start]
                if head is not None and run[start:end] in self.syllables:
                    if best[end] is None or len(head) + 1 < len(best[end]):
                        best[end] = head + [run[start:end]]
        return best[-1]

    def restore(self, text: str) -> str:
        """Replace homophone typos and typed pinyin of known words with the words."""
        if _LATIN.search(text) is None:
            if _scorer is not None:
                fixed = _scorer.restore_terms(text, self.chars, self.term_follow(), self.term_lengths,
                                              self.term_keys, self.words)
                return _SPACES.sub(" ", fixed).strip()
            return self._restore_chinese(text)
        return self._restore_units(text)

    def term_follow(self) -> dict[str, frozenset[str]]:
        """term_pairs as first syllable → second syllables (the C path tests it without building strings)."""
        follow = self.__dict__.get("_follow")
        if follow is None:
            grouped: dict[str, set[str]] = {}
            for pair in self.term_pairs:
                first, second = pair.split(" ")
                grouped.setdefault(first, set()).add(second)
            follow = self.__dict__["_follow"] = {k: frozenset(v) for k, v in grouped.items()}
        return follow

    def _restore_units(self, text: str) -> str:
        """The general case: text as units (characters and typed-pinyin syllables)."""
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

        out: list[str] = []
        i = 0
        while i < len(units):
            word = self._word_at(units, i)
            if word:
                out.append(word[0])
                i += word[1]
                continue
            surface, syllable, latin = units[i]
            if latin:
                # a stray syllable of typed pinyin: its likeliest character, else the letters
                out.append((self.single or {}).get(syllable or "", f" {surface} "))
            else:
                out.append(surface)
            i += 1
        return _SPACES.sub(" ", "".join(out)).strip()

    def _restore_chinese(self, text: str) -> str:
        """restore() for text without Latin letters (the same result as _restore_units, faster).

        Without typed pinyin only policy terms are candidates, found by a cheap first test.

        Most positions fail at once: no policy term starts with the sounds of these
        two characters (term_pairs), so the window lookups run only where one might.
        """
        chars, pairs, keys, lengths = self.chars, self.term_pairs, self.term_keys, self.term_lengths
        syllables = [chars.get(c) for c in text]
        out: list[str] = []
        last = i = 0
        n = len(text)
        while i < n - 1:
            first, second = syllables[i], syllables[i + 1]
            if first is None or second is None or first + " " + second not in pairs:
                i += 1
                continue
            for length in lengths[first]:
                window = syllables[i:i + length]
                if len(window) < length or None in window:
                    continue
                word = keys.get(" ".join(window))
                if word and self._plausible_chinese(text[i:i + length], word):
                    out += (text[last:i], word)
                    i = last = i + length
                    break
            else:
                i += 1
        out.append(text[last:])
        return _SPACES.sub(" ", "".join(out)).strip()

    def _word_at(self, units: list[tuple[str, str | None, bool]], i: int) -> tuple[str, int] | None:
        """The longest known word whose sound starts at unit i, if plausible there.

        Typed pinyin may become any known word; a Chinese spelling only a policy
        term — otherwise 昨天起火 would turn into 昨天气火.
        """
        _, first, latin = units[i]
        if first is None:
            return None
        keys, lengths = (self.keys, self.lengths) if latin else (self.term_keys, self.term_lengths)
        for length in lengths.get(first, ()):
            window = units[i:i + length]
            if len(window) < length:
                continue
            syllables = [u[1] for u in window]
            if None in syllables:
                continue
            word = keys.get(" ".join(syllables))
            if word and self._plausible(window, word):
                return word, length
        return None

    def _plausible(self, window: list[tuple[str, str | None, bool]], word: str) -> bool:
        """Typed pinyin always counts; a Chinese spelling must share a character and not be a word."""
        latin = [u[2] for u in window]
        if all(latin):
            return True
        if any(latin):
            return False
        return self._plausible_chinese("".join(u[0] for u in window), word)

    def _plausible_chinese(self, surface: str, word: str) -> bool:
        if surface == word:
            return True
        return surface not in self.words and any(a == b for a, b in zip(surface, word))
