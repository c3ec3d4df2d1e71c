"""gunicorn settings for jiuzhu in production.

    gunicorn -c deploy/gunicorn.conf.py deploy.wsgi:app

Environment: JIUZHU_BIND (default 127.0.0.1:8000 — put nginx or the like in
front), JIUZHU_WORKERS (default cores + 1, at most 8), plus everything the
app reads (JIUZHU_CONFIG, JIUZHU_DATABASE_URL, JIUZHU_WECHAT_*, … see README).
"""
import gc
import os


def default_workers() -> int:
    """Usable cores + 1, capped at 8.

    A message costs about a millisecond of CPU and waits little on the database, so
    one worker per core (plus one for those waits) keeps the cores busy. gunicorn's
    usual 2 × cores + 1 only added context switches and cache misses: fewer messages
    per second, not more (bench/README.md, "Figures behind choices in the code").
    With a database far away
    (many milliseconds per round trip) more workers may pay: set JIUZHU_WORKERS.
    """
    try:
        cores = len(os.sched_getaffinity(0))  # honours a container's CPU set
    except AttributeError:
        cores = os.cpu_count() or 1
    return min(cores + 1, 8)


def env_workers() -> int:
    """JIUZHU_WORKERS as a positive integer, else the default."""
    raw = os.environ.get("JIUZHU_WORKERS", "").strip()
    if not raw:
        return default_workers()
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"JIUZHU_WORKERS must be a positive integer, got {raw!r}")
    return int(raw)


bind = os.environ.get("JIUZHU_BIND") or "127.0.0.1:8000"
workers = env_workers()
worker_class = "sync"  # one request per process: the matcher holds the GIL anyway
# Knowledge base, matcher and config are loaded once in the master and shared
# copy-on-write by the workers; a bad config or knowledge base stops the master
# with a clear error instead of making every worker crash in a loop.
preload_app = True
timeout = 30           # WeChat gives up after 5 s; a worker stuck for 30 s is killed
graceful_timeout = 20  # on restart, requests in flight get 20 s to finish

# Access log without the query string: WeChat puts the signature, timestamp,
# nonce and the resident's openid there. So no %(r)s (request line) or %(q)s,
# and no request headers. Method, path, status, bytes, time in ms.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = "info"
# gunicorn's own lines name the request's full URL (a worker killed for its timeout, a
# malformed request line): every handler of both logs drops query strings and scrubs numbers.
logger_class = "deploy.gunicorn_logging.ScrubbingLogger"


def on_starting(server):
    """Refuse, before listening, to serve on the public development key beyond loopback.

    deploy/wsgi.py checks the database (with preload_app it already ran); only the master
    knows the addresses it will bind (-b or JIUZHU_BIND), so this hook checks those.
    """
    from bot.config import load_config
    from bot.devkey import refuse_development_key
    from bot.errors import JiuzhuError

    try:
        refuse_development_key(load_config(os.environ.get("JIUZHU_CONFIG") or None), server.cfg.bind)
    except JiuzhuError as error:
        raise SystemExit(f"jiuzhu: {error}") from None


def pre_fork(server, worker):
    """Move what the master loaded to the permanent GC generation before forking.

    Otherwise the first garbage collection in each worker touches every object's
    header and un-shares the pages that preload_app shares (the knowledge base,
    the matcher's arrays and dictionaries).
    """
    gc.freeze()
