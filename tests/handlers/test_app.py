"""The web application: /healthz and start-up checks."""
import pytest

from bot.config import load_config
from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.storage.db import Database
from web.app import create_app
from tests.conftest import ROOT


def test_healthz_is_200_with_a_database(runtime):
    client = create_app(runtime).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_healthz_is_503_when_the_database_is_unreachable(runtime):
    app = create_app(runtime)
    unreachable = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    runtime.db = unreachable  # the database went away after start-up
    try:
        assert app.test_client().get("/healthz").status_code == 503
    finally:
        unreachable.dispose()


def test_production_without_a_data_key_does_not_start(sqlite_url):
    runtime = Runtime(load_config(ROOT / "config.toml",
                                  environ={"JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_MODE": "production"}))
    with pytest.raises(ConfigError) as err:
        create_app(runtime)
    assert err.value.key == "JIUZHU_DATA_KEY"


def test_each_blueprint_has_its_own_body_limit(runtime):
    from flask import request

    app = create_app(runtime)
    seen = {}
    for path, blueprint in (("/wechat", "wechat"), ("/sms", "sms"), ("/healthz", None)):
        with app.test_request_context(path, method="POST"):
            assert request.blueprint == blueprint
            app.preprocess_request()
            seen[path] = request.max_content_length
    assert seen == {"/wechat": runtime.config.wechat.max_body_bytes, "/sms": runtime.config.sms.max_body_bytes,
                    "/healthz": min(runtime.config.wechat.max_body_bytes, runtime.config.sms.max_body_bytes)}


def test_the_channel_adapters_do_not_import_the_app_factory():
    import ast

    for path in (ROOT / "handlers").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "web.app" not in names, path
