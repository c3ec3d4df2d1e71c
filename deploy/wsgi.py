"""The WSGI entry point gunicorn loads: `app`, built once (in the master with preload_app).

JIUZHU_CONFIG names the config file (default: ./config.toml, else the project's).
"""
import os

from bot.devkey import refuse_development_key
from bot.errors import JiuzhuError
from bot.logs import configure_logging
from bot.runtime import Runtime
from web.app import create_app

configure_logging("INFO")  # every line through the personal-data scrubber
try:
    runtime = Runtime.from_path(os.environ.get("JIUZHU_CONFIG") or None)
    refuse_development_key(runtime.config)  # the bind is checked by gunicorn.conf.py's on_starting
    runtime.create_empty_schema = False  # migrations are `jiuzhu db upgrade`'s, at deploy time
    app = create_app(runtime)
except JiuzhuError as error:  # one clear line (a bad setting, an old schema), not a traceback
    raise SystemExit(f"jiuzhu: {error}") from None
# create_app opened database connections (schema check, ping). Close them
# before gunicorn forks: a connection shared by several workers corrupts its
# protocol state. Each worker opens its own pool on first use.
runtime.db.dispose()
