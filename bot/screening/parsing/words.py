"""Text helpers every parser shares: cleaning answers and finding known words in them."""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from bot.textnorm import normalize_text

_CN_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")  # ID and phone read out digit by digit
_PUNCT = re.compile(r"[^\w\s]+")
_NON_WORD = re.compile(r"[\W_]+")


class _Words:
    """Known words → tags, found longest first from left to right."""

    def __init__(self, tags: dict[str, Any]):
        self.tags = {word: tag for word, tag in tags.items() if word}
        self.longest = max(map(len, self.tags), default=0)
        # first character → the lengths of the words starting with it, longest first: a
        # position only tries the words that can start there (answers are scanned a lot)
        by_first: dict[str, set[int]] = {}
        for word in self.tags:
            by_first.setdefault(word[0], set()).add(len(word))
        self._lengths = {c: tuple(sorted(v, reverse=True)) for c, v in by_first.items()}

    def scan(self, text: str) -> list[tuple[int, int, Any]]:
        """(start, end, tag) of every known word, without overlaps."""
        found, i, n, tags, lengths = [], 0, len(text), self.tags, self._lengths
        while i < n:
            for length in lengths.get(text[i], ()):
                word = text[i:i + length]
                if len(word) == length and word in tags:
                    found.append((i, i + length, tags[word]))
                    i += length
                    break
            else:
                i += 1
        return found

    def tags_in(self, text: str) -> set:
        """The tags of the words found in text."""
        return {tag for _, _, tag in self.scan(text)}


def _compact(text: str) -> str:
    """Letters, digits and characters only: what word matching compares."""
    return _NON_WORD.sub("", text)


def _key(word: Any) -> str:
    """A vocabulary word in the form answers are compared in."""
    return _compact(normalize_text(str(word)))


def _tidy(text: str) -> str:
    """NFKC, no control or format characters, single spaces; case and punctuation kept."""
    text = unicodedata.normalize("NFKC", text)
    kept = (ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    return " ".join("".join(kept).split())
