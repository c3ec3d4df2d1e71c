"""Broadcasts' 群发 (POST /cgi-bin/message/mass/send by OpenID list) and template rows.

The outbox's per-message worker never claims these rows (status `mass_queued` or
`template_queued`, see bot/publicity/routes.py); `jiuzhu worker` runs `deliver_routed` after each of its rounds.
A campaign's due 群发 rows are split into ceil(N / mass_batch_size) calls of nearly equal
size — never a call of one, which WeChat refuses (a 群发 needs two openids). A lone row
left (a broadcast with one such follower, or the last one after a retry) is handed to the
per-message worker as a customer-service message, which falls back to the template when
WeChat says the 48 h window closed: padding the list with someone else would send them
a notice they did not ask for.

Per call, every row of the batch ends the same way:

    errcode 0 (or 45065, WeChat already has this clientmsgid) → sent, provider_id = msg_id,
        a mass_jobs row waits for MASSSENDJOBFINISH (its counts: record_job_finish)
    -1, 45009, 45011, 45028 → queued again (mass_queued) after a backoff; a quota waits
        [wechat] limit_retry_minutes; after [worker] max_attempts → failed
    no answer after the request went out → failed "outcome unknown": never sent again by
        itself (WeChat may have started the job), a person checks the account's 群发 log
    any other errcode → failed with the reason (the retry action can queue them again)

`clientmsgid` is a keyed hash of the batch: a person who retries exactly the batch that
timed out gets 45065 from WeChat instead of a second 群发 within its 24 h memory.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections import Counter

from sqlalchemy import func, insert, select, update

from bot.outbox import (CANCELLED, FAILED, QUEUED, SENDING, SENT, UNKNOWN_OUTCOME, SendError, TemporaryFailure,
                        UnknownOutcome)
from bot.privacy import scrub_personal_data
from bot.publicity.routes import MASS_QUEUED, TEMPLATE_QUEUED
from bot.storage.models import Broadcast, InsightEvent, MassJob, OutboxMessage, Subscription, utcnow
from bot.subscriptions import ALL, UNSUBSCRIBED
from handlers.wechat_api import errcode_of
from handlers.wechat_errors import posted, wechat_failure

log = logging.getLogger(__name__)

MASS_SEND = "/cgi-bin/message/mass/send"
ALREADY_SENT = 45065        # a 群发 with this clientmsgid was accepted before: its msg_id comes back
SQL_CHUNK = 5000            # ids per IN list (SQLite's and the drivers' bind limits)
TEMPLATES_PER_CLAIM = 50    # template rows go one call each: claimed a few at a time, so none waits stuck
NO_TEMPLATE = "no notice template is configured ([wechat] notice_template_id) for this template route"


def deliver_routed(runtime, sender, policy, stop: threading.Event | None = None,
                   now: dt.datetime | None = None) -> Counter:
    """Send every due 群发 batch and template row once; the outcomes counted per row.

    `sender` is the WechatSender that calls this (handlers/senders.py): its API client,
    `mass_batch_size`, `limit_retry` and template sender are what a batch uses."""
    now = now or utcnow()
    outcomes: Counter = Counter()
    size = sender.mass_batch_size
    for campaign in _due_campaigns(runtime, MASS_QUEUED, now):
        due = _count_due(runtime, campaign, now)
        if due == 0:
            continue
        for share in shares(due, size):
            if stop is not None and stop.is_set():
                break
            batch = _claim(runtime, campaign, MASS_QUEUED, now, share)
            if not batch:
                break  # another worker took the rest
            outcomes.update(_send_mass(runtime, sender, policy, campaign, batch, now))
    for campaign in _due_campaigns(runtime, TEMPLATE_QUEUED, now):
        while not (stop is not None and stop.is_set()):
            batch = _claim(runtime, campaign, TEMPLATE_QUEUED, now, TEMPLATES_PER_CLAIM)
            if not batch:
                break
            if sender.templates is None:  # removed from config.toml since planning: say so, keep the retry
                _finish(runtime, campaign, [row["id"] for row in batch], FAILED, NO_TEMPLATE)
                outcomes[FAILED] += len(batch)
                continue
            outcomes.update(_send_templates(runtime, sender, policy, campaign, batch, now))
    return outcomes


def shares(due: int, size: int) -> list[int]:
    """ceil(due / size) batch sizes differing by one at most: 10,001 rows are 5,001 + 5,000,
    never 10,000 + a lone one that WeChat would refuse."""
    calls = math.ceil(due / size)
    base, extra = divmod(due, calls) if calls else (0, 0)
    return [base + (i < extra) for i in range(calls)]


# ---- claiming ---------------------------------------------------------------------------------
def _due(waiting: str, now: dt.datetime):
    """Rows in this status whose time has come (the outbox's (status, next_attempt_at) index)."""
    return (OutboxMessage.status == waiting, OutboxMessage.next_attempt_at <= now, OutboxMessage.channel == "wechat")


def _due_campaigns(runtime, waiting: str, now: dt.datetime) -> list[str]:
    with runtime.db.session() as s:
        return list(s.execute(select(OutboxMessage.campaign_id).where(*_due(waiting, now))
                              .group_by(OutboxMessage.campaign_id).order_by(func.min(OutboxMessage.id))).scalars())


def _count_due(runtime, campaign: str, now: dt.datetime) -> int:
    with runtime.db.session() as s:
        return s.execute(select(func.count()).select_from(OutboxMessage).where(
            *_due(MASS_QUEUED, now), OutboxMessage.campaign_id == campaign)).scalar_one()


def _claim(runtime, campaign: str, waiting: str, now: dt.datetime, limit: int) -> list[dict]:
    """Up to `limit` due rows of a campaign in status `waiting` moved to `sending`, decrypted; no
    other worker gets them (PostgreSQL: SKIP LOCKED; SQLite: the conditional UPDATE, one writer at a time)."""
    with runtime.db.session() as s:
        ids = s.execute(select(OutboxMessage.id).where(
            *_due(waiting, now), OutboxMessage.campaign_id == campaign).order_by(OutboxMessage.id).limit(limit)
            .with_for_update(skip_locked=True)).scalars().all()
        claimed: list[int] = []
        for part in _chunks(ids):
            claimed += s.execute(update(OutboxMessage).where(
                OutboxMessage.id.in_(part), OutboxMessage.status == waiting).values(
                status=SENDING, attempts=OutboxMessage.attempts + 1, updated_at=utcnow())
                .returning(OutboxMessage.id)).scalars().all()
        rows = []
        for part in _chunks(sorted(claimed)):
            rows += s.execute(select(OutboxMessage.id, OutboxMessage.recipient_key, OutboxMessage.recipient_ref,
                                     OutboxMessage.body, OutboxMessage.attempts)
                              .where(OutboxMessage.id.in_(part))).all()
    batch, unreadable = [], []
    for message_id, key, ref, body, attempts in rows:
        try:
            batch.append({"id": message_id, "key": key, "attempts": attempts,
                          "openid": runtime.protector.decrypt(ref), "body": runtime.protector.decrypt(body)})
        except ValueError:
            unreadable.append(message_id)
    _finish(runtime, campaign, unreadable, FAILED, "cannot decrypt (was JIUZHU_DATA_KEY changed?)")
    return sorted(batch, key=lambda row: row["id"])


# ---- one 群发 call ----------------------------------------------------------------------------
def _send_mass(runtime, sender, policy, campaign: str, batch: list[dict], now) -> Counter:
    batch = _without_unfollowed(runtime, campaign, batch)
    outcomes: Counter = Counter()
    for body in sorted({row["body"] for row in batch}):  # one text per campaign; grouped all the same
        rows = [row for row in batch if row["body"] == body]
        if len(rows) == 1:  # WeChat cannot 群发 to one openid: the per-message route takes it
            _finish(runtime, campaign, [rows[0]["id"]], QUEUED, "a 群发 needs two followers: sent as a "
                    "customer-service message", next_attempt_at=now, attempts=OutboxMessage.attempts - 1)
            outcomes["handed on"] += 1
            continue
        ids = [row["id"] for row in rows]
        payload = {"touser": [row["openid"] for row in rows], "msgtype": "text", "text": {"content": body},
                   "clientmsgid": runtime.protector.blind_index("mass", f"{campaign}:{ids}")[:64]}
        try:
            result = posted(sender.api, MASS_SEND, payload)
            code = errcode_of(result)
            if code not in (0, ALREADY_SENT):
                raise wechat_failure(code, sender.limit_retry)
            if not result.get("msg_id"):  # accepted (or known), but no job to follow up
                raise UnknownOutcome(f"WeChat answered errcode {code} to the 群发 without a msg_id")
        except SendError as error:
            outcomes.update(_failed(runtime, policy, campaign, rows, error, now, MASS_QUEUED))
            continue
        msg_id = str(result["msg_id"])[:32]
        _accepted(runtime, campaign, ids, msg_id, str(result.get("msg_data_id") or "")[:32] or None)
        log.info("WeChat 群发 of %s accepted for %d followers (msg_id %s)", campaign, len(ids), msg_id)
        outcomes[SENT] += len(ids)
    return outcomes


def _without_unfollowed(runtime, campaign: str, batch: list[dict]) -> list[dict]:
    """The batch less those who unfollowed since it was planned (their rows cancelled, saying so)."""
    stopped: dict[str, dt.datetime] = {}
    with runtime.db.session() as s:
        for part in _chunks([row["key"] for row in batch]):
            stopped.update(s.execute(select(Subscription.recipient_key, Subscription.consent_at).where(
                Subscription.channel == "wechat", Subscription.topic == ALL,
                Subscription.status == UNSUBSCRIBED, Subscription.recipient_key.in_(part))).all())
    gone = [row for row in batch if row["key"] in stopped]
    for row in gone:
        _finish(runtime, campaign, [row["id"]], CANCELLED,
                f"cancelled: the WeChat account unfollowed on {stopped[row['key']]:%Y-%m-%d}")
    return [row for row in batch if row["key"] not in stopped]


def _accepted(runtime, campaign: str, ids: list[int], msg_id: str, msg_data_id: str | None) -> None:
    """The batch's rows sent under WeChat's msg_id, and its job waiting for MASSSENDJOBFINISH."""
    with runtime.db.session() as s:
        moved = sum(s.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(part), OutboxMessage.status.in_([SENDING, FAILED])).values(
            status=SENT, provider_id=msg_id, provider_status="accepted", last_error=None, updated_at=utcnow()))
            .rowcount for part in _chunks(ids))
        if s.execute(select(MassJob.id).where(MassJob.msg_id == msg_id)).first() is None:  # 45065: known
            s.add(MassJob(campaign_id=campaign, msg_id=msg_id, msg_data_id=msg_data_id, recipients=len(ids),
                          status="accepted", accepted_at=utcnow()))
        _count(runtime, s, campaign, SENT, moved)


def _failed(runtime, policy, campaign: str, rows: list[dict], error: SendError, now, waiting: str) -> Counter:
    """The whole batch failed alike: queued again after a backoff, or failed for a person."""
    reason = str(error) or type(error).__name__
    if isinstance(error, UnknownOutcome):
        log.warning("WeChat 群发 of %s: %s; %d rows left for a person to check", campaign, reason, len(rows))
        _finish(runtime, campaign, [row["id"] for row in rows], FAILED, f"{UNKNOWN_OUTCOME}: {reason}")
        return Counter({FAILED: len(rows)})
    outcomes: Counter = Counter()
    if isinstance(error, TemporaryFailure):
        for attempts in sorted({row["attempts"] for row in rows}):
            again = [row["id"] for row in rows if row["attempts"] == attempts]
            if attempts >= policy.max_attempts:
                continue
            retry_at = now + max(policy.backoff(attempts), error.retry_after or dt.timedelta())
            _finish(runtime, campaign, again, waiting, reason, next_attempt_at=retry_at)
            outcomes[QUEUED] += len(again)
            log.warning("WeChat 群发 of %s: %s; %d rows retried at %s", campaign, reason, len(again),
                        retry_at.strftime("%H:%M:%S"))
    left = [row["id"] for row in rows if not isinstance(error, TemporaryFailure)
            or row["attempts"] >= policy.max_attempts]
    if left:
        log.warning("WeChat 群发 of %s failed for %d rows: %s", campaign, len(left), reason)
        _finish(runtime, campaign, left, FAILED, reason)
        outcomes[FAILED] += len(left)
    return outcomes


# ---- template rows ----------------------------------------------------------------------------
def _send_templates(runtime, sender, policy, campaign: str, batch: list[dict], now) -> Counter:
    """One 模板消息 per row, carrying the broadcast's title (the row's text does not fit a template)."""
    with runtime.db.session() as s:
        title = s.execute(select(Broadcast.title).where(Broadcast.campaign_id == campaign)).scalar_one()
    outcomes: Counter = Counter()
    for i, row in enumerate(_without_unfollowed(runtime, campaign, batch)):
        try:
            sent = sender.templates.send(row["openid"], title)
        except SendError as error:
            outcomes.update(_failed(runtime, policy, campaign, [row], error, now, TEMPLATE_QUEUED))
            continue
        with runtime.db.session() as s:
            if s.execute(update(OutboxMessage).where(OutboxMessage.id == row["id"], OutboxMessage.status == SENDING)
                         .values(status=SENT, provider_id=sent.provider_id, last_error=None,
                                 updated_at=utcnow())).rowcount:
                _count(runtime, s, campaign, SENT, 1)
        outcomes[SENT] += 1
    return outcomes


# ---- recording --------------------------------------------------------------------------------
def _finish(runtime, campaign: str, ids: list[int], status: str, reason: str, **values) -> None:
    """Move claimed rows on together, with a reason safe to store; final outcomes counted."""
    if not ids:
        return
    with runtime.db.session() as s:
        moved = sum(s.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(part), OutboxMessage.status == SENDING).values(
            status=status, last_error=scrub_personal_data(reason)[:200], updated_at=utcnow(), **values))
            .rowcount for part in _chunks(ids))
        if status in (FAILED, CANCELLED):
            _count(runtime, s, campaign, status, moved)


def _count(runtime, session, campaign: str, status: str, n: int) -> None:
    """n insight events of a final outcome (the outbox's own, bot/outbox.py _count), in one statement."""
    row = runtime.insight.event(f"outbox.{status}", "wechat", "broadcast", campaign=campaign)
    if row is not None and n:
        session.execute(insert(InsightEvent), [row] * n)


def record_job_finish(runtime, msg_id: str, status: str, total: int, filtered: int, sent: int,
                      errors: int) -> bool:
    """MASSSENDJOBFINISH: a job's counts (WeChat may push it twice: the same values again).
    A job WeChat failed as a whole ("send fail", "err(…)", nobody sent) marks its rows' delivery
    failed, with WeChat's reason; False for a msg_id no broadcast of ours sent."""
    with runtime.db.session() as s:
        job = s.execute(select(MassJob).where(MassJob.msg_id == str(msg_id)[:32])).scalar_one_or_none()
        if job is None:
            return False
        job.status, job.job_status, job.finished_at = "finished", (status or "")[:64], utcnow()
        job.total_count, job.filter_count, job.sent_count, job.error_count = total, filtered, sent, errors
        if sent == 0 and status != "send success":
            s.execute(update(OutboxMessage).where(OutboxMessage.provider_id == job.msg_id,
                                                  OutboxMessage.status == SENT).values(
                provider_status="failed", last_error=f"群发 job {status[:40]}: WeChat sent it to nobody",
                updated_at=utcnow()))
        else:
            s.execute(update(OutboxMessage).where(OutboxMessage.provider_id == job.msg_id,
                                                  OutboxMessage.provider_status == "accepted").values(
                provider_status="sent", updated_at=utcnow()))
    return True


def _chunks(values: list, size: int = SQL_CHUNK):
    return (values[i:i + size] for i in range(0, len(values), size))

