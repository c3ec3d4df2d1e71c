"""`jiuzhu serve`: the web application for development (production: gunicorn, see README)."""
from __future__ import annotations


def register(sub, common) -> None:
    """Add `serve`."""
    serve = sub.add_parser("serve", parents=[common], help="serve WeChat, SMS and /healthz (development)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=run_serve)


def run_serve(args) -> int:
    """Run Flask's development server."""
    from web.app import create_app

    app = create_app(config_path=args.config)
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False)
    return 0
