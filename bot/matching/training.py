"""Build the matching index from the knowledge base and calibrate it.

Calibration uses the knowledge base itself, never the evaluation questions:
every FAQ phrasing is held out in turn and matched against the rest, and a
logistic model learns from those rounds how the features relate to being
right. Its output is the confidence `jiuzhu ask` reports, so 0.8 means about
eight in ten such answers were right on phrasings the index had not seen.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from bot.knowledge import KnowledgeBase
from bot.matching.features import FEATURES, FeatureIndex, decision_rows
from bot.matching.preparing import Prepared, Preparer

L2 = 1.0


def build_feature_index(kb: KnowledgeBase, preparer: Preparer) -> tuple[FeatureIndex, list[Prepared], dict]:
    """Prepare every phrasing and index tokens; also return per-entry token counts."""
    entry_topics: list[str] = []
    ph_entry: list[int] = []
    prepared: list[Prepared] = []
    entry_starts: list[int] = []
    counts: dict[tuple[int, str], int] = defaultdict(int)
    keyword_entries: dict[str, set[int]] = defaultdict(set)
    for e, entry in enumerate(kb.entries):
        entry_topics.append(entry.topic or "decline")
        entry_starts.append(len(ph_entry))
        for phrase in (entry.title, *entry.questions):
            p = preparer.prepare(phrase)
            prepared.append(p)
            ph_entry.append(e)
            for t in p.tokens:
                counts[(e, t)] += 1
        for kw in entry.keywords:
            p = preparer.prepare(kw)
            if len(p.text) >= 2:
                keyword_entries[p.text].add(e)
            for t in p.tokens:
                counts[(e, t)] += 1

    n_entries = len(kb.entries)
    df: dict[str, int] = defaultdict(int)
    for (_, t) in counts:
        df[t] += 1
    idf = {t: math.log((n_entries + 1) / (d + 0.5)) for t, d in df.items()}
    unknown = math.log((n_entries + 1) / 0.5) * 0.6

    postings: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(prepared):
        for t in p.tokens:
            postings[t].append(i)
    bag: dict[str, list[int]] = defaultdict(list)
    for (e, t) in counts:
        bag[t].append(e)
    ph_weight = np.array([sum(idf[t] for t in p.tokens) for p in prepared])
    per_entry: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for i, p in enumerate(prepared):
        for t in p.tokens:
            per_entry[t][ph_entry[i]] += 1
    typical = {t: (np.asarray(sorted(c)), np.asarray([c[e] for e in sorted(c)], dtype=float))
               for t, c in per_entry.items()}
    bi_post: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(prepared):
        for bg in p.bigrams:
            bi_post[bg].append(i)
    bi_df: dict[str, set[int]] = defaultdict(set)
    for bg, phr in bi_post.items():
        bi_df[bg] = {ph_entry[i] for i in phr}
    bi_idf = {bg: math.log((n_entries + 1) / (len(es) + 0.5)) for bg, es in bi_df.items()}
    index = FeatureIndex(
        entry_topics=entry_topics,
        ph_entry=np.asarray(ph_entry),
        ph_text=[p.text for p in prepared],
        ph_weight=ph_weight,
        entry_starts=np.asarray(entry_starts),
        postings={t: np.asarray(v) for t, v in postings.items()},
        bag={t: np.asarray(sorted(v)) for t, v in bag.items()},
        typical=typical,
        entry_sizes=np.bincount(np.asarray(ph_entry), minlength=n_entries),
        idf=idf,
        unknown_weight=unknown,
        keyword_entries={k: np.asarray(sorted(v)) for k, v in keyword_entries.items()},
        bi_postings={bg: np.asarray(v) for bg, v in bi_post.items()},
        bi_idf=bi_idf,
        bi_weight=np.array([sum(bi_idf[bg] for bg in p.bigrams) for p in prepared]),
        out_of_scope={t: sum(entry_topics[e] == "decline" for e in es) / len(es) for t, es in bag.items()},
    )
    return index, prepared, counts


def held_out_rounds(index: FeatureIndex, prepared: list[Prepared], counts: dict):
    """For every non-title phrasing: (candidates, features, labels) with it held out."""
    starts = set(index.entry_starts.tolist())
    for i, q in enumerate(prepared):
        if i in starts:
            continue  # titles stay in: they are the entry's name, not a resident's phrasing
        e_true = int(index.ph_entry[i])
        drop = {t: e_true for t in q.tokens if counts.get((e_true, t)) == 1}
        top, rows = index.candidates(q, exclude=i, bag_drop=drop)
        truth = index.entry_topics[e_true]
        # An out-of-scope group is only "right" if it is the same group: its polite
        # reply names the subject ("weather is not something I can help with").
        labels = np.array([e == e_true if truth == "decline" else index.entry_topics[e] == truth
                           for e in top], dtype=float)
        yield e_true, top, rows, labels


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = 30) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method; last weight is the bias."""
    X1 = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(X1.shape[1])
    reg = np.eye(X1.shape[1]) * l2
    reg[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(X1 @ w, -30, 30)))
        grad = X1.T @ (p - y) + reg @ w
        hess = X1.T @ (X1 * (p * (1 - p))[:, None]) + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w


def calibrate(index: FeatureIndex, prepared: list[Prepared], counts: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """Fit the ranking model, then the confidence that the top answer is right, on held-out phrasings."""
    X, y, rounds = [], [], []
    for e_true, top, rows, labels in held_out_rounds(index, prepared, counts):
        if len(top):
            X.append(rows)
            y.append(labels)
        rounds.append((e_true, top, rows, labels))
    weights = fit_logistic(np.vstack(X), np.concatenate(y))
    D, correct = [], []
    for _, top, rows, labels in rounds:
        if len(top):
            d = decision_rows(index, top, rows, weights)
            best = int(np.argmax(d[:, 0]))
            D.append(d[best])
            correct.append(labels[best])
    decision = fit_logistic(np.array(D), np.array(correct), l2=0.1)
    report = {"held_out_phrasings": len(rounds),
              "held_out_top1": round(float(np.sum(correct)) / max(1, len(rounds)), 4),
              "ranking_weights": dict(zip((*FEATURES, "bias"), np.round(weights, 3).tolist())),
              "confidence_weights": dict(zip(("logit", "lead", "out_of_scope", "bias"), np.round(decision, 3).tolist()))}
    return weights, decision, report
