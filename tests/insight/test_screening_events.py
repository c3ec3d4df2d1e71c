"""A screening's events at one grain: a restart, an expiry, 返回 and a correction counted as a person would."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from bot.insight.screening import ScreeningView, screening_events
from bot.messages import IncomingMessage
from bot.storage.models import InsightEvent


def say(runtime, text: str, user: str = "+8613800000005") -> None:
    runtime.engine.handle(IncomingMessage(channel="sms", user_id=user, text=text))


def screening_kinds(runtime) -> list[tuple[str, str | None]]:
    with runtime.db.unit_of_work() as s:
        return [(k, step) for k, step in s.execute(select(InsightEvent.kind, InsightEvent.subject)
                                                    .order_by(InsightEvent.id)) if k.startswith("screening.")]


def test_a_restart_ends_one_screening_and_begins_another(runtime):
    for text in ("我想申请临时救助", "同意", "重新开始"):
        say(runtime, text)
    got = screening_kinds(runtime)
    assert got.count(("screening.started", None)) == 2
    assert got[-3:] == [("screening.abandoned", "name"), ("screening.started", None),
                        ("screening.asked", "consent")]


def test_the_step_back_goes_to_is_not_asked_again_and_a_correction_is_no_new_answer(runtime):
    for text in ("我想申请低保", "同意", "黄春生", "返回"):
        say(runtime, text)
    assert screening_kinds(runtime).count(("screening.asked", "name")) == 1
    say(runtime, "黄春生")
    answered = screening_kinds(runtime).count(("screening.answered", "name"))
    say(runtime, "名字改成黄春森")
    _, _, state = runtime.engine.store.load("sms", "+8613800000005")
    assert json.loads(runtime.protector.unseal(state["screening"]))["values"]["name"] == "黄春森"  # corrected
    assert screening_kinds(runtime).count(("screening.answered", "name")) == answered


def test_a_screening_found_expired_is_abandoned_where_it_stopped(runtime, monkeypatch):
    from bot.screening import session

    for text in ("我想申请低保", "同意"):
        say(runtime, text)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    monkeypatch.setattr(session, "now", lambda: later)
    say(runtime, "黄春生")
    assert screening_kinds(runtime)[-1] == ("screening.abandoned", "name")


def test_a_screening_taken_over_from_the_other_channel_is_not_started_twice():
    here = ScreeningView(started="2026-12-03T01:00", asked="phone", history=("consent", "name"))
    taken = ScreeningView(started="2026-12-01T01:00", asked="household_size", history=("consent", "name", "phone"))
    assert screening_events(here, taken) == [("screening.abandoned", "phone", {})]
