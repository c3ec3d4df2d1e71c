"""The insight tests' runtime: SQLite and PostgreSQL, with the session's knowledge base and matcher."""
import pytest

from bot.config import load_config
from bot.runtime import Runtime
from tests.conftest import ROOT


@pytest.fixture
def rt(any_db_url, shared_runtime):
    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": any_db_url}),
                      kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    yield runtime
    runtime.db.dispose()
