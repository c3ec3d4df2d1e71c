"""Who may be texted: a number that sent STOP receives nothing until it sends START.

Looked up by the number's blind-index key (bot.phones), so the webhook's
STOP and the worker's check before sending agree on every spelling of a number.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.phones import phone_key, to_e164
from bot.storage.models import SmsSubscription, utcnow


def is_subscribed(runtime, number: str) -> bool:
    """False once the number sent STOP (until START); outbound senders must check this."""
    key = phone_key(runtime.protector, number)
    with runtime.db.unit_of_work() as s:
        flag = s.execute(select(SmsSubscription.subscribed)
                         .where(SmsSubscription.phone_key == key)).scalar_one_or_none()
    return flag is None or bool(flag)


def set_subscribed(runtime, number: str, subscribed: bool) -> None:
    """Record STOP (False) or START (True) for a number."""
    number = to_e164(number)
    key = phone_key(runtime.protector, number)
    change = (update(SmsSubscription).where(SmsSubscription.phone_key == key)
              .values(subscribed=subscribed, updated_at=utcnow()))
    with runtime.db.unit_of_work() as s:
        if s.execute(change).rowcount:
            return
    try:
        with runtime.db.unit_of_work() as s:
            s.add(SmsSubscription(phone_key=key, phone_ref=runtime.protector.encrypt(number),
                                  subscribed=subscribed, updated_at=utcnow()))
    except IntegrityError:  # a parallel request created the row a moment ago
        with runtime.db.unit_of_work() as s:
            s.execute(change)
