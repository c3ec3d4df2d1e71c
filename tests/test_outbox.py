"""The outbox core: idempotent enqueue, exclusive claims, backoff, at-most-once sending.

Senders here are in-memory doubles; tests/handlers/test_senders.py drives the real
Twilio and WeChat senders against local fake APIs.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import event, select, update

from bot.commands.worker import claim_lease, run_worker
from bot.config import WorkerSettings, load_config
from bot.conversations import ConversationStore
from bot.errors import ConfigError
from bot.outbox import (CANCELLED, FAILED, QUEUED, SENDING, SENT, PermanentFailure, Policy, Sent,
                        TemporaryFailure, UnknownOutcome, batch_lease, claim_batch, deliver, deliver_due, enqueue,
                        fail_stuck, mark_sent, record_status)
from bot.privacy import DataProtector, generate_key
from bot.runtime import Runtime
from bot.storage.models import ApiToken, Conversation, OutboxMessage, utcnow
from tests.conftest import ROOT

PHONE = "+8613800000001"
POLICY = Policy()


class RecordingSender:
    """Records (recipient, body) per send; fails with the queued errors first."""

    max_seconds = 1.0

    def __init__(self, *errors: Exception, pause: float = 0.0):
        self.sent: list[tuple[str, str]] = []
        self.errors = list(errors)
        self.pause = pause
        self.lock = threading.Lock()

    def send(self, recipient: str, body: str) -> Sent:
        time.sleep(self.pause)  # lets concurrent workers interleave
        with self.lock:
            if self.errors:
                raise self.errors.pop(0)
            self.sent.append((recipient, body))
            return Sent(provider_id=f"SM{len(self.sent):032d}", segments=1)


def meet_at_first_claim(runtime, barrier: threading.Barrier) -> None:
    """Hold this worker's first claiming UPDATE until every worker has picked its rows.

    Without SKIP LOCKED (PostgreSQL) or the status check in the UPDATE (SQLite) the
    workers would then pick the same rows: the race the claim must win, made certain.
    """
    waiting = [True]

    def hook(_conn, _cursor, statement, *_args):
        if waiting[0] and statement.startswith("UPDATE outbox SET status") and "attempts" in statement:
            waiting[0] = False
            barrier.wait(10)

    event.listen(runtime.db.engine, "before_cursor_execute", hook)


def always(_channel, _recipient) -> None:
    """The outbox's refusal check for a recipient nobody stopped: no reason not to send."""
    return None


def make_runtime(url: str) -> Runtime:
    """A runtime on this database (no secrets: the development data key)."""
    return Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": url}))


@pytest.fixture
def rt(any_db_url):
    """A runtime on SQLite or PostgreSQL."""
    runtime = make_runtime(any_db_url)
    yield runtime
    runtime.db.dispose()


def row_of(runtime, message_id: int) -> OutboxMessage:
    with runtime.db.session() as s:
        row = s.get(OutboxMessage, message_id)
        s.expunge(row)
        return row


def aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def test_enqueuing_the_same_key_twice_is_a_no_op(rt):
    first = enqueue(rt, "sms", PHONE, "您的申请已受理", "lead:L1:status:accepted")
    again = enqueue(rt, "sms", PHONE, "different text", "lead:L1:status:accepted")
    other = enqueue(rt, "sms", PHONE, "您的申请已受理", "lead:L1:status:approved")
    assert first == (first[0], True) and again == (first[0], False) and other[1] is True
    with rt.db.session() as s:
        assert s.query(OutboxMessage).count() == 2


def test_recipient_body_and_key_are_not_stored_in_clear(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "黄春生您好，您的低保申请已受理", f"followup:{PHONE}")
    with rt.db.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT * FROM outbox").one()
    stored = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in raw)
    for secret in (PHONE, "13800000001", "黄春生", "低保"):
        assert secret.encode() not in stored
    row = row_of(rt, message_id)
    assert rt.protector.decrypt(row.recipient_ref) == PHONE
    assert rt.protector.decrypt(row.body) == "黄春生您好，您的低保申请已受理"
    # the same keyed hash a conversation uses for this resident
    assert row.recipient_key == ConversationStore(rt.db, rt.protector).user_key("sms", PHONE)


def test_unknown_channel_or_empty_message_is_refused(rt):
    with pytest.raises(ValueError, match="channel"):
        enqueue(rt, "email", "a@b.c", "hi", "k")
    with pytest.raises(ValueError):
        enqueue(rt, "sms", PHONE, "", "k")


def test_two_workers_send_each_message_exactly_once(any_db_url):
    workers = [make_runtime(any_db_url) for _ in range(2)]
    bodies = [f"通知 {i}" for i in range(30)]
    for i, body in enumerate(bodies):
        enqueue(workers[0], "sms", f"+86138000000{i:02d}", body, f"k{i}")
    meet = threading.Barrier(len(workers))
    for runtime in workers:
        meet_at_first_claim(runtime, meet)
    senders = [RecordingSender(pause=0.002) for _ in workers]
    errors = []

    def work(runtime, sender):
        try:
            run_worker(runtime, {"sms": sender}, always, once=True)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(workers, senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    sent = Counter(body for sender in senders for _, body in sender.sent)
    assert sent == Counter(bodies)                       # every message, none twice
    assert all(sender.sent for sender in senders)         # both workers took part
    with workers[0].db.session() as s:
        assert set(s.execute(select(OutboxMessage.status)).scalars()) == {SENT}
    for runtime in workers:
        runtime.db.dispose()


def test_temporary_failures_back_off_then_fail_after_five_attempts(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    sender = RecordingSender(*[TemporaryFailure("Twilio HTTP 500")] * 5)
    delays = []
    due = aware(row_of(rt, message_id).next_attempt_at)  # not utcnow(): the first enqueue also built the schema
    for attempt in range(1, 6):
        assert deliver_due(rt, {"sms": sender}, always, POLICY, now=due - dt.timedelta(seconds=1)) == Counter()
        assert deliver_due(rt, {"sms": sender}, always, POLICY, now=due) == Counter(
            {QUEUED if attempt < 5 else FAILED: 1})
        row = row_of(rt, message_id)
        assert row.attempts == attempt and row.last_error == "Twilio HTTP 500"
        delays.append(round((aware(row.next_attempt_at) - aware(row.updated_at)).total_seconds()))
        due = aware(row.next_attempt_at)
    assert delays[:4] == [30, 60, 120, 240]
    assert row.status == FAILED and sender.sent == []


def test_a_permanent_failure_is_not_retried(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    sender = RecordingSender(PermanentFailure(f"Twilio HTTP 400 error 21211 {PHONE}"))
    assert deliver_due(rt, {"sms": sender}, always, POLICY) == Counter({FAILED: 1})
    row = row_of(rt, message_id)
    assert (row.status, row.attempts) == (FAILED, 1)
    assert PHONE not in row.last_error and "13800000001" not in row.last_error  # scrubbed


def test_an_unknown_outcome_is_never_resent(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    sender = RecordingSender(UnknownOutcome("no answer from Twilio (ReadTimeout)"))
    deliver_due(rt, {"sms": sender}, always, POLICY)
    row = row_of(rt, message_id)
    assert row.status == FAILED and row.last_error.startswith("outcome unknown")
    assert deliver_due(rt, {"sms": sender}, always, POLICY, now=utcnow() + dt.timedelta(days=1)) == Counter()


def test_a_crashing_sender_counts_as_unknown_outcome(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    deliver_due(rt, {"sms": RecordingSender(RuntimeError("bug"))}, always, POLICY)
    assert row_of(rt, message_id).last_error == "outcome unknown: sender error (see the worker log)"


def test_unsubscribed_recipients_are_cancelled_and_never_sent(rt):
    blocked, _ = enqueue(rt, "sms", PHONE, "通知", "k1")
    fine, _ = enqueue(rt, "sms", "+8613800000002", "通知", "k2")
    sender = RecordingSender()
    outcomes = deliver_due(rt, {"sms": sender}, lambda _c, number: "opted out" if number == PHONE else None,
                           POLICY)
    assert outcomes == Counter({CANCELLED: 1, SENT: 1})
    assert row_of(rt, blocked).status == CANCELLED and row_of(rt, fine).status == SENT
    assert row_of(rt, blocked).last_error == "cancelled: opted out"  # the row says why
    assert [r for r, _ in sender.sent] == ["+8613800000002"]


def test_a_failing_subscription_check_is_retried_later(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")

    def broken(_channel, _recipient):
        raise OSError("database unreachable")

    assert deliver_due(rt, {"sms": RecordingSender()}, broken, POLICY) == Counter({QUEUED: 1})
    assert row_of(rt, message_id).last_error == "recipient check failed"


class KilledMidSend(RecordingSender):
    """The worker is killed with -9 while the provider has the request (nothing after runs)."""

    def send(self, recipient, body):
        super().send(recipient, body)
        raise KeyboardInterrupt  # stands for the process ending here


def test_a_message_stuck_in_sending_is_marked_for_a_person_not_resent(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    with pytest.raises(KeyboardInterrupt):
        deliver_due(rt, {"sms": KilledMidSend()}, always, POLICY)
    assert row_of(rt, message_id).status == SENDING
    assert fail_stuck(rt, dt.timedelta(minutes=15)) == 0                   # not stuck yet
    assert fail_stuck(rt, dt.timedelta(minutes=15), now=utcnow() + dt.timedelta(minutes=16)) == 1
    row = row_of(rt, message_id)
    assert row.status == FAILED and row.last_error.startswith("outcome unknown")
    sender = RecordingSender()
    deliver_due(rt, {"sms": sender}, always, POLICY, now=utcnow() + dt.timedelta(days=1))
    assert sender.sent == []
    mark_sent(rt, message_id, Sent("SM1", 1))  # the slow worker did get through after all
    assert row_of(rt, message_id).status == SENT


def test_a_worker_killed_mid_batch_leaves_only_the_message_it_was_sending_unknown(rt):
    ids = [enqueue(rt, "sms", PHONE, f"通知 {i}", f"k{i}")[0] for i in range(4)]
    with pytest.raises(KeyboardInterrupt):
        deliver_due(rt, {"sms": KilledMidSend()}, always, POLICY)  # killed during the first send
    assert [row_of(rt, i).status for i in ids] == [SENDING, QUEUED, QUEUED, QUEUED]
    sender = RecordingSender()
    assert deliver_due(rt, {"sms": sender}, always, POLICY) == Counter()  # the dead worker's lease holds
    lease_over = utcnow() + batch_lease(POLICY, {"sms": sender}) + dt.timedelta(seconds=1)
    assert deliver_due(rt, {"sms": sender}, always, POLICY, now=lease_over) == Counter({SENT: 3})
    assert sorted(body for _, body in sender.sent) == ["通知 1", "通知 2", "通知 3"]  # each once
    assert [row_of(rt, i).attempts for i in ids] == [1, 1, 1, 1]
    fail_stuck(rt, dt.timedelta(minutes=15), now=utcnow() + dt.timedelta(minutes=16))
    assert [row_of(rt, i).status for i in ids] == [FAILED, SENT, SENT, SENT]


def test_a_claim_that_ran_out_is_sent_by_the_worker_that_took_it_over(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    slow = claim_batch(rt, ["sms"], 10, lease=dt.timedelta(seconds=1))  # then this worker stalls
    later = utcnow() + dt.timedelta(seconds=2)
    fresh = RecordingSender()
    assert deliver_due(rt, {"sms": fresh}, always, POLICY, now=later) == Counter({SENT: 1})
    stale = RecordingSender()
    assert deliver(rt, slow[0], stale, always, POLICY) == QUEUED  # the stalled worker wakes: not its row
    assert (len(fresh.sent), stale.sent, row_of(rt, message_id).status) == (1, [], SENT)


def test_stopping_finishes_the_current_message_and_hands_back_the_rest(rt):
    ids = [enqueue(rt, "sms", PHONE, f"通知 {i}", f"k{i}")[0] for i in range(3)]
    stop = threading.Event()

    class StopAfterFirst(RecordingSender):
        def send(self, recipient, body):
            stop.set()  # SIGTERM arrives while the first message is being sent
            return super().send(recipient, body)

    sender = StopAfterFirst()
    assert deliver_due(rt, {"sms": sender}, always, POLICY, stop=stop) == Counter({SENT: 1})
    assert [row_of(rt, i).status for i in ids] == [SENT, QUEUED, QUEUED]
    assert [row_of(rt, i).attempts for i in ids] == [1, 0, 0]


def test_only_channels_with_a_sender_are_claimed(rt):
    sms, _ = enqueue(rt, "sms", PHONE, "通知", "k1")
    wechat, _ = enqueue(rt, "wechat", "oJZ_openid", "通知", "k2")
    deliver_due(rt, {"wechat": RecordingSender()}, always, POLICY)
    assert (row_of(rt, sms).status, row_of(rt, wechat).status) == (QUEUED, SENT)


def test_a_message_scheduled_for_later_waits(rt):
    later = utcnow() + dt.timedelta(hours=1)
    enqueue(rt, "sms", PHONE, "明天上午请带身份证到乡便民服务中心", "k", send_after=later)
    assert deliver_due(rt, {"sms": RecordingSender()}, always, POLICY) == Counter()
    assert deliver_due(rt, {"sms": RecordingSender()}, always, POLICY, now=later) == Counter({SENT: 1})


def test_undecryptable_rows_fail_instead_of_blocking_the_queue(rt, any_db_url):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    other = Runtime(make_runtime(any_db_url).config, protector=DataProtector(generate_key()))  # another key
    assert claim_batch(other, ["sms"], 10) == []
    assert row_of(rt, message_id).last_error.startswith("cannot decrypt")
    other.db.dispose()


def test_delivery_statuses_only_move_forward(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    deliver_due(rt, {"sms": RecordingSender()}, always, POLICY)
    sid = row_of(rt, message_id).provider_id
    assert record_status(rt, sid, "sent") == "recorded"
    assert record_status(rt, sid, "delivered") == "recorded"
    assert record_status(rt, sid, "sent") == "stale"           # a late callback
    assert record_status(rt, sid, "delivered") == "recorded"   # Twilio retries are harmless
    assert record_status(rt, "SM" + "f" * 32, "delivered") == "unknown"
    assert record_status(rt, sid, "exploded") == "invalid"
    assert row_of(rt, message_id).provider_status == "delivered"


def test_undelivered_status_keeps_the_error_code(rt):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    deliver_due(rt, {"sms": RecordingSender()}, always, POLICY)
    row = row_of(rt, message_id)
    assert record_status(rt, row.provider_id, "undelivered", "30003") == "recorded"
    row = row_of(rt, message_id)
    assert (row.status, row.provider_status) == (SENT, "undelivered")
    assert row.last_error == "delivery undelivered: provider error 30003"


@pytest.mark.parametrize("section, key", [({"max_attempts": 0}, "worker.max_attempts"),
                                          ({"backoff_seconds": "30"}, "worker.backoff_seconds"),
                                          ({"batch_size": True}, "worker.batch_size")])
def test_bad_worker_settings_are_config_errors(section, key):
    with pytest.raises(ConfigError, match=key):
        load_config(ROOT / "config.toml", overrides={f"worker.{k}": v for k, v in section.items()}, environ={})


def test_the_project_config_gives_the_documented_policy(config):
    policy = Policy.of(config.worker)
    assert policy == Policy(max_attempts=5, backoff_seconds=30, batch_size=10, stuck_minutes=15)


def test_a_stuck_limit_shorter_than_one_send_is_refused(runtime):
    """A row is in `sending` only during its own send: the limit must outlast one, not a batch."""
    runtime.config = dataclasses.replace(runtime.config, worker=WorkerSettings(stuck_minutes=1, batch_size=10))
    slow = RecordingSender()
    slow.max_seconds = 20.0
    assert run_worker(runtime, {"sms": slow}, always, once=True) == {}  # 10 × 20 s > 1 min: fine now
    slow.max_seconds = 61.0
    with pytest.raises(ConfigError, match="worker.stuck_minutes"):
        run_worker(runtime, {"sms": slow}, always, once=True)


def test_the_purge_runs_once_per_lease_across_workers(rt):
    hour = dt.timedelta(hours=1)
    assert claim_lease(rt.db, "lease:test", hour) is True
    assert claim_lease(rt.db, "lease:test", hour) is False
    assert claim_lease(rt.db, "lease:test", dt.timedelta(seconds=-1)) is False  # still the hour's
    with rt.db.session() as s:
        s.execute(select(ApiToken).where(ApiToken.name == "lease:test")).scalar_one().expires_at = utcnow()
    assert claim_lease(rt.db, "lease:test", hour) is True


def test_the_worker_purges_abandoned_screenings(rt):
    store = ConversationStore(rt.db, rt.protector)
    with store.editing("sms", PHONE) as (_, state):
        state["screening"] = {"name": "黄春生"}
    with rt.db.session() as s:  # idle for longer than conversation.screening_expiry_days
        s.execute(update(Conversation).values(updated_at=utcnow() - dt.timedelta(days=15)))
    assert run_worker(rt, {"sms": RecordingSender()}, always, once=True) == {}
    assert "screening" not in store.load("sms", PHONE)[2]


def test_the_core_imports_no_provider_library():
    code = ("import sys, bot.outbox, bot.commands.worker; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'twilio', 'wechatpy', 'flask', 'handlers'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_claimed_rows_are_no_other_workers_and_wait_queued_for_their_send(rt):
    message_id, _ = enqueue(rt, "wechat", "oJZ_openid", "通知", "k")
    claimed = claim_batch(rt, ["wechat"], 10)
    assert [(m.id, m.recipient, m.body, m.attempts) for m in claimed] == [(message_id, "oJZ_openid", "通知", 1)]
    assert "oJZ_openid" not in repr(claimed[0]) and "通知" not in repr(claimed[0])
    assert (row_of(rt, message_id).status, row_of(rt, message_id).attempts) == (QUEUED, 0)
    assert claim_batch(rt, ["wechat"], 10) == []


def test_a_person_can_list_and_requeue_failed_messages(rt):
    from bot.outbox import needing_attention, requeue

    message_id, _ = enqueue(rt, "sms", PHONE, "通知内容", "k-review")
    deliver_due(rt, {"sms": RecordingSender(UnknownOutcome("no answer from Twilio (ReadTimeout)"))}, always, POLICY)
    (listed,) = needing_attention(rt)
    assert listed["id"] == message_id and listed["recipient"] == "+86*******0001"
    assert "通知内容" not in str(listed) and listed["error"].startswith("outcome unknown")
    assert requeue(rt, message_id) and not requeue(rt, message_id)  # only failed rows go back
    sender = RecordingSender()
    deliver_due(rt, {"sms": sender}, always, POLICY)
    assert sender.sent == [(PHONE, "通知内容")] and needing_attention(rt) == []
