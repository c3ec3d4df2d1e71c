"""What the workbench benches share: a private PostgreSQL schema with the newest tables and a
runtime on it, the two accounts, logging in through the form, timing requests.

The schema lives in the test database (127.0.0.1:5432, `test`, or JIUZHU_TEST_POSTGRES_URL) and
is dropped afterwards unless the bench is asked to keep it.
"""
from __future__ import annotations

import contextlib
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bot.accounts import AccountService  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.runtime import Runtime  # noqa: E402

POSTGRES_URL = os.environ.get("JIUZHU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "bench-password-not-secret"
CASEWORKER_TOWNSHIPS = ("江背镇", "崇贤乡")


@contextlib.contextmanager
def private_schema(prefix: str, keep: bool = False, reuse: str | None = None):
    """(runtime, schema name) on a new schema with the newest tables — or on `reuse`, a schema an
    earlier run kept (neither created nor dropped here); dropped at the end unless `keep`."""
    schema = reuse or f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    if reuse is None:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
    runtime = None
    try:
        runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": url}))
        if reuse is None:
            runtime.db.ensure_schema()
        yield runtime, schema
    finally:
        if runtime is not None and "db" in runtime.__dict__:
            runtime.db.dispose()
        if not keep and reuse is None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def add_accounts(runtime) -> None:
    """A caseworker of CASEWORKER_TOWNSHIPS (bench-cw) and a county supervisor (bench-county)."""
    with runtime.db.unit_of_work() as session:
        accounts = AccountService(session, runtime.config.county.townships)
        accounts.add("bench-cw", "caseworker", PASSWORD, CASEWORKER_TOWNSHIPS, actor="bench")
        accounts.add("bench-county", "supervisor", PASSWORD, (), actor="bench")


def clients(runtime):
    """The real app, and a test client logged in as the caseworker and one as the county."""
    from web.app import create_app

    app = create_app(runtime)
    caseworker, county = app.test_client(), app.test_client()
    log_in(caseworker, "bench-cw")
    log_in(county, "bench-county")
    return app, caseworker, county


def log_in(client, username: str) -> None:
    """Through the login form, as a browser does."""
    page = client.get("/workbench/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/workbench/login", data={"username": username, "password": PASSWORD,
                                                     "csrf_token": token})
    if response.status_code != 302:
        raise SystemExit(f"bench: cannot log in as {username}: {response.status_code}")


def check(response) -> None:
    if response.status_code != 200:
        raise SystemExit(f"bench: {response.request.path} answered {response.status_code}")


def percentiles(times_ms: list[float]) -> dict:
    """p50, p95 (nearest rank) and max of request times in ms."""
    times = sorted(times_ms)
    return {"p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1), "max_ms": round(times[-1], 1)}


def timed(client, path, requests: int, warm_up: int = 2) -> dict:
    """GET `path` (or the path a callable gives each time) `warm_up` times untimed (connections,
    templates, caches), then `requests` times, each timed whole."""
    next_path = path if callable(path) else (lambda: path)
    for _ in range(warm_up):
        check(client.get(next_path()))
    times = []
    for _ in range(requests):
        target = next_path()
        started = time.perf_counter()
        check(client.get(target))
        times.append((time.perf_counter() - started) * 1000)
    return {"requests": requests, **percentiles(times)}
