"""政策找人: after a standard rises, the consenting households it may now cover, and one invitation each.

Caseworkers see their own townships, supervisors the county (the scope is in the query,
bot/recheck.candidates). Names are masked as in the queue. Inviting queues one message per
household through the outbox, keyed by household and change, and is audited ("recheck_invite").
"""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from bot import recheck
from bot.storage.models import AuditEvent, utcnow
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import requires, unit_of_work

works_leads = requires(lambda actor: actor.works_leads)
CHANNEL_LABELS = {"wechat": "微信", "sms": "短信"}


@blueprint.route("/recheck")
@works_leads
def recheck_list():
    """Who screened just above a line that has since risen, and agreed to be told."""
    runtime = runtime_of()
    with unit_of_work() as session:
        found = recheck.candidates(session, runtime, g.actor.townships)
    return render_template("workbench/recheck.html", candidates=found, names=recheck.STANDARD_NAMES,
                           channels=CHANNEL_LABELS, program_name=lambda p: runtime.screener.texts.program(p) if p else "—", margin=runtime.config.recheck_margin)


@blueprint.route("/recheck/invite", methods=["POST"])
@works_leads
def recheck_invite():
    """Invite every listed household not invited yet for this change (once each, audited)."""
    runtime = runtime_of()
    chosen = set(request.form.getlist("ref"))
    queued = 0
    with unit_of_work() as session:
        for candidate in recheck.candidates(session, runtime, g.actor.townships):  # scope again, on the POST
            if candidate.ref not in chosen or candidate.invited:
                continue
            if recheck.invite(session, runtime, candidate):
                queued += 1
                session.add(AuditEvent(actor=g.actor.label, action="recheck_invite", lead_ref=candidate.ref,
                                       detail=f"{candidate.standard_key} {candidate.old:g} → {candidate.new:g}",
                                       at=utcnow()))
    flash(f"已发出{queued}条复查邀请。" if queued else "没有需要邀请的住户（已邀请过的不再重复发送）。", "ok")
    return redirect(url_for("workbench.recheck_list"))
