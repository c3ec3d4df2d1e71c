"""The one turn pipeline, on both channels and both databases: what a resident notices.

A worker killed between claim and reply (here: the turn raises a BaseException,
as a SIGKILL would end it, leaving the claim committed) never loses the reply:
the retry after the lease answers, once. Concurrent deliveries of one message
are worked out once. A database that cannot be reached gets a polite answer
fast, never a 5xx, and the same message delivered again after recovery is answered.
"""
from __future__ import annotations

import dataclasses

import socket
import sqlite3
import threading
import time

import pytest
from sqlalchemy import select

from bot.storage.models import Conversation, OutboxMessage, ProcessedMessage
from web.app import create_app
from tests.handlers.conftest import FakeWeChat, make_runtime, wechat_environ
from tests.handlers.test_sms import Twilio, messages_of, twilio_env

QUESTION = "低保标准是多少"


class Crash(BaseException):
    """The worker dies here: nothing after this point runs (not an error the code could handle)."""


class Server:
    """One server process (its own runtime and pool) answering WeChat or SMS."""

    def __init__(self, channel: str, url: str, shared_runtime, **database):
        self.channel = channel
        rt = make_runtime({**twilio_env(url), **wechat_environ(url)}, shared_runtime)
        rt.config = dataclasses.replace(rt.config, claim_lease_seconds=database.get("lease", 0.5),
                                        database_wait_seconds=database.get("wait_seconds",
                                                                           rt.config.database_wait_seconds))
        if "budget" in database:  # both channels' reply budgets (a claim's lease outlasts its budget)
            rt.config = dataclasses.replace(rt.config, sms=dataclasses.replace(
                rt.config.sms, reply_budget_seconds=database["budget"]))
        self.runtime, self.app = rt, create_app(rt)
        if "budget" in database:
            settings = self.app.extensions["jiuzhu.wechat"]
            self.app.extensions["jiuzhu.wechat"] = dataclasses.replace(settings, budget=database["budget"])
        self.wechat, self.twilio = FakeWeChat(self.app, rt), Twilio(self.app.test_client())

    def send(self, text: str, msg_id: int, user: str) -> tuple[int, str]:
        """(HTTP status, the text the resident gets from this delivery)."""
        if self.channel == "wechat":
            response = self.wechat.post(self.wechat.message_xml("text", user, msg_id, Content=text), openid=user)
            return response.status_code, (self.wechat.reply_of(response, user) if response.status_code == 200
                                          else "")
        response = self.twilio.post(Twilio.params(text, sid=f"SM{msg_id}", number=user))
        return response.status_code, "\n".join(messages_of(response))

    def user(self, n: int) -> str:
        return f"oJZ_pipeline_{n}" if self.channel == "wechat" else f"+86138000{n:05d}"

    def queued(self) -> list[str]:
        with self.runtime.db.unit_of_work() as s:
            rows = s.execute(select(OutboxMessage.body).where(OutboxMessage.channel == self.channel))
            return [self.runtime.protector.decrypt(b) for b in rows.scalars()]


@pytest.fixture(params=["wechat", "sms"])
def channel(request) -> str:
    return request.param


@pytest.fixture
def servers(channel, any_db_url, shared_runtime):
    pair = [Server(channel, any_db_url, shared_runtime), Server(channel, any_db_url, shared_runtime)]
    yield pair
    for s in pair:
        s.runtime.db.dispose()


def count_routes(monkeypatch, server: Server, crash_first: bool = False) -> list[str]:
    calls, real = [], server.runtime.engine._route

    def route(message, cid, state):
        calls.append(message.text)
        if crash_first and len(calls) == 1:
            raise Crash
        return real(message, cid, state)
    monkeypatch.setattr(server.runtime.engine, "_route", route)
    return calls


def test_a_retry_after_a_crash_between_claim_and_reply_is_answered_once(channel, any_db_url, shared_runtime,
                                                                        monkeypatch):
    # the first worker's budget (0.3 s) leases its claim for 0.8 s; the retry's is the default
    first, second = Server(channel, any_db_url, shared_runtime, budget=0.3), Server(channel, any_db_url, shared_runtime)
    user = first.user(1)
    count_routes(monkeypatch, first, crash_first=True)
    calls_two = count_routes(monkeypatch, second)
    with pytest.raises(Crash):  # a new resident: claimed first, then the worker dies
        first.send(QUESTION, 8100001, user)
    with first.runtime.db.unit_of_work() as s:
        assert s.execute(select(ProcessedMessage.reply)).scalars().all() == [None]  # claimed, no reply
    began = time.monotonic()
    status, answer = second.send(QUESTION, 8100001, user)  # within the lease: it waits, the lease runs out,
    assert status == 200 and "900" in answer               # and this very retry takes over and answers
    assert time.monotonic() - began < 5
    assert second.send(QUESTION, 8100001, user) == (200, answer)  # later retries get the same reply
    assert calls_two == [QUESTION]                                 # worked out once after the crash
    assert first.queued() == []                                     # and nothing sent a second time
    for s in (first, second):
        s.runtime.db.dispose()


def test_a_slow_original_that_lost_its_claim_to_a_takeover_answers_nothing(channel, any_db_url, shared_runtime,
                                                                            monkeypatch):
    # a worker hung past its budget (0.3 s) and its lease (0.8 s): alive, but given up on
    first, second = Server(channel, any_db_url, shared_runtime, budget=0.3), Server(channel, any_db_url, shared_runtime)
    user = first.user(2)
    release, real = threading.Event(), first.runtime.engine._route

    def slow(message, cid, state):
        release.wait(10)
        return real(message, cid, state)
    monkeypatch.setattr(first.runtime.engine, "_route", slow)
    original: list = []
    worker = threading.Thread(target=lambda: original.append(first.send(QUESTION, 8200001, user)))
    worker.start()
    time.sleep(1.0)                                       # the original's lease has run out
    status, answer = second.send(QUESTION, 8200001, user)  # a retry takes over and answers
    assert status == 200 and "900" in answer
    release.set()
    worker.join(15)
    assert original == [(200, "")]                        # fenced off: it wrote and sent nothing
    assert first.queued() == [] and second.send(QUESTION, 8200001, user) == (200, answer)
    for s in (first, second):
        s.runtime.db.dispose()


def test_concurrent_deliveries_of_one_message_are_worked_out_once(servers):
    user = servers[0].user(3)
    servers[0].send("你好", 8300000, user)  # a known resident: both deliveries may run unclaimed
    with servers[0].runtime.db.unit_of_work() as s:
        version = s.execute(select(Conversation.version)).scalar_one()
    results: list[tuple[int, str]] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.send("留言", 8300001, user)))
               for s in servers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4 and all(status == 200 for status, _ in results)
    answers = {text for _, text in results} - {""}
    assert len(answers | set(servers[0].queued())) == 1  # one answer, given passively or sent later
    with servers[0].runtime.db.unit_of_work() as s:
        assert s.execute(select(Conversation.version)).scalar_one() == version + 1  # saved once
        assert len(s.execute(select(ProcessedMessage.id)).all()) == 2


# ---- the database unreachable --------------------------------------------------------------
class Proxy:
    """A TCP proxy in front of PostgreSQL that a test cuts (every connection closed, new ones
    refused) and restores on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.sockets, self.lock = target, [], threading.Lock()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener = None
        self.restore()

    def restore(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        try:  # (shutdown wakes the thread blocked in accept(); close alone would leave it listening)
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.sockets.clear()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass


def _answered_politely_and_fast(server: Server, msg_id: int, user: str) -> None:
    began = time.monotonic()
    status, text = server.send(QUESTION, msg_id, user)
    assert status == 200 and time.monotonic() - began < 5
    assert text == server.runtime.kb.message("generic_apology", server.channel)


def test_postgresql_unreachable_gets_a_polite_answer_and_the_retry_after_recovery_is_answered(
        channel, postgres_url, shared_runtime):
    proxy = Proxy(("127.0.0.1", 5432))
    server = Server(channel, postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"),
                    shared_runtime, wait_seconds=2)
    user = server.user(4)
    try:
        assert "900" in server.send(QUESTION, 8400000, user)[1]
        proxy.cut()
        _answered_politely_and_fast(server, 8400001, user)   # a known resident
        _answered_politely_and_fast(server, 8400002, server.user(5))  # a new one
        proxy.restore()
        assert "900" in server.send(QUESTION, 8400001, user)[1]      # nothing was recorded: answered now
        assert "900" in server.send(QUESTION, 8400002, server.user(5))[1]
    finally:
        proxy.cut()
        server.runtime.db.dispose()


def test_sqlite_locked_gets_a_polite_answer_and_the_retry_after_recovery_is_answered(
        channel, sqlite_url, shared_runtime):
    server = Server(channel, sqlite_url, shared_runtime, wait_seconds=0.3)
    user = server.user(6)
    assert "900" in server.send(QUESTION, 8500000, user)[1]
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock (a stuck migration, a backup)
    try:
        _answered_politely_and_fast(server, 8500001, user)
        _answered_politely_and_fast(server, 8500002, server.user(7))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "900" in server.send(QUESTION, 8500001, user)[1]
    assert "900" in server.send(QUESTION, 8500002, server.user(7))[1]
    server.runtime.db.dispose()
