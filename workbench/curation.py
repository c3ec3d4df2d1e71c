"""The curation queue: unanswered questions grouped, a group's page with its drafting forms, and the
entries flagged because a county figure they quote changed in config.toml.

Caseworkers and supervisors use it (an admin manages accounts, not content); approving,
reverting and marking flagged entries reviewed are a supervisor's (workbench/curation_changes.py).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from bot.curation import figures, groups
from bot.curation.changes import STATUS_WORDS, ChangeService, county_today, may_draft, may_review
from bot.curation.overlay import KIND_LABELS
from bot.errors import JiuzhuError
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import requires, unit_of_work

curators = requires(may_draft)
reviewers = requires(may_review)
SUGGESTIONS = 4


@blueprint.route("/curation")
@curators
def curation():
    """The groups of one status, most frequent first; flagged entries; changes waiting for review."""
    runtime = runtime_of()
    status = request.args.get("status", "open")
    if status not in groups.STATUSES:
        status = "open"
    page = _page()
    with unit_of_work() as session:
        rows, total, counts = groups.queue(session, status, page)
        flagged = figures.flagged(session, runtime.kb, runtime.config)
        pending = ChangeService(session, runtime, g.actor).listing("pending")
    loaded = runtime.knowledge_loaded
    return render_template("workbench/curation.html", rows=rows, total=total, counts=counts, status=status,
                           page=page, pages=max(1, -(-total // groups.PAGE_SIZE)), labels=groups.STATUS_LABELS,
                           flagged=flagged, pending=pending, version=runtime.knowledge_version,
                           left_out=loaded.problems if loaded else {}, page_size=groups.PAGE_SIZE)


@blueprint.route("/curation/groups/<int:group_id>")
@curators
def curation_group(group_id: int):
    """One group: its questions, what the bot answers now, the status form and the drafting forms."""
    runtime = runtime_of()
    with unit_of_work() as session:
        try:
            detail = groups.detail(session, group_id)
        except groups.GroupNotFound:
            abort(404)
        service = ChangeService(session, runtime, g.actor)
        changes = [(c, service.summary(c)) for c in service.listing() if c.group_id == group_id]
    kb = runtime.kb
    answer = runtime.answer(detail.row.text)
    _, scored = runtime.matcher.scored(detail.row.text)
    suggested = list(dict.fromkeys(s.entry.id for s in scored if s.entry.kind != "decline"))[:SUGGESTIONS]
    return render_template("workbench/curation_group.html", group=detail, labels=groups.STATUS_LABELS,
                           answer=answer, suggested=[kb.entry(i) for i in suggested], kb=kb,
                           entries=_entries_by_topic(kb), canonicals=sorted(set(kb.synonyms.values())),
                           changes=changes, kind_labels=KIND_LABELS, status_words=STATUS_WORDS)


@blueprint.route("/curation/groups/<int:group_id>/status", methods=["POST"])
@curators
def curation_group_status(group_id: int):
    """Set a group open, resolved or ignored, with what was done."""
    with unit_of_work() as session:
        try:
            groups.set_status(session, group_id, request.form.get("status", ""), request.form.get("note", ""),
                              g.actor.label)
        except groups.GroupNotFound:
            abort(404)
        except JiuzhuError as refused:
            session.rollback()
            flash(str(refused), "error")
            return redirect(url_for("workbench.curation_group", group_id=group_id))
    flash("已更新问题组状态。", "ok")
    return redirect(url_for("workbench.curation_group", group_id=group_id))


@blueprint.route("/curation/draft-entry")
@curators
def curation_entry_form():
    """The form of a new entry (from a group, or on its own)."""
    runtime = runtime_of()
    group = None
    group_id = request.args.get("group", type=int)
    if group_id:
        with unit_of_work() as session:
            try:
                group = groups.detail(session, group_id, limit=10)
            except groups.GroupNotFound:
                abort(404)
    kb = runtime.kb
    topics = [t for t in kb.topics.values() if t.kind != "intent"]
    form = {"checked": county_today(runtime).isoformat(), **request.args.to_dict()}
    return render_template("workbench/curation_entry.html", group=group, topics=topics, form=form)


@blueprint.route("/curation/figures/<entry_id>/reviewed", methods=["POST"])
@reviewers
def curation_figures_reviewed(entry_id: str):
    """A supervisor read the entry again with today's figures."""
    runtime = runtime_of()
    if not runtime.kb.has_entry(entry_id):
        abort(404)
    note = request.form.get("note", "").strip()
    if not note:
        flash("请写明核对的结果（如：答案无需修改 / 已请开发人员改正）。", "error")
        return redirect(url_for("workbench.curation") + "#figures")
    with unit_of_work() as session:
        figures.mark_reviewed(session, runtime.kb, runtime.config, entry_id, g.actor.label, note)
    flash(f"已记录：条目“{runtime.kb.entry(entry_id).title}”已按现行数字核对。", "ok")
    return redirect(url_for("workbench.curation") + "#figures")


def _entries_by_topic(kb) -> list[tuple[str, list]]:
    """Entries a phrasing may go to, under their topic's title (no out-of-scope entries)."""
    out: dict[str, list] = {}
    for entry in kb.entries:
        if entry.topic is not None:
            out.setdefault(kb.topics[entry.topic].title, []).append(entry)
    return list(out.items())


def _page() -> int:
    try:
        return max(1, int(request.args.get("page") or 1))
    except ValueError:
        return 1
