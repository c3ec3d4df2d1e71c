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

    def scan(self, text: str) -> list[tuple[int, int, Any]]:
        """(start, end, tag) of every known word, without overlaps."""
        found, i = [], 0
        while i < len(text):
            for j in range(min(len(text), i + self.longest), i, -1):
                if text[i:j] in self.tags:
                    found.append((i, j, self.tags[text[i:j]]))
                    i = j
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
