"""The FAQ matcher: a question in, the best entry and a calibrated confidence out.

Building the index (segmenting ~5,000 phrasings, holding each out to calibrate)
takes a few seconds, so the built matcher is cached on disk, keyed by the
knowledge base's fingerprint and this package's source: the next start-up
just loads it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.config import Matching
from bot.knowledge import Entry, KnowledgeBase
from bot.matching import features, lexicon, pickles, pinyin, postings, preparing, semantic, training
from bot.matching.context import ContextRules
from bot.matching.features import FeatureIndex
from bot.matching.preparing import Prepared, Preparer
from bot.matching.lexicon import Segmenter, SynonymRewriter, cache_dir, load_tokenizer, write_dictionary
from bot.matching.pinyin import PinyinRestorer

_SOURCES = (features, lexicon, pinyin, postings, preparing, training)  # their source keys the cache
EXACT_CONFIDENCE = 0.97
WISH_CONFIDENCE = 0.9  # a wish to apply (context.ApplyWish): a rule, not the model, decides
VAGUE_SHARE = 0.1  # a lone word in this share of the entries or more names no subject of its own


@dataclass(frozen=True)
class Scored:
    """An entry with the matcher's confidence that it answers the question."""

    entry: Entry
    confidence: float


@dataclass(frozen=True)
class MatchResult:
    """What the matcher concluded about one question."""

    outcome: str                   # answer, choices, decline, unknown or empty
    best: Scored | None
    alternatives: tuple[Scored, ...]
    prepared_text: str


@dataclass
class _Model:
    """Everything derived from the knowledge base that is worth caching."""

    key: str
    restorer: PinyinRestorer
    synonyms: dict[str, str]
    dictionary: str
    index: FeatureIndex
    weights: np.ndarray
    decision: np.ndarray
    report: dict
    exact: dict[str, int]  # prepared phrasing text → entry index
    word_freq: dict[str, int]  # the compact jieba dictionary as loaded (word or prefix → count)
    word_total: int


class Matcher:
    """Matches residents' questions against the knowledge base."""

    def __init__(self, kb: KnowledgeBase, bands: Matching, model: _Model, tokenizer):
        self.kb = kb
        self.bands = bands
        self.model = model
        self.preparer = Preparer(model.restorer, SynonymRewriter(model.synonyms), tokenizer)
        self.semantic = None  # a SemanticLayer, when attached
        self.context = ContextRules.from_spec(kb.context)
        self._wish_entry = next(i for i, e in enumerate(kb.entries) if e.topic == self.context.apply_wish.topic)

    @classmethod
    def load(cls, kb: KnowledgeBase, bands: Matching, use_cache: bool = True) -> Matcher:
        """The matcher for this knowledge base, from the disk cache when possible."""
        key = _cache_key(kb)
        model = pickles.cached(cache_dir() / f"matcher-{key}.pickle", key, lambda: _build_model(kb, key),
                               use_cache)
        matcher = cls(kb, bands, model, Segmenter(model.word_freq, model.word_total))
        matcher.semantic = semantic.attach(matcher, use_cache)  # None: the plain matcher alone
        return matcher

    @property
    def report(self) -> dict:
        """How the calibration did on held-out knowledge-base phrasings."""
        return self.model.report

    def scored(self, question: str) -> tuple[str, list[Scored]]:
        """Every candidate entry with its confidence, best first (greetings and thanks around
        the question left out)."""
        prepared, scored = self._scored(question)
        return prepared.text, scored

    def _scored(self, question: str) -> tuple[Prepared, list[Scored]]:
        prepared = self.preparer.prepare(self.context.wrappers.unwrap(question))
        top, conf = self.model.index.ranked(prepared, self.model.weights, self.model.decision)
        entries = self.kb.entries
        scored = [Scored(entries[e], c) for e, c in zip(top, conf)]
        exact = self.model.exact.get(prepared.text)
        if exact is not None:
            # The knowledge base lists this very phrasing (even one of stopwords only, like 谢谢):
            # the held-out calibration never sees such a match, so it is decided here.
            entry = self.kb.entries[exact]
            scored = [Scored(entry, max([EXACT_CONFIDENCE, *(s.confidence for s in scored)]))] + \
                [s for s in scored if s.entry.id != entry.id]
        elif scored and self.context.apply_wish.found(prepared.text):
            entry = entries[self._wish_entry]
            scored = [Scored(entry, max(WISH_CONFIDENCE, scored[0].confidence))] + \
                [s for s in scored if s.entry.id != entry.id]
        return prepared, scored

    def match(self, question: str) -> MatchResult:
        """Decide: answer, offer choices, decline (out of scope) or admit not knowing."""
        prepared, scored = self._scored(question)
        text = prepared.text
        if not text:
            return MatchResult("empty", None, (), text)
        if not scored or not any(ch.isalpha() for ch in text):  # "1", "123": a number is no question
            return MatchResult("unknown", None, (), text)
        if self.semantic is not None and self.semantic.unsure(scored):
            scored = self._second_opinion(text, scored)
        vague = self._names_no_subject(prepared)
        if vague:
            # 钱, 补助, 救助: choices, never one guess — nor an out-of-scope subject, nor "don't know"
            scored = _below([s for s in scored if s.entry.kind != "decline"] or scored, self.bands.answer)
        best = scored[0]
        in_scope = _distinct_topics([s for s in scored if s.entry.kind != "decline"])
        top_in = in_scope[0] if in_scope else None
        if best.confidence >= self.bands.answer:
            if best.entry.kind == "decline":
                return MatchResult("decline", best, (), text)
            others = tuple(s for s in in_scope[1:] if s.confidence >= self.bands.suggest)[:2]
            return MatchResult("answer", best, others, text)
        floor = self.bands.suggest / 3
        if top_in and top_in.confidence >= (floor if vague else self.bands.suggest):
            choices = [s for s in in_scope if s.confidence >= floor][:3]
            if len(choices) < 2 and len(in_scope) > 1:
                choices = in_scope[:2]
            return MatchResult("choices", top_in, tuple(choices), text)
        if best.entry.kind == "decline":
            # closest to an out-of-scope subject, but not surely which: decline in general terms
            return MatchResult("decline", None, (), text)
        return MatchResult("unknown", None, tuple(in_scope[:3]), text)

    def _second_opinion(self, text: str, scored: list[Scored]) -> list[Scored]:
        """The semantic layer's rescoring of an unsure match.

        Declining stays the plain matcher's call: the encoder reads 10086怎么转人工 as close
        to our own 转人工 and 兴国哪里有招保安的 as close to 临时救助. After a decline the
        plain matcher is sure of, it may raise a doubt (an offer of choices), never
        answer a policy instead.
        """
        rescored = self.semantic.rescore(text, scored)
        first = scored[0]
        if first.entry.kind != "decline" or first.confidence < self.bands.answer:
            return rescored
        return _below(rescored, self.bands.answer, keep_declines=True)

    def _names_no_subject(self, prepared: Prepared) -> bool:
        """Whether the question is one everyday word (钱, 补助, 困难) that many entries use and
        that names no subject (programme words like 低保, 特困 do): no entry is its answer.

        The calibration holds out knowledge-base phrasings, which always say more than that,
        so it never learnt how little one such word tells; a KB phrasing of it still answers.
        """
        if len(prepared.tokens) != 1 or prepared.text in self.model.exact:
            return False
        found = self.model.index.flat().tokens.get(prepared.tokens[0])
        return found is not None and found[3] >= VAGUE_SHARE * len(self.kb.entries) \
            and not self.context.follow_up.names_subject(prepared.text)

    def match_after(self, question: str, topic: str | None) -> MatchResult:
        """match, for a message right after an answer on `topic`: a short follow-up naming no
        subject of its own (那要怎么申请啊？) is read in that topic's programme."""
        plain = self.match(question)
        if plain.prepared_text in self.context.wrappers.canonical.values():
            return plain  # 谢谢, 你好: no follow-up question (低保 + 谢谢 would read as 低保)
        framed = self.context.follow_up.frame(plain.prepared_text, topic)
        if framed is None:
            return plain
        inside = self.match(framed)
        return inside if self.context.follow_up.prefer(plain, inside, topic) else plain

    def match_after_choices(self, question: str, topics: list[str]) -> MatchResult:
        """match, for a message right after "您是不是想问 1 … 2 …" that picks none: a follow-up
        naming no subject (那要带么子材料) is read in each offered topic's programme; one reading
        answers it, several are offered again (低保 would be a guess), none leaves it as it is."""
        plain, found = self.match(question), []
        if plain.prepared_text in self.context.wrappers.canonical.values():
            return plain  # 谢谢, 你好
        for topic in dict.fromkeys(topics):
            framed = self.context.follow_up.frame(plain.prepared_text, topic)
            inside = self.match(framed) if framed is not None else None
            if inside is not None and self.context.follow_up.prefer(plain, inside, topic) and \
                    inside.best.entry.id not in {r.best.entry.id for r in found}:
                found.append(inside)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            return MatchResult("choices", found[0].best, tuple(r.best for r in found), plain.prepared_text)
        return plain


def _below(scored: list[Scored], band: float, keep_declines: bool = False) -> list[Scored]:
    """The candidates with their confidence kept just under `band` (out-of-scope ones as they
    are if keep_declines)."""
    under = float(np.nextafter(band, 0.0))
    return [s if keep_declines and s.entry.kind == "decline" else Scored(s.entry, min(s.confidence, under))
            for s in scored]


def _distinct_topics(scored: list[Scored]) -> list[Scored]:
    seen, out = set(), []
    for s in scored:
        if s.entry.topic not in seen:
            seen.add(s.entry.topic)
            out.append(s)
    return out


def _cache_key(kb: KnowledgeBase) -> str:
    digest = hashlib.sha256(kb.fingerprint.encode())
    for module in _SOURCES:
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _build_model(kb: KnowledgeBase, key: str) -> _Model:
    """Segment, index and calibrate — the slow path, run once per knowledge base."""
    table = pinyin.build_char_table()
    vocabulary = _policy_vocabulary(kb)
    targets = _restoration_targets(kb)
    dictionary = write_dictionary(vocabulary, hashlib.sha256(
        repr(sorted(vocabulary.items())).encode()).hexdigest()[:16])
    tokenizer = load_tokenizer(dictionary)
    kb_words, char_counts = _knowledge_words(kb, tokenizer)
    restorer = PinyinRestorer.build(table, sorted(targets, key=lambda w: (-vocabulary.get(w, 0), w)),
                                    words=lexicon.general_words() - targets,
                                    vocabulary=[w for w in kb_words if w not in targets],
                                    char_counts=char_counts)
    preparer = Preparer(restorer, SynonymRewriter(kb.synonyms), tokenizer)
    index, prepared, counts = training.build_feature_index(kb, preparer)
    weights, decision, report = training.calibrate(index, prepared, counts)
    exact: dict[str, int] = {}
    clashes = set()
    for i, p in enumerate(prepared):
        entry = int(index.ph_entry[i])
        if p.text in exact and index.entry_topics[exact[p.text]] != index.entry_topics[entry]:
            clashes.add(p.text)  # two topics read the same once folded: let the model decide
        exact.setdefault(p.text, entry)
    exact = {t: e for t, e in exact.items() if t and t not in clashes}
    return _Model(key=key, restorer=restorer, synonyms=dict(kb.synonyms), dictionary=str(dictionary),
                  index=index, weights=weights, decision=decision, report=report, exact=exact,
                  word_freq=tokenizer.freq, word_total=tokenizer.total)


def _knowledge_words(kb: KnowledgeBase, tokenizer) -> tuple[list[str], dict[str, int]]:
    """Words of the FAQ phrasings, most frequent first, and character counts (for typed pinyin)."""
    from collections import Counter

    from bot.textnorm import normalize_text

    rewriter = SynonymRewriter(kb.synonyms)
    words: Counter = Counter()
    chars: Counter = Counter()
    for entry in kb.entries:
        for phrase in (entry.title, *entry.questions):
            text = rewriter.rewrite(normalize_text(phrase))
            chars.update(c for c in text if "\u4e00" <= c <= "\u9fff")
            words.update(t for t in lexicon.content_tokens(tokenizer, text) if len(t) >= 2
                         and all("\u4e00" <= c <= "\u9fff" for c in t))
    return [w for w, _ in words.most_common()], dict(chars)


def _restoration_targets(kb: KnowledgeBase) -> set[str]:
    """Policy words a homophone typo is mapped back to: terms, keywords, canonical forms."""
    words = {w for w, _ in kb.terms} | set(kb.synonyms.values())
    words |= {kw for e in kb.entries if e.kind != "decline" for kw in e.keywords}
    return {w for w in words if len(w) >= 2}


def _policy_vocabulary(kb: KnowledgeBase) -> dict[str, int]:
    """Words jieba must keep whole: terms.txt, synonyms (both sides) and FAQ keywords."""
    words: dict[str, int] = {}
    for word, freq in kb.terms:
        words[word] = freq
    for variant, canonical in kb.synonyms.items():
        words.setdefault(canonical, 3000)
        words.setdefault(variant, 2000)
    for entry in kb.entries:
        if entry.kind == "decline":
            # 办残疾证 as one word would keep 残疾证在哪里办 from sharing it: an out-of-scope
            # subject's keywords are found in the text (FeatureIndex._keyword_hits), not segmented
            continue
        for kw in entry.keywords:
            if 2 <= len(kw) <= 8 and not any(c.isspace() for c in kw):
                words.setdefault(kw, 1500)
    return words
