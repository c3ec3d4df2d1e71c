"""The Flask application: one app serving the channels, health and (later) the workbench.

`create_app` is an app factory (Flask tutorial style): tests pass their own
runtime; nothing is read or connected at import time.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify

from bot.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(runtime: Runtime | None = None, config_path: str | None = None) -> Flask:
    """Build the app; everything a request needs is loaded and validated here."""
    runtime = runtime or Runtime.from_path(config_path)
    runtime.start_conversations()
    app = Flask("jiuzhu")
    app.extensions["jiuzhu"] = runtime
    app.config["MAX_CONTENT_LENGTH"] = runtime.config.wechat.max_body_bytes
    app.add_url_rule("/healthz", "healthz", healthz)
    for blueprint in _channel_blueprints():
        app.register_blueprint(blueprint)
    return app


def runtime_of() -> Runtime:
    """The runtime of the app handling this request."""
    return current_app.extensions["jiuzhu"]


def healthz():
    """200 when the database answers, 503 otherwise."""
    ok = runtime_of().db.ping()
    return jsonify(status="ok" if ok else "database unreachable"), 200 if ok else 503


def _channel_blueprints() -> list:
    """The channel adapters (imported here so nothing loads at import time)."""
    from handlers import sms, wechat

    return [wechat.blueprint, sms.blueprint]
