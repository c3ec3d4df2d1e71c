"""A Redis outage is visible (logged once as it starts and once as it ends, shown by /healthz) and
harmless (the bot answers, the rate limit counts per process) — on the real Redis behind a proxy."""
from __future__ import annotations

import logging
import time
import urllib.parse
import uuid

import pytest

from bot.messages import IncomingMessage
from bot.ratelimit import RateLimiter
from bot.runtime import Runtime
from tests.conftest import REDIS_URL, service_missing
from tests.tools.faults import TcpProxy
from web.app import create_app


@pytest.fixture
def redis_proxy():
    """The real Redis server behind a TCP proxy that can be cut."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        service_missing("Redis at 127.0.0.1:6379", exc)
    finally:
        client.close()
    target = urllib.parse.urlsplit(REDIS_URL)
    proxy = TcpProxy(target.port or 6379, target.hostname or "127.0.0.1")
    yield proxy, f"redis://127.0.0.1:{proxy.port}{target.path}"
    proxy.close()


def outage_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.ratelimit"]


def test_an_outage_is_logged_once_as_it_starts_and_once_as_it_ends(redis_proxy, runtime, caplog):
    import redis

    proxy, url = redis_proxy
    prefix = f"jiuzhu-test:{uuid.uuid4().hex}:"
    limiter = RateLimiter(3, url, prefix=prefix, retry_seconds=0.2)
    runtime = Runtime(runtime.config, kb=runtime.kb, matcher=runtime.matcher, rate_limiter=limiter)
    client = create_app(runtime).test_client()
    direct = redis.Redis.from_url(REDIS_URL)
    caplog.set_level(logging.INFO, logger="bot.ratelimit")
    try:
        assert limiter.allow("resident-a", now=600.0)
        assert direct.get(f"{prefix}resident-a:10") == b"1"  # counted in Redis, shared by every process
        assert client.get("/healthz").get_json()["detail"] == {"database": "ok", "redis": "ok"}

        proxy.cut()
        started = time.monotonic()
        allowed = [limiter.allow("resident-a", now=600.0) for _ in range(5)]
        assert allowed == [True, True, True, False, False]  # counted in this process now
        assert time.monotonic() - started < 1.0  # no Redis timeout on every message
        reply = runtime.engine.handle_limited(IncomingMessage(channel="sms", user_id="13970712468",
                                                              text="低保标准是多少"))
        assert "900" in reply.messages[0]  # the bot keeps answering
        health = client.get("/healthz")
        assert health.status_code == 200 and health.get_json()["status"] == "ok"
        assert health.get_json()["detail"]["redis"].startswith("unreachable since ")
        time.sleep(0.3)
        limiter.allow("resident-b", now=600.0)  # tried again, still down: no second line
        lines = outage_lines(caplog)
        assert len(lines) == 1 and "unreachable" in lines[0] and f"127.0.0.1:{proxy.port}" in lines[0]

        proxy.restore()
        time.sleep(0.3)  # the retry interval
        assert limiter.allow("resident-c", now=600.0)
        assert direct.get(f"{prefix}resident-c:10") == b"1"  # back in Redis
        limiter.allow("resident-c", now=600.0)
        lines = outage_lines(caplog)
        assert len(lines) == 2 and "reachable again" in lines[1]
        assert "message(s) counted per process meanwhile" in lines[1]
        assert client.get("/healthz").get_json()["detail"]["redis"] == "ok"
        assert len(outage_lines(caplog)) == 2
    finally:
        limiter.close()
        for key in direct.scan_iter(f"{prefix}*"):
            direct.delete(key)
        direct.close()


def test_a_port_where_nothing_listens_is_an_outage_from_the_start(runtime, caplog):
    limiter = RateLimiter(2, "redis://:s3cret@127.0.0.1:1/0", retry_seconds=60)
    runtime = Runtime(runtime.config, kb=runtime.kb, matcher=runtime.matcher, rate_limiter=limiter)
    caplog.set_level(logging.INFO, logger="bot.ratelimit")
    try:
        assert [limiter.allow("u", now=0.0) for _ in range(3)] == [True, True, False]
        detail = create_app(runtime).test_client().get("/healthz").get_json()["detail"]
        assert detail["redis"].startswith("unreachable since ")
        lines = outage_lines(caplog)
        assert len(lines) == 1 and "127.0.0.1:1/0" in lines[0] and "s3cret" not in lines[0]
    finally:
        limiter.close()


def test_healthz_says_when_redis_is_not_configured(runtime):
    detail = create_app(runtime).test_client().get("/healthz").get_json()["detail"]
    assert detail == {"database": "ok", "redis": "not configured (the rate limit counts per process)"}
