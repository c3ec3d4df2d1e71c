"""The one rule for phone numbers: every spelling of a number gives one E.164 form and one key."""
import pytest

from bot.phones import legacy_phone_key, mainland_mobile, phone_key, to_e164
from bot.privacy import DataProtector, generate_key

SPELLINGS = ["13800000001", "138 0000 0001", "138-0000-0001", "+8613800000001", "+86 138 0000 0001",
             "008613800000001", "8613800000001", "(138) 0000 0001"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_mainland_mobile_is_one_number(spelling):
    assert mainland_mobile(spelling) == "13800000001"
    assert to_e164(spelling) == "+8613800000001"


def test_every_spelling_gives_one_blind_index_key():
    protector = DataProtector(generate_key())
    assert {phone_key(protector, s) for s in SPELLINGS} == {phone_key(protector, "+8613800000001")}
    assert phone_key(protector, "13800000002") != phone_key(protector, "13800000001")
    assert legacy_phone_key(protector, "+86 138 0000 0001") == protector.blind_index("phone", "13800000001")


@pytest.mark.parametrize("number, e164", [("+13155550123", "+13155550123"), ("0044 7911 123456", "+447911123456"),
                                          ("12800000001", "12800000001"), ("", "")])
def test_other_numbers_are_not_taken_for_mainland_mobiles(number, e164):
    assert mainland_mobile(number) is None
    assert to_e164(number) == e164


def test_an_sms_opt_out_and_a_screening_link_use_the_same_key(runtime):
    from sqlalchemy import select

    from bot.screening.linking import ScreeningLinker
    from bot.storage.models import Subscription
    from bot.subscriptions import stop_everything

    with runtime.db.unit_of_work() as s:
        stop_everything(s, runtime, "sms", "+8613800000001", wording="STOP", source="sms_keyword")
    with runtime.db.session() as s:
        stored = s.execute(select(Subscription.recipient_key)).scalar_one()
    assert ScreeningLinker(runtime).phone_key("138 0000 0001") == stored
