"""Schema migrations and conversation state on SQLite and PostgreSQL alike."""
import re
import threading
import uuid

import pytest
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.conversations import ConcurrentUpdate, ConversationStore
from bot.privacy import DataProtector, generate_key
from bot.dialogue import turn_sql as q
from bot.dialogue.turn_sql import Link, Sql
from bot.storage.db import Database
from bot.storage.models import utcnow
from bot.storage.schema import MIGRATIONS, head_revision

HEAD_REVISION = head_revision()


def test_the_head_read_from_the_scripts_is_alembics_head():
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


# The turn pipeline's claim statements, as its fast path writes them (bot/dialogue/turns.py).
def claim_on(tx, channel: str, message_id: str, reply: dict | None = None) -> bool:
    return tx.run(q.CLAIM_WITH_REPLY, {"channel": channel, "message_id": message_id, "now": tx.time(utcnow()),
                                       "reply": tx.json(reply)}) == 1


def claim_message(db_or_link, channel: str, message_id: str, reply: dict | None = None) -> bool:
    if isinstance(db_or_link, Link):
        with db_or_link.transaction() as tx:
            return claim_on(tx, channel, message_id, reply)
    with Link(db_or_link) as link, link.transaction() as tx:
        return claim_on(tx, channel, message_id, reply)


def stored_reply(db, channel: str, message_id: str) -> dict | None:
    with Link(db) as link, link.transaction() as tx:
        row = tx.first(q.CLAIM_ROW, {"channel": channel, "message_id": message_id})
    return tx.from_json(row[0]) if row and row[0] is not None else None


def test_missing_database_is_created_with_schema(any_db_url):
    db = Database(any_db_url)
    assert db.current_revision() is None
    db.ensure_schema()
    assert db.current_revision() == HEAD_REVISION
    tables = set(inspect(db.engine).get_table_names())
    assert {"conversations", "unanswered_questions", "alembic_version"} <= tables
    db.ensure_schema()  # idempotent
    assert db.ping()
    db.dispose()


def _start_together(url: str, count: int) -> list[Exception]:
    """`count` processes' start-up (here threads, each with its own engine) at once: their errors."""
    errors = []

    def start():
        db = Database(url)
        try:
            db.ensure_schema()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=start) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_parallel_start_ups_migrate_once(any_db_url):
    assert _start_together(any_db_url, 4) == []
    db = Database(any_db_url)
    assert db.current_revision() == HEAD_REVISION
    db.dispose()


@pytest.fixture
def store(any_db_url):
    db = Database(any_db_url)
    db.ensure_schema()
    yield ConversationStore(db, DataProtector(generate_key()))
    db.dispose()


def test_state_survives_a_new_process_view(store, any_db_url):
    with store.editing("sms", "13800000001") as (_, state):
        state["offer"] = {"entries": ["a", "b"]}
    again = ConversationStore(Database(any_db_url), store.protector)
    _, _, state = again.load("sms", "13800000001")
    again.db.dispose()
    assert state == {"offer": {"entries": ["a", "b"]}}


def test_channel_identity_is_not_stored_in_clear(store):
    store.load("sms", "13800000001")
    with store.db.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT user_key, user_ref FROM conversations").one()
    assert "13800000001" not in row.user_key
    assert b"13800000001" not in bytes(row.user_ref)
    assert store.protector.decrypt(row.user_ref) == "13800000001"


def test_concurrent_update_is_detected(store):
    cid, version, _ = store.load("wechat", "openid-1")
    store.save(cid, version, {"a": 1})
    with pytest.raises(ConcurrentUpdate):
        store.save(cid, version, {"a": 2})  # stale version: someone else saved first
    assert store.load("wechat", "openid-1")[2] == {"a": 1}


def test_same_user_on_two_channels_has_two_conversations(store):
    a = store.load("wechat", "u1")[0]
    b = store.load("sms", "u1")[0]
    assert a != b


def test_leads_round_trip_and_duplicate_detection(store):
    from bot.screening.leads import LeadStore

    leads = LeadStore(store.db, store.protector)
    values = {"name": "黄春生", "id_number": "360732197909152130", "phone": "13970712468",
              "household_size": 5, "township": "崇贤乡"}
    kwargs = dict(channel="sms", user_key="k", values=values, programs=[{"program": "dibao", "reason": "r"}],
                  urgency="normal", documents=["身份证"], consent={"given": True})
    first = leads.create(**kwargs)
    second = leads.create(**kwargs)
    shown = leads.as_dict(leads.get(second))
    assert shown["fields"]["id_number"] == "360732********2130"
    assert shown["duplicates"] == [first]
    assert [lead.ref for lead in leads.for_user("k")] == [second, first]
    assert leads.as_dict(leads.get(first), reveal=True, actor="test")["fields"]["name"] == "黄春生"


def test_message_claims_are_exactly_once(store):
    assert claim_message(store.db, "wechat", "m1", {"text": "答复"}) is True
    assert claim_message(store.db, "wechat", "m1") is False
    assert claim_message(store.db, "sms", "m1") is True
    assert stored_reply(store.db, "sms", "m1") is None
    assert stored_reply(store.db, "wechat", "m1") == {"text": "答复"}


def test_an_autocommitted_read_leaves_the_connection_transactional(store):
    """After a read (autocommit on PostgreSQL), a failed transaction still rolls back."""
    with Link(store.db) as link:
        for _ in range(3):
            with link.autocommit() as tx:
                assert tx.first(Sql("SELECT 1"), {})[0] == 1
        with pytest.raises(RuntimeError):
            with link.transaction() as tx:
                assert claim_on(tx, "wechat", "rolled-back")
                raise RuntimeError("boom")
        with link.autocommit() as tx:
            assert tx.first(Sql("SELECT count(*) FROM processed_messages WHERE message_id = 'rolled-back'"),
                            {})[0] == 0


def test_no_database_refuses_every_way_in(store):
    from bot.storage.db import DatabaseTouched, no_database

    db = store.db
    with no_database():
        with pytest.raises(DatabaseTouched):
            with db.unit_of_work():
                pass
        for way_in in ("transaction", "autocommit"):
            with pytest.raises(DatabaseTouched), Link(db) as link:
                with getattr(link, way_in)():
                    pass
    with Link(db) as link, link.autocommit() as tx:  # and only inside the block
        assert tx.first(Sql("SELECT 1"), {})[0] == 1


def test_a_repeated_submission_returns_the_first_lead(store):
    from bot.screening.leads import LeadStore

    leads = LeadStore(store.db, store.protector)
    kwargs = dict(channel="wechat", user_key="k", values={"name": "甲"}, programs=[], urgency="normal",
                  documents=[], consent={"given": True}, submission_key="same-screening")
    assert leads.create(**kwargs) == leads.create(**kwargs)
    assert len(leads.all()) == 1


def test_per_message_statements_write_what_the_orm_reads(store):
    """Claims, replies and conversations written on the raw cursor read back through SQLAlchemy."""
    import datetime as dt

    from sqlalchemy import select

    from bot.dialogue.claims import prune
    from bot.storage.models import Conversation, ProcessedMessage

    assert claim_message(store.db, "wechat", "m:1", {"sealed": "密文"})
    cid, version, _ = store.load("wechat", "openid-1")
    store.save(cid, version, {"offer": {"entries": ["a"]}, "flag": True})
    with store.db.session() as s:
        claim = s.execute(select(ProcessedMessage)).scalar_one()
        conversation = s.get(Conversation, cid)
    assert claim.reply == {"sealed": "密文"}
    assert conversation.state == {"offer": {"entries": ["a"]}, "flag": True} and conversation.version == 1
    for stamp in (claim.created_at, conversation.updated_at):
        moment = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)  # SQLite keeps no offset
        assert abs(utcnow() - moment) < dt.timedelta(minutes=1)
    assert store.protector.decrypt(conversation.user_ref) == "openid-1"
    if store.db.engine.dialect.name == "sqlite":  # stored as text: spelled as SQLAlchemy spells it
        with store.db.engine.connect() as conn:
            raw = conn.exec_driver_sql("SELECT created_at FROM processed_messages").scalar_one()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", raw), raw
    assert prune(store.db, dt.timedelta(hours=1)) == 0   # the stored time compares as a time …
    assert prune(store.db, dt.timedelta(0)) == 1         # … with SQLAlchemy's own parameters


def test_processes_starting_together_on_a_new_sqlite_file_all_start(tmp_path):
    """Switching a new file to WAL fails at once ("database is locked") while another
    connection holds a lock; it used to fail one start-up in 20-30."""
    for round_ in range(30):
        assert _start_together(f"sqlite:///{tmp_path / f'round{round_}.sqlite3'}", 6) == [], round_


def _pooled_database(postgres_url: str) -> Database:
    """A database whose connections can be found on the server (application_name)."""
    db = Database(f"{postgres_url}&application_name=jz_{uuid.uuid4().hex[:12]}")
    db.ensure_schema()
    with Link(db) as link, link.transaction() as tx:
        assert tx.first(Sql("SELECT 1"), {}) == (1,)
    return db


def _terminate_pooled_connections(db) -> None:
    """Kill the server side of every connection the pool holds (like a PostgreSQL restart)."""
    from sqlalchemy import create_engine, text

    from tests.conftest import PG_URL

    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        killed = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE application_name = :name"),
                              {"name": db.engine.url.query["application_name"]}).scalars().all()
    admin.dispose()
    assert killed and all(killed)


def test_a_dead_connection_costs_one_failed_transaction_then_the_pool_is_renewed(postgres_url):
    db = _pooled_database(postgres_url)
    _terminate_pooled_connections(db)
    with pytest.raises(Exception):  # recently used, so not pinged: the statement finds it dead …
        claim_message(db, "wechat", "m:1")
    assert claim_message(db, "wechat", "m:1")  # … and the next transaction gets a fresh connection
    db.dispose()


def test_an_idle_connection_is_pinged_on_checkout(postgres_url, monkeypatch):
    from bot.storage import db as db_module

    db = _pooled_database(postgres_url)
    _terminate_pooled_connections(db)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert claim_message(db, "wechat", "m:1")  # the ping found it dead: replaced before use
    db.dispose()


def test_a_read_after_a_ping_or_a_dead_connection_still_works(postgres_url, monkeypatch):
    """autocommit() switches the pooled connection to autocommit: a checkout ping must not get in its way."""
    from bot.storage import db as db_module

    db = _pooled_database(postgres_url)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout pings
    for _ in range(3):
        with Link(db) as link, link.autocommit() as tx:
            assert tx.first(Sql("SELECT 1"), {}) == (1,)
    _terminate_pooled_connections(db)
    with Link(db) as link, link.autocommit() as tx:  # the ping finds it dead and a fresh connection serves the read
        assert tx.first(Sql("SELECT 1"), {}) == (1,)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    _terminate_pooled_connections(db)
    with pytest.raises(Exception):  # not pinged: the read finds it dead …
        with Link(db) as link, link.autocommit() as tx:
            tx.first(Sql("SELECT 1"), {})
    with Link(db) as link, link.autocommit() as tx:  # … and the next one gets a fresh connection
        assert tx.first(Sql("SELECT 1"), {}) == (1,)
    db.dispose()


def test_a_link_serves_a_whole_turn_with_one_checkout(store):
    from sqlalchemy import event

    db = store.db
    checkouts = []
    event.listen(db.engine, "checkout", lambda *args: checkouts.append(1))
    with Link(db) as link:
        assert checkouts == []  # nothing until the first use
        with link.autocommit() as tx:
            assert tx.first(Sql("SELECT 1"), {}) == (1,)
        assert claim_message(link, "wechat", "m:1")
        assert not claim_message(link, "wechat", "m:1")
        assert db.engine.pool.checkedout() == 1 and len(checkouts) == 1
    assert db.engine.pool.checkedout() == 0  # … and the turn gave it back
    with pytest.raises(RuntimeError), Link(db) as link:  # an error inside still gives it back
        claim_message(link, "wechat", "m:3")
        raise RuntimeError
    assert db.engine.pool.checkedout() == 0


def test_a_link_replaces_a_connection_found_dead(postgres_url):
    db = _pooled_database(postgres_url)
    with Link(db) as link:
        assert claim_message(link, "wechat", "m:1")
        _terminate_pooled_connections(db)
        with pytest.raises(Exception):  # the held connection died under the turn …
            claim_message(link, "wechat", "m:2")
        assert claim_message(link, "wechat", "m:2")  # … the next transaction gets a fresh one
        with link.autocommit() as tx:
            assert tx.first(Sql("SELECT count(*) FROM processed_messages"), {}) == (2,)
    assert db.engine.pool.checkedout() == 0
    db.dispose()


def _write_pages(db: Database, rows: int) -> None:
    """Commits that grow the write-ahead log by well over a thousand pages."""
    with Link(db) as link:
        for i in range(rows):
            with link.transaction() as tx:
                claim_on(tx, "wechat", f"m:{i}", reply={"sealed": "x" * 3000})


def test_sqlite_commits_leave_checkpoints_to_the_background_thread(sqlite_url):
    db = Database(sqlite_url)
    db.ensure_schema()
    db.checkpointer.stop()  # no background thread: only what commits do themselves
    db.checkpointer.enabled = False
    _write_pages(db, 800)
    busy, frames, copied = db.checkpointer.checkpoint()
    assert frames > 1500  # no commit checkpointed at SQLite's default 1,000 pages
    assert (busy, copied) == (0, frames)
    db.dispose()


def test_sqlite_background_thread_checkpoints_soon_after_writes(sqlite_url):
    import time

    db = Database(sqlite_url)
    db.ensure_schema()
    db.checkpointer.interval = 0.05
    _write_pages(db, 300)
    deadline = time.monotonic() + 10
    while db.checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert db.checkpointer.checkpoints > 0
    thread = db.checkpointer._thread
    assert thread.name == "jiuzhu-wal-checkpoint" and thread.is_alive()
    db.dispose()  # stops the thread and waits for it
    assert not thread.is_alive()


def test_a_forked_worker_starts_its_own_checkpointing_thread(sqlite_url):
    import multiprocessing

    db = Database(sqlite_url)
    db.ensure_schema()
    _write_pages(db, 1)  # the parent's thread (gunicorn's master, with --preload) …
    parents = db.checkpointer._thread
    db.dispose()  # … which deploy/wsgi.py stops before the fork
    assert not parents.is_alive()

    def child(queue):
        _write_pages(db, 1)
        thread = db.checkpointer._thread
        queue.put(thread is not parents and thread.is_alive() and thread in threading.enumerate())

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    assert queue.get(timeout=30) is True
    process.join(timeout=30)
    assert process.exitcode == 0
    db.dispose()


def test_postgresql_saves_and_claims_in_one_statement_or_not_at_all(postgres_url):
    from bot.storage.db import is_unique_violation

    db = Database(postgres_url)
    db.ensure_schema()
    store = ConversationStore(db, DataProtector(generate_key()))
    cid, version, _ = store.load("wechat", "openid-1")

    def save_and_claim(link, version, state, message_id, reply) -> bool:
        with link.autocommit() as tx:
            return tx.run(q.SAVE_AND_CLAIM, {
                "id": cid, "version": version, "state": tx.json(state), "now": tx.time(utcnow()),
                "channel": "wechat", "message_id": message_id, "reply": tx.json(reply)}) == 1

    with Link(db) as link:
        assert save_and_claim(link, version, {"a": 1}, "m:1", {"sealed": "r1"})
        assert store.load("wechat", "openid-1")[1:] == (version + 1, {"a": 1})
        assert stored_reply(db, "wechat", "m:1") == {"sealed": "r1"}
        assert not save_and_claim(link, version, {"b": 2}, "m:2", {"sealed": "r2"})  # stale: neither
        assert claim_message(db, "wechat", "m:2")  # (m:2 was not claimed)
        with pytest.raises(Exception) as raised:  # claimed already: nothing saved
            save_and_claim(link, version + 1, {"c": 3}, "m:1", {"sealed": "r3"})
        assert is_unique_violation(raised.value)
        assert store.load("wechat", "openid-1")[1:] == (version + 1, {"a": 1})
        assert stored_reply(db, "wechat", "m:1") == {"sealed": "r1"}
        with link.autocommit() as tx:  # the connection is usable after the failed statement
            assert tx.first(Sql("SELECT 1"), {}) == (1,)
    db.dispose()
