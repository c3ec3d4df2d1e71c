"""Illness the family cannot pay for is 医疗救助 first; a sudden emergency stays 临时救助.

"我屋里老伴生病了，冇钱看病" was answered 临时救助 (an illness read as an emergency): the
cost of treatment — 看病, 住院, 医药费, 治不起 — is what 医疗救助 is for; 临时救助 is for a
sudden event that leaves a family without food or shelter. Animals' illness is no assistance.
"""
import pytest

ILL_AND_CANNOT_PAY = [
    "我屋里老伴生病了，冇钱看病",
    "老伴住院了没钱交住院费",
    "老婆病了冇钱治",
    "我爸生病了，家里没钱",
    "崽害病住院，屋里拿不出钱",
    "看病没钱怎么办",
]


@pytest.mark.parametrize("channel", ["wechat", "sms"])
@pytest.mark.parametrize("q", ILL_AND_CANNOT_PAY)
def test_illness_that_cannot_be_paid_for_is_medical_assistance(shared_runtime, q, channel):
    a = shared_runtime.answer(q, channel)
    assert a.topic == "yiliao.eligibility", (q, a.outcome, a.as_json()["alternatives"])
    assert "医疗救助" in a.text


@pytest.mark.parametrize("q", ["屋里着火了，房子烧了一半", "突然病倒，吃饭都成问题"])
def test_a_sudden_emergency_is_still_temporary_assistance(shared_runtime, q):
    assert shared_runtime.answer(q, "wechat").topic == "linshi.eligibility"


@pytest.mark.parametrize("q", ["养的狗生病了找谁看", "猪病了请兽医要几多钱"])
def test_animals_illness_is_declined(shared_runtime, q):
    a = shared_runtime.answer(q, "wechat")
    assert a.topic is None and a.outcome in ("decline", "unknown")
