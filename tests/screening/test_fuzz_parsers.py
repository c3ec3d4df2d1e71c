"""Fuzzing every answer parser and normaliser (hypothesis): any text, no exception, and what comes
back is either a problem or a value of the slot's contract type — never something else stored as a fact.
Then whole screenings fed fuzzed answers through the engine: every reply is a reply, no crash on the way."""
from __future__ import annotations

import logging
import math
import os
from functools import cache

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.messages import IncomingMessage
from bot.screening.parsers import KINDS, AnswerParsers, Parsed
from bot.screening.parsing.identity import id_check_digit
from bot.screening.parsing.numbers import _read_number
from bot.screening.parsing.places import _fold_latin
from bot.screening.parsing.words import _compact, _tidy
from bot.textnorm import normalize_numbers, normalize_text, parse_chinese_number
from tests.conftest import ROOT

EXAMPLES = int(os.environ.get("JIUZHU_FUZZ_EXAMPLES", "300"))  # a deeper run: JIUZHU_FUZZ_EXAMPLES=20000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=120)
# the pieces residents' answers are made of, to reach past "not understood"
PIECES = st.sampled_from([
    "有", "冇", "没有", "不是", "是的", "对", "同意", "不同意", "跳过", "返回", "退出", "说错了", "改成", "啥意思", "？",
    "两千五", "一千八", "八百多", "1千8", "3.5万", "一点五", "五个人", "三口", "二十", "六十岁", "1979年", "1", "2", "0",
    "-3", "999999999999999999999", "１２３", "四级", "残疾", "尿毒症", "着火了", "梅窖", "meijiao", "崇贤乡", "太平村",
    "城里", "农村", "黄春生", "我奶奶叫刘桂英", "360732197909152130", "36073219790915213x", "139 7071 2468",
    "+86 13970712468", "，", "。", " ", "\u200b", "\ufeff", "😀", "\x00", "\u0301", "零", "万", "亿", "点", "多",
    "左右", "块", "元", "个月", "一年", "吗", "呢"])
ANSWER = st.one_of(ANY_TEXT, st.lists(PIECES, max_size=8).map("".join), st.text(alphabet="零一二两三四五六七八九十百"
                                                                                  "千万亿点.-0123456789级岁个口块有没冇不 ，",
                                                                                  max_size=30))
CHOICES = st.one_of(st.just(["低保", "特困供养（五保）", "临时救助（突发困难）", "医疗救助（看病负担重）", "低保边缘家庭",
                             "不清楚，帮我看看"]), st.just(["一级", "二级", "三级", "四级"]),
                    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=7))


@cache
def parsers() -> AnswerParsers:
    return AnswerParsers.from_knowledge(load_config(ROOT / "config.toml", environ={}).county.townships)


def _valid_id(value: str) -> bool:
    return len(value) == 18 and value[:17].isdigit() and id_check_digit(value[:17]) == value[17]


# What an understood answer of each kind may be (contract.md, "Screening slots"): anything else
# stored would be a fact the resident did not state.
VALUE_OF_KIND = {
    "yes_no": lambda v: isinstance(v, bool), "car": lambda v: isinstance(v, bool),
    "illness": lambda v: isinstance(v, bool), "emergency": lambda v: isinstance(v, bool),
    "labor": lambda v: isinstance(v, bool), "supporter": lambda v: isinstance(v, bool),
    "count": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000,
    "money": lambda v: isinstance(v, float) and math.isfinite(v) and v >= 0,
    "age": lambda v: isinstance(v, int) and 1 <= v <= 120,
    "id_number": lambda v: isinstance(v, str) and _valid_id(v),
    "phone": lambda v: isinstance(v, str) and len(v) == 11 and v.isdigit() and v[0] == "1",
    "disability_level": lambda v: v is None or v in (1, 2, 3, 4),
    "residence": lambda v: v in ("urban", "rural"),
    "township": lambda v: v in parsers().townships,
    "name": lambda v: isinstance(v, str) and 0 < len(v.strip()) <= 40,
    "village": lambda v: isinstance(v, str) and v.strip() != "",
    "text": lambda v: isinstance(v, str) and v.strip() != "",
}


def test_every_kind_has_its_contract_check():
    assert set(VALUE_OF_KIND) | {"choice"} == set(KINDS)


@FUZZ
@given(kind=st.sampled_from(sorted(KINDS)), text=ANSWER, choices=st.one_of(st.none(), CHOICES))
def test_every_parser_gives_a_problem_or_a_value_of_its_kind(kind, text, choices):
    if kind == "choice" and not choices:
        choices = ["低保", "特困"]  # the flow always gives a choice question its options
    result = parsers().parse(kind, text, choices)
    assert isinstance(result, Parsed)
    if result.ok or result.readback:
        if kind == "choice":
            assert isinstance(result.value, int) and 0 <= result.value < len(choices)
        else:
            assert VALUE_OF_KIND[kind](result.value), (kind, text, result)
    else:
        assert isinstance(result.problem, str) and result.problem


@FUZZ
@given(text=ANSWER)
def test_a_read_back_is_confirmed_only_by_a_plain_yes_or_no(text):
    assert parsers().confirms(text) in (True, False, None)


@FUZZ
@given(text=ANY_TEXT)
def test_the_normalisers_take_any_text(text):
    clean = normalize_text(text)
    assert isinstance(clean, str) and clean == clean.strip() and "  " not in clean
    assert not any(ord(ch) < 32 for ch in clean)
    assert isinstance(normalize_numbers(text), str) and isinstance(normalize_numbers(clean), str)
    assert isinstance(_compact(clean), str) and isinstance(_tidy(text), str)
    assert isinstance(_fold_latin(clean, True), str) and isinstance(_fold_latin(clean, False), str)


@FUZZ
@given(token=st.one_of(ANY_TEXT, st.text(alphabet="零〇一二两俩三四五六七八九十拾百佰千仟万亿点.0123456789壹贰叁",
                                          max_size=40)))
@example(token="¹")  # found by fuzzing: str.isdigit is true for it, float() is not
@example(token="٣٠")
def test_chinese_numbers_are_a_number_or_none(token):
    value = parse_chinese_number(token)
    assert value is None or isinstance(value, float)
    read = _read_number(token)
    assert read is None or (math.isfinite(read[0]) and isinstance(read[1], bool))


class RaisedOnTheWay(logging.Handler):
    """Log records carrying an exception: the engine turns a bug into an apology, the test sees it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if record.exc_info:
            self.records.append(record)


@pytest.fixture(scope="module")
def screening_runtime(tmp_path_factory, shared_runtime):
    from bot.runtime import Runtime

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'jiuzhu.sqlite3'}"
    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": url},
                                  overrides={"rate_limit.messages_per_minute": 10 ** 6}),
                      kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    watcher = RaisedOnTheWay()
    logging.getLogger().addHandler(watcher)
    yield runtime, watcher
    logging.getLogger().removeHandler(watcher)
    runtime.db.dispose()


_users = iter(range(10 ** 9))


@settings(max_examples=max(40, EXAMPLES // 6), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(channel=st.sampled_from(["sms", "wechat"]), opening=st.sampled_from(["我想申请低保", "申请", "帮我奶奶申请特困"]),
       answers=st.lists(ANSWER, min_size=1, max_size=12))
def test_a_screening_fed_fuzzed_answers_always_replies(screening_runtime, channel, opening, answers):
    runtime, watcher = screening_runtime
    user = f"fuzz-{next(_users)}" if channel == "wechat" else f"+8613{next(_users):09d}"
    for text in [opening, "同意", *answers]:
        reply = runtime.engine.handle(IncomingMessage(channel=channel, user_id=user, text=text))
        assert reply.messages and all(isinstance(m, str) and m.strip() for m in reply.messages), (text, reply)
    raised, watcher.records[:] = list(watcher.records), []
    assert not raised, [f"{r.name}: {r.getMessage()}" for r in raised]
