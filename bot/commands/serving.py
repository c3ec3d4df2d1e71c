"""`jiuzhu serve`: the web application for development (production: gunicorn, see README)."""
from __future__ import annotations


def register(sub, common) -> None:
    """Add `serve`."""
    serve = sub.add_parser("serve", parents=[common], help="serve WeChat, SMS and /healthz (development)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=run_serve)


def run_serve(args) -> int:
    """Run Flask's development server (refused on the development key beyond loopback and SQLite)."""
    from bot.devkey import refuse_development_key
    from bot.runtime import Runtime
    from web.app import create_app

    runtime = Runtime.from_path(args.config)
    refuse_development_key(runtime.config, [args.host])
    app = create_app(runtime)
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False)
    return 0
