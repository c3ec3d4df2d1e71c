"""Log in and out, the session check every page passes, and the helpers views use.

A session holds the user's id, when their password last changed (a reset ends every
session) and when it was last used: after `[workbench] idle_minutes` without a
request it is void. Every request reloads the account, so a disabled one is out at once.
"""
from __future__ import annotations

import datetime as dt
import functools
import time
import urllib.parse

from flask import abort, g, redirect, render_template, request, session, url_for

from bot.accounts import AccountService, LoginRefused
from bot.storage.models import utcnow
from web.extensions import runtime_of
from workbench.app import PREFIX, blueprint

OPEN_ENDPOINTS = {"workbench.login", "workbench.static"}


def safe_next(target: str | None) -> str | None:
    """`next` only when it is a path of the workbench on this site (no scheme, host or //)."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not (parts.path == PREFIX or parts.path.startswith(PREFIX + "/")):
        return None
    if target.startswith("//"):
        return None
    return target


@blueprint.before_request
def _require_session():
    """Any page but the login form: a live session, else to the login page (with `next`)."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    runtime = runtime_of()
    idle = runtime.config.workbench.idle_minutes * 60
    uid, seen = session.get("uid"), session.get("seen", 0)
    expired = uid is not None and time.time() - seen > idle
    if uid is None or expired:
        session.clear()
        wanted = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("workbench.login", next=wanted, expired="1" if expired else None))
    with runtime.db.unit_of_work() as s:
        accounts = AccountService(s, runtime.config.county.townships)
        user = accounts.get(uid)
        if user is None or user.disabled or _stamp(user.password_changed_at) != session.get("pwd"):
            session.clear()
            return redirect(url_for("workbench.login"))
        g.actor = accounts.actor(user)
    session["seen"] = time.time()
    return None


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    """The form (username, password, csrf_token); a right password starts a session."""
    runtime = runtime_of()
    error = "会话已超时，请重新登录。" if request.args.get("expired") else None
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "")
        try:
            with runtime.db.unit_of_work() as s:
                try:
                    user = AccountService(s, runtime.config.county.townships).authenticate(
                        username, request.form.get("password", ""), where=request.remote_addr or "")
                except LoginRefused as refused:
                    s.commit()  # the failure count and a lockout are kept
                    raise refused
                uid, pwd = user.id, _stamp(user.password_changed_at)
        except LoginRefused as refused:
            error = ("登录失败次数过多，账号已锁定15分钟。" if refused.locked else "用户名或密码不对。")
            status = 429 if refused.locked else 401
        else:
            session.clear()  # a fresh session (and CSRF token) at every login
            session.permanent = True
            session.update(uid=uid, pwd=pwd, seen=time.time())
            return redirect(safe_next(request.args.get("next")) or url_for("workbench.home"))
    return render_template("workbench/login.html", error=error,
                           next=safe_next(request.args.get("next"))), status


@blueprint.route("/logout", methods=["POST"])
def logout():
    """End the session."""
    session.clear()
    return redirect(url_for("workbench.login"))


@blueprint.route("/")
def home():
    """The queue for those who work leads, the accounts page for an admin."""
    return redirect(url_for("workbench.accounts" if g.actor.administers else "workbench.queue"))


def unit_of_work():
    """The request's one session (a context manager)."""
    return runtime_of().db.unit_of_work()


def requires(check, refused: int = 403):
    """A view decorator: `refused` (403) unless `check(actor)` holds (e.g. lambda a: a.administers)."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if not check(g.actor):
                abort(refused)
            return view(*args, **kwargs)
        return inner
    return wrap


# The pages of one lead: for an account that works no leads (an admin) every lead is outside
# its scope, so 404 as if it did not exist (contract §5), like a lead of another township.
one_lead = requires(lambda actor: actor.works_leads, refused=404)


def _stamp(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    value = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat()


__all__ = ["one_lead", "requires", "safe_next", "unit_of_work", "utcnow"]
