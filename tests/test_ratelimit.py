"""The per-resident rate limit, in-process and on the real Redis server."""
import uuid

import pytest

from bot.messages import IncomingMessage
from bot.ratelimit import RateLimiter
from bot.runtime import Runtime
from tests.conftest import REDIS_URL, service_missing


def test_in_process_limit_resets_each_minute():
    rl = RateLimiter(3)
    assert [rl.allow("k", now=60.0) for _ in range(4)] == [True, True, True, False]
    assert rl.allow("other", now=60.0)
    assert rl.allow("k", now=121.0)  # next window


def test_in_process_counts_keep_only_the_current_minute():
    rl = RateLimiter(3)
    for i in range(500):
        rl.allow(f"resident-{i}", now=60.0)
    assert rl.allow("k", now=125.0)
    assert len(rl._counts) == 1  # the last minute's 500 residents are forgotten, without a scan per message


@pytest.fixture
def redis_limiter():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        client.close()
        service_missing("Redis at 127.0.0.1:6379", exc)
    client.close()
    prefix = f"jiuzhu-test:{uuid.uuid4().hex}:"
    limiters = [RateLimiter(2, REDIS_URL, prefix=prefix), RateLimiter(2, REDIS_URL, prefix=prefix)]
    yield limiters
    for rl in limiters:
        rl.close()


def test_redis_limit_is_shared_by_processes(redis_limiter):
    a, b = redis_limiter  # two server processes
    assert a.allow("u", now=600.0) and b.allow("u", now=600.0)
    assert not a.allow("u", now=600.0)
    assert not b.allow("u", now=600.0)


def test_redis_down_falls_back_to_counting_locally():
    rl = RateLimiter(1, "redis://127.0.0.1:1/0")  # nothing listens there
    assert rl.allow("u", now=0.0) and not rl.allow("u", now=0.0)
    rl.close()


def test_a_flood_gets_a_polite_answer(runtime):
    runtime = Runtime(runtime.config, kb=runtime.kb, matcher=runtime.matcher,
                      rate_limiter=RateLimiter(2, clock=lambda: 600.0))  # one minute, whatever the time
    replies = [runtime.engine.handle_limited(IncomingMessage(channel="sms", user_id="138", text="低保标准是多少"))
               for _ in range(3)]
    assert "900" in replies[1].messages[0]
    assert "歇一分钟" in replies[2].messages[0]
