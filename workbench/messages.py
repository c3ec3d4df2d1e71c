"""Residents' 留言 as a queue, answered through the outbox."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from bot.leads import NotAllowed
from bot.leads.messages import MessageNotFound, MessageService
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import requires, unit_of_work


@blueprint.route("/messages")
@requires(lambda actor: actor.works_leads)
def messages():
    """Unanswered 留言 oldest first, and the latest answered."""
    with unit_of_work() as session:
        service = MessageService(session, runtime_of(), g.actor)
        waiting = service.list()
        channels = {m.id: service.channel_for(m.id) for m in waiting}
        answered = service.list(answered=True, limit=20)
    return render_template("workbench/messages.html", waiting=waiting, answered=answered, channels=channels,
                           wechat_hours=runtime_of().config.workbench.wechat_window_hours)


@blueprint.route("/messages/<int:question_id>/answer", methods=["POST"])
@requires(lambda actor: actor.works_leads)
def answer(question_id: int):
    """Answer one 留言 on the resident's channel."""
    with unit_of_work() as session:
        service = MessageService(session, runtime_of(), g.actor)
        try:
            service.get(question_id)
        except MessageNotFound:
            abort(404)
        try:
            by = service.answer(question_id, request.form.get("message", ""))
        except NotAllowed as refused:
            session.rollback()
            flash(str(refused), "error")
            return redirect(url_for("workbench.messages"))
    flash(f"答复已通过{by}排队发送。", "ok")
    return redirect(url_for("workbench.messages"))
