"""The dashboard's broadcasts: each notice that went out in the period, how many households it
reached in the actor's townships, and the questions and screenings on its topic in the week
before and the week after.

The questions and screenings are the whole topic's in those days, not only those of the people
reached: insight events are anonymous by design, so this is a before/after signal, not
attribution (the broadcast's own page, bot/publicity/results.py, says the same per township).
Counts under 5 households are shown as "<5", as everywhere on the dashboard.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.insight.dashboard import Scope, scoped_counts, shown
from bot.insight.events import QUESTION_KINDS
from bot.publicity.broadcast import APPROVED, delivery_state
from bot.storage.models import Broadcast, BroadcastRecipient, OutboxMessage

WEEK = dt.timedelta(days=7)
MOST = 20  # broadcasts listed: a county sends a few a month


def broadcasts(session: Session, scope: Scope, since: dt.date, until: dt.date, timezone: str) -> list[dict]:
    """The approved broadcasts whose sending began in [since, until] (county days), newest first."""
    zone = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(since, dt.time(), zone)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), zone)
    began = func.coalesce(Broadcast.send_at, Broadcast.approved_at)
    found = session.execute(select(Broadcast).where(Broadcast.status == APPROVED, began >= start, began < end)
                            .order_by(began.desc(), Broadcast.id.desc()).limit(MOST)).scalars().all()
    return [_row(session, scope, b, zone) for b in found]


def _row(session: Session, scope: Scope, broadcast: Broadcast, zone) -> dict:
    began = broadcast.send_at or broadcast.approved_at
    day = (began if began.tzinfo else began.replace(tzinfo=dt.timezone.utc)).astimezone(zone).date()
    reach = _reach(session, scope, broadcast)
    before = _on_topic(session, scope, broadcast.topic, day - WEEK, day - dt.timedelta(days=1))
    after = _on_topic(session, scope, broadcast.topic, day, day + WEEK - dt.timedelta(days=1))
    return {"title": broadcast.title, "topic": broadcast.topic, "day": day,
            "reached": shown(reach["delivered"] + reach["sent"]), "not_reached": shown(reach["failed"] + reach["unknown"]),
            "waiting": shown(reach["queued"]), "questions_before": shown(before["questions"]),
            "questions_after": shown(after["questions"]), "screenings_after": shown(after["screenings"])}


def _reach(session: Session, scope: Scope, broadcast: Broadcast) -> Counter:
    """Recipients per delivery state, counted in the database (a county broadcast has 100,000)."""
    query = (select(OutboxMessage.status, OutboxMessage.provider_status, OutboxMessage.last_error, func.count())
             .join(BroadcastRecipient, BroadcastRecipient.outbox_id == OutboxMessage.id)
             .where(BroadcastRecipient.broadcast_id == broadcast.id)
             .group_by(OutboxMessage.status, OutboxMessage.provider_status, OutboxMessage.last_error))
    if not scope.county:
        query = query.where(BroadcastRecipient.township.in_(sorted(scope.townships or ())))
    states: Counter = Counter()
    for status, provider, error, n in session.execute(query):
        states[delivery_state(status, provider, error)] += n
    return states


def _on_topic(session: Session, scope: Scope, topic: str, since: dt.date, until: dt.date) -> Counter:
    """Questions on the broadcast's topic and screenings of its programme in [since, until]."""
    found: Counter = Counter()
    asked = scoped_counts(session, scope, since, until, by=("subject",), kinds=list(QUESTION_KINDS.values()))
    found["questions"] = sum(n for (subject,), n in asked.items() if subject.startswith(topic + "."))
    started = scoped_counts(session, scope, since, until, by=("programme",), kinds=["screening.started"])
    found["screenings"] = sum(n for (programme,), n in started.items() if programme == topic)
    return found
