"""What a broadcast achieved, per township: delivered and failed, and the questions and screenings
on its topic in the 7 days after it went out (from the insight events, which hold no personal data).

The questions and screenings are those of the whole topic in those days, not only of the people
it reached: the events are anonymous by design, so this is a before/after signal, not attribution.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter, defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.insight.events import QUESTION_KINDS
from bot.insight.rollup import counts
from bot.publicity.broadcast import delivery_state
from bot.storage.models import Broadcast, BroadcastRecipient, MassJob, OutboxMessage

AFTER_DAYS = 7
COUNTY = "全县"  # the row of recipients or events without a township


def results_of(session: Session, runtime, broadcast: Broadcast) -> dict:
    """{"rows": [{township, delivered, sent, failed, questions, screenings}], "since", "until"}."""
    rows: dict[str, Counter] = defaultdict(Counter)
    for township, status, provider, error in session.execute(
            select(BroadcastRecipient.township, OutboxMessage.status, OutboxMessage.provider_status,
                   OutboxMessage.last_error).join(OutboxMessage, OutboxMessage.id == BroadcastRecipient.outbox_id)
            .where(BroadcastRecipient.broadcast_id == broadcast.id)):
        rows[township or COUNTY][delivery_state(status, provider, error)] += 1
    zone = zoneinfo.ZoneInfo(runtime.config.workbench.timezone)
    start = broadcast.send_at or broadcast.approved_at or broadcast.created_at
    start = start if start.tzinfo else start.replace(tzinfo=dt.timezone.utc)
    since = start.astimezone(zone).date()
    until = since + dt.timedelta(days=AFTER_DAYS - 1)
    prefix = broadcast.topic + "."
    questions = counts(session, since, until, by=("subject", "township"), kinds=list(QUESTION_KINDS.values()))
    for (subject, township), n in questions.items():
        if subject.startswith(prefix):
            rows[township or COUNTY]["questions"] += n
    screenings = counts(session, since, until, by=("programme", "township"), kinds=["screening.started"])
    for (programme, township), n in screenings.items():
        if programme in ("", broadcast.topic):  # a screening's programme is known once it is chosen
            rows[township or COUNTY]["screenings"] += n
    ordered = sorted(rows, key=lambda t: (t == COUNTY, t))
    return {"rows": [{"township": t, **rows[t]} for t in ordered], "since": since, "until": until,
            "total": sum(rows.values(), Counter()), "mass": mass_of(session, broadcast),
            "failures": failures_of(session, broadcast)}


def failures_of(session: Session, broadcast: Broadcast) -> Counter:
    """The reasons kept with the recipients not reached (failed, unknown, cancelled), counted:
    no personal data is in a reason (bot/outbox.py), so the page may show them."""
    reasons: Counter = Counter()
    for status, provider, error in session.execute(
            select(OutboxMessage.status, OutboxMessage.provider_status, OutboxMessage.last_error)
            .join(BroadcastRecipient, BroadcastRecipient.outbox_id == OutboxMessage.id)
            .where(BroadcastRecipient.broadcast_id == broadcast.id)):
        if delivery_state(status, provider, error) in ("failed", "unknown"):
            reasons[error or status] += 1
    return reasons


def mass_of(session: Session, broadcast: Broadcast) -> dict:
    """The broadcast's 群发 calls: followers WeChat accepted, and from each MASSSENDJOBFINISH
    how many it sent, filtered (the 4-a-month rule, blocked) and failed. WeChat counts per job
    only, never per follower: these are the figures, the outbox rows stay "sent" (accepted)."""
    jobs = session.execute(select(MassJob).where(MassJob.campaign_id == broadcast.campaign_id)
                           .order_by(MassJob.id)).scalars().all()
    finished = [job for job in jobs if job.status == "finished"]
    return {"jobs": [{"msg_id": job.msg_id, "accepted": job.recipients, "status": job.status,
                      "job_status": job.job_status, "total": job.total_count, "filtered": job.filter_count,
                      "sent": job.sent_count, "errors": job.error_count, "accepted_at": job.accepted_at}
                     for job in jobs],
            "accepted": sum(job.recipients for job in jobs), "waiting": len(jobs) - len(finished),
            "sent": sum(job.sent_count or 0 for job in finished),
            "filtered": sum(job.filter_count or 0 for job in finished),
            "errors": sum(job.error_count or 0 for job in finished)}
