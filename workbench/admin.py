"""Admin pages: the audit log with filters (the accounts are in workbench/accounts.py)."""
from __future__ import annotations

import datetime as dt
import zoneinfo

from flask import render_template, request

from bot.leads.audit import ACTION_LABELS, FIELD_LABELS, PAGE, AuditFilter, actions, audit_page, readable
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import requires, unit_of_work

admin_only = requires(lambda actor: actor.administers)


@blueprint.route("/audit")
@admin_only
def audit():
    """Who saw or changed what, newest first; filter by person, action, lead and dates."""
    zone = zoneinfo.ZoneInfo(runtime_of().config.workbench.timezone)
    args = request.args
    since, until = _day(args.get("since"), zone), _day(args.get("until"), zone)
    try:
        page = max(1, int(args.get("page") or 1))
    except ValueError:
        page = 1
    flt = AuditFilter(actor=(args.get("actor") or "").strip(), action=(args.get("action") or "").strip(),
                      lead_ref=(args.get("lead") or "").strip(),
                      field=args.get("field") if args.get("field") in FIELD_LABELS else "", since=since,
                      until=until + dt.timedelta(days=1) if until else None, page=page)
    with unit_of_work() as session:
        rows, total = audit_page(session, flt)
        known = actions(session)
    return render_template("workbench/audit.html", rows=rows, total=total, flt=flt, actions=known,
                           args=args, page=page, pages=max(1, -(-total // PAGE)), action_labels=ACTION_LABELS,
                           field_labels=FIELD_LABELS, readable=readable)


def _day(value, zone) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.timezone.utc)
