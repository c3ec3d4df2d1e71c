"""A claim held by another worker, on both channels and both databases: what a resident notices.

A retry that finds the message claimed by a live worker waits for it and gets that
worker's reply; a claim whose owner never finishes is taken over once its lease ran out
(and waited for, then left alone, while it has not); a database outage after the claim,
while the turn is saved, gets a polite answer and the retry after recovery is answered once.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time

import pytest
from sqlalchemy import insert, select

from bot.storage.models import ProcessedMessage, utcnow
from tests.dialogue.test_turn_pipeline import QUESTION, Proxy, Server, count_routes


@pytest.fixture(params=["wechat", "sms"])
def channel(request) -> str:
    return request.param


def pair(channel, url, shared_runtime, lease: float) -> list[Server]:
    """Two server processes with the production lease and WeChat's 4 s budget on both channels."""
    return [Server(channel, url, shared_runtime, lease=lease, budget=4.0) for _ in range(2)]


@pytest.fixture
def slow_lease_servers(channel, any_db_url, shared_runtime):
    servers = pair(channel, any_db_url, shared_runtime, lease=4.5)  # the production figure
    yield servers
    for s in servers:
        s.runtime.db.dispose()


def stale_claim(server: Server, msg_id: int, user: str, lease_left: float) -> None:
    """A claim row whose owner never finishes (killed with -9 after claiming)."""
    key = f"m:{msg_id}" if server.channel == "wechat" else f"SM{msg_id}"  # as handlers/ spell the claim
    now = utcnow()
    with server.runtime.db.unit_of_work() as s:
        s.execute(insert(ProcessedMessage).values(channel=server.channel, message_id=key, created_at=now,
                                                  owner="dead-worker",
                                                  lease_until=now + dt.timedelta(seconds=lease_left)))


def replies(server: Server) -> list:
    with server.runtime.db.unit_of_work() as s:
        return s.execute(select(ProcessedMessage.reply)).scalars().all()


def test_a_retry_during_a_live_claim_waits_and_gets_the_first_workers_reply(slow_lease_servers, monkeypatch):
    first, second = slow_lease_servers
    user = first.user(11)
    started, real = threading.Event(), first.runtime.engine._route
    calls = []

    def slow(message, cid, state):  # a new resident: claimed first, then worked out for 1.5 s
        calls.append(message.text)
        started.set()
        time.sleep(1.5)
        return real(message, cid, state)
    monkeypatch.setattr(first.runtime.engine, "_route", slow)
    calls_two = count_routes(monkeypatch, second)
    original: list = []
    worker = threading.Thread(target=lambda: original.append(first.send(QUESTION, 8600001, user)))
    worker.start()
    assert started.wait(10)
    began = time.monotonic()
    status, answer = second.send(QUESTION, 8600001, user)  # the retry reaches the other process
    waited = time.monotonic() - began
    worker.join(15)
    assert status == 200 and "900" in answer and waited < 5  # the first worker's reply, within WeChat's 5 s
    assert original == [(200, answer)]                       # the same text: the resident sees it once
    assert calls == [QUESTION] and calls_two == []           # worked out once
    assert first.queued() == []                              # and never sent a second time


def test_a_dead_claimers_expired_lease_is_taken_over_by_the_retry(channel, any_db_url, shared_runtime,
                                                                   monkeypatch):
    servers = pair(channel, any_db_url, shared_runtime, lease=4.5)
    try:
        server, user = servers[0], servers[0].user(12)
        calls = count_routes(monkeypatch, server)
        stale_claim(server, 8600002, user, lease_left=-0.1)  # its lease ran out already
        began = time.monotonic()
        status, answer = server.send(QUESTION, 8600002, user)
        assert status == 200 and "900" in answer and time.monotonic() - began < 5
        assert calls == [QUESTION]
        assert servers[1].send(QUESTION, 8600002, user) == (200, answer)  # later retries: the same reply
        assert calls == [QUESTION] and server.queued() == []
    finally:
        for s in servers:
            s.runtime.db.dispose()


def test_a_live_lease_is_waited_for_then_left_alone_and_the_next_retry_takes_over(
        channel, any_db_url, shared_runtime, monkeypatch):
    servers = pair(channel, any_db_url, shared_runtime, lease=4.5)
    try:
        server, user = servers[0], servers[0].user(13)
        calls = count_routes(monkeypatch, server)
        stale_claim(server, 8600003, user, lease_left=30)  # looks alive for 30 s more
        began = time.monotonic()
        assert server.send(QUESTION, 8600003, user) == (200, "")  # waited, nothing to give: never a 2nd run
        assert time.monotonic() - began < 5 and calls == []
        with server.runtime.db.unit_of_work() as s:  # … until the lease runs out
            s.execute(ProcessedMessage.__table__.update().values(lease_until=utcnow() - dt.timedelta(seconds=1)))
        status, answer = server.send(QUESTION, 8600003, user)
        assert status == 200 and "900" in answer and calls == [QUESTION]
    finally:
        for s in servers:
            s.runtime.db.dispose()


def _outage_while_saving(server: Server, monkeypatch, cut, restore) -> None:
    """A new resident's turn (claimed first): the database goes away while the turn runs, so
    its save fails; the answer is polite and fast, and the retry after recovery answers once."""
    user, real = server.user(14), server.runtime.engine._route
    calls = []

    def failing(message, cid, state):
        calls.append(message.text)
        reply = real(message, cid, state)
        if len(calls) == 1:
            cut()
        return reply
    monkeypatch.setattr(server.runtime.engine, "_route", failing)
    began = time.monotonic()
    status, text = server.send(QUESTION, 8600004, user)
    assert status == 200 and time.monotonic() - began < 5
    assert text == server.runtime.kb.message("generic_apology", server.channel)
    restore()
    time.sleep(max(0.0, 5.0 - (time.monotonic() - began)))  # WeChat retries 5 s later: the 4.5 s lease ran out
    status, answer = server.send(QUESTION, 8600004, user)
    assert status == 200 and "900" in answer
    assert server.send(QUESTION, 8600004, user) == (200, answer)
    assert calls == [QUESTION, QUESTION] and server.queued() == []  # answered once, never sent twice


def test_postgresql_lost_while_saving_a_claimed_turn(channel, postgres_url, shared_runtime, monkeypatch):
    proxy = Proxy(("127.0.0.1", 5432))
    server = Server(channel, postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"),
                    shared_runtime, wait_seconds=2, lease=4.5, budget=4.0)
    try:
        _outage_while_saving(server, monkeypatch, proxy.cut, proxy.restore)
    finally:
        proxy.cut()
        server.runtime.db.dispose()


def test_sqlite_locked_while_saving_a_claimed_turn(channel, sqlite_url, shared_runtime, monkeypatch):
    server = Server(channel, sqlite_url, shared_runtime, wait_seconds=0.3, lease=4.5, budget=4.0)
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    try:
        _outage_while_saving(server, monkeypatch, lambda: holder.execute("BEGIN EXCLUSIVE"),
                             lambda: holder.execute("ROLLBACK"))
    finally:
        holder.close()
        server.runtime.db.dispose()
