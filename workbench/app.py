"""The blueprint, its session cookie, CSRF check, security headers and error pages."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, render_template, request
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms.validators import ValidationError

from bot.errors import ConfigError
from bot.leads import LeadNotFound

log = logging.getLogger(__name__)

PREFIX = "/workbench"
# A development run without JIUZHU_SECRET_KEY: sessions signed with a key anyone can read here.
DEV_SECRET_KEY = "jiuzhu-development-only-not-secret"
# No script at all, styles and images from this site only, never framed, forms post here only.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}

blueprint = Blueprint("workbench", __name__, url_prefix=PREFIX, template_folder="templates",
                      static_folder="static", static_url_path="/static")


def init_app(app: Flask, runtime) -> None:
    """Sign sessions with JIUZHU_SECRET_KEY (a fixed key in development, with a warning), set the
    cookie's flags, and register the blueprint with its headers."""
    config = runtime.config
    secret = config.secrets.get("secret_key")
    development = config.mode == "development"
    if not secret:
        if not development:
            raise ConfigError("JIUZHU_SECRET_KEY", "required outside development mode (signs workbench sessions)")
        log.warning("JIUZHU_SECRET_KEY is not set: workbench sessions are signed with the development key")
        secret = DEV_SECRET_KEY
    app.secret_key = secret
    app.config.update(
        SESSION_COOKIE_NAME="jiuzhu_workbench", SESSION_COOKIE_PATH=PREFIX, SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=not development,
        PERMANENT_SESSION_LIFETIME=config.workbench.idle_minutes * 60,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session (itself idle-limited)
    )
    from workbench import (accounts, admin, auth, broadcasts, curation, curation_changes,  # noqa: F401 — their
                           dashboard, documents, leads, messages, recheck)              # routes join the blueprint

    app.register_blueprint(blueprint)
    app.after_request(_headers)
    app.register_error_handler(404, _not_found)


@blueprint.before_request
def _check_csrf():
    """Every POST carries the form's csrf_token (the login form included); else 400."""
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            abort(400, description="表单已失效，请返回刷新页面后重试。")


@blueprint.app_context_processor
def _template_globals():
    return {"csrf_token": generate_csrf}


@blueprint.errorhandler(LeadNotFound)
def _lead_not_found(_error):
    return render_template("workbench/error.html", title="没有这条线索",
                           message="没有找到这条线索（或不在您负责的乡镇）。"), 404


@blueprint.errorhandler(400)
def _bad_request(error):
    return render_template("workbench/error.html", title="请求无效", message=error.description), 400


@blueprint.errorhandler(403)
def _forbidden(_error):
    return render_template("workbench/error.html", title="无权访问", message="您的账号没有这个页面的权限。"), 403


def _not_found(error):
    if request.path.startswith(PREFIX + "/") or request.path == PREFIX:
        return render_template("workbench/error.html", title="页面不存在", message="没有这个页面。"), 404
    return error


def _headers(response):
    """Security headers on every workbench response (404s of unknown paths too)."""
    if request.path.startswith(PREFIX):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith(PREFIX + "/static/"):
            response.headers["Cache-Control"] = "max-age=3600"
    return response


@blueprint.app_template_filter("local")
def _local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time in the county's time zone ([workbench] timezone)."""
    import datetime as dt
    import zoneinfo

    from web.extensions import runtime_of

    if value is None:
        return ""
    value = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(zoneinfo.ZoneInfo(runtime_of().config.workbench.timezone)).strftime(fmt)


@blueprint.app_template_filter("local_iso")
def _local_iso(value: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO time stored as text (a transcript's turns), in the county's time zone."""
    import datetime as dt

    try:
        return _local_time(dt.datetime.fromisoformat(value), fmt) if value else ""
    except ValueError:
        return ""


@blueprint.app_template_global("status_label")
def _status_label(status: str) -> str:
    from bot.domain import LEAD_STATUS_LABELS

    return LEAD_STATUS_LABELS.get(status, status)
