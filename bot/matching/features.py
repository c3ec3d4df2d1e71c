"""Turn text into comparable form, and a question into per-entry features.

Both the FAQ phrasings and residents' questions go through `Preparer`, so a
dialect word, a homophone typo or a Chinese numeral is folded the same way on
both sides. `FeatureIndex.candidates` scores the most promising entries with a
handful of features; a logistic model (training.py) turns them into a
calibrated probability.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from bot.matching.lexicon import SynonymRewriter, content_tokens
from bot.matching.pinyin import PinyinRestorer
from bot.textnorm import normalize_numbers, normalize_text

FEATURES = ("dice", "cover", "bag", "typical", "bigram", "fuzz", "keyword", "lead", "known",
            "foreign")
_NOT_WORD = re.compile(r"[\W_]+")
_CJK_GAP = re.compile(r"(?<=[\u4e00-\u9fff]) +(?=[\u4e00-\u9fff])")
CANDIDATES = 10
FUZZY_PER_ENTRY = 4  # rapidfuzz is the costly part: compare with the likeliest phrasings only


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
        text = _CJK_GAP.sub("", self.restorer.restore(text))  # "我想 申请 低保" from typed pinyin
        text = self.synonyms.rewrite(text)
        text = normalize_numbers(text)
        return Prepared(text=text, tokens=content_tokens(self.tokenizer, text), bigrams=char_bigrams(text))


def char_bigrams(text: str) -> list[str]:
    """Distinct character bigrams: robust where jieba splits a typo'd word oddly."""
    chars = _NOT_WORD.sub("", text)
    return list(dict.fromkeys(chars[i:i + 2] for i in range(len(chars) - 1)))


@dataclass
class FeatureIndex:
    """Phrasings grouped by entry, with token postings, for fast scoring."""

    entry_topics: list[str]          # per entry: topic id, or "decline"
    ph_entry: np.ndarray             # phrasing → entry index (sorted by entry)
    ph_text: list[str]               # prepared phrasing texts (for rapidfuzz)
    ph_weight: np.ndarray            # Σ idf of each phrasing's tokens
    entry_starts: np.ndarray         # first phrasing of each entry
    postings: dict[str, np.ndarray]  # token → phrasings containing it
    bag: dict[str, np.ndarray]       # token → entries whose vocabulary has it
    typical: dict[str, tuple[np.ndarray, np.ndarray]]  # token → (entries, phrasings containing it)
    entry_sizes: np.ndarray          # phrasings per entry
    idf: dict[str, float]
    unknown_weight: float
    keyword_pattern: re.Pattern | None
    keyword_entries: dict[str, np.ndarray]
    bi_postings: dict[str, np.ndarray]  # character bigram → phrasings containing it
    bi_idf: dict[str, float]
    bi_weight: np.ndarray
    out_of_scope: dict[str, float]  # token → share of the entries using it that are out-of-scope subjects

    def candidates(self, q: Prepared, exclude: int | None = None,
                   bag_drop: dict[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top entries for a question and their feature rows (exclude: a held-out phrasing)."""
        n_entries = len(self.entry_topics)
        sizes = self.entry_sizes.astype(float)
        e_out = int(self.ph_entry[exclude]) if exclude is not None else -1
        if exclude is not None:
            sizes[e_out] -= 1
        wq = known = foreign_total = 0.0
        # Gather every posting first and sum them with one bincount per feature: far fewer
        # numpy calls than adding token by token (this is the matcher's hot loop).
        bag_idx, bag_w, oos_w, post_idx, post_w, typ_idx, typ_w = [], [], [], [], [], [], []
        bag_fix = np.zeros(n_entries)
        foreign_fix = np.zeros(n_entries)
        typical_fix = 0.0
        for token in q.tokens:
            entries = self.bag.get(token)
            if entries is None or (bag_drop and token in bag_drop and len(entries) == 1):
                wq += self.unknown_weight  # in no entry's vocabulary (or only the held-out one)
                continue
            w = self.idf[token]
            wq += w
            known += w
            oos = w * self.out_of_scope.get(token, 0.0)
            foreign_total += oos
            bag_idx.append(entries)
            bag_w.append(w)
            oos_w.append(oos)
            if bag_drop and token in bag_drop:
                bag_fix[bag_drop[token]] -= w  # the held-out phrasing was its only source
                foreign_fix[bag_drop[token]] -= oos
            post = self.postings.get(token)
            if post is not None:
                post_idx.append(post)
                post_w.append(w)
                t_entries, t_counts = self.typical[token]
                typ_idx.append(t_entries)
                typ_w.append(w * t_counts)
                if exclude is not None:
                    typical_fix -= w  # the held-out phrasing contained it
        bag = _sum_at(bag_idx, bag_w, n_entries) + bag_fix
        foreign_in = _sum_at(bag_idx, oos_w, n_entries) + foreign_fix  # out-of-scope weight each entry explains
        acc = _sum_at(post_idx, post_w, len(self.ph_entry))
        typical = _sum_at(typ_idx, typ_w, n_entries, per_item=True)
        if exclude is not None:
            typical[e_out] += typical_fix
        if wq == 0:
            return np.empty(0, dtype=int), np.empty((0, len(FEATURES)))
        if exclude is not None:
            acc[exclude] = 0.0
        dice = np.maximum.reduceat(2 * acc / (wq + self.ph_weight), self.entry_starts)
        bigram = self._bigram_dice(q, exclude)
        cover = np.maximum.reduceat(acc, self.entry_starts) / wq
        bag /= wq
        typical = typical / np.maximum(sizes, 1) / wq
        keyword = np.zeros(n_entries)
        if self.keyword_pattern is not None:
            for kw in set(self.keyword_pattern.findall(q.text)):
                keyword[self.keyword_entries[kw]] += 1
        keyword = np.minimum(keyword, 2) / 2
        rough = dice + bag + typical + bigram + 0.5 * keyword
        k = min(CANDIDATES, n_entries)
        top = np.argpartition(-rough, k - 1)[:k]
        top = top[rough[top] > 0]
        if len(top) == 0:
            return top, np.empty((0, len(FEATURES)))
        top = top[np.argsort(-rough[top])]

        fz = self._fuzzy(q.text, top, exclude, acc)
        base = (dice[top] + bag[top] + typical[top] + fz) / 4
        lead = base - best_of_others(base, self.topic_ids()[top], floor=0.0)
        rows = np.column_stack([dice[top], cover[top], bag[top], typical[top], bigram[top], fz,
                                keyword[top], lead, np.full(len(top), known / wq),
                                (foreign_total - foreign_in[top]) / wq])
        return top, rows

    def topic_ids(self) -> np.ndarray:
        """Each entry's topic as an integer (out-of-scope entries share one), computed once."""
        ids = self.__dict__.get("_topic_ids")
        if ids is None:
            names = {t: i for i, t in enumerate(dict.fromkeys(self.entry_topics))}
            ids = self.__dict__["_topic_ids"] = np.asarray([names[t] for t in self.entry_topics])
        return ids

    def group_ids(self) -> np.ndarray:
        """Like topic_ids, but every out-of-scope entry is a group of its own."""
        ids = self.__dict__.get("_group_ids")
        if ids is None:
            ids = np.where(np.asarray(self.entry_topics) == "decline",
                           -1 - np.arange(len(self.entry_topics)), self.topic_ids())
            self.__dict__["_group_ids"] = ids
        return ids

    def _bigram_dice(self, q: Prepared, exclude: int | None) -> np.ndarray:
        """Per entry: the best IDF-weighted character-bigram Dice over its phrasings."""
        wq = 0.0
        posts, weights = [], []
        for bg in q.bigrams:
            post = self.bi_postings.get(bg)
            if post is None or (exclude is not None and len(post) == 1 and post[0] == exclude):
                wq += self.unknown_weight
                continue
            w = self.bi_idf[bg]
            wq += w
            posts.append(post)
            weights.append(w)
        acc = _sum_at(posts, weights, len(self.ph_entry))
        if exclude is not None:
            acc[exclude] = 0.0
        if wq == 0:
            return np.zeros(len(self.entry_topics))
        return np.maximum.reduceat(2 * acc / (wq + self.bi_weight), self.entry_starts)

    def _fuzzy(self, text: str, top: np.ndarray, exclude: int | None, overlap: np.ndarray) -> np.ndarray:
        """Best character-level similarity to each candidate's most overlapping phrasings.

        (rapidfuzz's partial_ratio was measured as a second feature: it changed no
        result and cost 15 % of the time, so it went.)
        """
        ends = np.append(self.entry_starts[1:], len(self.ph_entry))
        choices, owner = [], []
        for i, e in enumerate(top):
            start, end = int(self.entry_starts[e]), int(ends[e])
            best = np.argsort(-overlap[start:end])[:FUZZY_PER_ENTRY] + start
            for p in best:
                if p != exclude:
                    choices.append(self.ph_text[p])
                    owner.append(i)
        fz = np.zeros(len(top))
        if choices:
            ratio = process.cdist([text], choices, scorer=fuzz.ratio, dtype=np.float32)[0]
            np.maximum.at(fz, np.asarray(owner), ratio / 100)
        return fz


def best_of_others(values: np.ndarray, groups: np.ndarray, floor: float) -> np.ndarray:
    """For each item, the best value among items of a different group (or `floor`)."""
    if len(values) == 0:
        return values
    uniq, inverse = np.unique(groups, return_inverse=True)
    best = np.full(len(uniq), -np.inf)
    np.maximum.at(best, inverse, values)
    order = np.argsort(-best)
    first = best[order[0]]
    second = best[order[1]] if len(order) > 1 else -np.inf
    others = np.where(inverse == order[0], second, first)
    return np.maximum(others, floor)


def _sum_at(indexes: list[np.ndarray], weights: list, size: int, per_item: bool = False) -> np.ndarray:
    """Σ weights at indexes: one scalar per index array, or (per_item) one array per index array."""
    if not indexes:
        return np.zeros(size)
    flat = np.concatenate(indexes)
    if per_item:
        values = np.concatenate(weights)
    else:
        values = np.repeat(np.asarray(weights, dtype=float), [len(a) for a in indexes])
    return np.bincount(flat, weights=values, minlength=size).astype(float)
