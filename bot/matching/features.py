"""A question's features per candidate entry, and the calibrated ranking over them.

`FeatureIndex.candidates` scores the most promising entries with a handful of
features; a logistic model (training.py) turns them into a calibrated
probability. `FeatureIndex.ranked` is the serving path: the same computation
with its hot loops in C (_scorer.c, via compiled.py) where built; the numpy
code here is the reference it is tested against, and what calibration runs
(it can hold a phrasing out). Questions and phrasings are made comparable by
preparing.py first; the flat postings the scoring sums over are postings.py's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from bot.matching.compiled import _scorer
from bot.matching.postings import FlatPostings
from bot.matching.preparing import Prepared

FEATURES = ("dice", "cover", "bag", "typical", "bigram", "fuzz", "keyword", "lead", "known",
            "foreign")
CANDIDATES = 10
# Where the columns of a feature row come from: those _scorer.candidates (or its numpy
# reference) returns, in this order, then the two worked out afterwards.
_SUMMED = [FEATURES.index(f) for f in ("dice", "cover", "bag", "typical", "bigram", "keyword", "foreign", "known")]
_FUZZ, _LEAD = FEATURES.index("fuzz"), FEATURES.index("lead")
FUZZY_PER_ENTRY = 4  # rapidfuzz is the costly part: compare with the likeliest phrasings only


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
    keyword_entries: dict[str, np.ndarray]
    bi_postings: dict[str, np.ndarray]  # character bigram → phrasings containing it
    bi_idf: dict[str, float]
    bi_weight: np.ndarray
    out_of_scope: dict[str, float]  # token → share of the entries using it that are out-of-scope subjects

    def ranked(self, q: Prepared, weights: np.ndarray, decision: np.ndarray,
               accelerated: bool = True) -> tuple[list[int], list[float]]:
        """Candidate entries, best-ranked first, with the calibrated confidence of each.

        weights: the ranking model over FEATURES (+ bias); decision: the confidence
        model over decision_rows (+ bias). Serving path: in C where it is compiled.
        """
        if not (accelerated and _scorer is not None):
            top, rows = self.candidates(q, accelerated=False)
            if len(top) == 0:
                return [], []
            d = decision_rows(self, top, rows, weights)
            conf = 1 / (1 + np.exp(-(d @ decision[:-1] + decision[-1])))
            order = np.argsort(-d[:, 0], kind="stable").tolist()
            return top[order].tolist(), conf[order].tolist()
        found = self._compiled_candidates(q)
        if found is None:
            return [], []
        top, raw, chosen, first = found
        order, conf = _scorer.confidence(raw, self._ratios(q.text, chosen), first, top, self.topic_ids(),
                                         self.group_ids(), weights, decision)
        return [top[i] for i in order], [conf[i] for i in order]

    def candidates(self, q: Prepared, exclude: int | None = None, bag_drop: dict[str, int] | None = None,
                   accelerated: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top entries for a question and their feature rows.

        exclude / bag_drop hold a knowledge-base phrasing out (calibration); accelerated=False
        forces the numpy reference path even where the C module is available.
        """
        if accelerated and exclude is None and _scorer is not None:
            found = self._compiled_candidates(q)
            if found is None:
                return np.empty(0, dtype=int), np.empty((0, len(FEATURES)))
            top, raw, chosen, first = found
            top, feats = np.asarray(top), np.frombuffer(raw).reshape(len(top), len(_SUMMED))
        else:
            top, feats, chosen, first = self._features_numpy(q, self._keyword_hits(q), exclude, bag_drop)
            if len(top) == 0:
                return top, np.empty((0, len(FEATURES)))
        rows = np.empty((len(top), len(FEATURES)))
        rows[:, _SUMMED] = feats
        rows[:, _FUZZ] = fz = self._fuzzy(q.text, chosen, first)
        base = (feats[:, 0] + feats[:, 2] + feats[:, 3] + fz) / 4  # dice + bag + typical + fuzz
        rows[:, _LEAD] = base - best_of_others(base, self.topic_ids()[top], floor=0.0)
        return top, rows

    def _keyword_hits(self, q: Prepared) -> list[int]:
        """Entries whose keywords occur in the question, once per distinct keyword found.

        Left to right, the longest keyword at each position, not overlapping (what a regex
        alternation of the keywords, longest first, finds — without compiling one at start-up).
        """
        lengths, keywords = self.keyword_lengths(), self.keyword_ints()
        text, found, i = q.text, set(), 0
        while i < len(text):
            for n in lengths.get(text[i], ()):
                if text[i:i + n] in keywords:
                    found.add(text[i:i + n])
                    i += n
                    break
            else:
                i += 1
        return [e for kw in found for e in keywords[kw]]

    def keyword_lengths(self) -> dict[str, tuple[int, ...]]:
        """First character → the lengths of the keywords starting with it, longest first."""
        lengths = self.__dict__.get("_keyword_lengths")
        if lengths is None:
            by_first: dict[str, set[int]] = {}
            for kw in self.keyword_entries:
                by_first.setdefault(kw[0], set()).add(len(kw))
            lengths = self.__dict__["_keyword_lengths"] = {c: tuple(sorted(v, reverse=True))
                                                           for c, v in by_first.items()}
        return lengths

    def keyword_ints(self) -> dict[str, tuple[int, ...]]:
        """keyword_entries as tuples of ints (iterating a numpy array boxes every item)."""
        ints = self.__dict__.get("_keyword_ints")
        if ints is None:
            ints = self.__dict__["_keyword_ints"] = {kw: tuple(entries.tolist())
                                                     for kw, entries in self.keyword_entries.items()}
        return ints

    def __getstate__(self) -> dict:
        """What is cached on disk: the flat postings, not the per-token dicts they came from.

        Thousands of small arrays are slow to unpickle, and only FlatPostings.build reads them.
        """
        self.flat()
        self.keyword_lengths()
        state = dict(self.__dict__)
        for name in ("postings", "bag", "typical", "bi_postings", "idf", "bi_idf", "out_of_scope"):
            state[name] = {}
        return state

    def _compiled_candidates(self, q: Prepared):
        """_scorer.candidates for this question: None if nothing to rank."""
        flat = self.flat()
        found = _scorer.candidates(
            flat.tokens, flat.bigrams, q.tokens, q.bigrams, self.unknown_weight, self._keyword_hits(q), flat.ptr,
            flat.index, flat.weight, self.entry_starts, self.ph_weight, self.bi_weight, flat.inv_sizes, CANDIDATES,
            FUZZY_PER_ENTRY)
        return found if found is not None and found[0] else None

    def _features_numpy(self, q: Prepared, hits: list[int], exclude: int | None,
                        bag_drop: dict[str, int] | None) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray]:
        """The reference implementation of _scorer.candidates, plus holding a phrasing out.

        Returns the candidate entries (best first), their summed features (columns as
        _SUMMED says) and the phrasings to compare character by character, candidate
        by candidate, with where each candidate's start.
        """
        flat = self.flat()
        # The question as a list of slots in the flat score vector (see FlatPostings).
        slots, held_out = [], []
        wq = known = foreign_total = 0.0
        for token in q.tokens:
            slot = flat.tokens.get(token)
            if slot is None or (bag_drop and token in bag_drop and slot[3] == 1):
                wq += self.unknown_weight  # in no entry's vocabulary (or only the held-out one)
                continue
            _, idf, oos, _, _ = slot
            wq += idf
            known += idf
            foreign_total += oos
            slots.append(slot[0])
            if exclude is not None:
                held_out.append((slot, bag_drop.get(token) if bag_drop else None))
        if wq == 0:
            return np.empty(0, dtype=int), np.empty((0, len(_SUMMED))), [], np.empty(0, dtype=int)
        bwq = 0.0
        for bg in q.bigrams:
            slot = flat.bigrams.get(bg)
            if slot is None or (exclude is not None and slot[2] == 1
                                and flat.index[flat.ptr[slot[0]]] == len(self.ph_entry) + exclude):
                bwq += self.unknown_weight
                continue
            bwq += slot[1]
            slots.append(slot[0])
        n_ph, n_entries = len(self.ph_entry), len(self.entry_topics)
        bounds = flat.bounds
        if slots:
            flat_index = np.concatenate([flat.index[bounds[s]:bounds[s + 1]] for s in slots])
            flat_weight = np.concatenate([flat.weight[bounds[s]:bounds[s + 1]] for s in slots])
            total = np.bincount(flat_index, weights=flat_weight, minlength=flat.size)
        else:
            total = np.zeros(flat.size)
        acc, bacc = total[:n_ph], total[n_ph:2 * n_ph]
        bag = total[flat.bag:flat.bag + n_entries]
        foreign_in = total[flat.foreign:flat.foreign + n_entries]
        typical = total[flat.typical:]
        inv_sizes = flat.inv_sizes
        if exclude is not None:
            e_out = int(self.ph_entry[exclude])
            for (_, idf, oos, _, in_phrasings), dropped in held_out:
                if dropped is not None:
                    bag[dropped] -= idf  # the held-out phrasing was its only source
                    foreign_in[dropped] -= oos
                if in_phrasings:
                    typical[e_out] -= idf  # the held-out phrasing contained it
            acc[exclude] = bacc[exclude] = 0.0
            inv_sizes = inv_sizes.copy()
            inv_sizes[e_out] = 1 / max(1, self.entry_sizes[e_out] - 1)
        ratios = np.empty((3, n_ph))
        np.divide(2 * acc, wq + self.ph_weight, out=ratios[0])
        ratios[1] = acc
        if bwq:
            np.divide(2 * bacc, bwq + self.bi_weight, out=ratios[2])
        else:
            ratios[2] = 0.0
        dice, cover, bigram = np.maximum.reduceat(ratios, self.entry_starts, axis=1)
        cover /= wq
        bag /= wq
        typical *= inv_sizes / wq
        keyword = np.minimum(np.bincount(np.asarray(hits, dtype=np.intp), minlength=n_entries), 2) / 2
        rough = dice + bag + typical + bigram + 0.5 * keyword
        order = np.argsort(-rough, kind="stable")[:CANDIDATES]
        top = order[rough[order] > 0]
        # per candidate, its FUZZY_PER_ENTRY phrasings with most overlap (ties: first listed)
        members = flat.members
        sizes = self.entry_sizes[top]
        phrasings = np.concatenate([members[e] for e in top.tolist()]) if len(top) else np.empty(0, dtype=int)
        owner = np.repeat(np.arange(len(top)), sizes)
        order = np.lexsort((-acc[phrasings], owner))
        rank = np.arange(len(phrasings)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        keep = rank < FUZZY_PER_ENTRY
        chosen, owner = phrasings[order][keep], owner[keep]
        if exclude is not None:
            mask = chosen != exclude  # never the entry's title, so every candidate keeps one
            chosen, owner = chosen[mask], owner[mask]
        first = np.searchsorted(owner, np.arange(len(top)))
        feats = np.array([dice[top], cover[top], bag[top], typical[top], bigram[top], keyword[top],
                          (foreign_total - foreign_in[top]) / wq, np.full(len(top), known / wq)]).T
        return top, feats, chosen.tolist(), first

    def _fuzzy(self, text: str, chosen: list[int], first) -> np.ndarray:
        """Each candidate's best character-level similarity among its chosen phrasings.

        chosen lists the phrasings candidate by candidate; `first` says where each
        candidate's start. (rapidfuzz's partial_ratio was measured as a second
        feature: it changed no result and cost time, so it went; bench/README.md.)
        """
        return np.maximum.reduceat(self._ratios(text, chosen), first).astype(float) / 100

    def _ratios(self, text: str, chosen: list[int]) -> np.ndarray:
        """rapidfuzz ratio (float32, 0–100) of text against each chosen phrasing."""
        texts = self.ph_text
        # (no dtype argument: the wrapper's dtype check costs more than the comparisons here;
        # float32 is what rapidfuzz gives for ratio, and what the C side reads)
        ratios = process.cdist([text], [texts[p] for p in chosen], scorer=fuzz.ratio)[0]
        return ratios if ratios.dtype == np.float32 else ratios.astype(np.float32)

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

    def flat(self) -> FlatPostings:
        """The flat postings `candidates` scores with, derived once (and cached with the model)."""
        flat = self.__dict__.get("_flat")
        if flat is None:
            if not self.bag:
                raise RuntimeError("an index loaded from the cache carries its flat postings; this one has neither")
            flat = self.__dict__["_flat"] = FlatPostings.build(self)
        return flat


def decision_rows(index: FeatureIndex, top: np.ndarray, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Inputs of the confidence model: a candidate's ranking logit and its lead over other topics."""
    logits = rows @ weights[:-1] + weights[-1]
    groups = index.group_ids()[top]
    # `floor` is the logit of an entry sharing nothing with the question: a lone candidate
    # leads only by what it really matched, not by default.
    lead = logits - best_of_others(logits, groups, floor=float(weights[-1]))
    # out-of-scope groups are told apart less reliably than policy topics: own calibration term
    return np.array([logits, lead, groups < 0], dtype=float).T


def best_of_others(values: np.ndarray, groups: np.ndarray, floor: float) -> np.ndarray:
    """For each item, the best value among items of a different group (or `floor`)."""
    if _scorer is not None:
        return np.frombuffer(_scorer.best_of_others(values, groups, floor))
    return best_of_others_py(values, groups, floor)


def best_of_others_py(values: np.ndarray, groups: np.ndarray, floor: float) -> np.ndarray:
    """best_of_others in plain Python: the reference for the C version.

    Not numpy: there are at most a dozen candidates, where numpy's per-call cost dominates.
    """
    vals = values.tolist()
    if not vals:
        return values
    gs = groups.tolist()
    best: dict = {}
    for v, g in zip(vals, gs):
        if v > best.get(g, -math.inf):
            best[g] = v
    first_group = max(best, key=best.__getitem__)
    first = best.pop(first_group)
    second = max(best.values(), default=-math.inf)
    return np.array([max(second if g == first_group else first, floor) for g in gs])
