"""The flat postings the feature scoring sums over (built once from a FeatureIndex, cached with the model)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.matching.features import FeatureIndex


@dataclass
class FlatPostings:
    """All summed features share one vector: [phrasing overlap | bigram overlap | bag | foreign | typical].

    Each token (and character bigram) owns a slot: the positions its weight
    lands on in that vector and the weights, stored back to back (CSR style:
    slot s is index[ptr[s]:ptr[s+1]]). A question is then the list of its
    slots, summed in one pass.
    """

    tokens: dict[str, tuple[int, float, float, int, bool]]  # → slot, idf, out-of-scope weight, entries, in a phrasing
    bigrams: dict[str, tuple[int, float, int]]              # → slot, idf, phrasings containing it
    ptr: np.ndarray                  # int64, slot boundaries
    index: np.ndarray                # int64, positions in the score vector
    weight: np.ndarray               # float64
    bag: int                         # where each block starts
    foreign: int
    typical: int
    size: int
    inv_sizes: np.ndarray            # 1 / phrasings per entry
    members: list[np.ndarray]        # each entry's phrasing indexes

    @property
    def bounds(self) -> list[int]:
        """ptr as a Python list (slicing with Python ints is cheaper)."""
        bounds = self.__dict__.get("_bounds")
        if bounds is None:
            bounds = self.__dict__["_bounds"] = self.ptr.tolist()
        return bounds

    @classmethod
    def build(cls, index: FeatureIndex) -> FlatPostings:
        n_ph, n_entries = len(index.ph_entry), len(index.entry_topics)
        bag_at, foreign_at, typical_at = 2 * n_ph, 2 * n_ph + n_entries, 2 * n_ph + 2 * n_entries
        positions, weights, tokens, bigrams = [], [], {}, {}
        for token, entries in index.bag.items():
            w = index.idf[token]
            oos = w * index.out_of_scope.get(token, 0.0)
            post = index.postings.get(token)
            # the order of the parts is the order numpy's reference path once added them in
            parts = [] if post is None else [(post, np.full(len(post), w))]
            parts += [(entries + bag_at, np.full(len(entries), w)), (entries + foreign_at, np.full(len(entries), oos))]
            if post is not None:
                t_entries, t_counts = index.typical[token]
                parts.append((t_entries + typical_at, w * t_counts))
            tokens[token] = (len(positions), w, oos, len(entries), post is not None)
            positions.append(np.concatenate([p for p, _ in parts]))
            weights.append(np.concatenate([v for _, v in parts]))
        for bg, post in index.bi_postings.items():
            w = index.bi_idf[bg]
            bigrams[bg] = (len(positions), w, len(post))
            positions.append(post + n_ph)
            weights.append(np.full(len(post), w))
        ptr = np.zeros(len(positions) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in positions], out=ptr[1:])
        ends = np.append(index.entry_starts[1:], n_ph)
        return cls(tokens=tokens, bigrams=bigrams, ptr=ptr,
                   index=np.concatenate(positions).astype(np.int64),
                   weight=np.concatenate(weights).astype(np.float64),
                   bag=bag_at, foreign=foreign_at, typical=typical_at, size=typical_at + n_entries,
                   inv_sizes=1 / np.maximum(index.entry_sizes, 1).astype(float),
                   members=[np.arange(s, e) for s, e in zip(index.entry_starts.tolist(), ends.tolist())])
