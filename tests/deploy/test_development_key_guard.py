"""A server on the public development key refuses to start beyond a local SQLite file on loopback."""
from __future__ import annotations

import pytest

from bot.config import load_config
from bot.devkey import is_local_sqlite, is_loopback_bind, refuse_development_key
from bot.errors import ConfigError
from bot.privacy import generate_key
from tests.conftest import PG_URL, ROOT
from tests.deploy.gunicorn_run import Gunicorn, jiuzhu

PG_WITH_PASSWORD = "postgresql+psycopg://jiuzhu:hunter2@db.internal:5432/jiuzhu"


def config_of(**environ):
    return load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": "sqlite:///x.sqlite3", **environ})


@pytest.mark.parametrize("bind, loopback", [
    ("127.0.0.1:8000", True), ("localhost:8000", True), ("[::1]:8000", True), ("unix:/run/jiuzhu.sock", True),
    ("127.0.0.2", True), ("0.0.0.0:8000", False), ("[::]:8000", False), (":8000", False),
    ("10.1.2.3:80", False), ("fd://3", False)])
def test_binds_are_read_as_gunicorn_writes_them(bind, loopback):
    assert is_loopback_bind(bind) is loopback


def test_only_a_sqlite_file_counts_as_local():
    assert is_local_sqlite("sqlite:////srv/jiuzhu/jiuzhu.sqlite3") and is_local_sqlite("sqlite://")
    assert not is_local_sqlite(PG_WITH_PASSWORD) and not is_local_sqlite("mysql://x@y/z")


def test_development_key_on_postgresql_is_refused_naming_what_to_set():
    with pytest.raises(ConfigError) as refused:
        refuse_development_key(config_of(JIUZHU_DATABASE_URL=PG_WITH_PASSWORD))
    message = str(refused.value)
    assert "JIUZHU_DATA_KEY" in message and "JIUZHU_MODE=production" in message and "jiuzhu keygen" in message
    assert "db.internal" in message and "hunter2" not in message  # which database, never its password


def test_development_key_on_a_public_address_is_refused():
    with pytest.raises(ConfigError, match=r"listens on 0\.0\.0\.0:8000, not only on loopback"):
        refuse_development_key(config_of(), ["127.0.0.1:8000", "0.0.0.0:8000"])


def test_a_real_key_or_a_laptop_setup_starts():
    refuse_development_key(config_of(), ["127.0.0.1:8000"])
    refuse_development_key(config_of(JIUZHU_DATABASE_URL=PG_WITH_PASSWORD, JIUZHU_DATA_KEY=generate_key()),
                           ["0.0.0.0:8000"])


def test_gunicorn_on_postgresql_without_a_key_exits_with_the_reason(tmp_path):
    server = Gunicorn({"JIUZHU_DATABASE_URL": PG_URL, "JIUZHU_DATA_KEY": "", "JIUZHU_MODE": ""},
                      tmp_path / "gunicorn.log")
    assert server.exit_code() != 0
    log = server.log()
    assert "JIUZHU_DATA_KEY: not set" in log and "not a local SQLite file" in log
    assert "Traceback" not in log and "Booting worker" not in log


def test_gunicorn_on_all_interfaces_without_a_key_never_listens(tmp_path, sqlite_url):
    env = {"JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_DATA_KEY": "", "JIUZHU_MODE": ""}
    assert jiuzhu("db", "upgrade", env=env).returncode == 0
    server = Gunicorn(env, tmp_path / "gunicorn.log", bind="0.0.0.0:0")
    assert server.exit_code() != 0
    log = server.log()
    assert "listens on 0.0.0.0:0, not only on loopback" in log
    assert "Listening at" not in log and "Traceback" not in log


def test_gunicorn_on_loopback_and_sqlite_starts_without_a_key(tmp_path, sqlite_url):
    env = {"JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_DATA_KEY": "", "JIUZHU_MODE": ""}
    assert jiuzhu("db", "upgrade", env=env).returncode == 0
    with Gunicorn(env, tmp_path / "gunicorn.log").wait_ready() as server:
        assert server.get("/healthz")[0] == 200


def test_jiuzhu_serve_and_worker_refuse_the_development_key_off_the_laptop(cli):
    served = cli("serve", "--host", "0.0.0.0", "--port", "1", check=False, env={"JIUZHU_DATA_KEY": ""})
    assert served.returncode == 2 and "not only on loopback" in served.stderr
    worked = cli("worker", "--once", check=False, env={"JIUZHU_DATABASE_URL": PG_URL, "JIUZHU_DATA_KEY": ""})
    assert worked.returncode == 2 and "not a local SQLite file" in worked.stderr

