"""The daily clean-up, the same whether `jiuzhu purge` (cron) or a worker runs it."""
from __future__ import annotations

import datetime as dt
import json
import logging

from bot.conversations import purge_abandoned
from bot.dialogue.turns import prune
from bot.insight.rollup import fold

log = logging.getLogger(__name__)


def purge(runtime) -> tuple[int, int]:
    """Delete abandoned screenings (personal data) and old webhook message ids; the two counts.

    Each screening deleted is counted as abandoned at the step where it was left, and
    the insight events of closed days are folded into insight_daily.
    """
    days = runtime.config.screening_expiry_days
    screenings = purge_abandoned(runtime.db, dt.timedelta(days=days), on_purge=_abandoned(runtime))
    ids = prune(runtime.db)
    folded = fold(runtime.db, runtime.insight.zone)
    log.info("purged %d abandoned screening(s) older than %d days and %d old message id(s); "
             "folded the insight events of %d day(s)", screenings, days, ids, len(folded))
    return screenings, ids


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
