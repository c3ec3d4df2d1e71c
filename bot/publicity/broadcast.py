"""Broadcasts: a notice from the bureau to the residents who subscribed to its topic.

    draft ──approve (a second account)──▶ approved: recipients planned, queued in the outbox
    draft ──cancel──▶ cancelled

An approved broadcast's state is its recipients' outbox rows: scheduled (all waiting for their
time), sending, sent, or partly sent (some failed) with one action to queue the failed ones
again. Each recipient gets the cheapest legal route, decided when it is planned:

    wechat_cs        a customer-service message: only within 48 h of the resident's last message
    wechat_mass      群发 by OpenID list (handlers/wechat_mass.py): a follower receives at most 4 a
                     month, counted in the county's calendar month the broadcast goes out in
    wechat_template  模板消息 (title and date only) once the 群发 quota is used up, when config.toml
                     names a notice template
    sms              a number subscribed to the topic (an SMS opt-in was confirmed), sent 8:00–20:00

A follower with neither, or a number that said STOP, is counted unreachable.
One broadcast_recipients row per (broadcast, channel, recipient) and an outbox idempotency key
per recipient: a second approval or a crash mid-plan never sends anyone the notice twice.
"""
from __future__ import annotations

import datetime as dt
import secrets
import string
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from bot import subscriptions
from bot.outbox import CANCELLED, FAILED, SENT, UNKNOWN_OUTCOME, requeue
from bot.placeholders import COUNTY_FIGURES, base_values
from bot.publicity.plan import queue_recipients
from bot.publicity.routes import (BATCHED_STATUSES, CS, MASS, QUEUED_BY_ROUTE, SMS, TEMPLATE,  # noqa: F401 — the pages' names
                                  queued_status)
from bot.publicity.subscribe import load_words, topic_ids
from bot.storage.models import Broadcast, BroadcastRecipient, Conversation, OutboxMessage, Subscription, utcnow

DRAFT, APPROVED, CANCELLED_BROADCAST = "draft", "approved", "cancelled"
CS_WINDOW = dt.timedelta(hours=48)       # WeChat: customer-service messages only this long after the last message
MASS_PER_MONTH = 4                       # WeChat service account: 群发 reaches a follower at most 4 times a month
SMS_HOURS = (8, 20)                      # SMS to residents only from 8:00 to 20:00, county time
DELIVERY_STATES = ("queued", "sent", "delivered", "failed", "unknown")


class BroadcastError(ValueError):
    """A broadcast that cannot be saved or approved as asked; the text says why, for the page."""


@dataclass
class Planned:
    """One recipient's route (the address stays encrypted until it is queued)."""

    channel: str
    route: str
    recipient_key: str
    recipient_ref: bytes = field(repr=False)
    township: str | None


@dataclass
class Audience:
    planned: list[Planned]
    unreachable: int

    def count(self, channel: str) -> int:
        return sum(p.channel == channel for p in self.planned)

    @property
    def routes(self) -> Counter:
        return Counter(p.route for p in self.planned)


# ---- composing --------------------------------------------------------------------------------
def create(session: Session, runtime, author: str, title: str, body: str, topic: str, township: str | None,
           channels: list[str], send_at: dt.datetime | None = None) -> Broadcast:
    """A draft; the text is checked now (an unknown {placeholder} is refused, with its name)."""
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise BroadcastError("标题和正文都要填写。")
    if topic not in (*topic_ids(), subscriptions.NOTICES):
        raise BroadcastError("请选择通知的主题。")
    if township and township not in runtime.config.county.townships:
        raise BroadcastError("没有这个乡镇。")
    channels = [c for c in ("wechat", "sms") if c in channels]
    if not channels:
        raise BroadcastError("请至少选择一个渠道（微信或短信）。")
    fill(runtime, body)
    broadcast = Broadcast(campaign_id=f"bc-{utcnow():%y%m%d}-{secrets.token_hex(3)}", title=title[:80], body=body,
                          topic=topic, township=township or None, channels=",".join(channels), status=DRAFT,
                          author=author, send_at=send_at, created_at=utcnow(), updated_at=utcnow())
    session.add(broadcast)
    session.flush()
    return broadcast


def fill(runtime, body: str) -> str:
    """The notice with config.toml's county values, as the FAQ uses them."""
    values = base_values(runtime.config)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(body) if name is not None}
    except ValueError:
        raise BroadcastError("正文里的花括号不成对；字面的花括号请写成 {{ 和 }}。") from None
    unknown = sorted(names - set(values))
    if unknown:
        raise BroadcastError("正文里有不认识的占位符：" + "、".join("{" + n + "}" for n in unknown)
                             + f"。可用的有：{'、'.join('{' + n + '}' for n in sorted(values))}")
    return body.format(**values)


def unverified_figures(runtime, body: str) -> list[str]:
    """County figures the notice quotes while config.toml says they are not yet verified."""
    if runtime.config.county.standards.verified:
        return []
    names = {name for _, name, _, _ in string.Formatter().parse(body) if name}
    return sorted(names & COUNTY_FIGURES)


def message_for(runtime, broadcast: Broadcast, channel: str) -> str:
    """What a resident on `channel` receives (SMS: with the sender's name and the opt-out line)."""
    template = load_words().broadcast[channel]
    return template.format(**{**base_values(runtime.config), "title": broadcast.title,
                              "text": fill(runtime, broadcast.body)})


# ---- planning ---------------------------------------------------------------------------------
def audience(session: Session, runtime, broadcast: Broadcast, now: dt.datetime | None = None) -> Audience:
    """Who would receive it now, by which route; the rest counted unreachable."""
    now = now or utcnow()
    channels = broadcast.channels.split(",")
    query = select(Subscription.channel, Subscription.recipient_key, Subscription.recipient_ref,
                   Subscription.township).where(
        Subscription.topic == broadcast.topic, Subscription.status == subscriptions.SUBSCRIBED,
        Subscription.channel.in_(channels), Subscription.recipient_ref.is_not(None))
    if broadcast.township:  # the township's own subscribers and the county-wide ones
        query = query.where((Subscription.township == broadcast.township) | Subscription.township.is_(None))
    candidates: dict[tuple[str, str], Planned] = {}
    for channel, key, ref, township in session.execute(query.order_by(Subscription.id)):
        candidates.setdefault((channel, key), Planned(channel, "", key, ref, township))
    stopped = set(session.execute(select(Subscription.channel, Subscription.recipient_key).where(
        Subscription.topic == subscriptions.ALL, Subscription.status == subscriptions.UNSUBSCRIBED)).all())
    wechat_keys = [key for channel, key in candidates if channel == "wechat"]
    last_seen = _last_messages(session, wechat_keys)
    # WeChat counts 群发 in the month a follower receives it: the month this one goes out in
    goes_out = max(_aware(broadcast.send_at), now) if broadcast.send_at else now
    mass_used = _mass_in_month(session, runtime, wechat_keys, goes_out)
    template = bool(runtime.config.wechat.notice_template_id)
    planned, unreachable = [], 0
    for (channel, key), person in candidates.items():
        if (channel, key) in stopped:
            unreachable += 1
            continue
        if channel == "sms":
            person.route = SMS
        elif last_seen.get(key) and now - _aware(last_seen[key]) <= CS_WINDOW:
            person.route = CS
        elif mass_used.get(key, 0) < MASS_PER_MONTH:
            person.route = MASS
        elif template:
            person.route = TEMPLATE
        else:
            unreachable += 1
            continue
        planned.append(person)
    return Audience(planned, unreachable)


def _chunks(keys: list[str], size: int = 5000):
    """Keys a few thousand at a time: an IN list of a whole county would pass the drivers' bind limits."""
    return (keys[i:i + size] for i in range(0, len(keys), size))


def _last_messages(session: Session, keys: list[str]) -> dict[str, dt.datetime]:
    found: dict[str, dt.datetime] = {}
    for part in _chunks(keys):
        found.update(session.execute(select(Conversation.user_key, func.max(Conversation.updated_at)).where(
            Conversation.channel == "wechat", Conversation.user_key.in_(part)).group_by(Conversation.user_key)).all())
    return found


def _mass_in_month(session: Session, runtime, keys: list[str], at: dt.datetime) -> dict[str, int]:
    """群发 planned per follower for the county month of `at`, by when each goes out (its send_at,
    else its approval): one approved on the 30th for the 2nd counts in the month it reaches them.
    Every planned one counts, sent or not: WeChat filters a fifth (FilterCount), we never plan it."""
    if not keys:
        return {}
    zone = zoneinfo.ZoneInfo(runtime.config.workbench.timezone)
    local = at.astimezone(zone).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_start = local.astimezone(dt.timezone.utc)
    month_end = (local + dt.timedelta(days=32)).replace(day=1).astimezone(dt.timezone.utc)
    out_at = func.coalesce(Broadcast.send_at, Broadcast.approved_at, BroadcastRecipient.planned_at)
    used: dict[str, int] = {}
    for part in _chunks(keys):
        used.update(session.execute(select(BroadcastRecipient.recipient_key, func.count()).join(
            Broadcast, Broadcast.id == BroadcastRecipient.broadcast_id).where(
            BroadcastRecipient.route == MASS, BroadcastRecipient.recipient_key.in_(part),
            # planned at most a year ahead of going out: a bounded range of the (key, route, planned_at) index
            BroadcastRecipient.planned_at >= month_start - dt.timedelta(days=366),
            out_at >= month_start, out_at < month_end).group_by(BroadcastRecipient.recipient_key)).all())
    return used


def sms_send_time(runtime, at: dt.datetime) -> dt.datetime:
    """`at`, or the next 8:00 county time when `at` falls outside 8:00–20:00."""
    zone = zoneinfo.ZoneInfo(runtime.config.workbench.timezone)
    local = _aware(at).astimezone(zone)
    start, end = SMS_HOURS
    if start <= local.hour < end:
        return at
    day = local.date() + (dt.timedelta(days=1) if local.hour >= end else dt.timedelta())
    return dt.datetime.combine(day, dt.time(start), zone).astimezone(dt.timezone.utc)


# ---- approval and sending ---------------------------------------------------------------------
def approve(session: Session, runtime, broadcast: Broadcast, approver: str, now: dt.datetime | None = None) -> int:
    """A second account approves: every recipient planned and queued; returns how many were queued."""
    now = now or utcnow()
    if broadcast.status != DRAFT:
        raise BroadcastError("这条通知已经审批过或已撤销。")
    if approver == broadcast.author:
        raise BroadcastError("不能审批自己起草的通知，请另一位有审批权限的同事审批。")
    broadcast.status, broadcast.approver, broadcast.approved_at, broadcast.updated_at = APPROVED, approver, now, now
    start = max(_aware(broadcast.send_at), now) if broadcast.send_at else now
    channels = broadcast.channels.split(",")
    texts = {channel: message_for(runtime, broadcast, channel) for channel in channels}
    send_after = {channel: sms_send_time(runtime, start) if channel == "sms" else start for channel in channels}
    return queue_recipients(session, runtime, broadcast, audience(session, runtime, broadcast, now).planned,
                            texts, send_after, now)


def cancel(broadcast: Broadcast) -> None:
    if broadcast.status != DRAFT:
        raise BroadcastError("已审批的通知不能撤销（已排队发送）。")
    broadcast.status, broadcast.updated_at = CANCELLED_BROADCAST, utcnow()


def delivery_state(status: str, provider_status: str | None, last_error: str | None) -> str:
    """queued, sent, delivered, failed or unknown, from an outbox row (a cancel is a failure: not reached)."""
    if status == SENT:
        if provider_status == "delivered" or provider_status == "read":
            return "delivered"
        return "failed" if provider_status in ("undelivered", "failed") else "sent"
    if status == FAILED:
        return "unknown" if (last_error or "").startswith(UNKNOWN_OUTCOME) else "failed"
    if status == CANCELLED:
        return "failed"
    return "queued"


def progress(session: Session, broadcast: Broadcast) -> tuple[str, Counter]:
    """The broadcast's state (草稿 … 部分发送) and its recipients counted per delivery state."""
    rows = session.execute(select(OutboxMessage.status, OutboxMessage.provider_status, OutboxMessage.last_error,
                                  OutboxMessage.next_attempt_at).join(
        BroadcastRecipient, BroadcastRecipient.outbox_id == OutboxMessage.id).where(
        BroadcastRecipient.broadcast_id == broadcast.id)).all()
    states = Counter(delivery_state(s, p, e) for s, p, e, _ in rows)
    if broadcast.status != APPROVED:
        return broadcast.status, states
    if not rows:
        return "sent", states  # approved with nobody to reach: nothing left to do
    if states["queued"]:
        waiting = all(_aware(at) > utcnow() for s, _, _, at in rows if s in ("queued", *BATCHED_STATUSES))
        return ("scheduled" if waiting and states["queued"] == len(rows) else "sending"), states
    return ("partly_sent" if states["failed"] or states["unknown"] else "sent"), states


def retry_failed(session: Session, runtime, broadcast: Broadcast) -> int:
    """Queue the failed recipients again (not the cancelled, not those whose outcome is unknown);
    群发 and template rows go back to their batch step, the others to the per-message worker."""
    rows = session.execute(select(OutboxMessage.id, BroadcastRecipient.route).join(
        BroadcastRecipient, BroadcastRecipient.outbox_id == OutboxMessage.id).where(
        BroadcastRecipient.broadcast_id == broadcast.id, OutboxMessage.status == FAILED,
        or_(OutboxMessage.last_error.is_(None), ~OutboxMessage.last_error.startswith(UNKNOWN_OUTCOME)))
    ).all()
    again = 0
    for route in QUEUED_BY_ROUTE:
        batched = [message_id for message_id, planned in rows if planned == route]
        again += sum(session.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(part), OutboxMessage.status == FAILED).values(
            status=queued_status(route), next_attempt_at=utcnow(), updated_at=utcnow())).rowcount
            for part in _chunks(batched))
    session.commit()  # requeue writes in its own session
    return again + sum(requeue(runtime, message_id) for message_id, route in rows if route not in QUEUED_BY_ROUTE)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
