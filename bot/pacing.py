"""Per-channel send rates for the outbox worker: never more than the configured sends a second.

Each channel's sends are spaced at least 1/rate seconds apart (the next slot is reserved
before the send, so a slow or failed send cannot make room for a burst after it). Spaced
so, any one-second window holds at most `rate` sends — the providers' limits
(Twilio's per-number throughput, WeChat's per-second API limits) are never exceeded,
however the batches fall. The clock and the wait are injectable: tests count sends
against a fake clock instead of sleeping.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """Waits before each send until its channel's next slot."""

    def __init__(self, per_second: dict[str, float], clock: Callable[[], float] = time.monotonic,
                 wait: Callable[[float], object] | None = None):
        for channel, rate in per_second.items():
            if not rate > 0:
                raise ValueError(f"{channel}: a send rate must be more than 0 a second, got {rate}")
        self.interval = {channel: 1.0 / rate for channel, rate in per_second.items()}
        self.clock = clock
        self.wait = wait or time.sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, outbox) -> Pacer:
        """The pacing of config.toml `[outbox]` (an OutboxSettings, checked when the config was loaded)."""
        return cls({"sms": outbox.sms_per_second, "wechat": outbox.wechat_per_second})

    def seconds_per_send(self, channel: str) -> float:
        """The spacing of this channel's sends (0: not limited)."""
        return self.interval.get(channel, 0.0)

    def take(self, channel: str, stop: threading.Event | None = None) -> bool:
        """Wait for this channel's next slot and reserve it; False if `stop` was set meanwhile."""
        interval = self.interval.get(channel)
        if interval is None:
            return True
        with self._lock:
            now = self.clock()
            slot = max(now, self._next.get(channel, now))
            self._next[channel] = slot + interval
        delay = slot - now
        if delay > 0:
            if stop is not None:
                if stop.wait(delay):
                    return False
            else:
                self.wait(delay)
        return True

    def mark(self, channel: str) -> None:
        """A send of this channel starts now: the next waits a full interval from here. The work
        between `take` and the send (a database write, the opt-out check) varies by milliseconds;
        spacing from the slots alone let a late send and an on-time one come closer than the rate."""
        interval = self.interval.get(channel)
        if interval is not None:
            with self._lock:
                self._next[channel] = max(self._next.get(channel, 0.0), self.clock() + interval)
