"""Turn text into comparable form: the same folding for residents' questions and FAQ phrasings.

Both go through `Preparer`, so a dialect word, a homophone typo or a Chinese
numeral is folded the same way on both sides.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot.matching.lexicon import SynonymRewriter, content_tokens
from bot.matching.pinyin import PinyinRestorer
from bot.textnorm import normalize_numbers, normalize_text

_NOT_WORD = re.compile(r"[\W_]+")
_CJK_GAP = re.compile(r"(?<=[\u4e00-\u9fff]) +(?=[\u4e00-\u9fff])")


@dataclass
class Prepared:
    """A question after normalisation: the folded text and its content tokens."""

    text: str
    tokens: list[str]
    bigrams: list[str]


class Preparer:
    """normalise → restore homophones/pinyin → synonyms → numbers → tokens."""

    def __init__(self, restorer: PinyinRestorer, synonyms: SynonymRewriter, tokenizer):
        self.restorer = restorer
        self.synonyms = synonyms
        self.tokenizer = tokenizer

    def prepare(self, raw: str) -> Prepared:
        """The comparable form of one question."""
        text = normalize_text(raw)
        text = self.restorer.restore(text)
        if " " in text:
            text = _CJK_GAP.sub("", text)  # "我想 申请 低保" from typed pinyin
        text = self.synonyms.rewrite(text)
        text = normalize_numbers(text)
        return Prepared(text=text, tokens=content_tokens(self.tokenizer, text), bigrams=char_bigrams(text))


def char_bigrams(text: str) -> list[str]:
    """Distinct character bigrams: robust where jieba splits a typo'd word oddly."""
    chars = _NOT_WORD.sub("", text)
    return list(dict.fromkeys(chars[i:i + 2] for i in range(len(chars) - 1)))
