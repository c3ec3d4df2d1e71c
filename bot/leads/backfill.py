"""Data a migration cannot compute because it needs the data key, filled in by `jiuzhu db upgrade`."""
from __future__ import annotations

import json

from sqlalchemy import select, update

from bot.privacy import DataProtector
from bot.screening.leads import listed_name
from bot.storage.db import Database
from bot.storage.models import Lead

BATCH = 500


def backfill_masked_names(db: Database, protector: DataProtector) -> int:
    """Leads stored before migration 0015 get their masked name (刘**); the number filled in.

    In batches of their own transactions, so a county's history does not hold one long
    transaction against the running servers; a lead without a name gets "" (nothing to mask)
    and is not read again.
    """
    filled = 0
    while True:
        with db.unit_of_work() as session:
            rows = session.execute(select(Lead.id, Lead.personal).where(Lead.name_masked.is_(None))
                                   .order_by(Lead.id).limit(BATCH)).all()
            for row in rows:
                name = json.loads(protector.decrypt(row.personal)).get("name")
                session.execute(update(Lead).where(Lead.id == row.id)
                                .values(name_masked=listed_name(name)))
        filled += len(rows)
        if len(rows) < BATCH:
            return filled
