"""The audit log as an admin reads it: filters (who, what, which lead, when), newest first, paged."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.storage.models import AuditEvent

PAGE = 100


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page asks for."""

    actor: str = ""
    action: str = ""
    lead_ref: str = ""
    since: dt.datetime | None = None   # UTC bounds
    until: dt.datetime | None = None
    page: int = 1


def audit_page(session: Session, flt: AuditFilter) -> tuple[list[AuditEvent], int]:
    """A page of audit events and the number matching the filter."""
    conditions = []
    if flt.actor:
        conditions.append(AuditEvent.actor == flt.actor)
    if flt.action:
        conditions.append(AuditEvent.action == flt.action)
    if flt.lead_ref:
        conditions.append(AuditEvent.lead_ref == flt.lead_ref.strip().upper())
    if flt.since:
        conditions.append(AuditEvent.at >= flt.since)
    if flt.until:
        conditions.append(AuditEvent.at < flt.until)
    total = session.execute(select(func.count()).select_from(AuditEvent).where(*conditions)).scalar_one()
    rows = session.execute(select(AuditEvent).where(*conditions)
                           .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                           .limit(PAGE).offset((max(1, flt.page) - 1) * PAGE)).scalars().all()
    return list(rows), total


def actions(session: Session) -> list[str]:
    """The actions recorded so far (for the filter's choices)."""
    return list(session.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars())
