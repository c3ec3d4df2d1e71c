"""Insight events written by real conversations: signed WeChat and Twilio webhooks, SQLite and PostgreSQL."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import select

from bot.insight.events import KINDS
from bot.insight.rollup import counts
from bot.storage.models import InsightEvent
from tests.handlers.test_sms import Twilio, twilio_env
from tests.handlers.test_sms import make_runtime as make_sms_runtime
from tests.handlers.test_wechat_turns import server
from tests.screening.conftest import RURAL_FAMILY
from web.app import create_app


@pytest.fixture
def wechat(any_db_url, shared_runtime):
    """The WeChat callback of one server process on SQLite or PostgreSQL (real signatures)."""
    fake = server(any_db_url, shared_runtime)
    yield fake
    fake.runtime.db.dispose()


@pytest.fixture
def sms(any_db_url, shared_runtime):
    """The Twilio webhook on SQLite or PostgreSQL (real X-Twilio-Signature); (Twilio, runtime)."""
    runtime = make_sms_runtime(twilio_env(any_db_url), shared_runtime)
    yield Twilio(create_app(runtime).test_client()), runtime
    runtime.db.dispose()


def events(runtime) -> list[tuple]:
    """Every event as (kind, subject, channel, township, programme, age_band), in order."""
    with runtime.db.unit_of_work() as s:
        rows = s.execute(select(InsightEvent).order_by(InsightEvent.id)).scalars().all()
        return [(r.kind, r.subject, r.channel, r.township, r.programme, r.age_band) for r in rows]


def kinds(runtime) -> list[tuple[str, str | None]]:
    return [(kind, subject) for kind, subject, *_ in events(runtime)]


def asked_slot(runtime, channel: str, user: str) -> str | None:
    """The step the resident's screening waits at (read from the sealed state), None without one."""
    _, _, state = runtime.engine.store.load(channel, user)
    if "screening" not in state:
        return None
    return json.loads(runtime.protector.unseal(state["screening"]))["asked"]


def vague_question(runtime) -> str:
    """A question the matcher answers with 您是不是想问 (numbered choices)."""
    for question in ("补贴", "钱", "补助", "救助", "困难补助"):
        if runtime.answer(question).outcome == "choices":
            return question
    pytest.fail("no vague question produced choices")


def test_questions_answered_offered_chosen_declined_and_unanswered_on_wechat(wechat):
    rt = wechat.runtime
    vague = vague_question(rt)
    wechat.text(vague)
    wechat.text("1")                   # the first choice taken
    assert "900" in wechat.text("低保标准是多少", openid="oJZ_another_resident")
    wechat.text("火星上有没有水", openid="oJZ_third")    # out of scope
    wechat.text("阿巴阿巴咕噜", openid="oJZ_fourth")      # nothing known
    first_choice = rt.answer(vague).choices[0].entry.topic
    recorded = kinds(rt)
    assert recorded[:3] == [("question.offered", first_choice), ("question.chosen", first_choice),
                            ("question.answered", "dibao.standard")]
    assert recorded[3:] == [("question.declined", None), ("question.unanswered", None)]
    assert all(channel == "wechat" for _, _, channel, *_ in events(rt))


def test_a_follow_and_an_unfollow_are_counted_with_the_subscription(wechat):
    wechat.send("event", Event="subscribe", EventKey="")
    wechat.send("event", Event="unsubscribe")
    assert kinds(wechat.runtime) == [("subscription.subscribed", "all"), ("subscription.unsubscribed", "all")]


def test_a_screening_left_on_wechat_is_counted_where_it_stopped(wechat):
    rt = wechat.runtime
    wechat.text("我想申请低保")        # the programme is named: not asked again
    wechat.text("同意")
    assert asked_slot(rt, "wechat", "oJZ_test_resident_0001") == "name"
    wechat.text("跳过")                # skipped
    for _ in range(3):                 # three answers that are no ID number: the way-out menu
        wechat.text("我不记得了啊啊")
    wechat.text("退出")
    got = [(k, s) for k, s in kinds(rt) if k.startswith("screening.")]
    assert got[:5] == [("screening.started", None), ("screening.asked", "consent"),
                       ("screening.answered", "consent"), ("screening.asked", "name"),
                       ("screening.skipped", "name")]
    assert ("screening.failed", "id_number") in got
    assert got[-1] == ("screening.abandoned", "id_number")
    assert sum(k == "screening.asked" and s == "id_number" for k, s in got) == 1  # re-asks are no new step
    programmes = {p for k, _s, _c, _t, p, _a in events(rt) if k.startswith("screening.")}
    assert programmes == {"dibao"}


def test_a_screening_submitted_on_sms_makes_a_funnel(sms):
    twilio, rt = sms
    twilio.send("我想申请低保")
    for _ in range(40):
        slot = asked_slot(rt, "sms", "+8613800000001")
        if slot is None:
            break
        twilio.send(RURAL_FAMILY[slot])
    else:
        pytest.fail("the screening never ended")
    got = events(rt)
    screening = [e for e in got if e[0].startswith("screening.")]
    assert screening[0][0] == "screening.started" and screening[-1][0] == "screening.submitted"
    asked = [s for k, s, *_ in screening if k == "screening.asked"]
    answered = [s for k, s, *_ in screening if k == "screening.answered"]
    assert asked[0] == "consent" and "township" in asked and "confirm" in asked
    assert len(asked) == len(set(asked))                     # each step reached once
    assert set(answered) <= set(asked) | {"program"}          # (the programme came with the opening)
    submitted = screening[-1]
    assert submitted[2:] == ("sms", "崇贤乡", "dibao", "<60")  # township, programme, age band when known
    assert all(channel == "sms" for _, _, channel, *_ in got)
    with rt.db.unit_of_work() as s:
        tally = counts(s, rt.insight.today(), rt.insight.today(), by=("kind",))
    assert tally[("screening.submitted",)] == 1 and tally[("screening.started",)] == 1


def test_stop_help_and_start_on_sms_are_counted(sms):
    twilio, rt = sms
    twilio.send("TD")
    twilio.send("帮助")
    twilio.send("订阅")
    assert Counter(kinds(rt)) == Counter({("subscription.unsubscribed", "all"): 1,
                                          ("subscription.subscribed", "all"): 1,
                                          ("subscription.subscribed", "notices"): 1})


def test_a_retried_message_is_counted_once(wechat):
    first = wechat.text("低保标准是多少", msg_id=7_300_001)
    assert wechat.text("低保标准是多少", msg_id=7_300_001) == first
    assert kinds(wechat.runtime) == [("question.answered", "dibao.standard")]


def test_a_failure_to_record_never_costs_the_answer(wechat, monkeypatch):
    def broken(*_a, **_k):
        raise RuntimeError("insight bug")
    monkeypatch.setattr(wechat.runtime.insight, "event", broken)
    assert "900" in wechat.text("低保标准是多少")
    assert events(wechat.runtime) == []


def test_every_event_kind_is_named_in_the_vocabulary(wechat):
    wechat.text("低保标准是多少")
    wechat.text("申请")
    wechat.text("不同意")
    assert {k for k, *_ in events(wechat.runtime)} <= KINDS
