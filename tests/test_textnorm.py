"""Text clean-up and Chinese numerals."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.textnorm import normalize_numbers, normalize_text, parse_chinese_number


@pytest.mark.parametrize("text, value", [
    ("两千五", 2500), ("一千二百", 1200), ("1千8", 1800), ("两万", 20000), ("三", 3),
    ("六十八", 68), ("十五", 15), ("一万二", 12000), ("三百五", 350), ("一百二十", 120),
    ("一点五", 1.5), ("1.5", 1.5), ("一万零五百", 10500), ("二十万", 200000), ("八万", 80000),
])
def test_parses_chinese_and_mixed_numerals(text, value):
    assert parse_chinese_number(text) == value


@pytest.mark.parametrize("text", ["", "多少", "好的", "一下子"])
def test_non_numbers_are_none(text):
    assert parse_chinese_number(text) is None


DIGITS = "零一二三四五六七八九"


def to_chinese(n: int) -> str:
    """Standard reading of 1 ≤ n < 100000 (the inverse the parser must undo)."""
    out, zero = "", False
    for unit_value, unit in ((10000, "万"), (1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // unit_value % 10
        if d:
            if zero:
                out += "零"
            out += DIGITS[d] + unit
            zero = False
        elif out:
            zero = True
    return out


@given(st.integers(min_value=1, max_value=99999))
def test_every_standard_reading_round_trips(n):
    assert parse_chinese_number(to_chinese(n)) == n


@given(st.integers(min_value=0, max_value=10**9))
def test_arabic_numbers_parse_as_themselves(n):
    assert parse_chinese_number(str(n)) == n


def test_numbers_in_text_become_digits_but_words_stay():
    assert normalize_numbers("我家六十岁老人一个月两千五") == "我家60岁老人一个月2500"
    assert normalize_numbers("一下子一起去") == "一下子一起去"


def test_normalize_text_drops_emoji_and_control_characters():
    assert normalize_text("ｄｉｂａｏ\u200b  标准😀\x07\n") == "dibao 标准"
    assert normalize_text("\x00\x01 ") == ""


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
       | st.text(alphabet=st.sampled_from(list("低保救助 aZ09^`~_]\\,.，。、《》〜〓\t\n\u3000\ufeff\u200d😀")), max_size=40)
       | st.text(alphabet=st.characters(min_codepoint=0x3000, max_codepoint=0x303F)
                 | st.characters(min_codepoint=0xFF00, max_codepoint=0xFF70)
                 | st.sampled_from(list("低保救助 aZ09é\u0301")), max_size=40))
def test_plain_text_shortcut_equals_the_character_filter(text):
    import unicodedata

    from bot.textnorm import _filter_characters

    assert normalize_text(text) == _filter_characters(unicodedata.normalize("NFKC", text))
