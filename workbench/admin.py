"""Admin pages: the accounts list and the audit log with filters."""
from __future__ import annotations

import datetime as dt
import zoneinfo

from flask import render_template, request

from bot.accounts import AccountService
from bot.accounts.roles import ROLE_LABELS
from bot.leads.audit import PAGE, AuditFilter, actions, audit_page
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import requires, unit_of_work

admin_only = requires(lambda actor: actor.administers)


@blueprint.route("/accounts")
@admin_only
def accounts():
    """Every account with its role, townships and state."""
    runtime = runtime_of()
    with unit_of_work() as session:
        rows = AccountService(session, runtime.config.county.townships).list()
    return render_template("workbench/accounts.html", accounts=rows, role_labels=ROLE_LABELS)


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
                      lead_ref=(args.get("lead") or "").strip(), since=since,
                      until=until + dt.timedelta(days=1) if until else None, page=page)
    with unit_of_work() as session:
        rows, total = audit_page(session, flt)
        known = actions(session)
    return render_template("workbench/audit.html", rows=rows, total=total, flt=flt, actions=known,
                           args=args, page=page, pages=max(1, -(-total // PAGE)))


def _day(value, zone) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.timezone.utc)
