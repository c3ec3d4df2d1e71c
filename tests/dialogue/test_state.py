"""Conversation and screening state: typed, versioned, and today's stored rows still load."""
from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from bot.dialogue.state import (STATE_VERSION, ConversationMode, ConversationState, Expiring, StateError,
                                StateVersionError)
from bot.messages import IncomingMessage
from bot.screening.state import Awaiting, Ending, Link, ReadBack, ScreeningState, seal_screening, unseal_screening

NOW = dt.datetime.now(dt.timezone.utc)
LATER = (NOW + dt.timedelta(minutes=20)).isoformat()
USER = "resident-v1"

# A screening as conversations stored it before state versions (version 1): the household
# question just asked, after consent, programme, name and ID number.
V1_SCREENING = {
    "flow": "screening", "version": 1, "asked": "household_size", "awaiting": None, "callback": False,
    "values": {"consent": True, "program": "dibao", "name": "黄春生", "id_number": "360732197909152130",
               "age": 47, "phone": "13970712468", "township": "崇贤乡", "village": "太平村",
               "residence": "rural"},
    "skipped": [], "derived": ["age"], "history": ["consent", "program", "name", "id_number", "phone",
                                                    "township", "village", "residence"],
    "attempts": {"household_size": 1}, "digressions": {"name": 1},
    "started": NOW.isoformat(), "updated": NOW.isoformat(),
    "consent": {"version": "2026-12-02", "channel": "wechat", "text_sha256": "0123456789abcdef",
                "at": NOW.isoformat(), "reply": "同意"},
}


def say(runtime, text, user=USER, channel="wechat"):
    return runtime.engine.handle(IncomingMessage(channel=channel, user_id=user, text=text))


def store_raw(runtime, state: dict, user=USER, channel="wechat") -> int:
    """Write a conversation row's JSON as it is (as an older or newer release left it)."""
    cid, version, _ = runtime.engine.store.load(channel, user)
    runtime.engine.store.save(cid, version, state)
    return cid


def stored(runtime, user=USER, channel="wechat") -> dict:
    return runtime.engine.store.load(channel, user)[2]


def test_todays_stored_conversation_loads_field_by_field(runtime):
    sealed = runtime.protector.seal(json.dumps(V1_SCREENING, ensure_ascii=False))
    pages = runtime.protector.seal(json.dumps(["第二页"], ensure_ascii=False))
    v1 = {"screening": sealed, "mode": "awaiting_message", "offer_screening": True,
          "offer": {"entries": ["dibao.standard", "tekun.support"], "expires": LATER},
          "last_topic": {"topic": "dibao.standard", "expires": LATER}, "sms_pages": pages}
    state = ConversationState.from_json(v1)
    assert state.mode is ConversationMode.LEAVING_MESSAGE and state.offer_screening
    assert state.offer.current() == ("dibao.standard", "tekun.support")
    assert state.last_topic.current() == "dibao.standard"
    assert state.sms_pages == pages
    screening = unseal_screening(runtime.protector, state.screening)
    assert (screening.asked, screening.awaiting, screening.done) == ("household_size", None, None)
    assert screening.values["name"] == "黄春生" and screening.attempts == {"household_size": 1}
    assert screening.started == NOW and screening.consent["reply"] == "同意"
    # written back: the same keys, now with the version
    assert state.to_json() == {**v1, "state_version": STATE_VERSION}
    assert {k: v for k, v in screening.to_json().items() if k != "state_version"} == V1_SCREENING


def test_a_screening_stored_before_versions_continues(runtime):
    store_raw(runtime, {"screening": runtime.protector.seal(json.dumps(V1_SCREENING, ensure_ascii=False))})
    reply = say(runtime, "五个人")
    assert reply.expecting == "household_monthly_income"
    sealed = stored(runtime)["screening"]
    again = unseal_screening(runtime.protector, sealed)
    assert again.values["household_size"] == 5 and again.history[-1] == "household_size"
    assert stored(runtime)["state_version"] == STATE_VERSION


def test_a_pending_offer_and_a_follow_up_of_today_still_work(runtime):
    entries = [e.id for e in runtime.kb.entries if e.topic in ("dibao.standard", "tekun.support")][:2]
    store_raw(runtime, {"offer": {"entries": entries, "expires": LATER},
                        "last_topic": {"topic": "dibao.standard", "expires": LATER}})
    reply = say(runtime, "2")
    assert reply.messages == [runtime.kb.entry(entries[1]).answer_for("wechat")]


def test_a_state_of_a_newer_release_is_left_alone_and_the_resident_gets_an_apology(runtime, caplog):
    newer = {"state_version": STATE_VERSION + 1, "whatever": {"it": "holds"}}
    store_raw(runtime, newer)
    with pytest.raises(StateVersionError):
        ConversationState.from_json(newer)
    with caplog.at_level(logging.ERROR):
        reply = say(runtime, "低保标准是多少")
    assert reply.messages == [runtime.kb.message("generic_apology", "wechat")]
    assert stored(runtime) == newer  # not overwritten: the newer release reads it


def test_an_unknown_mode_is_an_error_and_the_message_is_answered(runtime, caplog):
    store_raw(runtime, {"mode": "awaiting_photo"})
    with caplog.at_level(logging.ERROR, logger="bot.dialogue.state"):
        reply = say(runtime, "低保标准是多少")
    assert reply.topic == "dibao.standard"
    assert any("awaiting_photo" in r.getMessage() for r in caplog.records)
    assert "mode" not in stored(runtime)


@pytest.mark.parametrize("bad", [{"offer": {"entries": "dibao"}}, {"offer": {"entries": [], "expires": "soon"}},
                                 {"offer_screening": "yes"}, {"unknown_key": 1}])
def test_a_value_that_cannot_be_read_is_logged_and_left_out(bad, caplog):
    with caplog.at_level(logging.ERROR, logger="bot.dialogue.state"):
        assert ConversationState.from_json(bad) == ConversationState()
    assert caplog.records


def test_a_screening_awaiting_something_unknown_says_so_and_asks_again(runtime, caplog):
    unknown = {**V1_SCREENING, "awaiting": "photo_of_id"}
    store_raw(runtime, {"screening": runtime.protector.seal(json.dumps(unknown, ensure_ascii=False))})
    with caplog.at_level(logging.ERROR, logger="bot.screening.state"):
        reply = say(runtime, "1")
    assert any("photo_of_id" in r.getMessage() for r in caplog.records)
    assert reply.messages[0].startswith(runtime.screener.texts.get("awaiting_lost"))
    assert "几口人" in reply.messages[0] and reply.expecting == "household_size"
    assert say(runtime, "五个人").expecting == "household_monthly_income"  # the "1" was not an answer


def test_screening_state_round_trips_with_every_field(runtime):
    state = ScreeningState.new("screening", 1, NOW)
    state.values, state.asked, state.awaiting = {"name": "黄春生"}, "name", Awaiting.LINK_CODE
    state.readback = ReadBack(asked="savings", slot="emergency", value=True)
    state.link = Link(source=7, code=Expiring("hash", NOW), tries=2)
    state.done, state.ref, state.prefill = Ending.CALLBACK, "JZ261202-ABCD", {"program": "tekun"}
    assert ScreeningState.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert unseal_screening(runtime.protector, seal_screening(runtime.protector, state)) == state


@pytest.mark.parametrize("bad", [{"flow": "screening"}, [], {**V1_SCREENING, "done": "lost"},
                                 {**V1_SCREENING, "started": "yesterday"}])
def test_a_malformed_screening_is_a_state_error(bad):
    with pytest.raises(StateError):
        ScreeningState.from_json(bad)


def test_expiring_values_hold_until_their_time():
    assert Expiring.lasting("dibao.standard", 5).current() == "dibao.standard"
    assert Expiring.lasting("dibao.standard", -1).current() is None
    kept = Expiring.lasting(("a", "b"), 5)
    assert Expiring.from_json(kept.to_json("entries"), "entries", tuple) == kept


def test_an_empty_state_is_stored_as_nothing():
    assert ConversationState().to_json() == {}
    assert ConversationState.from_json({}) == ConversationState.from_json(None) == ConversationState()
