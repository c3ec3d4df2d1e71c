"""The matcher's fast paths give exactly what their plain references give.

Speed came from three rewrites: the scoring loop in C (bot/matching/_scorer.c),
jieba's HMM-free segmentation as one backward pass, and a Chinese-only path for
homophone repair. Each has a plain reference that stays in the code (and is what
calibration uses): a resident must get the same answer whichever path ran.
"""
import json
import os
import random
import re
from pathlib import Path

import numpy as np
import pytest

from bot.matching import features

DEV = Path(__file__).resolve().parents[2] / "tests" / "data" / "dev-questions.jsonl"
CHALLENGE = Path(__file__).resolve().parents[2] / "bench" / "questions" / "challenge.jsonl"
ODD = ["", " ", "a", "的", "1234", "🙂", "低保" * 300, "dibao biaozhun", "低包 标准", "ABC低包",
       "\r\n低保\r\n", "低保2024年标准", "a1b2 c3", "特捆供养", "医了救助", "?？?!"]


def _questions() -> list[str]:
    texts = []
    for path in (DEV, CHALLENGE):
        texts += [json.loads(line)["q"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts


@pytest.fixture(scope="module")
def texts(shared_runtime):
    """Residents' questions, every FAQ phrasing, odd input and random garble with typos."""
    kb = shared_runtime.kb
    phrasings = [p for e in kb.entries for p in (e.title, *e.questions)]
    rng = random.Random(7)
    table = list(shared_runtime.matcher.model.restorer.chars)
    typos = []
    for p in phrasings[::3]:
        chars = list(p)
        for _ in range(2):
            chars[rng.randrange(len(chars))] = rng.choice(table)
        typos.append("".join(chars))
    alphabet = list("低保特困临时医疗救助标准申请条件 abcXYZ123，。!?-_%#&.+\t") + rng.sample(table, 40)
    garble = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(500)]
    return _questions() + phrasings + typos + garble + ODD


def test_compiled_scorer_is_built_in_ci():
    if features._scorer is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bot/matching/_scorer.c was not compiled: `pip install -e .` needs a C compiler")
        pytest.skip("the C scorer is not compiled here (no C compiler?): the numpy path serves instead")


def test_compiled_scorer_gives_bit_identical_features(shared_runtime, texts):
    if features._scorer is None:
        pytest.skip("the C scorer is not compiled here")
    matcher = shared_runtime.matcher
    index = matcher.model.index
    for text in texts:
        q = matcher.preparer.prepare(text)
        top_c, rows_c = index.candidates(q)
        top_np, rows_np = index.candidates(q, accelerated=False)
        assert top_c.tolist() == top_np.tolist(), text
        assert np.array_equal(rows_c, rows_np), text


def test_compiled_scorer_refuses_bad_arguments_instead_of_crashing(shared_runtime):
    if features._scorer is None:
        pytest.skip("the C scorer is not compiled here")
    index = shared_runtime.matcher.model.index
    flat = index.flat()
    args = [flat.tokens, flat.bigrams, ["低保"], [], index.unknown_weight, [], flat.ptr, flat.index, flat.weight,
            index.entry_starts, index.ph_weight, index.bi_weight, flat.inv_sizes, 10, 4]
    assert features._scorer.candidates(*args) is not None

    def call(at, value):
        bad = list(args)
        bad[at] = value
        return features._scorer.candidates(*bad)

    with pytest.raises(TypeError):
        call(7, flat.index.astype(np.int32))          # wrong integer width
    with pytest.raises(TypeError):
        call(8, flat.weight.astype(np.float32))       # wrong float width
    with pytest.raises(IndexError):
        call(5, [len(index.entry_topics)])            # keyword hit past the last entry
    with pytest.raises(IndexError):
        call(0, {"低保": (len(flat.ptr) + 5, 1.0, 0.0, 1, True)})  # slot past the end
    with pytest.raises(ValueError):
        call(10, index.ph_weight[:-1])                # lengths that do not agree
    with pytest.raises(TypeError):
        call(0, {"低保": "not a slot"})


@pytest.mark.parametrize("compiled", [True, False], ids=["C", "python"])
def test_segmenter_cuts_exactly_like_jieba(shared_runtime, texts, compiled):
    from bot.matching.lexicon import load_tokenizer

    segmenter = load_tokenizer(Path(shared_runtime.matcher.model.dictionary))  # with jieba's Tokenizer
    if not compiled:
        segmenter.compiled = None
    elif segmenter.compiled is None:
        pytest.skip("the C scorer is not compiled here")
    for text in texts:
        assert segmenter.lcut(text) == segmenter.tokenizer.lcut(text, HMM=False), text


def test_the_served_segmenter_needs_no_jieba_and_cuts_the_same(shared_runtime, texts):
    import jieba

    from bot.matching.lexicon import _RE_HAN, _RE_SKIP, load_tokenizer

    assert (_RE_HAN.pattern, _RE_HAN.flags) == (jieba.re_han_default.pattern, jieba.re_han_default.flags)
    assert (_RE_SKIP.pattern, _RE_SKIP.flags) == (jieba.re_skip_default.pattern, jieba.re_skip_default.flags)
    served = shared_runtime.matcher.preparer.tokenizer  # built from the cached counts
    assert served.tokenizer is None
    reference = load_tokenizer(Path(shared_runtime.matcher.model.dictionary)).tokenizer
    for text in texts:
        assert served.lcut(text) == reference.lcut(text, HMM=False), text


def test_chinese_only_repair_matches_the_general_path(shared_runtime, texts):
    from bot.textnorm import normalize_text

    restorer = shared_runtime.matcher.model.restorer
    chinese = [t for t in map(normalize_text, texts) if re.search("[a-zv]", t) is None]
    assert len(chinese) > 1000
    changed = 0
    for text in chinese:
        general = restorer._restore_units(text)
        assert restorer.restore(text) == general, text  # compiled where built
        assert restorer._restore_chinese(text) == general, text
        changed += general != text
    assert changed > 50  # the typos above really exercised the repair, not only the no-op path


def test_best_of_others_in_c_matches_python():
    if features._scorer is None:
        pytest.skip("the C scorer is not compiled here")
    rng = np.random.default_rng(3)
    for n in range(0, 14):
        for _ in range(50):
            values = rng.choice([0.1, 0.5, 0.9, -2.0], size=n) if n % 2 else rng.normal(size=n)
            groups = rng.integers(-3, 4, size=n)
            for floor in (0.0, -1.0, -np.inf):
                fast = features.best_of_others(values, groups, floor)
                assert fast.tolist() == features.best_of_others_py(values, groups, floor).tolist()


def test_compiled_ranking_and_confidence_match_numpy(shared_runtime, texts):
    if features._scorer is None:
        pytest.skip("the C scorer is not compiled here")
    matcher = shared_runtime.matcher
    index, model = matcher.model.index, matcher.model
    for text in texts:
        q = matcher.preparer.prepare(text)
        top_c, conf_c = index.ranked(q, model.weights, model.decision)
        top_np, conf_np = index.ranked(q, model.weights, model.decision, accelerated=False)
        # The same candidates with the same confidence; the dot products may round differently
        # in the last bit (numpy may use BLAS), so equal logits could swap places: compare as sets.
        # (rounding both to 12 places is no good: a last-bit difference can round either way)
        by_entry_c, by_entry_np = dict(zip(top_c, conf_c)), dict(zip(top_np, conf_np))
        assert by_entry_c.keys() == by_entry_np.keys(), text
        assert all(abs(by_entry_c[e] - by_entry_np[e]) <= 1e-12 for e in by_entry_c), text
        assert np.allclose(conf_c, conf_np, rtol=0, atol=1e-12), text
        if len(conf_np) > 1 and abs(conf_np[0] - conf_np[1]) > 1e-9:
            assert top_c[0] == top_np[0], text


def test_without_the_compiled_module_residents_get_the_same_answers(cli, texts):
    """JIUZHU_PURE_PYTHON=1 runs every reference path end to end: a machine where the
    C module could not be built answers exactly as this one does."""
    questions = _questions()[::4] + ODD[:8]
    batch = "\n".join(q.replace("\n", " ") for q in questions if q.strip()) + "\n"
    fast = cli("ask", "--json", "--batch", "-", input=batch).stdout.splitlines()
    plain = cli("ask", "--json", "--batch", "-", input=batch, env={"JIUZHU_PURE_PYTHON": "1"}).stdout.splitlines()
    assert len(fast) == len(plain) > 100
    for a, b in zip(map(json.loads, fast), map(json.loads, plain)):
        assert (a["outcome"], a["topic"], a["entry_id"], a["answer"]) == \
            (b["outcome"], b["topic"], b["entry_id"], b["answer"])
        assert abs((a["confidence"] or 0) - (b["confidence"] or 0)) < 1e-9


def test_keyword_scan_finds_what_a_longest_first_regex_finds(shared_runtime, texts):
    index = shared_runtime.matcher.model.index
    keywords = sorted(index.keyword_entries, key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, keywords)))
    hits = 0
    for text in texts:
        q = shared_runtime.matcher.preparer.prepare(text)
        expected = sorted(e for kw in set(pattern.findall(q.text)) for e in index.keyword_entries[kw])
        assert sorted(index._keyword_hits(q)) == expected, text
        hits += bool(expected)
    assert hits > 300
