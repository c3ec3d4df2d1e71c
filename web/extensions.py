"""What every blueprint may import: the runtime of the app handling a request.

The channel adapters (handlers/) and, next, the workbench import this module,
never the app factory (web.app), so the factory can import them without a cycle.
"""
from __future__ import annotations

from flask import Flask, current_app

from bot.runtime import Runtime

RUNTIME_KEY = "jiuzhu"


def install(app: Flask, runtime: Runtime) -> None:
    """Make `runtime` the one the app's requests use."""
    app.extensions[RUNTIME_KEY] = runtime


def runtime_of(app: Flask | None = None) -> Runtime:
    """The runtime of the given app, else of the app handling this request."""
    return (app or current_app).extensions[RUNTIME_KEY]
