"""Accounts for admins: add, disable and enable, lift a lockout, a caseworker's townships, a new password.

The same AccountService as `jiuzhu users` (every change audited with the admin's name);
its refusals are shown in Chinese on the page. A new password ends the account's
sessions, a disabled account is out at its next request (workbench/auth.py).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from bot.accounts import ROLES, AccountService
from bot.accounts.roles import CASEWORKER, ROLE_LABELS
from bot.accounts.service import MIN_PASSWORD_CHARS, AccountError
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import requires, unit_of_work

admin_only = requires(lambda actor: actor.administers)


def _service(session) -> AccountService:
    return AccountService(session, runtime_of().config.county.townships)


@blueprint.route("/accounts")
@admin_only
def accounts():
    """Every account with its role, townships and state, the actions on each, and the add form."""
    with unit_of_work() as session:
        rows = _service(session).list()
    return render_template("workbench/accounts.html", accounts=rows, role_labels=ROLE_LABELS, roles=ROLES,
                           townships=runtime_of().config.county.townships, caseworker=CASEWORKER,
                           min_password=MIN_PASSWORD_CHARS)


@blueprint.route("/accounts", methods=["POST"])
@admin_only
def add_account():
    """A new account with a first password the admin hands over."""
    form = request.form
    username = form.get("username", "").strip()
    return _change(lambda s: s.add(username, form.get("role", ""), _password(), form.getlist("township"),
                                   actor=g.actor.label), f"已新增账号 {username}。")


# One-click changes of an account: the service's method and what the page says after it.
SWITCHES = {"disable": ("disable", "已停用 {}。"),      # stop it logging in (its sessions end too)
            "enable": ("enable", "已启用 {}。"),        # let a disabled account log in again
            "unlock": ("unlock", "已解除 {} 的锁定。")}  # lift a lockout after failed logins


@blueprint.route("/accounts/<username>/<switch>", methods=["POST"])
@admin_only
def switch_account(username: str, switch: str):
    """Disable, enable or unlock the account."""
    if switch not in SWITCHES:
        abort(404)
    method, done = SWITCHES[switch]
    return _change(lambda s: getattr(s, method)(username, actor=g.actor.label), done.format(username))


@blueprint.route("/accounts/<username>/townships", methods=["POST"])
@admin_only
def account_townships(username: str):
    """Set a caseworker's townships."""
    return _change(lambda s: s.set_townships(username, request.form.getlist("township"), actor=g.actor.label),
                   f"已调整 {username} 负责的乡镇。")


@blueprint.route("/accounts/<username>/password", methods=["POST"])
@admin_only
def reset_account_password(username: str):
    """A new password (typed twice); the account's sessions end and a lockout is lifted."""
    return _change(lambda s: s.reset_password(username, _password(), actor=g.actor.label),
                   f"已为 {username} 设置新密码，请当面告知本人。")


def _password() -> str:
    """The form's password, typed the same twice."""
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        raise AccountError("the two passwords differ", "两次输入的密码不一样")
    return password


def _change(action, done: str):
    """One account change in the request's unit of work; a refusal is told on the accounts page."""
    with unit_of_work() as session:
        try:
            action(_service(session))
        except AccountError as refused:
            session.rollback()
            flash(refused.chinese, "error")
            return redirect(url_for("workbench.accounts"))
    flash(done, "ok")
    return redirect(url_for("workbench.accounts"))
