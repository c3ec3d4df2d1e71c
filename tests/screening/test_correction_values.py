"""Scripted conversations on both channels: a correction stores only the corrected value.

"说错了，名字是黄春森" used to store the name "是黄春森": the words that join the
correction to its value (是, 叫) and the wrong value it names (不是黄春生) are no part of it.
"""
import pytest

from tests.screening.conftest import RURAL_FAMILY

CHANNELS = ["wechat", "sms"]
USER = {"wechat": "wx-corrections", "sms": "+8613870712468"}

CORRECTIONS = [
    ("name", "说错了，名字是黄春森", "黄春森"),
    ("name", "名字打错了，叫黄春森", "黄春森"),
    ("name", "不对，我叫黄春森", "黄春森"),
    ("name", "名字是黄春森，不是黄春生", "黄春森"),
    ("name", "名字不是黄春生，是黄春森", "黄春森"),
    ("village", "村子说错了，是太平村", "太平村"),
    ("id_number", "身份证号打错了，是360732197909152130", "360732197909152130"),
    ("phone", "电话说错了，是13970712469", "13970712469"),
]
FIRST = {**RURAL_FAMILY, "name": "黄春生", "village": "上坪村", "id_number": "360732197909152130",
         "phone": "139 7071 2468"}


def lead_fields(runtime, reply):
    store = runtime.leads
    return store.as_dict(store.get(reply.application_ref), reveal=True)["fields"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("slot,said,value", CORRECTIONS)
def test_a_correction_keeps_only_the_value(talk, runtime, channel, slot, said, value):
    c = talk(channel, USER[channel])
    c.send("申请低保")
    answers = dict(FIRST)
    if slot == "id_number":  # first a different valid ID, then the corrected one
        answers["id_number"] = "11010519491231002X"
    c.advance_to("household_size", answers)
    c.send(said)
    assert c.last.expecting == "household_size"
    assert "是" + value not in c.text and "叫" + value not in c.text
    fields = lead_fields(runtime, c.answer_until(answers | {"confirm": "对"}))
    assert fields[slot] == value
