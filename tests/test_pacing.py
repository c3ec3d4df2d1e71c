"""Per-channel send rates: the worker never sends more a second than config.toml [outbox] allows.

Sends are counted against a fake clock (the wait advances it), so the test takes no time
and a burst over the limit cannot hide in timing noise.
"""
from __future__ import annotations

import threading

import pytest

from bot.config import load_config
from bot.outbox import Policy, Sent, deliver_due, enqueue
from bot.pacing import Pacer
from bot.runtime import Runtime
from tests.conftest import ROOT


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds


class StampingSender:
    """Records the fake time of each send; each send takes `takes` fake seconds."""

    max_seconds = 1.0

    def __init__(self, clock: FakeClock, takes: float = 0.0):
        self.clock, self.takes, self.stamps = clock, takes, []

    def send(self, recipient: str, body: str) -> Sent:
        self.stamps.append(self.clock.now)
        self.clock.now += self.takes
        return Sent(provider_id=f"SM{len(self.stamps)}", segments=1)


def most_in_any_second(stamps: list[float]) -> int:
    """The largest number of sends in any window [t, t + 1 s)."""
    return max(sum(1 for s in stamps if start <= s < start + 1.0) for start in stamps)


@pytest.fixture
def rt(any_db_url):
    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": any_db_url}))
    yield runtime
    runtime.db.dispose()


def test_the_configured_rates_are_read_from_config_toml():
    config = load_config(ROOT / "config.toml", overrides={"outbox.sms_per_second": 4}, environ={})
    pacer = Pacer.of(config.outbox)
    assert pacer.seconds_per_send("sms") == 0.25
    assert pacer.seconds_per_send("wechat") == 1 / config.outbox.wechat_per_second


@pytest.mark.parametrize("takes", [0.0, 0.1, 0.7])
def test_the_worker_never_sends_more_than_the_configured_rate(rt, takes):
    clock = FakeClock()
    sms, wechat = StampingSender(clock, takes), StampingSender(clock, takes)
    for i in range(30):
        enqueue(rt, "sms", f"+86138000{i:05d}", "通知", f"pace:sms:{i}")
        enqueue(rt, "wechat", f"oOPENID{i:05d}", "通知", f"pace:wx:{i}")
    pacer = Pacer({"sms": 3.0, "wechat": 10.0}, clock=clock, wait=clock.wait)
    policy = Policy(batch_size=7)  # batches end and begin mid-second: the spacing must hold across them
    while deliver_due(rt, {"sms": sms, "wechat": wechat}, lambda *_: None, policy, pacer=pacer):
        pass
    assert len(sms.stamps) == 30 and len(wechat.stamps) == 30
    assert most_in_any_second(sms.stamps) <= 3
    # both channels share one worker: WeChat's own limit still holds, while SMS waits slow it
    assert most_in_any_second(wechat.stamps) <= 10
    if takes == 0.0:  # no slower than needed either: 30 SMS at 3 a second take under 10 s
        assert sms.stamps[-1] - sms.stamps[0] <= 30 / 3 + 1e-9 and most_in_any_second(sms.stamps) == 3


def test_work_before_a_send_that_varies_cannot_squeeze_one_more_send_into_a_second(rt):
    """The opt-out check and the row's update run between the slot and the send: one that is late
    (here every eleventh) must not leave the sends after it on their old slots."""
    clock = FakeClock()
    sender = StampingSender(clock)
    for i in range(23):
        enqueue(rt, "sms", f"+86138000{i:05d}", "通知", f"pace:jitter:{i}")
    checks = iter(range(1000))

    def slow_now_and_then(_channel, _recipient):
        if next(checks) % 11 == 0:
            clock.now += 0.05  # a slow database write before this send
        return None
    pacer = Pacer({"sms": 10.0}, clock=clock, wait=clock.wait)
    while deliver_due(rt, {"sms": sender}, slow_now_and_then, Policy(batch_size=23), pacer=pacer):
        pass
    assert len(sender.stamps) == 23
    assert most_in_any_second(sender.stamps) <= 10


def test_a_stop_while_waiting_for_a_slot_hands_the_rest_back_unsent(rt):
    clock = FakeClock()
    sender = StampingSender(clock)
    for i in range(3):
        enqueue(rt, "sms", f"+86138000{i:05d}", "通知", f"pace:stop:{i}")
    stop = threading.Event()
    pacer = Pacer({"sms": 1.0}, clock=clock)
    pacer.take("sms")                      # the slot now is used; the next is a second away
    stop.set()                             # the worker is asked to stop meanwhile
    outcomes = deliver_due(rt, {"sms": sender}, lambda *_: None, Policy(), stop=stop, pacer=pacer)
    assert sender.stamps == [] and not outcomes
    with rt.db.session() as s:
        from bot.storage.models import OutboxMessage
        assert {row.status for row in s.query(OutboxMessage)} == {"queued"}


def test_a_rate_of_zero_is_refused():
    with pytest.raises(ValueError, match="more than 0"):
        Pacer({"sms": 0})
