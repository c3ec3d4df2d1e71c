"""Logging in and staying safe: CSRF on every form, lockout, idle expiry, `next`, headers, cookies,
disabled accounts and new passwords ending sessions, argon2id."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

import workbench.auth
from bot.accounts import AccountService
from bot.config import load_config
from bot.runtime import Runtime
from bot.storage.models import User
from tests.conftest import ROOT
from tests.workbench.conftest import OURS, text_of
from tests.workbench.documents_support import PASSWORD, csrf_of
from workbench.auth import safe_next


def login_form(client, username, password=PASSWORD, next_=None):
    token = csrf_of(client.get("/workbench/login").get_data(as_text=True))
    path = "/workbench/login" + (f"?next={next_}" if next_ else "")
    return client.post(path, data={"username": username, "password": password, "csrf_token": token})


# ---- CSRF ------------------------------------------------------------------------------------
def test_the_login_form_has_the_contract_fields(wb):
    html = wb.client().get("/workbench/login").get_data(as_text=True)
    for field in ('name="username"', 'name="password"', 'name="csrf_token"'):
        assert field in html


@pytest.mark.parametrize("token", [None, "", "not-a-token"])
def test_a_login_without_a_valid_csrf_token_is_400(wb, token):
    client = wb.client()
    client.get("/workbench/login")
    data = {"username": "cw", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/workbench/login", data=data)
    assert response.status_code == 400
    assert "表单已失效" in text_of(response)


def test_every_form_of_every_page_carries_the_token_and_every_post_needs_it(wb):
    ref = wb.lead(OURS)
    client = wb.client("county")
    pages = ["/workbench/leads", f"/workbench/leads/{ref}", f"/workbench/leads/{ref}/status?to=contacted",
             "/workbench/messages"]
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        assert html.count("<form") == html.count('method="post"') + html.count('method="get"')
        assert html.count('method="post"') == html.count('name="csrf_token"'), path
    for route, form in (("claim", {}), ("status", {"to": "contacted"}), ("reveal", {"field": "phone", "purpose": "documents"}),
                        ("contact", {"message": "您好"}), ("documents", {"received": "身份证"})):
        response = client.post(f"/workbench/leads/{ref}/{route}", data=form)
        assert response.status_code == 400, route
    lead = wb.row(ref)
    assert lead.status == "new" and lead.assigned_to is None
    assert [e.action for e in wb.audit(ref=ref)] == [] and wb.outbox() == []


def test_a_token_of_another_session_is_refused(wb):
    ref = wb.lead(OURS)
    stolen = csrf_of(wb.client("cw").get("/workbench/leads").get_data(as_text=True))
    victim = wb.client("cw")
    response = victim.post(f"/workbench/leads/{ref}/claim", data={"csrf_token": stolen})
    assert response.status_code == 400
    assert wb.row(ref).assigned_to is None


def test_an_admin_form_without_the_token_is_400(wb):
    response = wb.client("root").post("/workbench/accounts/cw/disable")
    assert response.status_code == 400
    assert wb.audit("user_disable") == []


# ---- login, lockout -------------------------------------------------------------------------
def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(wb):
    for name in ("cw", "nobody"):
        response = login_form(wb.client(), name, "wrong-password")
        assert response.status_code == 401
        assert "用户名或密码不对" in text_of(response)


def test_five_failed_logins_lock_the_account_for_fifteen_minutes(wb, monkeypatch):
    client = wb.client()
    for attempt in range(1, 5):
        assert login_form(client, "cw", "wrong-password").status_code == 401, attempt
    fifth = login_form(client, "cw", "wrong-password")
    assert fifth.status_code == 429 and "锁定15分钟" in text_of(fifth)
    # during the lock even the right password is refused
    assert login_form(client, "cw").status_code == 429
    assert login_form(wb.client(), "cw").status_code == 429
    # other accounts are not affected
    assert login_form(wb.client(), "county").status_code == 302
    # 15 minutes later the right password works again
    import bot.accounts.service as service

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=15, seconds=1)
    monkeypatch.setattr(service, "utcnow", lambda: later)
    assert login_form(wb.client(), "cw").status_code == 302
    actions = [e.action for e in wb.audit() if e.actor == "cw"]
    assert actions.count("login_failed") == 7 and actions.count("user_locked") == 1 and actions[-1] == "login"


def test_fourteen_minutes_after_the_lock_it_still_holds(wb, monkeypatch):
    import bot.accounts.service as service

    for _ in range(5):
        login_form(wb.client(), "cw", "wrong-password")
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=14)
    monkeypatch.setattr(service, "utcnow", lambda: soon)
    assert login_form(wb.client(), "cw").status_code == 429


def test_a_right_password_resets_the_failure_count(wb):
    for _ in range(4):
        login_form(wb.client(), "cw", "wrong-password")
    assert login_form(wb.client(), "cw").status_code == 302
    for _ in range(4):
        assert login_form(wb.client(), "cw", "wrong-password").status_code == 401
    assert login_form(wb.client(), "cw").status_code == 302


def test_an_admin_lifts_a_lockout(wb):
    for _ in range(5):
        login_form(wb.client(), "cw", "wrong-password")
    page = wb.client("root").get("/workbench/accounts")
    assert "锁定至" in text_of(page)
    wb.post(wb.client("root"), "/workbench/accounts/cw/unlock")
    assert login_form(wb.client(), "cw").status_code == 302


def test_passwords_are_argon2id_with_the_librarys_current_parameters(runtime, monkeypatch):
    from argon2 import PasswordHasher

    import bot.accounts.service as service

    monkeypatch.setattr(service, "_HASHER", PasswordHasher())   # the real one, not the quick test hasher
    with runtime.db.unit_of_work() as s:
        AccountService(s, runtime.config.county.townships).add("hashed", "supervisor", PASSWORD)
    with runtime.db.unit_of_work() as s:
        stored = s.execute(select(User.password_hash).where(User.username == "hashed")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert not PasswordHasher().check_needs_rehash(stored)


# ---- sessions ----------------------------------------------------------------------------
class Clock:
    """The workbench's idle clock (workbench.auth.time), moved by a test."""

    def __init__(self):
        self.now = time.time()

    def time(self) -> float:
        return self.now


def test_a_session_idle_for_thirty_minutes_is_over(wb, monkeypatch):
    client, clock = wb.client("cw"), Clock()
    monkeypatch.setattr(workbench.auth, "time", clock)
    start = clock.now
    clock.now = start + 29 * 60
    assert client.get("/workbench/leads").status_code == 200        # still alive, and renewed
    clock.now = start + 58 * 60
    assert client.get("/workbench/leads").status_code == 200        # 29 minutes after the last request
    clock.now = start + 88 * 60 + 1
    response = client.get("/workbench/leads")
    assert response.status_code == 302 and "expired=1" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert "会话已超时，请重新登录" in text_of(page)
    clock.now = start + 88 * 60 + 2
    assert client.get("/workbench/leads").status_code == 302         # the session is gone, not just stale


def test_a_cookie_older_than_the_idle_limit_is_no_session_either(wb, monkeypatch):
    client = wb.client("cw")
    later = time.time() + 31 * 60       # the signed cookie's own age check (what a browser sends late)
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get("/workbench/leads")
    assert response.status_code == 302 and "/workbench/login" in response.headers["Location"]


def test_the_session_cookie_lives_no_longer_than_the_idle_limit(wb):
    client = wb.client()
    response = login_form(client, "cw")
    cookie = response.headers["Set-Cookie"]
    assert "Max-Age=1800" in cookie or "Expires=" in cookie


def test_a_disabled_account_is_out_at_its_next_request(wb):
    client = wb.client("cw")
    wb.post(wb.client("root"), "/workbench/accounts/cw/disable")
    assert client.get("/workbench/leads").status_code == 302
    assert login_form(wb.client(), "cw").status_code == 401


def test_a_new_password_ends_the_accounts_sessions(wb):
    client = wb.client("cw")
    new = "another-long-password"
    wb.post(wb.client("root"), "/workbench/accounts/cw/password", {"password": new, "password_again": new})
    assert client.get("/workbench/leads").status_code == 302
    assert login_form(wb.client(), "cw").status_code == 401
    assert login_form(wb.client(), "cw", new).status_code == 302


def test_logout_ends_the_session(wb):
    client = wb.client("cw")
    wb.post(client, "/workbench/logout")
    assert client.get("/workbench/leads").status_code == 302


def test_a_login_starts_a_fresh_session(wb):
    client = wb.client()
    client.get("/workbench/login")
    with client.session_transaction("/workbench/") as session:
        session["planted"] = "by an attacker"
    response = login_form(client, "cw")
    assert response.status_code == 302, text_of(response)
    with client.session_transaction("/workbench/") as session:
        assert "planted" not in session and session["uid"]


# ---- next --------------------------------------------------------------------------------
@pytest.mark.parametrize("target, kept", [
    ("/workbench/leads?status=closed", True), ("/workbench/leads/JZ261202-ABCD", True), ("/workbench", True),
    ("//evil.example/workbench/", False), ("https://evil.example/workbench/leads", False),
    ("/wechat", False), ("/\\evil.example", False), ("javascript:alert(1)", False),
    ("/workbench/\nSet-Cookie:x", False), ("", False), ("/workbenchx", False),
])
def test_next_is_followed_only_within_the_workbench(target, kept):
    assert (safe_next(target) == target) is kept


def test_login_follows_next_within_the_site_and_ignores_it_elsewhere(wb):
    ref = wb.lead(OURS)
    wanted = wb.client().get(f"/workbench/leads/{ref}")
    assert "next=" in wanted.headers["Location"]
    ok = login_form(wb.client(), "cw", next_=f"/workbench/leads/{ref}")
    assert ok.headers["Location"].endswith(f"/workbench/leads/{ref}")
    away = login_form(wb.client(), "cw", next_="https://evil.example/")
    assert away.headers["Location"].endswith("/workbench/")
    assert "evil" not in away.headers["Location"]


# ---- headers and cookies -------------------------------------------------------------------
HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


@pytest.mark.parametrize("who, path", [(None, "/workbench/login"), ("cw", "/workbench/leads"),
                                       ("cw", "/workbench/leads/JZ000000-NONE"), ("root", "/workbench/audit"),
                                       ("cw", "/workbench/audit"), ("cw", "/workbench/leads/export.xlsx")])
def test_security_headers_on_every_kind_of_response(wb, who, path):
    response = wb.client(who).get(path)
    for name, value in HEADERS.items():
        assert response.headers[name] == value, name
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script" not in csp
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_need_no_inline_style_or_script_the_policy_would_block(wb):
    ref = wb.lead(OURS)
    client = wb.client("county")
    for path in ("/workbench/leads", f"/workbench/leads/{ref}", "/workbench/messages"):
        html = client.get(path).get_data(as_text=True)
        assert "<script" not in html and "style=" not in html and "<style" not in html


def test_the_webhooks_keep_their_own_headers(wb):
    assert "Content-Security-Policy" not in wb.client().get("/healthz").headers


def test_development_cookies_are_httponly_and_samesite(wb):
    cookie = login_form(wb.client(), "cw").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/workbench" in cookie


def test_outside_development_the_cookie_is_secure_and_a_secret_key_is_required(sqlite_url, shared_runtime):
    from web.app import create_app

    environ = {"JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_MODE": "production",
               "JIUZHU_DATA_KEY": Fernet.generate_key().decode()}
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="JIUZHU_SECRET_KEY"):
        create_app(Runtime(load_config(ROOT / "config.toml", environ=environ),
                           kb=shared_runtime.kb, matcher=shared_runtime.matcher))
    environ["JIUZHU_SECRET_KEY"] = "a-production-secret-key-for-this-test"
    runtime = Runtime(load_config(ROOT / "config.toml", environ=environ), kb=shared_runtime.kb,
                      matcher=shared_runtime.matcher)
    app = create_app(runtime)
    with runtime.db.unit_of_work() as s:
        AccountService(s, runtime.config.county.townships).add("cw", "caseworker", PASSWORD, [OURS])
    client = app.test_client()
    cookie = client.get("/workbench/login").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_after_logging_in_each_role_lands_on_its_own_first_page(wb):
    for who, first in (("cw", "/workbench/leads"), ("county", "/workbench/leads"), ("root", "/workbench/accounts")):
        client = wb.client()
        landed = client.get(login_form(client, who).headers["Location"], follow_redirects=True)
        assert landed.status_code == 200 and landed.request.path == first, who
