"""One WeChat message = one read and one write (the turn pipeline's fast path), on SQLite and PostgreSQL.

What the per-message database work must keep guaranteeing after it was cut down:
a MsgId delivered to two server processes at once runs the conversation once,
nothing is written when nothing changed, a concurrent update is worked out again
on the fresh state with the reply stored to match, unanswered questions are
logged with the turn (scrubbed), and stored replies stay encrypted.
"""
from __future__ import annotations

import contextlib
import dataclasses
import threading

import pytest
from sqlalchemy import select
from wechatpy.crypto import WeChatCrypto

from bot.dialogue.state import ConversationMode, ConversationState
from bot.dialogue.turn_sql import Link, Tx
from bot.messages import IncomingMessage
from bot.storage.models import Conversation, ProcessedMessage, UnansweredQuestion
from web.app import create_app
from tests.handlers.conftest import AES_KEY, APP_ID, OPENID, TOKEN, FakeWeChat, make_runtime, wechat_environ

LEAVING = ConversationState(mode=ConversationMode.LEAVING_MESSAGE)  # after 留言


def server(url: str, shared_runtime, safe: bool = False) -> FakeWeChat:
    """One server process's app: its own runtime, engine and connection pool on `url`."""
    rt = make_runtime(wechat_environ(url, safe=safe), shared_runtime)
    return FakeWeChat(create_app(rt), rt, WeChatCrypto(TOKEN, AES_KEY, APP_ID) if safe else None)


@pytest.fixture
def servers(any_db_url, shared_runtime):
    """Two server processes sharing one database (SQLite file or a PostgreSQL schema)."""
    pair = [server(any_db_url, shared_runtime), server(any_db_url, shared_runtime)]
    yield pair
    for s in pair:
        s.runtime.db.dispose()


def routed(monkeypatch, runtime, calls: list, lock: threading.Lock) -> None:
    """Count every message the engine works out (across threads)."""
    real = runtime.engine._route

    def route(message, cid, state):
        with lock:
            calls.append(message.text)
        return real(message, cid, state)

    monkeypatch.setattr(runtime.engine, "_route", route)


def conversation(runtime, openid: str = OPENID) -> tuple[int, ConversationState]:
    """(version, state) of a resident's WeChat conversation; which message last changed it
    (bookkeeping for resends after an outage, tests/dialogue/test_resends.py) left out."""
    _, version, state = runtime.engine.store.load("wechat", openid)
    return version, dataclasses.replace(ConversationState.from_json(state), last_change=None)


def test_a_msgid_delivered_to_two_processes_at_once_runs_once(servers, monkeypatch):
    calls, lock = [], threading.Lock()
    for s in servers:
        routed(monkeypatch, s.runtime, calls, lock)
    questions = ["低保标准是多少", "特困供养是什么", "临时救助怎么申请", "医疗救助能报多少"] * 3
    replies: dict[tuple[int, int], str] = {}

    def deliver(i: int, which: int) -> None:
        s = servers[which]
        reply = s.text(questions[i], msg_id=7_100_000 + i, openid=f"oJZ_twice_{i}")  # one each: no reruns
        with lock:
            replies[(i, which)] = reply

    threads = [threading.Thread(target=deliver, args=(i, w)) for i in range(len(questions)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(calls) == sorted(questions)  # each MsgId worked out exactly once
    # Each resident gets exactly one answer. WeChat repeats a MsgId only after it stopped
    # waiting for the first delivery, so a repeat that finds no reply yet marks the first
    # late; its answer then goes through the customer-service API (the outbox) instead.
    queued = _queued_recipients(servers[0].runtime)
    for i in range(len(questions)):
        passive = {replies[(i, 0)], replies[(i, 1)]} - {""}
        assert len(passive) + queued.count(f"oJZ_twice_{i}") == 1, i
    # and every claimed message has its reply stored for later retries: sealed, or "sent late"
    with servers[0].runtime.db.engine.connect() as conn:
        stored = [Tx.from_json(r) for r in conn.execute(select(ProcessedMessage.reply)).scalars().all()]
    assert len(stored) == len(questions)
    assert all(r == {"late": True} or "sealed" in r for r in stored)
    assert all("低保" not in r.get("sealed", "") for r in stored)  # encrypted, not the text


def _queued_recipients(runtime) -> list[str]:
    """The openids of queued WeChat customer-service messages."""
    from bot.storage.models import OutboxMessage
    with runtime.db.session() as session:
        rows = session.execute(select(OutboxMessage.recipient_ref).where(OutboxMessage.channel == "wechat"))
        return [runtime.protector.decrypt(ref) for ref in rows.scalars()]


def test_an_answer_that_changes_nothing_writes_no_conversation(servers):
    wechat = servers[0]
    wechat.text("低保标准是多少")                       # first answer: offers the screening (a change)
    version, state = conversation(wechat.runtime)
    assert state.last_topic.value == "dibao.standard"            # … and frames a follow-up
    assert dataclasses.replace(state, last_topic=None) == ConversationState(offer_screening=True)
    assert "900" in wechat.text("低保标准是多少")       # same answer, same state: no conversation write
    assert conversation(wechat.runtime) == (version, state)
    wechat.text("申请")                                 # a screening starts: written
    assert conversation(wechat.runtime)[0] == version + 1


def _record_statements(monkeypatch, db=None) -> list[tuple[str, list[str]]]:
    """Every transaction and autocommitted statement of the turn pipeline from now on, with
    its statements' first words (on SQLite an autocommit is a transaction: recorded once)."""
    blocks: list[tuple[str, list[str]]] = []
    depth = [0]
    real = {"autocommit": Link.autocommit, "transaction": Link.transaction}
    real_run = Tx.run

    def opener(kind):
        @contextlib.contextmanager
        def open_block(link):
            if not depth[0]:
                blocks.append((kind, []))
            depth[0] += 1
            try:
                with real[kind](link) as tx:
                    yield tx
            finally:
                depth[0] -= 1
        return open_block

    def run(tx, sql, params):
        if blocks:
            blocks[-1][1].append(sql.sqlite.split()[0])
        return real_run(tx, sql, params)

    real_run_many = Tx.run_many

    def run_many(tx, sql, rows):
        if blocks:
            blocks[-1][1].append(sql.sqlite.split()[0])
        return real_run_many(tx, sql, rows)

    for kind in real:
        monkeypatch.setattr(Link, kind, opener(kind))
    monkeypatch.setattr(Tx, "run", run)
    monkeypatch.setattr(Tx, "run_many", run_many)
    return blocks


def test_a_known_resident_costs_one_read_and_one_write_transaction(servers, monkeypatch):
    wechat = servers[0]
    wechat.text("你好")  # the conversation exists from now on, offering the screening
    blocks = _record_statements(monkeypatch, wechat.runtime.db)
    postgresql = wechat.runtime.db.engine.dialect.name == "postgresql"
    assert wechat.text("留言")  # awaiting the message: the state changes
    # read the conversation (and that the message is unclaimed); then claim with the reply, save:
    # on PostgreSQL one autocommitted statement, on SQLite one transaction
    assert blocks == [("autocommit", ["SELECT"]), ("autocommit", ["WITH"]) if postgresql
                      else ("transaction", ["INSERT", "UPDATE"])]
    blocks.clear()
    assert wechat.text("取消")  # no message left after all: the state changes back
    assert wechat.text("你好") == wechat.text("你好")  # the second changes nothing: the claim only,
    # with the answered question's insight event (PostgreSQL: both in one statement)
    assert blocks[-2:] == [("autocommit", ["SELECT"]), ("autocommit", ["WITH"]) if postgresql
                           else ("transaction", ["INSERT", "INSERT"])]


def test_a_new_resident_and_a_retry_claim_first(servers, monkeypatch):
    wechat = servers[0]
    blocks = _record_statements(monkeypatch, wechat.runtime.db)
    first = wechat.text("低保标准是多少", msg_id=7500001, openid="oJZ_new_resident")
    # no conversation yet: claim, then create and load it, in one transaction
    assert blocks[0] == ("autocommit", ["SELECT"])
    assert blocks[1] == ("transaction", ["INSERT", "SELECT", "INSERT", "SELECT"])
    blocks.clear()
    assert wechat.text("低保标准是多少", msg_id=7500001, openid="oJZ_new_resident") == first
    # a retry: the claim fails and the stored reply is given again; nothing else happens
    assert blocks == [("autocommit", ["SELECT"]), ("transaction", ["INSERT", "SELECT"])]


def test_a_turn_that_needs_the_database_claims_first_and_runs_once(servers, monkeypatch):
    wechat = servers[0]
    wechat.text("你好")
    calls, lock = [], threading.Lock()
    routed(monkeypatch, wechat.runtime, calls, lock)
    sessions = []
    real_session = wechat.runtime.db.session

    @contextlib.contextmanager
    def session():
        with real_session() as s:  # (refused while the turn is worked out unclaimed)
            sessions.append(claimed_rows(wechat.runtime))  # how many claims exist when it reads
            yield s

    blocks = _record_statements(monkeypatch, wechat.runtime.db)
    before = claimed_rows(wechat.runtime)
    monkeypatch.setattr(wechat.runtime.db, "session", session)
    assert "申请" in wechat.text("查进度")  # reads the resident's applications: needs the database
    assert [kind for kind, _ in blocks[:2]] == ["autocommit", "transaction"]  # tried, then claimed first
    assert sessions == [before + 1]  # the applications were read once, after the claim
    assert calls == ["查进度", "查进度"]  # the first attempt stopped at the database, touching nothing


def claimed_rows(runtime) -> int:
    with runtime.db.engine.connect() as conn:
        return len(conn.execute(select(ProcessedMessage.message_id)).all())


def test_a_concurrent_update_is_worked_out_again_and_the_reply_matches(servers, monkeypatch):
    wechat, other = servers
    wechat.text("低保标准是多少")
    calls, lock = [], threading.Lock()
    real = wechat.runtime.engine._route

    def route(message, cid, state):
        calls.append(message.text)
        if len(calls) == 1:  # meanwhile another process answers the same resident
            def answer_elsewhere():
                cid_, version_, _ = other.runtime.engine.store.load("wechat", OPENID)
                other.runtime.engine.store.save(cid_, version_, {"mode": "awaiting_message"})
            saver = threading.Thread(target=answer_elsewhere)  # (another thread: the database is not out of bounds)
            saver.start()
            saver.join()
        return real(message, cid, state)

    monkeypatch.setattr(wechat.runtime.engine, "_route", route)
    version, _ = conversation(wechat.runtime)
    reply = wechat.text("留言", msg_id=7200001)
    assert calls == ["留言", "留言"]                   # worked out again on the fresh state
    assert reply == wechat.text("留言", msg_id=7200001)  # the stored reply is the final one
    assert conversation(wechat.runtime) == (version + 2, ConversationState())  # "留言" while awaiting: saved it
    with wechat.runtime.db.session() as s:
        rows = s.execute(select(UnansweredQuestion.outcome)).scalars().all()
    assert rows == ["left_message"]                    # logged once, by the attempt that was kept


def test_unanswered_questions_are_logged_with_the_turn_and_scrubbed(servers):
    wechat = servers[0]
    wechat.text("我电话13800000000，火星上有没有水")  # not known: logged for a caseworker
    with wechat.runtime.db.session() as s:
        texts = s.execute(select(UnansweredQuestion.text)).scalars().all()
    assert texts and all("13800000000" not in t for t in texts)


def test_a_retry_of_a_late_answer_gets_nothing_and_nothing_runs_twice(servers, monkeypatch):
    wechat = servers[0]
    calls, lock = [], threading.Lock()
    routed(monkeypatch, wechat.runtime, calls, lock)
    first = wechat.text("低保标准是多少", msg_id=7300001)
    assert wechat.text("低保标准是多少", msg_id=7300001) == first
    other = servers[1]  # the retry reaches another process
    routed(monkeypatch, other.runtime, calls, lock)
    assert other.text("低保标准是多少", msg_id=7300001) == first
    assert calls == ["低保标准是多少"]


def test_scripted_channels_still_write_state(runtime):
    engine = runtime.engine
    engine.handle(IncomingMessage(channel="terminal", user_id="t-1", text="留言"))
    assert ConversationState.from_json(engine.store.load("terminal", "t-1")[2]) == LEAVING
    with runtime.db.session() as s:
        assert s.execute(select(Conversation.version).where(Conversation.channel == "terminal")).scalar() == 1


def test_two_deliveries_worked_out_unclaimed_at_once_write_only_the_first(servers, monkeypatch):
    """Both deliveries read the message as unclaimed; the first to claim wins, the other writes
    nothing and answers with the winner's reply."""
    one, two = servers
    one.text("你好")
    version, _ = conversation(one.runtime)
    both = threading.Barrier(2, timeout=10)
    for s in servers:
        real = s.runtime.engine._route

        def route(message, cid, state, real=real):
            both.wait()  # each has peeked: the message is unclaimed for both
            return real(message, cid, state)
        monkeypatch.setattr(s.runtime.engine, "_route", route)
    replies = []
    threads = [threading.Thread(target=lambda s=s: replies.append(s.text("留言", msg_id=7600001)))
               for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(replies) == 2 and replies[0] == replies[1] and replies[0]  # the loser replays the winner's
    assert conversation(one.runtime) == (version + 1, LEAVING)  # saved once
    with one.runtime.db.engine.connect() as conn:
        assert len(conn.execute(select(ProcessedMessage.message_id)).all()) == 2  # 你好, 留言: claimed once
