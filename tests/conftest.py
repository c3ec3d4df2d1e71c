"""Shared fixtures: a temporary SQLite runtime, real PostgreSQL and Redis, the CLI."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bot.config import load_config
from bot.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("JIUZHU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("JIUZHU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


def service_missing(what: str, error: Exception) -> None:
    """Skip on a laptop without the service; in CI a missing service is a failure."""
    message = f"{what} not reachable ({type(error).__name__}: {error})"
    if IN_CI:
        pytest.fail(f"{message} — CI=true requires it", pytrace=False)
    pytest.skip(message)


def require_tools(*names: str) -> None:
    """Skip (fail in CI) unless each command is on PATH; scripts/setup-browser installs them."""
    import shutil

    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        service_missing(", ".join(missing), FileNotFoundError("not on PATH — run scripts/setup-browser"))


@pytest.fixture
def quick_hashes(monkeypatch):
    """argon2id with its cheapest parameters: workbench tests log in many times on a shared 2-core
    machine (tests/workbench/test_security.py checks the real parameters)."""
    from argon2 import PasswordHasher

    import bot.accounts.service as service

    monkeypatch.setattr(service, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh SQLite database file for one test."""
    return f"sqlite:///{tmp_path / 'jiuzhu.sqlite3'}"


@pytest.fixture
def config(sqlite_url):
    """The project's config.toml on a temporary database."""
    return load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": sqlite_url})


@pytest.fixture(scope="session")
def shared_runtime():
    """One runtime whose knowledge base and matcher are built once per session (read-only use)."""
    return Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": "sqlite://"}))


@pytest.fixture
def runtime(config, shared_runtime):
    """A runtime on a temporary database that reuses the session's matcher."""
    return Runtime(config, kb=shared_runtime.kb, matcher=shared_runtime.matcher)


@pytest.fixture
def postgres_url():
    """A private schema in the CI PostgreSQL database, dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        service_missing("PostgreSQL at 127.0.0.1:5432", exc)
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path):
    """Run a storage test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jiuzhu.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def cli(sqlite_url):
    """Run the real `jiuzhu` console script with a temporary database."""
    exe = Path(sys.executable).with_name("jiuzhu")

    def run(*args: str, input: str | None = None, env: dict | None = None, check: bool = True):
        full_env = {**os.environ, "JIUZHU_DATABASE_URL": sqlite_url, **(env or {})}
        proc = subprocess.run([str(exe), *args], input=input, capture_output=True, text=True,
                              env=full_env, cwd=ROOT, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"jiuzhu {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    return run
