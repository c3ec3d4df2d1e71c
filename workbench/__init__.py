"""The caseworker workbench: a Flask blueprint at /workbench/, server-rendered (Jinja), no JavaScript.

It calls the services in bot/ (bot.accounts, bot.leads) inside one unit of work per
request, and imports the runtime from web.extensions, never the app factory.

    from workbench import init_app
    init_app(app, runtime)   # (web.app.create_app does it)
"""
from __future__ import annotations

from flask import Flask

from workbench.app import blueprint, init_app

__all__ = ["blueprint", "init_app"]
