"""Text applicants about their application: on submission (when they applied on WeChat)
and on every status change. Everything goes through the outbox, once per event."""
from __future__ import annotations

from bot.phones import mainland_mobile, to_e164


def notify_submitted(runtime, ref: str, channel: str, values: dict) -> None:
    """A confirmation SMS with the reference, unless the resident is on SMS already."""
    phone = mainland_mobile(values.get("phone"))
    if channel == "sms" or not phone:
        return
    texts = runtime.screener.texts
    body = texts.get("submitted_confirm_sms", ref=ref, township=values.get("township") or "乡镇",
                     days=runtime.config.contact_days)
    _send(runtime, phone, body, f"submitted:{ref}")


def notify_status(runtime, lead) -> bool:
    """An SMS telling the applicant the new status; False when there is no number to text."""
    phone = mainland_mobile(runtime.leads.phone_of(lead))
    if not phone:
        return False
    texts = runtime.screener.texts
    status = texts.doc["status"].get(lead.status, lead.status)
    body = texts.get("status_sms", ref=lead.ref, status=status,
                     assistance_hotline=runtime.config.county.hotlines.assistance)
    _send(runtime, phone, body, f"status:{lead.ref}:{lead.status}")
    return True


def _send(runtime, phone: str, body: str, key: str) -> None:
    from bot.outbox import enqueue

    enqueue(runtime, "sms", to_e164(phone), body, idempotency_key=key)  # the worker checks STOP
