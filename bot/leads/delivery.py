"""How a message reaches a resident from the workbench: their own channel when its rules allow.

SMS residents get an SMS. A WeChat resident gets a customer-service message only within
`[workbench] wechat_window_hours` (48) of their last message — WeChat refuses it later —
and an SMS otherwise when a phone number is known; else nothing can be sent.

The last message is known from the conversation's `updated_at`, which moves when a message
changes the conversation: it may be older than the true last message (an unchanged state
is not written), never newer, so the window is never assumed open when it is closed.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.phones import mainland_mobile, to_e164
from bot.storage.models import Conversation, Lead, utcnow

CHANNEL_LABELS = {"sms": "短信", "wechat": "微信客服消息"}


@dataclass(frozen=True)
class Delivery:
    """Where one message goes; the recipient is never shown to a caseworker."""

    channel: str
    recipient: str = field(repr=False)
    why: str = ""

    @property
    def label(self) -> str:
        """短信 / 微信客服消息, for the preview."""
        return CHANNEL_LABELS[self.channel]


def plan(session: Session, runtime, channel: str, user_key: str, phone: str | None,
         now: dt.datetime | None = None) -> Delivery | None:
    """The delivery to a resident of `channel`/`user_key`, with the phone they gave, or None."""
    now = now or utcnow()
    mobile = mainland_mobile(phone) if phone else None
    conversation = session.execute(select(Conversation).where(
        Conversation.channel == channel, Conversation.user_key == user_key)).scalar_one_or_none()
    if channel == "wechat":
        window = dt.timedelta(hours=runtime.config.workbench.wechat_window_hours)
        if conversation is not None and conversation.user_ref and _aware(conversation.updated_at) > now - window:
            return Delivery("wechat", runtime.protector.decrypt(conversation.user_ref), "48小时内发过消息")
        if mobile:
            return Delivery("sms", to_e164(mobile), "微信超过48小时未互动，改发短信")
        return None
    if mobile:
        return Delivery("sms", to_e164(mobile), "短信申请")
    if conversation is not None and conversation.user_ref:  # an SMS user's id is their number
        return Delivery("sms", runtime.protector.decrypt(conversation.user_ref), "短信申请")
    return None


def plan_for_lead(session: Session, runtime, lead: Lead, now: dt.datetime | None = None) -> Delivery | None:
    """The delivery to a lead's applicant (decrypts the phone only to address the message)."""
    phone = json.loads(runtime.protector.decrypt(lead.personal)).get("phone")
    return plan(session, runtime, lead.channel, lead.user_key, phone, now)


def send(runtime, session: Session, delivery: Delivery, body: str, key: str) -> int:
    """Queue `body` in the caller's unit of work; the outbox row's id."""
    from bot.outbox import enqueue

    row_id, _ = enqueue(runtime, delivery.channel, delivery.recipient, body, idempotency_key=key,
                        session=session)
    return row_id


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite drops the zone
