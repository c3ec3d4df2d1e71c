"""Text applicants about their application: on submission (when they applied on WeChat)
and on every status change. Everything goes through the outbox, once per event."""
from __future__ import annotations

from bot.phones import mainland_mobile, to_e164


def notify_submitted(runtime, ref: str, channel: str, values: dict, body: str) -> None:
    """The confirmation SMS `body` (reference, who calls), unless the resident is on SMS already."""
    phone = mainland_mobile(values.get("phone"))
    if channel == "sms" or not phone:
        return
    _send(runtime, phone, body, f"submitted:{ref}")


def notify_status(runtime, lead, session=None) -> bool:
    """An SMS telling the applicant the new status, queued in the caller's unit of work (the
    one that changed the status); False when there is no number to text."""
    phone = mainland_mobile(runtime.leads.phone_of(lead))
    if not phone:
        return False
    texts = runtime.screener.texts
    status = texts.doc["status"].get(lead.status, lead.status)
    body = texts.get("status_sms", ref=lead.ref, status=status,
                     assistance_hotline=runtime.config.county.hotlines.assistance)
    _send(runtime, phone, body, f"status:{lead.ref}:{lead.status}", session)
    return True


def _send(runtime, phone: str, body: str, key: str, session=None) -> None:
    from bot.outbox import enqueue

    enqueue(runtime, "sms", to_e164(phone), body, idempotency_key=key, session=session)  # the worker checks STOP
