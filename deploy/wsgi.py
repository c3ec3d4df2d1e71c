"""The WSGI entry point gunicorn loads: `app`, built once (in the master with preload_app).

JIUZHU_CONFIG names the config file (default: ./config.toml, else the project's).
"""
import gc
import os

from bot.logs import configure_logging
from handlers.app import create_app

configure_logging("INFO")  # every line through the personal-data scrubber
app = create_app(config_path=os.environ.get("JIUZHU_CONFIG") or None)
# create_app opened database connections (schema check, ping). Close them
# before gunicorn forks: a connection shared by several workers corrupts its
# protocol state. Each worker opens its own pool on first use.
app.extensions["jiuzhu"].db.dispose()
# The knowledge base, matcher tables and libraries loaded above (~300,000 objects) live as
# long as the process: out of the garbage collector's sight. Otherwise a full collection
# walks them all (75 ms measured) and, in each forked worker, writes to every one of
# their pages, unsharing the ~130 MB the workers share with the master.
gc.freeze()
