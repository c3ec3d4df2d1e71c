"""Words: the jieba tokenizer with policy terms, synonyms, stopwords.

jieba's full dictionary (349k words) is slow and large to load (bench/README.md);
the bot answers in under a second on a small machine, so it uses the 60k most frequent
words plus every policy term instead — enough to segment residents' questions.
jieba loads it when the matcher is built; the built matcher's cache carries the
word counts, so a serving process segments (Segmenter) without importing jieba.
"""
from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path

from bot.matching.compiled import _scorer

GENERAL_WORDS = 60_000
# Particles and pronouns that say nothing about which policy is meant.
STOPWORDS = frozenset(
    "的 了 吗 啊 呢 吧 呀 哦 嘛 哈 啦 咯 喔 哟 么 嘞 噻 哇 诶 唉 嗯 呃 "
    "我 你 您 他 她 它 我们 你们 他们 咱 咱们 俺 自己 人家 "
    "这 那 这个 那个 这种 那种 这样 那样 这些 那些 一下 一个 个 "
    "是 就 都 也 还 又 和 跟 与 及 或 或者 而且 但是 可是 "
    "请问 请 问 问下 问一下 想 想问 想问一下 知道 谢谢 麻烦 "
    "到底 现在 目前 今年 一直 已经 比较 非常 特别 真的 实在 老是 听讲 听说".split()
)
_PUNCT = re.compile(r"^[\W_]+$")
# jieba's own block patterns (re_han_default, re_skip_default; a test keeps them equal)
_RE_HAN = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)", re.U)
_RE_SKIP = re.compile("(\r\n|\\s)", re.U)
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def cache_dir() -> Path:
    """Where derived files (dictionary, index) are kept between runs."""
    base = os.environ.get("JIUZHU_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jiuzhu")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_dictionary(extra_terms: dict[str, int], fingerprint: str) -> Path:
    """Write the compact jieba dictionary (general words + policy terms) once."""
    path = cache_dir() / f"dict-{fingerprint}.txt"
    if path.exists():
        return path
    import jieba

    source = Path(jieba.__file__).with_name("dict.txt")
    rows = []
    with source.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2:
                rows.append((parts[0], int(parts[1])))
    rows.sort(key=lambda r: -r[1])
    words = dict(rows[:GENERAL_WORDS])
    for word, freq in extra_terms.items():
        words[word] = max(words.get(word, 0), freq)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{w} {f}\n" for w, f in words.items()), encoding="utf-8")
    os.replace(tmp, path)  # atomic: parallel processes never read half a file
    return path


def general_words(limit: int = GENERAL_WORDS) -> frozenset[str]:
    """The most frequent multi-character words of jieba's dictionary."""
    import jieba

    rows = []
    with Path(jieba.__file__).with_name("dict.txt").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2 and len(parts[0]) >= 2:
                rows.append((int(parts[1]), parts[0]))
    rows.sort(reverse=True)
    return frozenset(w for _, w in rows[:limit])


def load_tokenizer(dictionary: Path) -> Segmenter:
    """jieba on the compact dictionary (jieba caches the loaded dictionary in cache_dir)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer(dictionary=str(dictionary))
    tokenizer.tmp_dir = str(cache_dir())
    tokenizer.initialize()
    return Segmenter.from_jieba(tokenizer)


class _LogProb(dict):
    """word → log P(word) as jieba computes it, worked out once per word on first use."""

    def __init__(self, freq: dict[str, int], logtotal: float):
        super().__init__()
        self.freq, self.logtotal = freq, logtotal

    def __missing__(self, word: str) -> float:
        value = self[word] = math.log(self.freq.get(word) or 1) - self.logtotal
        return value


class Segmenter:
    """jieba's segmentation without HMM — `Tokenizer.lcut(text, HMM=False)` — done faster.

    Same dictionary, same rules, same result (a test compares the two on every
    phrasing of the knowledge base and the evaluation questions). jieba builds
    a dict-of-lists DAG, then a route dict through a generator of tuples per
    character; here one backward pass finds each position's best word with
    log-probabilities worked out once per word. Segmentation was a third of
    the time spent preparing a question.
    """

    def __init__(self, freq: dict[str, int], total: int, tokenizer=None):
        # freq: jieba's FREQ (word or word prefix → count, 0 for a prefix only); total: Σ counts.
        # The matcher cache carries both, so serving never imports jieba (its start-up cost).
        self.freq = freq
        self.total = total
        self.logtotal = math.log(total)
        self.logp = _LogProb(freq, self.logtotal)
        self.compiled = _scorer.cut_block if _scorer is not None else None
        self.tokenizer = tokenizer  # the jieba Tokenizer it came from, if any (tests compare)

    @classmethod
    def from_jieba(cls, tokenizer) -> Segmenter:
        tokenizer.check_initialized()
        return cls(tokenizer.FREQ, tokenizer.total, tokenizer)

    def lcut(self, text: str) -> list[str]:
        """The words of text, as jieba's cut(text, HMM=False) yields them."""
        out: list[str] = []
        for block in _RE_HAN.split(text):
            if not block:
                continue
            if _RE_HAN.match(block):
                if self.compiled is not None:
                    out += self.compiled(block, self.freq, self.logtotal)
                else:
                    self._cut_block(block, out)
            else:
                for part in _RE_SKIP.split(block):
                    if _RE_SKIP.match(part):
                        out.append(part)
                    else:
                        out.extend(part)
        return out

    def _cut_block(self, s: str, out: list[str]) -> None:
        """One block of Chinese/alphanumerics; the reference for _scorer.cut_block."""
        freq, logp = self.freq, self.logp
        n = len(s)
        score = [0.0] * (n + 1)
        end = list(range(n + 1))
        for k in range(n - 1, -1, -1):
            best = None
            i, frag = k, s[k]
            while i < n and frag in freq:
                if freq[frag]:
                    value = logp[frag] + score[i + 1]
                    if best is None or value >= best:  # a tie goes to the longer word, as in jieba
                        best, end[k] = value, i
                i += 1
                frag = s[k:i + 1]
            if best is None:
                best = logp[s[k]] + score[k + 1]  # an unknown character is a word of its own
            score[k] = best
        buf = ""
        x = 0
        while x < n:
            y = end[x] + 1
            word = s[x:y]
            if y - x == 1 and word in _ASCII_ALNUM:
                buf += word  # jieba glues single letters and digits back together
            else:
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(word)
            x = y
        if buf:
            out.append(buf)


class SynonymRewriter:
    """Rewrites colloquial and dialect words to the canonical term, longest first."""

    def __init__(self, variants: dict[str, str]):
        mapping = dict(variants)
        for canonical in set(variants.values()):
            mapping.setdefault(canonical, canonical)  # keeps 户口本 from becoming 户口本本
        self.mapping = mapping
        ordered = sorted(mapping, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def rewrite(self, text: str) -> str:
        """Replace every known variant in text with its canonical term."""
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda m: self.mapping[m.group(0)], text)


def content_tokens(tokenizer: Segmenter, text: str) -> list[str]:
    """jieba tokens without stopwords, punctuation or repeats, in order."""
    seen: dict[str, None] = {}
    # No HMM: it glues unknown characters into invented "words" that match nothing,
    # while single characters still can (held-out top-1 is higher without it: bench/README.md).
    for token in tokenizer.lcut(text):
        if "\u4e00" <= token[0] <= "\u9fff":  # most tokens: no space, not punctuation
            if token not in STOPWORDS:
                seen.setdefault(token, None)
            continue
        token = token.strip()
        if token and token not in STOPWORDS and not _PUNCT.match(token):
            seen.setdefault(token, None)
    return list(seen)
