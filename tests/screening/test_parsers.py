"""Answer parsers: residents' own words → the normalised slot values of contract.md."""
from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.errors import KnowledgeError
from bot.screening.parsers import KINDS, AnswerParsers, Parsed, check_vocabulary, id_check_digit
from knowledge import KNOWLEDGE_DIR

ROOT = Path(__file__).resolve().parents[2]
PERSONAS = ROOT / "tests" / "data" / "dev-personas.json"
PROGRAMS = ["低保", "特困", "临时救助", "医疗救助", "低保边缘", "不清楚"]
FLOW_PROGRAMS = ["低保", "特困供养（五保）", "临时救助（突发困难）", "医疗救助（看病负担重）", "低保边缘家庭",
                 "不清楚，帮我看看"]
VALID_ID = "360732197909152130"


@cache
def parsers() -> AnswerParsers:
    """One parser set for the module, on the project's townships (hypothesis forbids function fixtures)."""
    townships = load_config(ROOT / "config.toml", environ={}).county.townships
    return AnswerParsers.from_knowledge(townships)


def parse(kind: str, text: str, choices: list[str] | None = None) -> Parsed:
    """Shorthand used by every test."""
    return parsers().parse(kind, text, choices)


def make_id(area: str, born: dt.date, sequence: int) -> str:
    """A valid ID number: area, birth date, sequence and its check digit."""
    first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
    return first17 + id_check_digit(first17)


def case(kind, text, value):
    """One parametrized example (money is always a float, in yuan)."""
    return pytest.param(kind, text, float(value) if kind == "money" else value, id=f"{kind}:{text}")


UNDERSTOOD = [
    *(case("yes_no", t, True) for t in ["有", "对", "嗯", "是的", "好", "好的", "同意", "确认", "没错", "可以",
                                        "行", "1", "能做点零工", "能", "有", "孩子白血病", "老婆有糖尿病",
                                        "有高血压", "是的上个月突然查出来", "好的同意", "同意的", "对，提交",
                                        "没有，老婆有糖尿病", "要得", "还能干点", "ok", "家里着火了"]),
    *(case("yes_no", t, False) for t in ["没有", "冇", "冇得", "没得", "不是", "不同意", "不行", "不要", "算了",
                                         "无", "没", "2", "干不动了", "腰不好干不了重活", "没儿没女，老伴走了",
                                         "冇大病", "冇车", "对，没有", "不对，要修改", "没什么病", "没有劳动能力",
                                         "不太能干重活", "身体不行了", "meiyou", "不好意思，没有"]),
    case("count", "五个人，我老婆、我妈还有两个细伢子", 5), case("count", "就我一个", 1), case("count", "三口", 3),
    case("count", "三口人", 3), case("count", "说错了，是两口人", 2), case("count", "一栋老屋", 1),
    case("count", "一间老房", 1), case("count", "一套", 1), case("count", "没有", 0), case("count", "冇", 0),
    case("count", "1", 1), case("count", "就我", 1), case("count", "一家五口", 5),
    case("count", "不是三口，是两口", 2), case("count", "一共五个", 5), case("count", "租房子住", 0),
    case("money", "一个月一千八左右", 1800), case("money", "两口子打工一个月四千五", 4500),
    case("money", "每月就一百二十块养老金", 120), case("money", "两千五", 2500), case("money", "大概两千来块", 2000),
    case("money", "八百多", 800), case("money", "1千8", 1800), case("money", "两万", 20000),
    case("money", "一年千把块", 1000), case("money", "自己掏了八万多", 80000), case("money", "五千左右", 5000),
    case("money", "三千", 3000), case("money", "没有", 0), case("money", "冇", 0), case("money", "存款都花完了", 0),
    case("money", "冇么子存款，两千块都冇", 0), case("money", "3.5万", 35000), case("money", "1,800元", 1800),
    case("money", "三四千", 3500), case("money", "十来万", 100000), case("money", "3个人每月1800块", 1800),
    case("money", "2w", 20000), case("money", "一点五万", 15000),
    case("age", "47", 47), case("age", "六十八", 68), case("age", "56岁", 56), case("age", "七十多了", 70),
    case("age", f"{dt.date.today().year - 60}年出生", 60),
    case("id_number", VALID_ID, VALID_ID), case("id_number", "3607 3219 7909 1521 30", VALID_ID),
    case("id_number", "3607-3219-7909-1521-30", VALID_ID), case("id_number", "３６０７３２１９７９０９１５２１３０", VALID_ID),
    case("id_number", "三六零七三二一九七九零九一五二一三零", VALID_ID),
    case("id_number", "11010519491231002x", "11010519491231002X"),
    case("phone", "139 7071 2468", "13970712468"), case("phone", "139-7071-2468", "13970712468"),
    case("phone", "+86 13970712468", "13970712468"), case("phone", "15879712001", "15879712001"),
    case("phone", "电话是13970712468谢谢", "13970712468"),
    case("township", "崇贤", "崇贤乡"), case("township", "崇贤乡", "崇贤乡"), case("township", "我住崇贤乡太平村", "崇贤乡"),
    case("township", "东村乡东村村", "东村乡"), case("township", "东村", "东村乡"), case("township", "meijiao", "梅窖镇"),
    case("township", "mei jiao", "梅窖镇"), case("township", "chongxian", "崇贤乡"), case("township", "梅叫", "梅窖镇"),
    case("township", "changgang", "长冈乡"), case("township", "敛江", "潋江镇"), case("township", "cong xian", "崇贤乡"),
    *(case("residence", t, "urban") for t in ["城镇", "城市", "县城", "城里", "居民户口"]),
    *(case("residence", t, "rural") for t in ["农村", "农村户口", "乡下", "村里", "农业户口", "住城里，农村户口"]),
    case("disability_level", "我妈有四级残疾证", 4), case("disability_level", "老伴有二级残疾证", 2),
    case("disability_level", "一级", 1), case("disability_level", "4", 4),
    case("disability_level", "我二级，老伴四级", 2),
    *(case("disability_level", t, None) for t in ["没有", "无", "冇", "没有残疾证"]),
    case("name", "黄春生", "黄春生"), case("name", "我叫黄春生", "黄春生"), case("name", "名字是谢玉莲", "谢玉莲"),
    case("name", "你好，我叫钟小华。", "钟小华"), case("name", "阿卜杜热合曼·买买提", "阿卜杜热合曼·买买提"),
    case("name", "多吉", "多吉"),
    case("text", "  孩子查出急性白血病住院 ", "孩子查出急性白血病住院"), case("text", "冇", "冇"),
]


@pytest.mark.parametrize("kind, text, value", UNDERSTOOD)
def test_understands_residents_answers(kind, text, value):
    result = parse(kind, text)
    assert result == Parsed(ok=True, value=value)
    assert type(result.value) is type(value)


@pytest.mark.parametrize("text, index", [
    ("1", 0), ("２", 1), ("一", 0), ("第三个", 2), ("低保", 0), ("特困", 1), ("五保", 1), ("五保户", 1),
    ("不清楚，你帮我看看", 5), ("不知道", 5), ("不晓得", 5), ("不懂", 5), ("低保边缘", 4), ("我想申请低保边缘", 4),
    ("临时", 2), ("医疗", 3), ("dibao", 0),
])
@pytest.mark.parametrize("choices", [PROGRAMS, FLOW_PROGRAMS], ids=["plain", "flow"])
def test_choice_by_number_label_or_synonym(choices, text, index):
    assert parse("choice", text, choices) == Parsed(ok=True, value=index)


def test_residence_digit_picks_from_the_choices_shown():
    assert parse("residence", "2", ["城镇", "农村"]).value == "rural"
    assert parse("residence", "1", ["城镇", "农村"]).value == "urban"
    assert parse("residence", "2").problem == "not_understood"


NOT_UNDERSTOOD = [
    ("yes_no", "", "empty"), ("yes_no", "不知道", "unsure"), ("yes_no", "今天天气", "not_understood"),
    ("count", "两三个", "ambiguous"), ("count", "100", "out_of_range"), ("count", "-1", "out_of_range"),
    ("count", "好多", "not_understood"),
    ("money", "没多少", "not_understood"),
    ("money", "我两千，老婆一千五", "ambiguous"), ("money", "-5", "out_of_range"),
    ("age", "150", "out_of_range"), ("age", "七八十", "ambiguous"), ("age", "不记得", "not_understood"),
    ("id_number", "36073219790915213", "id_length"), ("id_number", "3607321979091521300", "id_length"),
    ("id_number", "360732197909152131", "id_check_digit"), ("id_number", "不知道", "not_understood"),
    ("id_number", "360732197909322130", "id_birth_date"),
    ("id_number", make_id("360732", dt.date(2099, 1, 1), 1), "id_birth_date"),
    ("id_number", "3607321979091x2130", "not_understood"),
    ("phone", "1397071246", "phone_length"), ("phone", "139707124680", "phone_length"),
    ("phone", "12345678901", "not_understood"), ("phone", "就这个号", "not_understood"),
    ("township", "北京", "unknown_township"), ("township", "我是良村的，现在住崇贤", "unknown_township"),
    ("residence", "不知道", "not_understood"),
    ("disability_level", "5级", "out_of_range"), ("disability_level", "有残疾证", "missing_level"),
    ("name", "  ", "empty"), ("name", "13970712468", "not_understood"),
    ("name", "孤儿补助多少？", "not_understood"), ("name", "低保怎么申请", "not_understood"),
    ("name", "你是谁", "not_understood"), ("name", "没有", "not_understood"),
    ("text", "  ", "empty"), ("text", "。。", "empty"),
]


@pytest.mark.parametrize("kind, text, problem", NOT_UNDERSTOOD, ids=lambda v: str(v))
def test_reports_why_an_answer_cannot_be_used(kind, text, problem):
    assert parse(kind, text) == Parsed(ok=False, problem=problem)


@pytest.mark.parametrize("text, problem", [("7", "out_of_range"), ("救助", "ambiguous"),
                                           ("天气", "not_understood")])
def test_choice_problems(text, problem):
    assert parse("choice", text, PROGRAMS).problem == problem


def test_unknown_kind_and_missing_choices_are_flow_bugs():
    with pytest.raises(ValueError, match="unknown answer kind"):
        parse("colour", "红")
    with pytest.raises(ValueError, match="choices"):
        parse("choice", "1")


def test_every_flow_kind_has_a_parser():
    from bot.screening.flow import KINDS as FLOW_KINDS

    assert set(FLOW_KINDS) <= KINDS


@pytest.mark.parametrize("township", load_config(ROOT / "config.toml", environ={}).county.townships)
def test_every_township_is_found_by_name_stem_and_pinyin(township):
    from pypinyin import Style, lazy_pinyin

    stem = township[:-1]
    assert parse("township", township).value == township
    assert parse("township", f"我住{stem}").value == township
    assert parse("township", " ".join(lazy_pinyin(stem, style=Style.NORMAL))).value == township


def test_shipped_vocabulary_is_valid():
    import yaml

    assert check_vocabulary(yaml.safe_load((KNOWLEDGE_DIR / "lexicon/answers.yaml").read_text("utf-8"))) == []


def test_bad_vocabulary_is_a_knowledge_error(tmp_path):
    (tmp_path / "lexicon").mkdir()
    with pytest.raises(KnowledgeError, match="cannot read"):
        AnswerParsers.from_knowledge(("崇贤乡",), tmp_path)
    text = (KNOWLEDGE_DIR / "lexicon/answers.yaml").read_text("utf-8").replace('"yes",', "yes,")
    (tmp_path / "lexicon/answers.yaml").write_text(text, "utf-8")
    with pytest.raises(KnowledgeError, match=r"affirm_weak: every entry must be a word"):
        AnswerParsers.from_knowledge(("崇贤乡",), tmp_path)


# ---- the dev personas: every answer a resident gave parses, to the expected value ------
SLOT_KINDS = {
    "consent": "yes_no", "name": "name", "id_number": "id_number", "phone": "phone", "age": "age",
    "township": "township", "village": "text", "residence": "residence", "household_size": "count",
    "household_monthly_income": "money", "owns_vehicle": "yes_no", "house_count": "count", "savings": "money",
    "labor_capacity": "yes_no", "has_supporter": "yes_no", "disability_level": "disability_level",
    "serious_illness": "yes_no", "medical_expense_year": "money", "emergency": "yes_no",
    "emergency_description": "text", "confirm": "yes_no",
}


def persona_answers():
    """(slot, answer, expected value or ...) for every answer in the dev personas, corrections applied."""
    out = []
    for persona in json.loads(PERSONAS.read_text("utf-8")):
        answers = dict(persona["answers"])
        for slot, said in persona.get("corrections", {}).items():
            answers[slot] = said[-1]
        expected = persona["expect"].get("fields", {})
        for slot, text in answers.items():
            if slot in SLOT_KINDS:
                out.append(pytest.param(slot, text, expected.get(slot, ...), id=f"{persona['id']}:{slot}"))
    return out


@pytest.mark.parametrize("slot, text, expected", persona_answers())
def test_dev_persona_answers_parse(slot, text, expected):
    result = parse(SLOT_KINDS[slot], text, ["城镇", "农村"] if slot == "residence" else None)
    assert result.ok, result
    if expected is not ...:
        assert result.value == expected


@pytest.mark.parametrize("text, program", [("低保", 0), ("特困", 1), ("不清楚，你帮我看看", 5), ("1", 0)])
def test_dev_persona_programs(text, program):
    assert parse("choice", text, FLOW_PROGRAMS).value == program


# ---- properties -----------------------------------------------------------------------
@st.composite
def valid_ids(draw) -> str:
    """A valid ID number: random area, birth date and sequence, with its check digit."""
    area = draw(st.from_regex(r"[1-8][0-9]{5}", fullmatch=True))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today()))
    return make_id(area, born, draw(st.integers(0, 999)))


def scatter(draw, text: str, separators: str) -> str:
    """Text with separators drawn into random gaps."""
    return "".join(ch + draw(st.sampled_from(["", "", *separators])) for ch in text)


@given(st.data(), valid_ids())
def test_any_valid_id_parses_with_spaces_anywhere(data, id_number):
    spaced = scatter(data.draw, id_number, " ")
    written = spaced.lower() if data.draw(st.booleans()) else spaced
    assert parse("id_number", written) == Parsed(ok=True, value=id_number)


@given(valid_ids(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_changing_one_character_of_an_id_is_rejected(id_number, position, replacement):
    changed = id_number[:position] + replacement + id_number[position + 1:]
    if changed != id_number:
        assert not parse("id_number", changed).ok


@given(st.data(), st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_any_mobile_number_parses_with_separators(data, number):
    prefix = data.draw(st.sampled_from(["", "+86 ", "+86", "0086 "]))
    assert parse("phone", prefix + scatter(data.draw, number, " -")) == Parsed(ok=True, value=number)


DIGITS = "零一二三四五六七八九"


def to_chinese(n: int) -> str:
    """Standard reading of 0 ≤ n < 100000: 10500 → 一万零五百."""
    if n == 0:
        return "零"
    out, zero = "", False
    for unit_value, unit in ((10000, "万"), (1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // unit_value % 10
        if d:
            out += ("零" if zero else "") + DIGITS[d] + unit
            zero = False
        elif out:
            zero = True
    return out


@given(st.integers(0, 99999), st.sampled_from(["", "块", "元", "块钱"]))
def test_chinese_numerals_parse_as_money(n, unit):
    assert parse("money", to_chinese(n) + unit) == Parsed(ok=True, value=float(n))


@settings(max_examples=300)
@given(st.sampled_from(sorted(KINDS)), st.text())
def test_parse_never_raises(kind, text):
    result = parse(kind, text, PROGRAMS if kind == "choice" else None)
    assert isinstance(result, Parsed)
    assert result.ok == (result.problem is None)


@given(st.sampled_from(sorted(KINDS)), st.text(alphabet="零一二两三四五六七八九十百千万亿点.-0123456789级岁个口块有没冇不 ，"))
def test_parse_never_raises_on_number_soup(kind, text):
    assert isinstance(parse(kind, text, PROGRAMS if kind == "choice" else None), Parsed)


@pytest.mark.parametrize("kind, text, value", [
    ("money", "几百块", 500.0),                  # a rough figure is enough for a pre-screen
    ("money", "一年几千块", 5000.0),
    ("money", "冇，还欠了亲戚两万块", 0.0),       # money owed is not savings
    ("yes_no", "冇，病是去年查出来的", False),    # a bare 冇 first answers; the rest explains
    ("yes_no", "没有，老婆有糖尿病", True),       # ...unless it says the opposite in so many words
    ("car", "只有一部电动车", False),             # e-bikes and motorbikes are not cars
    ("car", "有一辆小车", True),
    ("car", "冇车", False),
])
def test_answers_residents_gave_in_trial_conversations(kind, text, value):
    assert parsers().parse(kind, text) == Parsed(ok=True, value=value)
