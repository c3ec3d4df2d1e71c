"""One resident, two channels: an unfinished screening continues on the other one."""
from sqlalchemy import select

from bot.storage.models import OutboxMessage
from tests.screening.conftest import RURAL_FAMILY

PHONE = "13970712468"


def sms_codes(runtime) -> list[str]:
    """Bodies of the SMS waiting in the outbox (decrypted, as the worker would send them)."""
    with runtime.db.session() as s:
        rows = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "sms")).scalars().all()
        return [runtime.protector.decrypt(r.body) for r in rows]


def start_on_sms(talk, until="household_size"):
    sms = talk(channel="sms", user=f"+86{PHONE}")
    sms.send("申请低保")
    while sms.last.expecting != until:
        sms.send({**RURAL_FAMILY, "consent": "1"}[sms.last.expecting])
    return sms


def wechat_at_phone(talk, user):
    """A WeChat resident who has started a screening and is asked for the phone."""
    wx = talk(channel="wechat", user=user)
    wx.send("申请低保")
    wx.advance_to("phone", RURAL_FAMILY)
    return wx


def test_wechat_continues_an_sms_screening_after_a_code(talk, runtime):
    start_on_sms(talk)
    wx = wechat_at_phone(talk, "openid-1")
    wx.send("139 7071 2468")
    assert "验证码" in wx.text and "139****2468" in wx.text and wx.last.expecting is None
    (message,) = sms_codes(runtime)
    code = "".join(c for c in message if c.isdigit())[:6]
    wx.send("000000" if code != "000000" else "111111")
    assert "不对" in wx.text
    wx.send(code)
    assert "接上" in wx.text and wx.last.expecting == "household_size"  # where SMS had stopped
    reply = wx.answer_until(RURAL_FAMILY)
    assert reply.application_ref
    sms_again = talk(channel="sms", user=f"+86{PHONE}")
    sms_again.send("五个人")  # the SMS conversation no longer holds the screening
    assert sms_again.last.expecting != "household_monthly_income"


def test_refusing_the_code_keeps_the_new_screening(talk, runtime):
    start_on_sms(talk)
    wx = wechat_at_phone(talk, "openid-2")
    wx.send(PHONE)
    wx.send("0")
    assert wx.last.expecting == "township"


def test_three_wrong_codes_give_up_linking(talk, runtime):
    start_on_sms(talk)
    wx = wechat_at_phone(talk, "openid-3")
    wx.send(PHONE)
    code = "".join(c for c in sms_codes(runtime)[0] if c.isdigit())[:6]
    wrong = "123456" if code != "123456" else "654321"
    for _ in range(3):
        wx.send(wrong)
    assert wx.last.expecting == "township"


def test_sms_continues_a_wechat_screening_without_a_code(talk, runtime):
    wx = talk(channel="wechat", user="openid-4")
    wx.send("申请低保")
    wx.advance_to("township", RURAL_FAMILY)  # the phone given on WeChat is PHONE
    sms = talk(channel="sms", user=f"+86{PHONE}")
    sms.send("申请")
    assert "微信" in sms.text and sms.last.expecting is None
    sms.send("1")
    assert sms.last.expecting == "township"
    assert sms_codes(runtime) == []  # the sender's own number proves it: no code needed


def test_applicant_is_texted_on_submission_and_status_change(talk, runtime):
    from bot.screening.notify import notify_status

    wx = talk(channel="wechat", user="openid-5")
    wx.send("申请低保")
    ref = wx.answer_until(RURAL_FAMILY).application_ref
    assert any(ref in m and "已收到" in m for m in sms_codes(runtime))
    lead = runtime.leads.set_status(ref, "contacted", actor="test")
    assert notify_status(runtime, lead) and notify_status(runtime, lead)  # twice: queued once
    status_sms = [m for m in sms_codes(runtime) if "核实" in m]
    assert len(status_sms) == 1 and ref in status_sms[0]
    shown = runtime.leads.as_dict(runtime.leads.get(ref))
    assert shown["status"] == "contacted"


def test_a_screening_indexed_under_the_old_11_digit_key_is_still_found(talk, runtime):
    from sqlalchemy import update

    from bot.storage.models import Conversation

    start_on_sms(talk)
    with runtime.db.session() as s:  # as a release before the one phone rule wrote it
        s.execute(update(Conversation).where(Conversation.channel == "sms")
                  .values(phone_key=runtime.protector.blind_index("phone", PHONE)))
    wx = wechat_at_phone(talk, "openid-legacy")
    wx.send(PHONE)
    assert "验证码" in wx.text
