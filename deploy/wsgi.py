"""The WSGI entry point gunicorn loads: `app`, built once (in the master with preload_app).

JIUZHU_CONFIG names the config file (default: ./config.toml, else the project's).
"""
import os

from bot.logs import configure_logging
from web.app import create_app
from web.extensions import runtime_of

configure_logging("INFO")  # every line through the personal-data scrubber
app = create_app(config_path=os.environ.get("JIUZHU_CONFIG") or None)
# create_app opened database connections (schema check, ping). Close them
# before gunicorn forks: a connection shared by several workers corrupts its
# protocol state. Each worker opens its own pool on first use.
runtime_of(app).db.dispose()
