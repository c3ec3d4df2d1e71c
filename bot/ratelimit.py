"""Per-resident rate limit: a flood gets one polite answer, not the whole pipeline.

With Redis configured (`[redis] url` or JIUZHU_REDIS_URL) the count is shared
by every server process; without it each process counts on its own, which is
fine for development and a single worker.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict


class RateLimiter:
    """Fixed one-minute windows: at most `limit` messages per user per minute."""

    def __init__(self, limit: int, redis_url: str | None = None, prefix: str = "jiuzhu:rl:",
                 clock=time.time):
        self.limit = limit
        self.clock = clock
        self.prefix = prefix
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._counts: dict[str, int] = defaultdict(int)  # this window's counts only
        self._window: int | None = None
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one message for `key` (already a keyed hash); False once over the limit."""
        window = int((now if now is not None else self.clock()) // 60)
        if self._redis is not None:
            name = f"{self.prefix}{key}:{window}"
            try:
                # One round trip and no MULTI/EXEC: a lost EXPIRE would only leave a key
                # that names a past minute and is never read again.
                count = self._redis.pipeline(transaction=False).incr(name).expire(name, 120).execute()[0]
                return count <= self.limit
            except Exception:  # noqa: BLE001 — Redis down must not silence residents: count locally
                pass
        with self._lock:
            if window != self._window:  # a new minute: forget the last one (not a scan per message)
                self._counts.clear()
                self._window = window
            self._counts[key] += 1
            return self._counts[key] <= self.limit

    def close(self) -> None:
        """Release the Redis connection pool."""
        if self._redis is not None:
            self._redis.close()
