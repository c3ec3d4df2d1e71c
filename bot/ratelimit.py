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
        self._counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one message for `key` (already a keyed hash); False once over the limit."""
        window = int((now if now is not None else self.clock()) // 60)
        name = f"{self.prefix}{key}:{window}"
        if self._redis is not None:
            try:
                pipe = self._redis.pipeline()
                pipe.incr(name)
                pipe.expire(name, 120)
                count = pipe.execute()[0]
                return count <= self.limit
            except Exception:  # noqa: BLE001 — Redis down must not silence residents: count locally
                pass
        with self._lock:
            for old in [k for k in self._counts if not k.endswith(f":{window}")]:
                del self._counts[old]
            self._counts[name] += 1
            return self._counts[name] <= self.limit

    def close(self) -> None:
        """Release the Redis connection pool."""
        if self._redis is not None:
            self._redis.close()
