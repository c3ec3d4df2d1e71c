"""The dashboard's broadcasts: each notice that went out in the period, how many households it
were sent in the actor's townships, and the questions and screenings on its topic in the week
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
from bot.insight.rollup import counts
from bot.outbox import CANCELLED, FAILED, QUEUED, SENDING, SENT
from bot.publicity.broadcast import APPROVED
from bot.publicity.routes import BATCHED_STATUSES
from bot.storage.models import Broadcast, BroadcastRecipient, OutboxMessage

WEEK = dt.timedelta(days=7)
MOST = 12  # broadcasts listed, the newest: a year of monthly notices


def broadcasts(session: Session, scope: Scope, since: dt.date, until: dt.date, timezone: str) -> list[dict]:
    """The approved broadcasts whose sending began in [since, until] (county days), newest first."""
    zone = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(since, dt.time(), zone)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), zone)
    began = func.coalesce(Broadcast.send_at, Broadcast.approved_at)
    found = session.execute(select(Broadcast).where(Broadcast.status == APPROVED, began >= start, began < end)
                            .order_by(began.desc(), Broadcast.id.desc()).limit(MOST)).scalars().all()
    if not found:
        return []
    days = {b.id: _day(b, zone) for b in found}
    today = dt.datetime.now(dt.timezone.utc).astimezone(zone).date()
    reach = _reach_county(session, found, min(days.values()), today) if scope.county else _reach_in(session, scope, found)
    return [_row(session, scope, b, days[b.id], reach.get(b.id, Counter())) for b in found]


def _day(broadcast: Broadcast, zone) -> dt.date:
    began = broadcast.send_at or broadcast.approved_at
    return (began if began.tzinfo else began.replace(tzinfo=dt.timezone.utc)).astimezone(zone).date()


def _row(session: Session, scope: Scope, broadcast: Broadcast, day: dt.date, reach: Counter) -> dict:
    before = _on_topic(session, scope, broadcast.topic, day - WEEK, day - dt.timedelta(days=1))
    after = _on_topic(session, scope, broadcast.topic, day, day + WEEK - dt.timedelta(days=1))
    return {"title": broadcast.title, "topic": broadcast.topic, "day": day,
            "sent": shown(reach["sent"]), "not_sent": shown(reach["not_sent"]), "waiting": shown(reach["waiting"]),
            "questions_before": shown(before["questions"]), "questions_after": shown(after["questions"]),
            "screenings_after": shown(after["screenings"])}


def _state(status: str) -> str:
    """sent (the provider took it), not_sent (failed, cancelled, outcome unknown), or waiting."""
    return "sent" if status == SENT else "not_sent" if status in (FAILED, CANCELLED) else "waiting"


def _reach_county(session: Session, found: list[Broadcast], since: dt.date, until: dt.date) -> dict[int, Counter]:
    """County-wide: the final outcomes are insight events by campaign (rolled up daily: no scan of a
    county notice's 100,000 outbox rows), the rows still waiting are few and found by status."""
    by_campaign = {b.campaign_id: b.id for b in found}
    reach: dict[int, Counter] = {b.id: Counter() for b in found}
    finals = counts(session, since, until, by=("campaign", "kind"), kinds=[f"outbox.{s}" for s in (SENT, FAILED, CANCELLED)],
                    campaign=tuple(by_campaign))
    for (campaign, kind), n in finals.items():
        if campaign in by_campaign:
            reach[by_campaign[campaign]][_state(kind.removeprefix("outbox."))] += n
    open_rows = session.execute(select(OutboxMessage.campaign_id, func.count())
                                .where(OutboxMessage.status.in_([QUEUED, SENDING, *BATCHED_STATUSES]),
                                       OutboxMessage.campaign_id.in_(list(by_campaign)))
                                .group_by(OutboxMessage.campaign_id))
    for campaign, n in open_rows:
        reach[by_campaign[campaign]]["waiting"] += n
    return reach


def _reach_in(session: Session, scope: Scope, found: list[Broadcast]) -> dict[int, Counter]:
    """A caseworker's townships: their recipients' rows (ix_broadcast_recipients_township reads
    only those), counted by status in the database."""
    reach: dict[int, Counter] = {b.id: Counter() for b in found}
    if not scope.townships:
        return reach
    rows = session.execute(
        select(BroadcastRecipient.broadcast_id, OutboxMessage.status, func.count())
        .join(OutboxMessage, OutboxMessage.id == BroadcastRecipient.outbox_id)
        .where(BroadcastRecipient.broadcast_id.in_(list(reach)),
               BroadcastRecipient.township.in_(sorted(scope.townships)))
        .group_by(BroadcastRecipient.broadcast_id, OutboxMessage.status))
    for broadcast_id, status, n in rows:
        reach[broadcast_id][_state(status)] += n
    return reach


def _on_topic(session: Session, scope: Scope, topic: str, since: dt.date, until: dt.date) -> Counter:
    """Questions on the broadcast's topic and screenings of its programme in [since, until]."""
    found: Counter = Counter()
    asked = scoped_counts(session, scope, since, until, by=("subject",), kinds=list(QUESTION_KINDS.values()))
    found["questions"] = sum(n for (subject,), n in asked.items() if subject.startswith(topic + "."))
    started = scoped_counts(session, scope, since, until, by=("programme",), kinds=["screening.started"])
    found["screenings"] = sum(n for (programme,), n in started.items() if programme == topic)
    return found
