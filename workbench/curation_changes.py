"""Knowledge changes in the workbench: draft, check, approve or reject, withdraw, revert; the history.

Every step is one unit of work with its audit row (bot/curation/changes.py). The check runs
on a thread of this process (bot/curation/checks.CheckRunner); the change page reloads
itself while it runs. A publish or revert wakes this process's knowledge watcher; the other
processes see the new version within `[curation] refresh_seconds`.
"""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for

from bot.curation import checks
from bot.curation.changes import STATUS_WORDS, ChangeNotFound, ChangeRefused, ChangeService, may_review
from bot.curation.drafts import DraftError
from bot.curation.live import load_live
from bot.curation.overlay import KIND_LABELS, KINDS
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import requires, unit_of_work
from workbench.curation import curators

reviewers = requires(may_review)
RUNNER_KEY = "jiuzhu_curation_checks"


def _runner() -> checks.CheckRunner:
    runner = current_app.extensions.get(RUNNER_KEY)
    if runner is None:
        runner = current_app.extensions[RUNNER_KEY] = checks.CheckRunner(runtime_of())
    return runner


@blueprint.route("/curation/changes")
@curators
def curation_changes():
    """Changes waiting for review, the knowledge versions, and changes sent back."""
    runtime = runtime_of()
    with unit_of_work() as session:
        service = ChangeService(session, runtime, g.actor)
        pending = [(c, service.summary(c)) for c in service.listing("pending")]
        history = [(v, c, service.summary(c)) for v, c in service.history()]
        closed = [(c, service.summary(c)) for c in service.listing()
                  if c.status in ("rejected", "withdrawn")][:30]
    return render_template("workbench/curation_changes.html", pending=pending, history=history, closed=closed,
                           kind_labels=KIND_LABELS, status_words=STATUS_WORDS, version=runtime.knowledge_version)


@blueprint.route("/curation/changes", methods=["POST"])
@curators
def curation_draft():
    """A new change from a group's form (or the entry form); its check starts at once."""
    runtime = runtime_of()
    kind = request.form.get("kind", "")
    group_id = request.form.get("group", type=int)
    if kind not in KINDS:
        abort(400, description="未知的改动类型。")
    with unit_of_work() as session:
        service = ChangeService(session, runtime, g.actor)
        try:
            row = service.draft(kind, request.form, group_id)
            service.request_check(row.id)
        except (DraftError, ChangeRefused) as refused:
            session.rollback()
            flash(str(refused), "error")
            if kind == "entry":
                return render_template("workbench/curation_entry.html", group=None, form=request.form,
                                       topics=[t for t in runtime.kb.topics.values() if t.kind != "intent"]), 400
            return redirect(url_for("workbench.curation_group", group_id=group_id) if group_id
                            else url_for("workbench.curation"))
        change_id = row.id
    _runner().start(change_id)
    flash(f"已提交改动#{change_id}，正在检查；检查完成后请另一位县级督导审核发布。", "ok")
    return redirect(url_for("workbench.curation_change", change_id=change_id))


@blueprint.route("/curation/changes/<int:change_id>")
@curators
def curation_change(change_id: int):
    """One change: what it does, its check (before → after), and the review or revert forms."""
    runtime = runtime_of()
    with unit_of_work() as session:
        service = ChangeService(session, runtime, g.actor)
        try:
            row = service.get(change_id)
        except ChangeNotFound:
            abort(404)
        summary = service.summary(row)
        current = load_live(runtime.config, session).kb.fingerprint if row.status == "pending" else None
    result = row.check_result or {}
    checked_at = dt.datetime.fromisoformat(result["checked_at"]) if result.get("checked_at") else None
    outdated = bool(current and row.check_state == "done" and result.get("base_fingerprint") != current)
    kb = runtime.kb
    return render_template(
        "workbench/curation_change.html", change=row, summary=summary, result=result, outdated=outdated,
        checked_at=checked_at,
        stale=checks.is_stale(row), kind_labels=KIND_LABELS, status_words=STATUS_WORDS,
        own=row.author_id == g.actor.user_id, topic_title=lambda t: kb.topics[t].title if t in kb.topics else (t or "—"),
        entry=kb.entry(row.payload["entry_id"]) if row.kind == "phrasing" and kb.has_entry(row.payload["entry_id"]) else None)


@blueprint.route("/curation/changes/<int:change_id>/check", methods=["POST"])
@curators
def curation_check(change_id: int):
    """Run the check (again)."""
    return _step(change_id, lambda s: s.request_check(change_id), "检查已开始。", check=True)


@blueprint.route("/curation/changes/<int:change_id>/approve", methods=["POST"])
@reviewers
def curation_approve(change_id: int):
    """A second account approves: the change is published as the next knowledge version."""
    form = request.form
    override = form.get("override_reason", "") if form.get("override") == "1" else ""
    outcome = {}

    def approve(service):
        outcome["published"] = service.approve(change_id, form.get("note", ""), override)

    response = _step(change_id, approve, None)
    if "published" in outcome:
        runtime_of().knowledge.poke()
        flash(f"已发布为知识库版本{outcome['published'].version}；各服务进程将在一分钟内生效。", "ok")
    return response


@blueprint.route("/curation/changes/<int:change_id>/reject", methods=["POST"])
@reviewers
def curation_reject(change_id: int):
    """Send a change back to its author with a reason."""
    return _step(change_id, lambda s: s.reject(change_id, request.form.get("note", "")), "已退回。")


@blueprint.route("/curation/changes/<int:change_id>/withdraw", methods=["POST"])
@curators
def curation_withdraw(change_id: int):
    """The author takes their change back."""
    return _step(change_id, lambda s: s.withdraw(change_id), "已撤回。")


@blueprint.route("/curation/changes/<int:change_id>/revert", methods=["POST"])
@reviewers
def curation_revert(change_id: int):
    """Take a published change out again (a new knowledge version)."""
    outcome = {}

    def revert(service):
        outcome["reverted"] = service.revert(change_id, request.form.get("note", ""))

    response = _step(change_id, revert, None)
    if "reverted" in outcome:
        runtime_of().knowledge.poke()
        flash(f"已撤销，知识库版本{outcome['reverted'].version}；各服务进程将在一分钟内生效。", "ok")
    return response


def _step(change_id: int, action, done: str | None, check: bool = False):
    """One step in the request's unit of work; a refusal is told on the change page."""
    runtime = runtime_of()
    with unit_of_work() as session:
        service = ChangeService(session, runtime, g.actor)
        try:
            service.get(change_id)
        except ChangeNotFound:
            abort(404)
        try:
            action(service)
        except ChangeRefused as refused:
            session.rollback()
            flash(str(refused), "error")
            return redirect(url_for("workbench.curation_change", change_id=change_id))
    runtime.knowledge.ensure_running()
    if check:
        _runner().start(change_id)
    if done:
        flash(done, "ok")
    return redirect(url_for("workbench.curation_change", change_id=change_id))
