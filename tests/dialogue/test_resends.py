"""The resident who does what the outage apology says — sends the same words again — is not
read as answering the next question (bot/dialogue/resends.py), on both channels and both
databases; and with Redis the resend may reach another worker.

The outage is the ambiguous kind: the turn's last write reached the database, then the
connection broke before the answer came back (a commit in flight when PostgreSQL is cut).
"""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import exc as sa_exc

from bot.dialogue.turns import TurnPipeline
from tests.conftest import REDIS_URL, service_missing
from tests.dialogue.test_turn_pipeline import Server

OPENING, CONSENT, SIZE = "我想申请低保", "同意", "3"


@pytest.fixture(params=["wechat", "sms"])
def channel(request) -> str:
    return request.param


@pytest.fixture
def server(channel, any_db_url, shared_runtime):
    server = Server(channel, any_db_url, shared_runtime)
    yield server
    server.runtime.db.dispose()


def break_after_write(monkeypatch, landed: bool) -> None:
    """The next turn's final write lands (landed=True) or not, and then the connection breaks."""
    real, armed = TurnPipeline._finish, [True]

    def finish(self, *args, **kwargs):
        if not armed:
            return real(self, *args, **kwargs)
        armed.clear()
        if landed:
            real(self, *args, **kwargs)
        raise sa_exc.OperationalError("COMMIT", {}, ConnectionError("server closed the connection unexpectedly"))
    monkeypatch.setattr(TurnPipeline, "_finish", finish)


def conversation(server: Server, user: str, texts: list[str], first_id: int) -> list[str]:
    return [server.send(text, first_id + i, user)[1] for i, text in enumerate(texts)]


def test_the_same_words_again_after_an_apology_get_the_reply_the_first_had(server, monkeypatch):
    expected = conversation(server, server.user(1), [OPENING, CONSENT, SIZE], 9100)
    assert len(set(expected)) == 3, expected  # three different steps of the screening
    user = server.user(2)
    assert conversation(server, user, [OPENING], 9200) == expected[:1]
    break_after_write(monkeypatch, landed=True)
    apology = server.runtime.kb.message("generic_apology", server.channel)
    assert conversation(server, user, [CONSENT], 9201) == [apology]
    # sent again as a new message: the consent's reply, not "同意" read as the household size
    assert conversation(server, user, [CONSENT, SIZE], 9202) == expected[1:]
    assert server.send(CONSENT, 9202, user)[1] == expected[1]  # that resend's own retry: the same


def test_a_resend_of_a_message_whose_write_did_not_land_is_worked_out_as_new(server, monkeypatch):
    expected = conversation(server, server.user(3), [OPENING, CONSENT, SIZE], 9300)
    user = server.user(4)
    conversation(server, user, [OPENING], 9400)
    break_after_write(monkeypatch, landed=False)
    conversation(server, user, [CONSENT], 9401)
    assert conversation(server, user, [CONSENT, SIZE], 9402) == expected[1:]


def test_the_same_words_twice_without_an_apology_are_two_answers(server):
    """"同意" twice in a row: the second is read at the next question (no apology came between)."""
    user = server.user(5)
    first = conversation(server, user, [OPENING, CONSENT], 9500)
    again = server.send(CONSENT, 9502, user)[1]
    assert again != first[1]


def test_with_redis_the_resend_may_reach_another_worker(channel, any_db_url, shared_runtime, monkeypatch):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as exc:  # noqa: BLE001
        service_missing("Redis at 127.0.0.1:6379", exc)
    workers = [Server(channel, any_db_url, shared_runtime) for _ in range(2)]
    try:
        for worker in workers:
            worker.runtime.config = dataclasses.replace(worker.runtime.config, redis_url=REDIS_URL)
            for built in ("turns", "rate_limiter"):
                worker.runtime.__dict__.pop(built, None)
        one, other = workers
        expected = conversation(one, one.user(6), [OPENING, CONSENT, SIZE], 9600)
        user = one.user(7)
        conversation(one, user, [OPENING], 9700)
        break_after_write(monkeypatch, landed=True)
        conversation(one, user, [CONSENT], 9701)
        assert conversation(other, user, [CONSENT, SIZE], 9702) == expected[1:]
    finally:
        for worker in workers:
            worker.runtime.db.dispose()
