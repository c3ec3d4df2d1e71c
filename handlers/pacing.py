"""Whether a WeChat turn runs on the request thread or is handed to an answer thread.

WeChat waits 5 s for a passive reply. A turn handed to an answer thread lets the
request answer "success" at the budget even while the database stalls; but the
hand-off costs two thread switches per message, a noticeable share of a message's
server CPU under load (bench/README.md). So a server process answers on
the request thread while its turns are quick, and hands turns off for a while
after one took longer than `slow_seconds`. The slow turn itself still reaches
the resident exactly once: late, through the customer-service API (see
handlers/wechat.py and bot/dedup.py).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Pacing:
    """One server process's choice, from how long its recent turns took."""

    slow_seconds: float = 1.0      # a turn slower than this makes the process careful …
    careful_seconds: float = 60.0  # … for this long
    threads: int = 8
    _careful_until: float = 0.0    # time.monotonic(); a float store is atomic, no lock needed
    # (an executor starts its threads on first use, so none exist in a pre-fork master)
    pool: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (self.slow_seconds > 0 and self.careful_seconds >= 0 and self.threads >= 1):
            raise ValueError("slow_turn_seconds must be > 0, careful_seconds ≥ 0, answer_threads ≥ 1")
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="wechat-answer")

    def careful(self) -> bool:
        """True while turns should go to an answer thread."""
        return time.monotonic() < self._careful_until

    def took(self, seconds: float) -> None:
        """Note how long a turn took; a slow one starts (or prolongs) a careful spell."""
        if seconds > self.slow_seconds:
            if not self.careful():
                log.warning("wechat: a turn took %.1f s; answering on answer threads for %.0f s",
                            seconds, self.careful_seconds)
            self._careful_until = time.monotonic() + self.careful_seconds
