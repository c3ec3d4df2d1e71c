"""政策找人: households that may be eligible once a standard changes, asked and found again.

At the end of a screening the resident is asked, once, whether we may write again if
the rules change; only an explicit yes counts (the consent question's reader, which
refuses greetings and questions). The yes is a subscription to topic "recheck" for the
lead's township, so subscription_changes holds the proof (wording, channel, time) and
STOP / an unfollow cancels it like any other topic. What a recheck needs, without any
personal data in clear, goes on the lead's consent record (lead.consent["recheck"]):
the text version, the per-capita income, the standard it was compared with (its
config key and figure), the programmes, the township and the channel + recipient key.
The lead is the natural home of that snapshot: it already is the household, scoped by
township for caseworkers, and it needs no new table.

When a standard changes (config.toml, e.g. county.standards.dibao_rural 720 → 760),
`candidates` lists the consenting households whose per-capita income was at or above
the OLD line (the figure kept with the consent) and below the new line plus a margin
(config screening.recheck_margin); `invite`
queues one message each through the outbox, keyed by lead and change, so one change
never writes twice to the same household.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import outbox, subscriptions
from bot.privacy import scrub_personal_data
from bot.storage.models import Lead, OutboxMessage, utcnow

TOPIC = "recheck"
STANDARD_KEYS = {"urban": "county.standards.dibao_urban", "rural": "county.standards.dibao_rural"}
STANDARD_NAMES = {"county.standards.dibao_urban": "城市低保标准", "county.standards.dibao_rural": "农村低保标准"}


def snapshot(config, values: dict) -> dict:
    """What a later recheck compares: per-capita income and the standard it met (no personal data)."""
    key = STANDARD_KEYS["urban" if values.get("residence") == "urban" else "rural"]  # unknown: rural, as rules do
    income, size = values.get("household_monthly_income"), values.get("household_size")
    per_capita = round(income / size, 2) if isinstance(income, (int, float)) and size else None
    return {"per_capita": per_capita, "standard_key": key,
            "standard": getattr(config.county.standards, key.rsplit(".", 1)[1]),
            "program": values.get("program"), "township": values.get("township") or None}


def record(session: Session, runtime, lead: Lead, channel: str, recipient: str, said: str, yes: bool,
           version: str, values: dict | None = None) -> None:
    """The resident's answer: a yes subscribes to "recheck" and keeps the snapshot; a no unsubscribes."""
    status = subscriptions.SUBSCRIBED if yes else subscriptions.UNSUBSCRIBED
    subscriptions.change(session, runtime, channel, recipient, TOPIC, status, wording=said,
                         source="screening_end", township=lead.township)
    consent = dict(lead.consent or {})
    consent["recheck"] = {"given": yes, "version": version, "channel": channel, "at": utcnow().isoformat(),
                          "reply": scrub_personal_data(said)[:60],
                          "recipient_key": subscriptions.recipient_key(runtime.protector, channel, recipient),
                          **(snapshot(runtime.config, values or {}) if yes else {})}
    lead.consent = consent  # reassigned: a plain JSON column notices no change in place


@dataclass(frozen=True)
class Candidate:
    """One household to invite after a change, as the workbench lists it (no name, no number)."""

    ref: str
    name_masked: str | None
    township: str | None
    per_capita: float
    standard_key: str
    old: float            # the figure it was compared with when screened
    new: float            # the figure config.toml has now
    program: str | None
    channel: str
    consented_at: str
    invited: bool


def current_figure(config, standard_key: str) -> float:
    """The figure config.toml has now for a standard's key."""
    return float(getattr(config.county.standards, standard_key.rsplit(".", 1)[1]))


def candidates(session: Session, runtime, townships: frozenset[str] | None = None,
               margin: float | None = None) -> list[Candidate]:
    """Consenting households screened at or above the line of their time, which has since risen,
    and below the new line plus `margin` (config screening.recheck_margin).

    The old figure is the one stored with each consent, so no baseline is needed: any rise
    of the standard since that screening is a change. `townships` None: the whole county
    (supervisors); else only those townships (a caseworker), in the query itself.
    """
    margin = runtime.config.recheck_margin if margin is None else margin
    query = select(Lead).order_by(Lead.created_at.desc())
    if townships is not None:
        query = query.where(Lead.township.in_(sorted(townships)))
    found = []
    for lead in session.execute(query).scalars():
        snap = (lead.consent or {}).get("recheck") or {}
        pc, key = snap.get("per_capita"), snap.get("standard_key")
        if not snap.get("given") or key not in STANDARD_NAMES or pc is None:
            continue
        old, new = float(snap["standard"]), current_figure(runtime.config, key)
        if not (new > old and old <= pc < new + margin):
            continue
        if subscriptions.status_by_key(session, snap["channel"], snap["recipient_key"], TOPIC,
                                       lead.township) != subscriptions.SUBSCRIBED:
            continue  # withdrawn since (退订, STOP, an unfollow)
        found.append(Candidate(lead.ref, lead.name_masked, lead.township, pc, key, old, new, snap.get("program"),
                               snap["channel"], snap["at"][:10], _queued(session, runtime, _key(lead.ref, key, new))))
    return found


def invite(session: Session, runtime, candidate: Candidate) -> bool:
    """Queue the invitation to one listed household; False when it was already queued for this change."""
    ref, standard_key, new = candidate.ref, candidate.standard_key, candidate.new
    lead = session.execute(select(Lead).where(Lead.ref == ref)).scalar_one()
    snap = lead.consent["recheck"]
    recipient = subscriptions.recipient_of(session, runtime, snap["channel"], snap["recipient_key"], TOPIC,
                                           lead.township)
    body = runtime.screener.texts.get("recheck_invite", county=runtime.config.county.name,
                                      standard_name=STANDARD_NAMES.get(standard_key, standard_key),
                                      new=f"{new:g}")
    _, created = outbox.enqueue(runtime, snap["channel"], recipient, body, _key(ref, standard_key, new), session=session,
                                kind="recheck", campaign_id=f"recheck-{standard_key.rsplit('.', 1)[1]}-{new:g}")
    return created


def _key(ref: str, standard_key: str, new: float) -> str:
    """One invitation per household and change (the outbox refuses a second with the same key)."""
    return f"recheck:{ref}:{standard_key}:{new:g}"


def _queued(session: Session, runtime, idempotency_key: str) -> bool:
    """Whether this invitation is in the outbox already (keys are stored hashed, as outbox.enqueue does)."""
    key = runtime.protector.blind_index("outbox", idempotency_key)
    return session.execute(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)).first() is not None
