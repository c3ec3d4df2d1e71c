"""The daily clean-up, the same whether `jiuzhu purge` (cron) or a worker runs it."""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from bot.conversations import purge_abandoned
from bot.dialogue.claims import prune
from bot.insight.rollup import fold
from bot.retention import Deleted, apply_retention

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    """What one clean-up removed."""

    screenings: int        # abandoned screenings (personal data)
    message_ids: int       # old webhook message ids
    retention: Deleted     # transcripts and unanswered-question texts past [retention]
    folded_days: int = 0   # closed days of insight events folded into insight_daily


def purge(runtime) -> Purged:
    """Delete abandoned screenings, old webhook message ids, and what [retention] says is too old.

    Each screening deleted is counted as abandoned at the step where it was left, and
    the insight events of closed days are folded into insight_daily.
    """
    days = runtime.config.screening_expiry_days
    screenings = purge_abandoned(runtime.db, dt.timedelta(days=days), on_purge=_abandoned(runtime))
    ids = prune(runtime.db)
    deleted = apply_retention(runtime.db, runtime.config.retention)
    folded = fold(runtime.db, runtime.insight.zone)
    log.info("purged %d abandoned screening(s) older than %d days and %d old message id(s); retention: "
             "%d transcript(s), %d unanswered question text(s); folded the insight events of %d day(s)",
             screenings, days, ids, deleted.transcripts, deleted.question_texts, len(folded))
    return Purged(screenings, ids, deleted, len(folded))


def _abandoned(runtime):
    """Count a purged screening as abandoned where it stopped (nothing when unreadable)."""
    from bot.insight.screening import screening_events, view_of

    def count(session, channel: str, sealed: str) -> None:
        try:
            state = json.loads(runtime.protector.unseal(sealed))
        except ValueError:
            return  # under another key: nothing to read, and it is deleted all the same
        for kind, step, context in screening_events(view_of(state), None):
            runtime.insight.record(session, kind, channel, step, township=context.get("township"),
                                   programme=context.get("program"), age=context.get("age"))
    return count
