"""The daily clean-up, the same whether `jiuzhu purge` (cron) or a worker runs it."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from bot.conversations import purge_abandoned
from bot.dialogue.turns import prune
from bot.retention import Deleted, apply_retention

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    """What one clean-up removed."""

    screenings: int        # abandoned screenings (personal data)
    message_ids: int       # old webhook message ids
    retention: Deleted     # transcripts and unanswered-question texts past [retention]


def purge(runtime) -> Purged:
    """Delete abandoned screenings, old webhook message ids, and what [retention] says is too old."""
    days = runtime.config.screening_expiry_days
    screenings = purge_abandoned(runtime.db, dt.timedelta(days=days))
    ids = prune(runtime.db)
    deleted = apply_retention(runtime.db, runtime.config.retention)
    log.info("purged %d abandoned screening(s) older than %d days and %d old message id(s); retention: "
             "%d transcript(s), %d unanswered question text(s)", screenings, days, ids,
             deleted.transcripts, deleted.question_texts)
    return Purged(screenings, ids, deleted)
