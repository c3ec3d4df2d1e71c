"""Per-resident rate limit: a flood gets one polite answer, not the whole pipeline.

With Redis configured (`[redis] url` or JIUZHU_REDIS_URL) the count is shared
by every server process; without it each process counts on its own, which is
fine for development and a single worker.

A Redis outage never silences residents: the count falls back to this process,
the outage is logged once when it starts and once when it ends (per process), and
/healthz shows it. While Redis is down it is tried again only every few seconds, so
a Redis that hangs instead of refusing does not add its timeout to every message.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # while Redis is down, how often a message tries it again


class RateLimiter:
    """Fixed one-minute windows: at most `limit` messages per user per minute."""

    def __init__(self, limit: int, redis_url: str | None = None, prefix: str = "jiuzhu:rl:",
                 clock=time.time, retry_seconds: float = RETRY_SECONDS):
        self.limit = limit
        self.clock = clock
        self.prefix = prefix
        self._redis = None
        self.redis = RedisHealth(redis_url, retry_seconds) if redis_url else None
        if redis_url:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # no retries inside redis-py: a failed command is counted here at once, and the
            # outage tracking decides when Redis is tried again
            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5,
                                               retry=Retry(NoBackoff(), 0))
        self._counts: dict[str, int] = defaultdict(int)  # this window's counts only
        self._window: int | None = None
        self._lock = threading.Lock()

    @property
    def client(self):
        """The Redis client (None without Redis): other short-lived shared state uses it too,
        with `self.redis` as the one record of whether Redis answers."""
        return self._redis

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one message for `key` (already a keyed hash); False once over the limit."""
        window = int((now if now is not None else self.clock()) // 60)
        if self._redis is not None and self.redis.worth_trying():
            name = f"{self.prefix}{key}:{window}"
            try:
                # One round trip and no MULTI/EXEC: a lost EXPIRE would only leave a key
                # that names a past minute and is never read again.
                count = self._redis.pipeline(transaction=False).incr(name).expire(name, 120).execute()[0]
            except Exception as error:  # noqa: BLE001 — Redis down must not silence residents: count locally
                self.redis.failed(error)
            else:
                self.redis.answered()
                return count <= self.limit
        if self.redis is not None:
            self.redis.counted_locally()
        with self._lock:
            if window != self._window:  # a new minute: forget the last one (not a scan per message)
                self._counts.clear()
                self._window = window
            self._counts[key] += 1
            return self._counts[key] <= self.limit

    def health(self) -> str:
        """For /healthz: "ok", "not configured", or since when Redis is unreachable (asks it now)."""
        if self._redis is None:
            return "not configured (the rate limit counts per process)"
        try:
            self._redis.ping()
        except Exception as error:  # noqa: BLE001 — any failure: unreachable
            self.redis.failed(error)
        else:
            self.redis.answered()
        return self.redis.describe()

    def close(self) -> None:
        """Release the Redis connection pool."""
        if self._redis is not None:
            self._redis.close()


class RedisHealth:
    """Whether Redis answers, as this process last saw it; the outage's start and end are logged once."""

    def __init__(self, url: str, retry_seconds: float):
        self.where = _where(url)
        self.retry_seconds = retry_seconds
        self.down_since: dt.datetime | None = None
        self._started = 0.0       # monotonic time the outage began
        self._retry_at = 0.0
        self._local = 0           # messages counted in this process during the outage
        self._lock = threading.Lock()

    def worth_trying(self) -> bool:
        """False while down and not yet due for another try."""
        return self.down_since is None or time.monotonic() >= self._retry_at

    def failed(self, error: BaseException) -> None:
        """A command failed: the outage starts now (logged) or goes on (silently)."""
        with self._lock:
            now = time.monotonic()
            self._retry_at = now + self.retry_seconds
            if self.down_since is not None:
                return
            self.down_since, self._started, self._local = dt.datetime.now(dt.timezone.utc), now, 0
        log.warning("Redis at %s unreachable (%s): the rate limit counts per process until it is back",
                    self.where, type(error).__name__)

    def answered(self) -> None:
        """A command succeeded: an outage in progress ends now (logged)."""
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is None:
                return
            seconds, local = time.monotonic() - self._started, self._local
            self.down_since = None
        log.warning("Redis at %s reachable again after %.0f s (%d message(s) counted per process meanwhile)",
                    self.where, seconds, local)

    def counted_locally(self) -> None:
        """One message was counted in this process instead of Redis."""
        self._local += 1

    def describe(self) -> str:
        """"ok", or since when it is unreachable."""
        if self.down_since is None:
            return "ok"
        since = self.down_since.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return f"unreachable since {since} (the rate limit counts per process)"


def _where(url: str) -> str:
    """host:port/db of a Redis URL, never its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    try:
        port = parts.port or 6379
    except ValueError:
        port = "?"
    return f"{parts.hostname or 'localhost'}:{port}{parts.path if parts.path not in ('', '/') else ''}"
