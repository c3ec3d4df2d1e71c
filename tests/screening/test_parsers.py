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
from bot.screening.flow import load_flow
from bot.screening.parsers import KINDS, AnswerParsers, Parsed
from bot.screening.parsing.identity import id_check_digit
from bot.screening.parsing.vocabulary import check_vocabulary
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
                                        "行", "1", "能做点零工", "能", "有", "老婆有糖尿病",
                                        "有高血压", "是的上个月突然查出来", "好的同意", "同意的", "对，提交",
                                        "没有，老婆有糖尿病", "要得", "还能干点", "ok"]),
    *(case("illness", t, True) for t in ["孩子白血病", "有高血压", "老婆有糖尿病", "上个月查出来的", "住院了",
                                         "有，孩子白血病，要带什么材料？"]),
    *(case("illness", t, False) for t in ["冇大病", "没什么病", "什么都没有", "冇", "2", "冇，病是去年查出来的"]),
    *(case("emergency", t, True) for t in ["家里着火了", "是的，前天夜里屋里着火了", "是的上个月突然查出来",
                                           "被水冲了", "1"]),
    *(case("supporter", t, False) for t in ["有低保，冇子女", "没儿没女，老伴走了", "冇"]),
    *(case("labor", t, False) for t in ["领了养老金，干不动了", "干不了重活"]),
    case("car", "冇得车，低保能领多少？", False),
    *(case("yes_no", t, False) for t in ["没有", "冇", "冇得", "没得", "不是", "不同意", "不行", "不要", "算了",
                                         "无", "没", "2", "干不动了", "腰不好干不了重活", "没儿没女，老伴走了",
                                         "冇大病", "冇车", "对，没有", "不对，要修改", "没什么病", "没有劳动能力",
                                         "不太能干重活", "身体不行了", "meiyou", "不好意思，没有", "没有没有",
                                         "不是不是", "冇冇冇"]),
    case("count", "五个人，我老婆、我妈还有两个细伢子", 5), case("count", "就我一个", 1), case("count", "三口", 3),
    case("count", "三口人", 3), case("count", "说错了，是两口人", 2), case("count", "一栋老屋", 1),
    case("count", "一间老房", 1), case("count", "一套", 1), case("count", "没有", 0), case("count", "冇", 0),
    case("count", "3", 3), case("count", "就我", 1), case("count", "1栋", 1), case("count", "两个", 2), case("count", "一家五口", 5),
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
    case("name", "多吉", "多吉"), case("name", "我奶奶叫刘桂英", "刘桂英"), case("name", "她叫刘桂英，是我奶奶", "刘桂英"),
    case("name", "我叫黄春生，要带什么材料？", "黄春生"),
    case("id_number", f"她身份证号是{VALID_ID}", VALID_ID), case("phone", "打我电话就行，151 7971 2001", "15179712001"),
    case("village", "太平村", "太平村"), case("village", "我住在太平村那边", "太平村"),
    case("village", "崇贤乡太平村", "崇贤乡太平村"), case("village", "城南社区", "城南社区"),
    case("disability_level", "没有残疾证，有什么补贴吗", None),
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
    ("age", "150", "out_of_range"), ("age", "七八十", "ambiguous"), ("age", "不记得", "confused"),
    ("age", "0", "out_of_range"),
    ("id_number", "36073219790915213", "id_length"), ("id_number", "3607321979091521300", "id_length"),
    ("id_number", "360732197909152131", "id_check_digit"), ("id_number", "不知道", "not_understood"),
    ("id_number", "360732197909322130", "id_birth_date"),
    ("id_number", make_id("360732", dt.date(2099, 1, 1), 1), "id_birth_date"),
    ("id_number", "3607321979091x2130", "not_understood"),
    ("phone", "1397071246", "phone_length"), ("phone", "139707124680", "phone_length"),
    ("phone", "12345678901", "not_understood"), ("phone", "就这个号", "not_understood"),
    *(("phone", t, "other_subject") for t in ["她82岁", "我们屋里三口人", "一个月一千五百块", "二级残疾"]),
    ("phone", "尾号3456", "phone_length"),
    ("township", "北京", "unknown_township"), ("township", "我是良村的，现在住崇贤", "unknown_township"),
    ("residence", "不知道", "not_understood"),
    ("disability_level", "5级", "out_of_range"), ("disability_level", "有残疾证", "missing_level"),
    ("name", "  ", "empty"), ("name", "13970712468", "not_understood"),
    ("name", "孤儿补助多少？", "question"), ("name", "低保怎么申请", "question"),
    ("name", "你是谁", "question"), ("name", "没有", "not_understood"),
    *(("name", t, "not_understood") for t in ["我", "我奶奶", "她女儿", "我自己", "本人", "我家老伴"]),
    *(("village", t, "not_understood") for t in ["0", "12", "我", "没有", "不清楚"]),
    ("village", "不记得了", "confused"), ("village", "跳过", "not_understood"), ("text", "跳过", "not_understood"),
    ("text", "不想说", "not_understood"), ("village", "屋里昨晚着火了", "emergency_mentioned"),
    ("illness", "屋里昨晚着火了", "emergency_mentioned"), ("labor", "房子被水冲垮了", "emergency_mentioned"),
    ("car", "吃了低保养老金还有冇得领？", "question"), ("supporter", "低保有冇得？", "question"),
    ("illness", "不知道有冇得", "unsure"), ("money", "低保标准是900吗", "question"),
    ("count", "要几个人？", "question"), ("age", "要多大年纪才能领？", "question"),
    *((kind, t, "confused") for kind in ("yes_no", "illness", "money", "count", "name", "village", "id_number", "text")
      for t in ["啥意思", "么子", "？", "你说什么", "听不懂", "这是么子意思啊"]),
    ("id_number", "身份证在我崽那里冇带", "confused"), ("phone", "号码记不得了", "confused"),
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
FLOW = load_flow()
SLOT_KINDS = {slot.name: slot.kind for slot in FLOW.slots}


def persona_answers():
    """(slot, answer, expected value or ...) for every answer in the dev personas, corrections applied."""
    out = []
    for persona in json.loads(PERSONAS.read_text("utf-8")):
        answers = dict(persona["answers"])
        for slot, said in persona.get("corrections", {}).items():
            answers[slot] = said[-1]
        expected = persona["expect"].get("fields", {})
        for slot, text in answers.items():
            if slot in SLOT_KINDS and SLOT_KINDS[slot] != "choice":  # programmes: test_dev_persona_programs
                out.append(pytest.param(slot, text, expected.get(slot, ...), id=f"{persona['id']}:{slot}"))
    return out


@pytest.mark.parametrize("slot, text, expected", persona_answers())
def test_dev_persona_answers_parse(slot, text, expected):
    result = parse(SLOT_KINDS[slot], text, list(FLOW.slot(slot).choices) or None)
    assert result.ok or result.readback, result  # a bare 1 house is read back, then kept
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
    doubtful = not unit and 1 <= n <= 9  # a bare 一 is read back: it may be the menu's first choice
    expected = Parsed(ok=not doubtful, value=float(n), problem="readback" if doubtful else None, readback=doubtful)
    assert parse("money", to_chinese(n) + unit) == expected


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


# ---- never store what the resident did not say ----------------------------------------
@pytest.mark.parametrize("kind, text, value", [
    ("money", "1", 1.0), ("money", "3", 3.0), ("money", "一", 1.0), ("money", "２", 2.0),
    ("count", "1", 1), ("count", "2", 2), ("age", "2", 2), ("age", "八岁", 8),
])
def test_a_doubtful_value_is_read_back_not_stored(kind, text, value):
    assert parse(kind, text) == Parsed(ok=False, value=value, problem="readback", readback=True)


@pytest.mark.parametrize("kind, text, value", [("money", "1块", 1.0), ("money", "0", 0.0), ("money", "10", 10.0),
                                               ("count", "1个人", 1), ("count", "就我一个", 1), ("age", "16", 16)])
def test_said_in_so_many_words_is_no_doubt(kind, text, value):
    assert parse(kind, text) == Parsed(ok=True, value=value)


DISABILITY_MENU = list(FLOW.slot("disability_level").choices)


@pytest.mark.parametrize("text, level", [("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5", None), ("二级", 2),
                                         ("没有", None), ("老伴有一级残疾证", 1)])
def test_the_disability_menu_number_is_the_level(text, level):
    assert parse("disability_level", text, DISABILITY_MENU) == Parsed(ok=True, value=level)
    assert parse("disability_level", "6", DISABILITY_MENU).problem == "out_of_range"


def test_every_closed_question_offers_numbered_choices_the_parser_takes():
    """On SMS each choice is a numbered line; each number must parse as that choice, not a value of its own."""
    closed = [s for s in FLOW.slots if s.kind in ("yes_no", "car", "illness", "emergency", "labor", "supporter",
                                                  "choice", "residence", "disability_level")]
    assert {s.name for s in closed} >= {"disability_level", "residence", "owns_vehicle", "serious_illness"}
    for slot in closed:
        assert slot.choices, slot.name
        for number, label in enumerate(slot.choices, 1):
            by_number = parse(slot.kind, str(number), list(slot.choices))
            by_label = parse(slot.kind, label, list(slot.choices))
            assert by_number.ok and by_number == by_label, (slot.name, number, label)


@pytest.mark.parametrize("text, said", [("对", True), ("是的", True), ("嗯", True), ("1", True), ("没错", True),
                                        ("不是", False), ("不对", False), ("2", False), ("没有", False),
                                        ("不是，两套", None), ("是一套", None), ("啥意思", None), ("", None)])
def test_a_reply_to_a_read_back(text, said):
    assert parsers().confirms(text) is said


QUESTION_SUBJECTS = ["低保", "养老金", "医疗救助", "补助", "残疾证", "小车", "存款", "房子", "钱", "我家", "老人家", "这个"]
QUESTION_VERBS = ["领", "办", "申请", "给", "有", "算", "报销", "补"]
QUESTION_FORMS = ["{s}{v}吗", "{s}还{v}不{v}", "{s}有冇得{v}", "{s}能{v}多少", "{s}怎么{v}", "{s}要什么材料",
                  "{s}{v}几多钱", "是不是{s}都能{v}", "{s}{v}了{v}", "{s}能不能{v}", "哪里{v}{s}", "{s}{v}冇{v}",
                  "吃了{s}还有冇得{v}"]


@settings(max_examples=300)
@given(st.sampled_from(QUESTION_FORMS), st.sampled_from(QUESTION_SUBJECTS), st.sampled_from(QUESTION_VERBS),
       st.sampled_from(["", "？", "?", "呢？", "啊"]),
       st.sampled_from(["yes_no", "car", "illness", "emergency", "labor", "supporter", "money", "count", "age",
                        "name", "village"]))
def test_no_question_is_stored_as_an_answer(form, subject, verb, end, kind):
    text = form.format(s=subject, v=verb) + end
    if form == "{s}{v}了{v}" and not end.endswith(("?", "？")):
        return  # "领了领" without a ? is no question
    result = parse(kind, text)
    assert not result.ok and not result.readback, (text, result)


@settings(max_examples=200)
@given(st.sampled_from([p for p in UNDERSTOOD if p.values[0] not in ("text", "name")]),
       st.sampled_from(QUESTION_FORMS), st.sampled_from(QUESTION_SUBJECTS), st.sampled_from(QUESTION_VERBS))
def test_a_question_after_an_answer_leaves_the_answer(example, form, subject, verb):
    kind, text, value = example.values
    question = form.format(s=subject, v=verb) + "？"
    assert parse(kind, f"{text}，{question}") == Parsed(ok=True, value=value)


@settings(max_examples=200)
@given(st.integers(1, 9), st.sampled_from(["", " ", "。"]))
def test_no_bare_menu_digit_is_taken_as_money_or_a_count(n, end):
    """Any digit is a menu number before it is yuan; 1 and 2 (有 / 没有) before they are a count."""
    for kind in ("money", "count") if n <= 2 else ("money",):
        result = parse(kind, f"{n}{end}")
        assert not result.ok and result.readback, (kind, n, result)


@settings(max_examples=150)
@given(st.sampled_from(["儿子有残疾证，", "老伴", "我今年", "存款", "花了", "住院", "种了", ""]),
       st.sampled_from(["一", "二", "两", "3", "七十", "八千"]),
       st.sampled_from(["级", "岁", "块", "元", "个月", "年", "亩", "次"]))
def test_a_number_that_measures_something_else_is_no_count(lead, number, unit):
    """At the house or household question, 儿子有残疾证，一级 or 我今年七十岁 says no count:
    it is not stored as 1 套 or 70 口人 (seen: 房产1套 in the summary)."""
    result = parse("count", f"{lead}{number}{unit}")
    assert not result.ok and not result.readback, (lead, number, unit, result)


def test_a_count_beside_another_measure_is_still_read():
    assert parse("count", "70岁了就一间房") == Parsed(ok=True, value=1)
    assert parse("count", "一家三口人，老伴残疾二级") == Parsed(ok=True, value=3)
