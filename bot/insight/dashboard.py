"""The dashboard's figures: counted in the database, scoped to an actor's townships, small cells hidden.

Scope is applied in every query, not in the page: a caseworker's figures are read
only from events and leads of their townships (events with no known township are
county figures and reach the county's view only); a supervisor or an admin reads
the whole county. A count from 1 to 4 is returned as SUPPRESSED ("<5"), and so is
any rate whose base is under 5, so no page or CSV can single out a household; where
one cell of a row with a shown total is hidden, the next smallest is hidden with it
(else the total would give the hidden one away).

Question and screening figures come from `rollup.counts()` (insight_weekly for whole
weeks, insight_daily for the current one, the events not folded yet); lead figures from
the leads table through its indexes.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bot.domain import LEAD_STATUSES
from bot.insight.events import AGE_BANDS, QUESTION_CHOSEN, QUESTION_KINDS, SCREENING_KINDS
from bot.insight.rollup import counts
from bot.storage.models import Lead, User

MINIMUM = 5            # fewer households than this in a cell: not shown
SUPPRESSED = "<5"
OUTCOMES = ("answered", "offered", "unanswered", "declined")
QUESTION_KIND_OF = {"answered": QUESTION_KINDS["answer"], "offered": QUESTION_KINDS["choices"],
                    "unanswered": QUESTION_KINDS["unknown"], "declined": QUESTION_KINDS["decline"]}
OPEN_STATUSES = ("new", "contacted", "submitted", "unreachable")
AGE_BUCKETS = ((0, 2, "0–2天"), (3, 7, "3–7天"), (8, 14, "8–14天"), (15, 30, "15–30天"), (31, None, "30天以上"))


@dataclass(frozen=True)
class Scope:
    """Whose figures: `townships` None is the whole county."""

    townships: frozenset[str] | None

    @classmethod
    def of(cls, actor) -> Scope:
        """A caseworker: their townships; a supervisor or an admin: the county."""
        return cls(None if actor.role != "caseworker" else frozenset(actor.townships or ()))

    @property
    def county(self) -> bool:
        return self.townships is None

    def narrowed(self, township: str | None) -> Scope:
        """The scope limited to one township (a filter of the page); never wider than it was."""
        if not township:
            return self
        if self.townships is not None and township not in self.townships:
            return Scope(frozenset())
        return Scope(frozenset({township}))


def shown(n: int):
    """A count as it may be shown: 0, 5 and more as is; 1–4 as "<5"."""
    return SUPPRESSED if 0 < n < MINIMUM else n


def rate(part: int, whole: int):
    """A percentage (one decimal) when the base is at least 5 households, else "<5"; None for no base."""
    if whole == 0:
        return None
    if whole < MINIMUM or 0 < part < MINIMUM:
        return SUPPRESSED
    return round(100 * part / whole, 1)


def protect(row: list, total: int | None = None) -> list:
    """Suppress a row's cells; when exactly one is hidden and a total is shown, hide the next smallest too."""
    cells = [shown(n) for n in row]
    hidden = [i for i, c in enumerate(cells) if c == SUPPRESSED]
    if len(hidden) == 1 and (total is None or total >= MINIMUM):
        others = sorted((n, i) for i, n in enumerate(row) if cells[i] != SUPPRESSED and n > 0)
        if others:
            cells[others[0][1]] = SUPPRESSED
    return cells


def scoped_counts(session: Session, scope: Scope, since, until, by, kinds) -> dict[tuple, int]:
    """counts() over the scope: the county at once, a caseworker's townships in one query."""
    if scope.county:
        return counts(session, since, until, by=by, kinds=kinds)
    if not scope.townships:
        return {}
    return counts(session, since, until, by=by, kinds=kinds, township=tuple(scope.townships))


# ---- questions -----------------------------------------------------------------------------
def questions(session: Session, scope: Scope, since: dt.date, until: dt.date, by: str) -> list[dict]:
    """Questions grouped by `by` (subject: topic, township, week) with their outcomes and rates.

    Answered counts confident answers and offers where the resident then took a choice."""
    raw = scoped_counts(session, scope, since, until, (by, "kind"),   # a week: its Monday
                         [*QUESTION_KIND_OF.values(), QUESTION_CHOSEN])
    groups: dict = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for (key, kind), n in raw.items():
        cell = groups[key]
        if kind == QUESTION_CHOSEN:
            cell["answered"] += n    # a choice taken: the question found its answer after all
            cell["offered"] -= n
        else:
            cell[next(o for o, k in QUESTION_KIND_OF.items() if k == kind)] += n
    rows = []
    for key, cell in groups.items():
        cell = {o: max(0, cell[o]) for o in OUTCOMES}
        total = sum(cell.values())
        values = protect([cell[o] for o in OUTCOMES], total)
        rows.append({"key": key, "total": shown(total), "n": total, **dict(zip(OUTCOMES, values)),
                     **{f"{o}_rate": rate(cell[o], total) for o in ("answered", "offered", "unanswered")}})
    if by == "week":
        rows.sort(key=lambda r: r["key"])
    else:
        rows.sort(key=lambda r: (-r["n"], str(r["key"])))
    return rows


# ---- screening funnel -------------------------------------------------------------------------
def funnel(session: Session, scope: Scope, since: dt.date, until: dt.date) -> dict:
    """Screenings by channel and age band (started, submitted, abandoned, completion) and, per step,
    how many were asked it and how many gave up at it; the step where most give up."""
    raw = scoped_counts(session, scope, since, until, ("kind", "subject", "channel", "age_band"),
                         list(SCREENING_KINDS))
    cohorts: dict = defaultdict(lambda: defaultdict(int))
    steps: dict = defaultdict(lambda: defaultdict(int))
    gave_up: dict = defaultdict(lambda: defaultdict(int))   # per cohort: abandoned at each step
    for (kind, step, channel, band), n in raw.items():
        short = kind.split(".", 1)[1]
        cohorts[(channel, band)][short] += n
        if step:
            steps[step][short] += n
            if short == "abandoned":
                gave_up[(channel, band)][step] += n
    cohort_rows = []
    for (channel, band), c in sorted(cohorts.items(), key=lambda kv: (kv[0][0], _band_order(kv[0][1]))):
        step, most = max(gave_up[(channel, band)].items(), key=lambda kv: kv[1], default=(None, 0))
        cohort_rows.append({"channel": channel, "age_band": band, "n": c["started"],
                            "started": shown(c["started"]), "submitted": shown(c["submitted"]),
                            "abandoned": shown(c["abandoned"]),
                            "completion": rate(c["submitted"], c["started"]),
                            "gives_up_at": step if most >= MINIMUM else None})
    step_rows = []
    for step, c in steps.items():
        if not (c["asked"] or c["abandoned"]):
            continue
        step_rows.append({"step": step, "n": c["abandoned"], "asked": shown(c["asked"]),
                          "answered": shown(c["answered"]), "abandoned": shown(c["abandoned"]),
                          "failed": shown(c["failed"]), "dropout": rate(c["abandoned"], c["asked"])})
    step_rows.sort(key=lambda r: -r["n"])
    worst = step_rows[0]["step"] if step_rows and step_rows[0]["n"] >= MINIMUM else None
    return {"cohorts": cohort_rows, "steps": step_rows, "worst": worst}


def _band_order(band: str) -> int:
    return AGE_BANDS.index(band) if band in AGE_BANDS else len(AGE_BANDS)


# ---- leads ----------------------------------------------------------------------------------
def leads_by_status_and_age(session: Session, scope: Scope, now: dt.datetime) -> list[dict]:
    """Per status, the leads by how many days since they came in (counted in the database)."""
    bucket = case(*[(Lead.created_at > now - dt.timedelta(days=high + 1), i)
                    for i, (_, high, _) in enumerate(AGE_BUCKETS) if high is not None],
                  else_=len(AGE_BUCKETS) - 1)
    query = select(Lead.status, bucket, func.count()).group_by(Lead.status, bucket)
    if not scope.county:
        query = query.where(Lead.township.in_(sorted(scope.townships)))
    grid: dict = {s: [0] * len(AGE_BUCKETS) for s in LEAD_STATUSES}
    for status, index, n in session.execute(query):
        grid.setdefault(status, [0] * len(AGE_BUCKETS))[int(index)] += n
    rows = []
    for status, cells in grid.items():
        total = sum(cells)
        rows.append({"status": status, "n": total, "total": shown(total),
                     "buckets": protect(cells, total)})
    return rows


def first_contact(session: Session, scope: Scope, since: dt.datetime) -> list[dict]:
    """Per township, the median days from a lead coming in to the first contact (leads since `since`)."""
    if session.get_bind().dialect.name == "postgresql":
        return _first_contact_in_postgres(session, scope, since)
    query = (select(Lead.township, Lead.created_at, Lead.first_contacted_at)
             .where(Lead.created_at >= since))
    if not scope.county:
        query = query.where(Lead.township.in_(sorted(scope.townships)))
    waits: dict = defaultdict(list)
    waiting: dict = defaultdict(int)
    for township, created, contacted in session.execute(query):
        if contacted is None:
            waiting[township or ""] += 1
        else:
            waits[township or ""].append((_aware(contacted) - _aware(created)).total_seconds() / 86400)
    rows = []
    for township in sorted(set(waits) | set(waiting)):
        days = waits.get(township, [])
        rows.append({"township": township, "n": len(days), "contacted": shown(len(days)),
                     "waiting": shown(waiting.get(township, 0)),
                     "median_days": round(statistics.median(days), 1) if len(days) >= MINIMUM else
                     (SUPPRESSED if days else None)})
    return rows


def _first_contact_in_postgres(session: Session, scope: Scope, since: dt.datetime) -> list[dict]:
    """As first_contact(), the median taken by PostgreSQL (a year of leads is not fetched row by row)."""
    # the median of the waits as intervals: EXTRACT(EPOCH …) is numeric, and sorting a year of numerics
    # took most of this query's time (bench/README.md)
    wait = Lead.first_contacted_at - Lead.created_at
    query = (select(Lead.township, func.count(Lead.first_contacted_at),
                    func.count().filter(Lead.first_contacted_at.is_(None)),
                    func.percentile_cont(0.5).within_group(wait).label("median"))
             .where(Lead.created_at >= since).group_by(Lead.township))
    if not scope.county:
        query = query.where(Lead.township.in_(sorted(scope.townships)))
    rows = []
    for township, contacted, waiting, median in sorted(session.execute(query), key=lambda r: r[0] or ""):
        rows.append({"township": township or "", "n": contacted, "contacted": shown(contacted), "waiting": shown(waiting),
                     "median_days": round(median.total_seconds() / 86400, 1) if contacted >= MINIMUM else
                     (SUPPRESSED if contacted else None)})
    return rows


def open_per_caseworker(session: Session, scope: Scope) -> list[dict]:
    """Open leads per account they are assigned to (unassigned as ""), within the scope."""
    query = (select(User.username, func.count(Lead.id)).select_from(Lead)
             .outerjoin(User, User.id == Lead.assigned_to)
             .where(Lead.status.in_(OPEN_STATUSES)).group_by(User.username))
    if not scope.county:
        query = query.where(Lead.township.in_(sorted(scope.townships)))
    rows = [{"username": name or "", "n": n, "open": shown(n)} for name, n in session.execute(query)]
    rows.sort(key=lambda r: (r["username"] == "", -r["n"], r["username"]))
    return rows


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
