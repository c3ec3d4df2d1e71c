"""The queue and one lead: read, claim, assign, transfer, change status, contact, reveal, documents."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from bot.accounts import AccountService
from bot.domain import CLOSING_STATUSES, LEAD_STATUS_LABELS, LEAD_TRANSITIONS, PROGRAMS
from bot.leads import PURPOSES, LeadService, NotAllowed, QueueFilter
from bot.leads import delivery
from bot.leads.audit import FIELD_LABELS
from bot.leads.explain import why
from bot.screening.leads import PERSONAL
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import one_lead, requires, unit_of_work

works_leads = requires(lambda actor: actor.works_leads)


def _service(session) -> LeadService:
    return LeadService(session, runtime_of(), g.actor)


@blueprint.route("/leads")
@works_leads
def queue():
    """The lead queue: filters, counts by status, overdue highlighted, paging."""
    runtime = runtime_of()
    townships = runtime.config.county.townships
    flt = QueueFilter.from_args(request.args, townships)
    with unit_of_work() as session:
        page = _service(session).queue(flt)
    visible = townships if g.actor.county_wide else [t for t in townships if t in g.actor.townships]
    return render_template("workbench/queue.html", page=page, flt=flt, townships=visible,
                           programs=PROGRAMS, program_label=runtime.screener.texts.program,
                           overdue_days=runtime.config.workbench.overdue_days)


@blueprint.route("/leads/<ref>")
@one_lead
def lead(ref: str):
    """One lead: why, the answers (masked), the transcript, history, who saw what, the actions."""
    runtime = runtime_of()
    texts = runtime.screener.texts
    with unit_of_work() as session:
        service = _service(session)
        item = service.get(ref)
        plan = delivery.plan_for_lead(session, runtime, item)
        assignable = (AccountService(session, runtime.config.county.townships).usernames_for(item.township or "")
                      if g.actor.supervises else [])
        context = dict(
            lead=item, masked=service.masked(item), revealed=service.revealed(item), why=why(item, runtime),
            history=service.history(item), who_saw=service.who_saw(item), transcript=service.transcript(item),
            assignee=service.assignee(item), assignable=assignable, contact_by=plan,
            sender=service.sender(item), duplicates=service.duplicates(item), overdue=service.overdue(item),
            answers=[(texts.label(k), texts.display(k, v)) for k, v in (item.fields or {}).items()],
            moves=sorted(LEAD_TRANSITIONS.get(item.status, ()), key=list(LEAD_STATUS_LABELS).index),
        )
    return render_template("workbench/lead.html", **context, personal=PERSONAL, field_labels=FIELD_LABELS,
                           purposes=PURPOSES, townships=runtime.config.county.townships,
                           program_label=texts.program,
                           reveal_minutes=runtime.config.workbench.reveal_minutes,
                           overdue_days=runtime.config.workbench.overdue_days,
                           wechat_hours=runtime.config.workbench.wechat_window_hours)


@blueprint.route("/leads/<ref>/claim", methods=["POST"])
@one_lead
def claim(ref: str):
    """Take the lead on."""
    return _act(ref, lambda s: s.claim(ref), "已认领。")


@blueprint.route("/leads/<ref>/assign", methods=["POST"])
@one_lead
def assign(ref: str):
    """A supervisor assigns the lead to an account."""
    return _act(ref, lambda s: s.assign(ref, request.form.get("username", "")), "已分派。")


@blueprint.route("/leads/<ref>/transfer", methods=["POST"])
@one_lead
def transfer(ref: str):
    """A supervisor moves the lead to another township's queue."""
    target = request.form.get("township", "")
    with unit_of_work() as session:
        service = _service(session)
        service.get(ref)
        try:
            service.transfer(ref, target, request.form.get("note", ""))
        except NotAllowed as refused:
            flash(str(refused), "error")
            return redirect(url_for("workbench.lead", ref=ref))
    flash(f"已转办到{target}。", "ok")
    # (now outside a caseworker's scope perhaps; a supervisor sees every township)
    return redirect(url_for("workbench.lead", ref=ref))


@blueprint.route("/leads/<ref>/status", methods=["GET", "POST"])
@one_lead
def status(ref: str):
    """GET: the change with a preview of the resident's message; POST: do it (one unit of work)."""
    target = request.values.get("to", "")
    if request.method == "POST":
        notify = request.form.get("notify") == "1"
        with unit_of_work() as session:
            service = _service(session)
            service.get(ref)
            try:
                outcome = service.set_status(ref, target, request.form.get("note", ""), notify)
            except NotAllowed as refused:
                flash(str(refused), "error")
                return redirect(url_for("workbench.status", ref=ref, to=target))
        told = f"，已通过{delivery.CHANNEL_LABELS[outcome.sent_by]}通知申请人" if outcome.sent_by else ""
        flash(f"状态已改为“{LEAD_STATUS_LABELS[target]}”{told}。", "ok")
        return redirect(url_for("workbench.lead", ref=ref))
    with unit_of_work() as session:
        service = _service(session)
        item = service.get(ref)
        try:
            text, plan = service.preview_status(ref, target)
        except NotAllowed as refused:
            flash(str(refused), "error")
            return redirect(url_for("workbench.lead", ref=ref))
    return render_template("workbench/status.html", lead=item, target=target, text=text,
                           by=plan.label if plan else None, why=plan.why if plan else "",
                           closing=target in CLOSING_STATUSES,
                           wechat_hours=runtime_of().config.workbench.wechat_window_hours)


@blueprint.route("/leads/<ref>/contact", methods=["POST"])
@one_lead
def contact(ref: str):
    """Send the applicant a message through the outbox (the number is never shown)."""
    return _act(ref, lambda s: s.contact(ref, request.form.get("message", "")),
                lambda outcome: f"已通过{delivery.CHANNEL_LABELS[outcome.sent_by]}发给申请人（稍后送达）。")


@blueprint.route("/leads/<ref>/reveal", methods=["POST"])
@one_lead
def reveal(ref: str):
    """Show one personal field in full for a stated purpose (audited, time-limited)."""
    form = request.form
    return _act(ref, lambda s: s.reveal(ref, form.get("field", ""), form.get("purpose", ""),
                                        form.get("written", "")), None)


@blueprint.route("/leads/<ref>/documents", methods=["POST"])
@one_lead
def documents(ref: str):
    """Tick the documents the office has received."""
    return _act(ref, lambda s: s.set_documents(ref, request.form.getlist("received")), "已更新材料。")


def _act(ref: str, action, done):
    """Run one action in the request's unit of work; a refusal is told on the lead page.
    `done`: what the page says after it, or a function of the action's result saying it."""
    with unit_of_work() as session:
        service = _service(session)
        service.get(ref)  # outside the scope: 404 before anything else is looked at
        try:
            result = action(service)
        except NotAllowed as refused:
            session.rollback()
            flash(str(refused), "error")
            return redirect(url_for("workbench.lead", ref=ref))
    if done:
        flash(done(result) if callable(done) else done, "ok")
    return redirect(url_for("workbench.lead", ref=ref))
