"""The daily clean-up, the same whether `jiuzhu purge` (cron) or a worker runs it."""
from __future__ import annotations

import datetime as dt
import logging

from bot.conversations import purge_abandoned
from bot.dialogue.turns import prune

log = logging.getLogger(__name__)


def purge(runtime) -> tuple[int, int]:
    """Delete abandoned screenings (personal data) and old webhook message ids; the two counts."""
    days = runtime.config.screening_expiry_days
    screenings = purge_abandoned(runtime.db, dt.timedelta(days=days))
    ids = prune(runtime.db)
    log.info("purged %d abandoned screening(s) older than %d days and %d old message id(s)",
             screenings, days, ids)
    return screenings, ids
