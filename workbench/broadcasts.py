"""Broadcast pages: compose, preview (WeChat and SMS, audience, route plan, cost), approve by a
second account, watch progress, retry the failed ones, read the results per township.

Who may: every account drafts (a township caseworker only for their own townships); a county
supervisor or an administrator approves — never the account that drafted it.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from bot.publicity import broadcast as bc
from bot.publicity.results import results_of
from bot.publicity.subscribe import load_words
from bot.storage.models import Broadcast
from bot.subscriptions import NOTICES
from handlers.sms_text import segments
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import requires, unit_of_work

STATUS_LABELS = {"draft": "待审批", "cancelled": "已撤销", "scheduled": "已排期", "sending": "发送中",
                 "sent": "已发完", "partly_sent": "部分发送"}
STATE_LABELS = {"queued": "排队中", "sent": "已发出", "delivered": "已送达", "failed": "失败", "unknown": "结果不明"}
ROUTE_LABELS = {bc.CS: "微信客服消息", bc.MASS: "微信群发", bc.TEMPLATE: "微信模板消息", bc.SMS: "短信"}
# What a caseworker reads for a reason kept with a failed message (bot/outbox.py, handlers/): the
# first label whose marker the reason contains; anything else is shown as it was stored.
REASON_LABELS = (
    ("outcome unknown", "结果不明：请求已发出但平台没有回应，可能已经送达，不会自动重发，请在公众号后台或短信平台核对"),
    ("errcode 45015", "居民超过 48 小时没有给公众号发消息，微信不允许再发客服消息，也没有可用的模板消息"),
    ("errcode 45047", "对这位居民的客服消息已达微信的条数上限，多次重试仍未成功"),
    ("errcode 45009", "微信接口当日调用额度已用完，多次重试仍未成功"),
    ("errcode 45011", "调用微信接口太频繁，多次重试仍未成功"),
    ("errcode 45028", "公众号的群发额度已用完，多次重试仍未成功"),
    ("errcode 43004", "居民已取消关注公众号"),
    ("unfollowed", "居民已取消关注公众号"),
    ("opted out", "号码已退订短信"),
    ("群发 job", "微信群发任务整体失败（如内容审核未通过），微信没有发给任何人"),
    ("notice_template_id", "没有配置模板消息（config.toml [wechat] notice_template_id）"),
    ("errcode 43101", "居民拒收了这个模板的消息"),
    ("errcode 40003", "不是本公众号粉丝的 OpenID"),
)


def reason_label(reason: str) -> str:
    """A stored failure reason in the words of the page."""
    return next((label for marker, label in REASON_LABELS if marker in reason), reason)


def approves(actor) -> bool:
    """County supervisors and administrators approve broadcasts."""
    return actor.county_wide or actor.administers


@blueprint.route("/broadcasts")
def broadcasts():
    """Every broadcast this account may see, newest first, with its state."""
    with unit_of_work() as session:
        rows = [b for b in session.execute(select(Broadcast).order_by(Broadcast.id.desc())).scalars()
                if _visible(b)]
        states = {b.id: bc.progress(session, b) for b in rows}
    return render_template("workbench/broadcasts.html", rows=rows, states=states, labels=STATUS_LABELS,
                           topics=_topic_names())


@blueprint.route("/broadcasts/new", methods=["GET", "POST"])
def new_broadcast():
    """Compose a notice; saved as a draft, then shown as its preview."""
    runtime, form = runtime_of(), request.form
    if request.method == "POST":
        township = form.get("township") or None
        if not _may_target(township):
            flash("乡镇账号只能给本乡镇发通知，请选择乡镇。", "error")
        else:
            try:
                with unit_of_work() as session:
                    created = bc.create(session, runtime, g.actor.username, form.get("title", ""),
                                        form.get("body", ""), form.get("topic", ""), township,
                                        form.getlist("channels"), _send_at(form.get("send_at")))
                    broadcast_id = created.id
            except bc.BroadcastError as problem:
                flash(str(problem), "error")
            else:
                flash("已保存为草稿，请核对预览，再请有审批权限的同事审批。", "ok")
                return redirect(url_for("workbench.broadcast", broadcast_id=broadcast_id))
    townships = runtime.config.county.townships if g.actor.townships is None or g.actor.administers else sorted(
        g.actor.townships)
    return render_template("workbench/broadcast_new.html", form=form, topics=_topic_names(), townships=townships,
                           placeholders=sorted(bc.base_values(runtime.config)))


@blueprint.route("/broadcasts/<int:broadcast_id>")
def broadcast(broadcast_id: int):
    """The preview as residents will read it, the audience, the plan, progress and results."""
    runtime = runtime_of()
    with unit_of_work() as session:
        b = _get(session, broadcast_id)
        state, states = bc.progress(session, b)
        texts = {channel: bc.message_for(runtime, b, channel) for channel in b.channels.split(",")}
        sms_segments = segments(texts["sms"]) if "sms" in texts else 0
        reach = bc.audience(session, runtime, b) if b.status == bc.DRAFT else None
        results = results_of(session, runtime, b) if b.status == bc.APPROVED else None
        price = runtime.config.outbox.sms_segment_yuan  # config.toml [outbox]: an estimate, not a bill
        view = dict(b=b, state=state, states=states, texts=texts, sms_segments=sms_segments, reach=reach,
                    cost=(reach.count("sms") if reach else 0) * sms_segments * price, price=price,
                    unverified=bc.unverified_figures(runtime, b.body), results=results,
                    may_approve=b.status == bc.DRAFT and approves(g.actor) and g.actor.username != b.author)
    return render_template("workbench/broadcast.html", **view, labels=STATUS_LABELS, state_labels=STATE_LABELS,
                           route_labels=ROUTE_LABELS, topics=_topic_names(), reason_label=reason_label)


@blueprint.route("/broadcasts/<int:broadcast_id>/approve", methods=["POST"])
@requires(approves)
def approve_broadcast(broadcast_id: int):
    """A second account approves: the recipients are planned and queued for the scheduled time."""
    try:
        with unit_of_work() as session:
            queued = bc.approve(session, runtime_of(), _get(session, broadcast_id), g.actor.username)
    except bc.BroadcastError as problem:
        flash(str(problem), "error")
    else:
        flash(f"已审批，{queued} 位订阅者已排队发送。", "ok")
    return redirect(url_for("workbench.broadcast", broadcast_id=broadcast_id))


@blueprint.route("/broadcasts/<int:broadcast_id>/cancel", methods=["POST"])
def cancel_broadcast(broadcast_id: int):
    try:
        with unit_of_work() as session:
            b = _get(session, broadcast_id)
            if g.actor.username != b.author and not approves(g.actor):
                abort(403)
            bc.cancel(b)
    except bc.BroadcastError as problem:
        flash(str(problem), "error")
    else:
        flash("已撤销，不会发送。", "ok")
    return redirect(url_for("workbench.broadcast", broadcast_id=broadcast_id))


@blueprint.route("/broadcasts/<int:broadcast_id>/retry", methods=["POST"])
@requires(approves)
def retry_broadcast(broadcast_id: int):
    """Queue the failed recipients again (those whose outcome is unknown stay for a person to check)."""
    with unit_of_work() as session:
        count = bc.retry_failed(session, runtime_of(), _get(session, broadcast_id))
    flash(f"已将 {count} 条失败的消息重新排队。", "ok")
    return redirect(url_for("workbench.broadcast", broadcast_id=broadcast_id))


def _get(session, broadcast_id: int) -> Broadcast:
    b = session.get(Broadcast, broadcast_id)
    if b is None or not _visible(b):
        abort(404)
    return b


def _visible(b: Broadcast) -> bool:
    """A township account sees its townships' broadcasts and its own; the county all of them."""
    actor = g.actor
    return actor.townships is None or actor.administers or b.author == actor.username or b.township in actor.townships


def _may_target(township: str | None) -> bool:
    actor = g.actor
    return actor.townships is None or actor.administers or township in actor.townships


def _topic_names() -> dict[str, str]:
    return {**dict(load_words().topics), NOTICES: "全部政策通知"}


def _send_at(value: str | None) -> dt.datetime | None:
    """The form's datetime-local, in county time; empty: as soon as approved."""
    try:
        local = dt.datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    zone = zoneinfo.ZoneInfo(runtime_of().config.workbench.timezone)
    return local.replace(tzinfo=zone).astimezone(dt.timezone.utc)
