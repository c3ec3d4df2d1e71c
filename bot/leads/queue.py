"""The lead queue: filters, the township scope, counts by status, overdue leads, paging.

One query for the page (only its columns, one join for the assignee's name) and one for
the counts by status (the total is their sum). Nothing is decrypted: the masked name the
list shows is kept in a column of its own (migration 0015); only a lead stored before it
and not yet filled in by `jiuzhu db upgrade` has its name masked from the sealed data.
"""
from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass, field, replace

from sqlalchemy import String, bindparam, cast, false, func, select
from sqlalchemy.orm import Session

from bot.accounts.roles import Actor
from bot.domain import LEAD_STATUSES, PROGRAMS
from bot.screening.leads import listed_name
from bot.storage.models import Lead, User, utcnow

URGENCIES = ("high", "normal")


def scoped(query, actor: Actor):
    """`query` on leads limited to the actor's townships: the one place the scope is applied."""
    if not actor.works_leads:
        return query.where(false())
    if actor.county_wide:
        return query
    return query.where(Lead.township.in_(sorted(actor.townships)))


@dataclass(frozen=True)
class QueueFilter:
    """What the queue page asks for; unknown values are dropped, never an error."""

    status: str = "new"          # "" for every status
    township: str = ""
    program: str = ""
    urgency: str = ""
    since: dt.date | None = None  # created on or after (county time)
    until: dt.date | None = None  # created on or before
    mine: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args, townships: tuple[str, ...]) -> QueueFilter:
        """From a query string (a Mapping of str → str)."""
        def pick(name: str, allowed) -> str:
            value = (args.get(name) or "").strip()
            return value if value in allowed else ""
        status = args.get("status")
        try:
            page = max(1, int(args.get("page") or 1))
        except ValueError:
            page = 1
        return cls(status="new" if status is None else pick("status", LEAD_STATUSES),
                   township=pick("township", townships), program=pick("program", PROGRAMS),
                   urgency=pick("urgency", URGENCIES), since=_date(args.get("since")),
                   until=_date(args.get("until")), mine=args.get("mine") in ("1", "on", "true"), page=page)

    def query_args(self, **changes) -> dict:
        """This filter as query-string arguments (for links to other pages and statuses)."""
        f = replace(self, **changes)
        out = {"status": f.status, "township": f.township, "program": f.program, "urgency": f.urgency,
               "since": f.since.isoformat() if f.since else "", "until": f.until.isoformat() if f.until else "",
               "mine": "1" if f.mine else "", "page": str(f.page) if f.page > 1 else ""}
        return {k: v for k, v in out.items() if v or k == "status"}


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue: what the page shows, the name already masked."""

    ref: str
    created_at: dt.datetime
    status: str
    urgency: str
    township: str | None
    village: str | None
    programs: tuple[str, ...]
    name_masked: str
    assignee: str | None
    needs_callback: bool
    overdue: bool


@dataclass(frozen=True)
class QueuePage:
    """A page of the queue with the counts the page shows."""

    rows: list[QueueRow]
    total: int
    counts: dict[str, int]      # by status, under every filter but the status
    page: int
    pages: int
    filter: QueueFilter = field(default_factory=QueueFilter)


def queue(session: Session, runtime, actor: Actor, flt: QueueFilter, page_size: int | None = None,
          now: dt.datetime | None = None) -> QueuePage:
    """The page of leads the filter asks for: most urgent first, then the longest waiting."""
    settings = runtime.config.workbench
    page_size = page_size or settings.page_size
    now = now or utcnow()
    overdue_before = now - dt.timedelta(days=settings.overdue_days)
    conditions = _conditions(flt, actor, zoneinfo.ZoneInfo(settings.timezone))
    status_cond = [Lead.status == flt.status] if flt.status else []

    counted = scoped(select(Lead.status, func.count()).where(*conditions).group_by(Lead.status), actor)
    counts = {status: 0 for status in LEAD_STATUSES}
    counts.update({status: n for status, n in session.execute(counted)})
    total = counts.get(flt.status, 0) if flt.status else sum(counts.values())
    pages = max(1, -(-total // page_size))
    page = min(flt.page, pages)

    columns = select(Lead.ref, Lead.created_at, Lead.status, Lead.urgency, Lead.township, Lead.fields,
                     Lead.program_ids, Lead.name_masked, Lead.needs_callback, User.username)
    query = (scoped(columns.outerjoin(User, User.id == Lead.assigned_to).where(*conditions, *status_cond), actor)
             .order_by(Lead.urgency, Lead.created_at, Lead.id)  # "high" sorts before "normal"
             .limit(page_size).offset((page - 1) * page_size))
    rows = []
    for r in session.execute(query):
        created = _aware(r.created_at)
        name = r.name_masked if r.name_masked is not None else _older_name(session, runtime, r.ref)
        rows.append(QueueRow(r.ref, created, r.status, r.urgency, r.township, (r.fields or {}).get("village"),
                             tuple(p.get("program", "") for p in r.program_ids or ()),
                             name, r.username, bool(r.needs_callback),
                             r.status == "new" and created < overdue_before))
    return QueuePage(rows, total, counts, page, pages, replace(flt, page=page))


def _older_name(session: Session, runtime, ref: str) -> str:
    """The masked name of a lead stored before migration 0015 (until `jiuzhu db upgrade` fills it)."""
    sealed = session.execute(select(Lead.personal).where(Lead.ref == ref)).scalar_one()
    return listed_name(json.loads(runtime.protector.decrypt(sealed)).get("name"))


def _conditions(flt: QueueFilter, actor: Actor, zone: dt.tzinfo) -> list:
    out = []
    if flt.township:
        out.append(Lead.township == flt.township)
    if flt.urgency:
        out.append(Lead.urgency == flt.urgency)
    if flt.program:
        # likely_programs is JSON written by SQLAlchemy's json.dumps on both backends
        # The pattern is written into the SQL (a whitelisted programme id, never free text): with a
        # bound parameter PostgreSQL's prepared generic plan cannot match migration 0011's partial
        # index for the programme, and reads every lead.
        out.append(cast(Lead.program_ids, String).like(  # the clear ids (the reasons are sealed)
            bindparam("program_pattern", f'%"program": "{flt.program}"%', literal_execute=True)))
    if flt.since:
        out.append(Lead.created_at >= _start_of(flt.since, zone))
    if flt.until:
        out.append(Lead.created_at < _start_of(flt.until + dt.timedelta(days=1), zone))
    if flt.mine:
        out.append(Lead.assigned_to == actor.user_id)
    return out


def _start_of(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.timezone.utc)


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat((value or "").strip()) if value else None
    except ValueError:
        return None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite drops the zone
