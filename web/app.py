"""The Flask application: the channel blueprints, /healthz and the workbench.

`create_app` is an app factory (Flask tutorial style): tests pass their own
runtime; nothing is read or connected at import time. Each blueprint gets its
own request-body limit from its config section, so a large workbench upload
cannot widen what a webhook accepts.
"""
from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request

from bot.runtime import Runtime
from web.extensions import install, runtime_of


def create_app(runtime: Runtime | None = None, config_path: str | None = None) -> Flask:
    """Build the app; everything a request needs is loaded and validated here."""
    runtime = runtime or Runtime.from_path(config_path)
    runtime.start_conversations()
    app = Flask("jiuzhu")
    install(app, runtime)
    limits = _channel_blueprints(runtime)
    # routes outside every blueprint (/healthz) get the tightest limit
    app.config["MAX_CONTENT_LENGTH"] = min(limits.values())
    app.add_url_rule("/healthz", "healthz", healthz)
    for blueprint in limits:
        app.register_blueprint(blueprint)
    by_name = {blueprint.name: limit for blueprint, limit in limits.items()}
    by_name.update(_workbench(app, runtime))
    app.before_request(_body_limits(by_name))
    # each process (a forked worker too) keeps its knowledge at the published version
    app.before_request(runtime.knowledge.ensure_running)
    return app


def healthz():
    """200 when the database answers, 503 otherwise; the detail says how Redis is too (without it
    the bot still answers, its rate limit counted per process: degraded, not down)."""
    runtime = runtime_of()
    ok = runtime.db.ping()
    detail = {"database": "ok" if ok else "unreachable", "redis": runtime.rate_limiter.health()}
    return jsonify(status="ok" if ok else "database unreachable", detail=detail), 200 if ok else 503


def _channel_blueprints(runtime: Runtime) -> dict[Blueprint, int]:
    """The channel adapters and their body limits (imported here so nothing loads at import time)."""
    from handlers import sms, wechat

    config = runtime.config
    return {wechat.blueprint: config.wechat.max_body_bytes, sms.blueprint: config.sms.max_body_bytes}


def _workbench(app: Flask, runtime: Runtime) -> dict[str, int]:
    """The caseworker workbench at /workbench/ and its body limit."""
    import workbench

    workbench.init_app(app, runtime)
    return {workbench.blueprint.name: runtime.config.workbench.max_body_bytes}


def _body_limits(by_blueprint: dict[str, int]):
    """A before-request hook: the body limit of the request's blueprint (chunked bodies too)."""
    def bound() -> None:
        limit = by_blueprint.get(request.blueprint or "")
        if limit is not None:
            request.max_content_length = limit
    return bound
