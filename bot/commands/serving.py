"""`jiuzhu serve`: the web application for development (production: gunicorn, see README)."""
from __future__ import annotations


def register(sub, common) -> None:
    """Add `serve`."""
    serve = sub.add_parser("serve", parents=[common],
                           help="serve WeChat, SMS, the workbench and /healthz (development)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true",
                       help="first make the demo accounts, leads and 留言 (development mode only; `jiuzhu demo`)")
    serve.set_defaults(func=run_serve)


def run_serve(args) -> int:
    """Run Flask's development server (refused on the development key beyond loopback and SQLite);
    with --demo, say where to log in."""
    from bot.devkey import refuse_development_key
    from bot.runtime import Runtime
    from web.app import create_app

    runtime = Runtime.from_path(args.config)
    refuse_development_key(runtime.config, [args.host])
    app = create_app(runtime)
    if args.demo:
        from bot.commands.demo import DEMO_PASSWORD, ensure_demo

        made = ensure_demo(runtime)
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        print(f"\n  工作台 workbench: http://{host}:{args.port}/workbench/login\n"
              f"  log in as demo, password {DEMO_PASSWORD} (county supervisor);\n"
              f"  also demo-jiangbei (江背镇 caseworker) and demo-admin (accounts, audit log), same password\n"
              f"  demo data: {made} new lead(s) now; the chat with the bot: scripts/dev chat\n", flush=True)
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False)
    return 0
