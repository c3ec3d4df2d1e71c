"""The outbox: messages to residents, queued in the database and sent by `jiuzhu worker`.

A message is queued once (an idempotency key makes a second enqueue a no-op),
claimed by exactly one worker, handed to its channel's sender and recorded.
A worker claims a batch by leasing its rows (their `next_attempt_at` moves to
the lease's end, so no other worker sees them due) and moves each row to
`sending` only just before handing it to the sender: a worker killed with -9
leaves at most the one row it was sending in `sending` (outcome unknown, for a
person to check); the rest of its batch is due again when the lease runs out. No provider is known here: the senders live in handlers/
and report what went wrong with these exceptions (their text never carries
personal data, it is stored in `last_error`):

    SendError             a send did not succeed
    ├── TemporaryFailure  nothing was sent and trying later can help (HTTP 5xx, 429, refused connection)
    ├── PermanentFailure  the provider refused this message for good (bad number, window closed)
    └── UnknownOutcome    the request may have reached the provider (timeout after sending)

    queued ─lease─▶ queued ─send─▶ sending ──▶ sent
      ▲                                 │ ├─────▶ failed     permanent, attempts used up, or outcome unknown
      └──────────── backoff ────────────┘ └─────▶ cancelled  the recipient opted out or unfollowed (why: last_error)

Sending is at most once: whenever a message may already have gone out, it is
marked failed for a person to check rather than sent again. Each final outcome
(sent, failed, cancelled) is counted as an insight event in the same unit of work,
with the channel, the message's kind and its campaign.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.domain import CHANNELS
from bot.privacy import scrub_personal_data
from bot.storage.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

QUEUED, SENDING, SENT, FAILED, CANCELLED = "queued", "sending", "sent", "failed", "cancelled"
UNKNOWN_OUTCOME = "outcome unknown"  # last_error prefix of the rows a person must check
# Twilio's message statuses in the order they happen; a late callback never moves a row back.
PROVIDER_STATUS_RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
                        "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4,
                        "partially_delivered": 4, "read": 5}


class SendError(Exception):
    """A send did not succeed; the text says why without personal data."""


class TemporaryFailure(SendError):
    """Nothing was sent, and trying again later can help; not before `retry_after` when the
    provider said a quota is used up (the usual backoff would only hit the limit again)."""

    def __init__(self, reason: str = "", retry_after: dt.timedelta | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentFailure(SendError):
    """The provider refused this message; trying again cannot help."""


class UnknownOutcome(SendError):
    """The request may have reached the provider: never sent again automatically."""


@dataclass(frozen=True)
class Sent:
    """What a provider said about an accepted message."""

    provider_id: str | None = None
    segments: int | None = None


@dataclass(frozen=True)
class Outgoing:
    """A claimed message, decrypted for its sender (recipient and body are never logged)."""

    id: int
    channel: str
    attempts: int                     # counting the attempt about to be made
    recipient: str = field(repr=False)
    body: str = field(repr=False)
    leased_until: dt.datetime | None = None  # the claim: the row's next_attempt_at while it is ours


class Sender(Protocol):
    """A channel's sender (handlers/senders.py)."""

    max_seconds: float  # the longest one send can take (all its HTTP calls and timeouts)

    def send(self, recipient: str, body: str) -> Sent:
        """Send one message or raise a SendError."""


# (channel, recipient) -> why they must not be written to now (cancelled, saying so), or None to send
Refusal = Callable[[str, str], "str | None"]
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,23}")


@dataclass(frozen=True)
class Policy:
    """Retries and batching, from config.toml `[worker]`."""

    max_attempts: int = 5
    backoff_seconds: int = 30
    batch_size: int = 10
    stuck_minutes: int = 15

    @classmethod
    def of(cls, worker) -> Policy:
        """The policy of `[worker]` (a WorkerSettings, checked when the config was loaded)."""
        return cls(max_attempts=worker.max_attempts, backoff_seconds=worker.backoff_seconds,
                   batch_size=worker.batch_size, stuck_minutes=worker.stuck_minutes)

    def backoff(self, attempts: int) -> dt.timedelta:
        """The wait after failed attempt number `attempts`: 30 s, 1, 2, 4 minutes …"""
        return dt.timedelta(seconds=self.backoff_seconds * 2 ** max(0, attempts - 1))


def enqueue(runtime, channel: str, recipient: str, body: str, idempotency_key: str,
            send_after: dt.datetime | None = None, session: Session | None = None, *,
            kind: str | None = None, campaign_id: str | None = None) -> tuple[int, bool]:
    """Queue a message; (row id, True), or (the existing row's id, False) if this key was queued before.

    `session`: the caller's unit of work, so the message is queued with the change it
    tells about, or not at all. An SMS recipient should be in E.164 form, like the
    conversation's user id. `kind` (what the message is, for counting) defaults to the
    idempotency key's first part: "status" for "status:JZ…:contacted", "submitted", "link" …
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if not recipient or not body or not idempotency_key:
        raise ValueError("recipient, body and idempotency_key are required")
    if session is None:
        with runtime.db.unit_of_work() as own:
            return enqueue(runtime, channel, recipient, body, idempotency_key, send_after, own,
                           kind=kind, campaign_id=campaign_id)
    protector, now = runtime.protector, utcnow()
    # Hashed: callers' keys may name a resident ("followup:<number>"); this is all a lookup needs.
    key = protector.blind_index("outbox", idempotency_key)
    row = dict(channel=channel, recipient_key=protector.blind_index(f"user:{channel}", recipient),
               recipient_ref=protector.encrypt(recipient), body=protector.encrypt(body),
               status=QUEUED, attempts=0, next_attempt_at=send_after or now,
               kind=_kind_of(kind or idempotency_key.split(":", 1)[0]), campaign_id=campaign_id,
               idempotency_key=key, created_at=now, updated_at=now)
    # ON CONFLICT DO NOTHING: queued before (perhaps by a parallel process a moment ago) leaves
    # the caller's transaction intact, where an IntegrityError would abort it on PostgreSQL.
    insert = (postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)
    added = session.execute(insert(OutboxMessage).values(**row).returning(OutboxMessage.id)
                            .on_conflict_do_nothing(index_elements=["idempotency_key"])).scalar()
    if added is not None:
        return added, True
    return session.execute(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)).scalar_one(), False


# A send usually answers within a second or two. The lease only decides how soon a dead worker's
# rows are due again: a batch slower than its lease loses its remaining rows to another worker
# (the fence in `_start`), it never sends one twice.
LEASE_SECONDS_PER_SEND = 3.0


def batch_lease(policy: Policy, senders: dict[str, Sender], pacer=None) -> dt.timedelta:
    """How long a claimed batch is ours: its rows sent one by one at the slowest channel's pace."""
    pace = max((pacer.seconds_per_send(c) for c in senders), default=0.0) if pacer is not None else 0.0
    return dt.timedelta(seconds=policy.batch_size * (LEASE_SECONDS_PER_SEND + pace) + 10)


def claim_batch(runtime, channels: Iterable[str], limit: int, now: dt.datetime | None = None,
                lease: dt.timedelta = dt.timedelta(minutes=5)) -> list[Outgoing]:
    """Lease up to `limit` messages due by `now` of these channels: no other worker sees them
    due until the lease ends. They stay `queued` until `deliver` starts each one."""
    now = now or utcnow()
    # past `now` too (a --once run looks from its start time): never due again in the same look
    leased_until = max(now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc), utcnow()) + lease
    due = (select(OutboxMessage.id)
           .where(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= now,
                  OutboxMessage.channel.in_(list(channels)))
           .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
    with runtime.db.session() as s:
        # PostgreSQL: SKIP LOCKED hands concurrent workers disjoint rows. SQLite ignores
        # FOR UPDATE; there the conditional UPDATE decides, as SQLite runs one writer at a
        # time and only the first sees rowcount 1 (the SELECT runs outside a transaction).
        for _ in range(3):  # lost every row to another worker: look again
            ids = s.execute(due.with_for_update(skip_locked=True)).scalars().all()
            claimed = [i for i in ids if s.execute(
                update(OutboxMessage).where(OutboxMessage.id == i, OutboxMessage.status == QUEUED,
                                            OutboxMessage.next_attempt_at <= now)
                .values(next_attempt_at=leased_until, updated_at=utcnow())).rowcount == 1]
            if claimed or not ids:
                break
        rows = s.execute(select(OutboxMessage).where(OutboxMessage.id.in_(claimed))).scalars().all()
        rows.sort(key=lambda row: claimed.index(row.id))  # in the order they were due (their lease is one time now)
        batch, unreadable = [], []
        for row in rows:
            try:
                batch.append(Outgoing(row.id, row.channel, row.attempts + 1,
                                      runtime.protector.decrypt(row.recipient_ref),
                                      runtime.protector.decrypt(row.body), leased_until=leased_until))
            except ValueError:
                unreadable.append(Outgoing(row.id, row.channel, row.attempts + 1, "", "", leased_until))
    for message in unreadable:
        if _start(runtime, message):
            _finish(runtime, message.id, FAILED, "cannot decrypt (was JIUZHU_DATA_KEY changed?)")
    return batch


def _kind_of(kind: str) -> str:
    """A message kind safe to count (no key part that could name a resident)."""
    kind = kind.strip().lower()
    return kind if _KIND.fullmatch(kind) else "message"


def deliver_due(runtime, senders: dict[str, Sender], refusal: Refusal, policy: Policy,
                stop: threading.Event | None = None, now: dt.datetime | None = None, pacer=None) -> Counter:
    """Claim one batch and deliver it; once `stop` is set the rest is handed back unsent.

    `pacer` (a bot.pacing.Pacer, kept by the worker across batches) spaces each channel's
    sends to its configured rate; None sends as fast as the providers answer.
    """
    outcomes: Counter = Counter()
    batch = claim_batch(runtime, senders, policy.batch_size, now, lease=batch_lease(policy, senders, pacer))
    for i, message in enumerate(batch):
        if (stop is not None and stop.is_set()) or (pacer is not None and not pacer.take(message.channel, stop)):
            release(runtime, batch[i:])
            break
        try:
            outcomes[deliver(runtime, message, senders[message.channel], refusal, policy, pacer)] += 1
        except Exception:
            release(runtime, batch[i + 1:])  # untouched: safe to hand back
            raise
    return outcomes


def deliver(runtime, message: Outgoing, sender: Sender, refusal: Refusal, policy: Policy, pacer=None) -> str:
    """Send one claimed message and record the outcome; returns the row's new status
    (`queued` untouched if our lease ran out and another worker has the row)."""
    if not _start(runtime, message):
        log.warning("outbox #%d: the claim ran out before its turn; another worker sends it", message.id)
        return QUEUED
    try:
        refused = refusal(message.channel, message.recipient)
    except Exception:  # noqa: BLE001 — nothing was sent: try again later
        log.exception("outbox #%d: could not check whether the recipient may be written to", message.id)
        return mark_failed(runtime, message, TemporaryFailure("recipient check failed"), policy)
    if refused:
        _finish(runtime, message.id, CANCELLED, f"cancelled: {refused}")
        log.info("outbox #%d (%s): cancelled, %s", message.id, message.channel, refused)
        return CANCELLED
    if pacer is not None:
        pacer.mark(message.channel)  # the rate is kept between the moments sends start
    try:
        sent = sender.send(message.recipient, message.body)
    except SendError as exc:
        return mark_failed(runtime, message, exc, policy)
    except Exception:  # noqa: BLE001 — a bug in a sender may strike after the request went out
        log.exception("outbox #%d: the %s sender failed unexpectedly", message.id, message.channel)
        return mark_failed(runtime, message, UnknownOutcome("sender error (see the worker log)"), policy)
    mark_sent(runtime, message.id, sent)
    return SENT


def mark_sent(runtime, message_id: int, sent: Sent) -> None:
    """Record an accepted message (also over a stuck-row mark: now we know it went out)."""
    with runtime.db.session() as s:
        if s.execute(update(OutboxMessage)
                     .where(OutboxMessage.id == message_id, OutboxMessage.status.in_([SENDING, FAILED]))
                     .values(status=SENT, provider_id=sent.provider_id, segments=sent.segments,
                             last_error=None, updated_at=utcnow())).rowcount:
            _count(runtime, s, message_id, SENT)
    log.info("outbox #%d: sent", message_id)


def mark_failed(runtime, message: Outgoing, error: SendError, policy: Policy,
                now: dt.datetime | None = None) -> str:
    """Queue a temporary failure again after a backoff, else mark it failed; returns the new status."""
    now = now or utcnow()
    reason = str(error) or type(error).__name__
    if isinstance(error, UnknownOutcome):
        reason = f"{UNKNOWN_OUTCOME}: {reason}"
    elif isinstance(error, TemporaryFailure) and message.attempts < policy.max_attempts:
        retry_at = now + max(policy.backoff(message.attempts), error.retry_after or dt.timedelta())
        _finish(runtime, message.id, QUEUED, reason, next_attempt_at=retry_at)
        log.warning("outbox #%d (%s): attempt %d failed (%s); retry at %s", message.id, message.channel,
                    message.attempts, reason, retry_at.strftime("%H:%M:%S"))
        return QUEUED
    _finish(runtime, message.id, FAILED, reason)
    log.warning("outbox #%d (%s): failed after %d attempt(s): %s", message.id, message.channel,
                message.attempts, reason)
    return FAILED


def release(runtime, messages: list[Outgoing]) -> None:
    """Hand claimed messages that were never given to a sender back to the queue, due now."""
    if messages:
        now = utcnow()
        with runtime.db.session() as s:
            for message in messages:
                s.execute(update(OutboxMessage)
                          .where(*_leased(message)).values(next_attempt_at=now, updated_at=now))


def fail_stuck(runtime, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Mark messages left in `sending` (a worker died mid-send) failed for a person to check.

    They are never queued again: the worker may have died after the provider accepted
    the message and before it was recorded, and Twilio has no idempotency key to stop
    a second copy, so a resend could reach the resident twice. A person can look the
    number up in the Twilio console and queue it again by hand if it never went out.
    """
    now = now or utcnow()
    with runtime.db.session() as s:
        stuck = s.execute(update(OutboxMessage)
                          .where(OutboxMessage.status == SENDING, OutboxMessage.updated_at < now - older_than)
                          .values(status=FAILED, updated_at=now,
                                  last_error=f"{UNKNOWN_OUTCOME}: the worker stopped while sending")
                          .returning(OutboxMessage.id)).scalars().all()
        for message_id in stuck:
            _count(runtime, s, message_id, FAILED)
    count = len(stuck)
    if count:
        log.warning("outbox: %d message(s) stuck in sending marked failed (%s); check them by hand",
                    count, UNKNOWN_OUTCOME)
    return count


def record_status(runtime, provider_id: str, status: str, error_code: str | None = None) -> str:
    """Record a provider's delivery status; 'recorded', 'stale' (an older status), 'unknown' or 'invalid'."""
    rank = PROVIDER_STATUS_RANK.get(status)
    if rank is None or not provider_id:
        return "invalid"
    earlier = [name for name, r in PROVIDER_STATUS_RANK.items() if r < rank] + [status]
    values: dict = {"provider_status": status, "updated_at": utcnow()}
    if status in ("undelivered", "failed"):
        code = error_code if (error_code or "").isdigit() else None
        values["last_error"] = f"delivery {status}" + (f": provider error {code}" if code else "")
    with runtime.db.session() as s:
        changed = s.execute(update(OutboxMessage).where(
            OutboxMessage.provider_id == provider_id,
            or_(OutboxMessage.provider_status.is_(None), OutboxMessage.provider_status.in_(earlier)))
            .values(**values)).rowcount
        if changed:
            return "recorded"
        known = s.execute(select(OutboxMessage.id).where(OutboxMessage.provider_id == provider_id)).first()
    return "stale" if known else "unknown"


def _leased(message: Outgoing) -> tuple:
    """The row while our claim holds: still queued, with the lease we set (a worker that took it
    over after the lease ran out set another)."""
    return (OutboxMessage.id == message.id, OutboxMessage.status == QUEUED,
            OutboxMessage.next_attempt_at == message.leased_until)


def _start(runtime, message: Outgoing) -> bool:
    """Just before sending: our leased row moves to `sending` (counted as an attempt; its clock
    is what fail_stuck reads). False if the lease ran out and another worker has it."""
    with runtime.db.session() as s:
        return s.execute(update(OutboxMessage).where(*_leased(message))
                         .values(status=SENDING, attempts=message.attempts, updated_at=utcnow())).rowcount == 1


def _finish(runtime, message_id: int, status: str, reason: str, **values) -> None:
    """Move a claimed row on, with a reason safe to store (no personal data, bounded)."""
    with runtime.db.session() as s:
        moved = s.execute(update(OutboxMessage)
                          .where(OutboxMessage.id == message_id, OutboxMessage.status == SENDING)
                          .values(status=status, last_error=scrub_personal_data(reason)[:200],
                                  updated_at=utcnow(), **values)).rowcount
        if moved and status in (FAILED, CANCELLED):
            _count(runtime, s, message_id, status)


def _count(runtime, session: Session, message_id: int, status: str) -> None:
    """The insight event of a final outcome, in the unit of work that recorded it."""
    channel, kind, campaign = session.execute(
        select(OutboxMessage.channel, OutboxMessage.kind, OutboxMessage.campaign_id)
        .where(OutboxMessage.id == message_id)).one()
    runtime.insight.record(session, f"outbox.{status}", channel, kind, campaign=campaign)


def needing_attention(runtime, limit: int = 50) -> list[dict]:
    """Failed messages, newest first, for a person to check (recipient masked, no text)."""
    from bot.privacy import mask_phone

    with runtime.db.session() as s:
        rows = s.execute(select(OutboxMessage).where(OutboxMessage.status == "failed")
                         .order_by(OutboxMessage.updated_at.desc()).limit(limit)).scalars().all()
        out = []
        for row in rows:
            try:
                recipient = runtime.protector.decrypt(row.recipient_ref)
            except ValueError:
                recipient = "?"
            out.append({"id": row.id, "channel": row.channel, "attempts": row.attempts,
                        "recipient": mask_phone(recipient) if row.channel == "sms" else recipient[:6] + "…",
                        "error": row.last_error or "", "updated_at": row.updated_at.isoformat()})
        return out


def requeue(runtime, message_id: int) -> bool:
    """Send a failed message again — for a person who checked it did not arrive."""
    with runtime.db.session() as s:
        result = s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id,
                                                       OutboxMessage.status == "failed")
                           .values(status="queued", next_attempt_at=utcnow(), updated_at=utcnow()))
        return result.rowcount == 1
