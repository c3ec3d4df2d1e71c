"""Curation fixtures: a runtime on a temporary database with the plain matcher (no semantic layer:
a check then fits in seconds), accounts of every role, a logged-in workbench client, questions."""
from __future__ import annotations

import dataclasses

import pytest

from bot.accounts import AccountService
from bot.accounts.roles import Actor
from bot.matching.matcher import Matcher
from bot.runtime import Runtime
from bot.storage.models import User
from bot.unanswered import record_unanswered
from tests.workbench.documents_support import PASSWORD, csrf_of, log_in

ACCOUNTS = (("cw", "caseworker", ("江背镇",)), ("sup1", "supervisor", ()), ("sup2", "supervisor", ()),
            ("adm", "admin", ()))
# Residents' questions the knowledge base does not answer (the second and third resemble the first).
UNKNOWN = ("屋里养的牛病死了有冇补助", "屋里养的牛病死了有没有补助啊", "家里养的牛病死了有冇补助",
           "我叫刘桂英，电话13970712468，屋里的猪瘟死了有补贴吗")


def plain(config):
    """The config with the semantic second opinion off."""
    return dataclasses.replace(config, matching=dataclasses.replace(config.matching, semantic=False))


@pytest.fixture(scope="session")
def plain_matcher(shared_runtime):
    """The plain matcher of the project's knowledge base (loaded from the cache)."""
    return Matcher.load(shared_runtime.kb, plain(shared_runtime.config).matching)


@pytest.fixture
def runtime(config, shared_runtime, plain_matcher):
    """A runtime on a temporary database: the files' knowledge base, the plain matcher."""
    rt = Runtime(plain(config), kb=shared_runtime.kb, matcher=plain_matcher)
    add_accounts(rt)
    return rt


def add_accounts(runtime) -> None:
    """One account of each role (two supervisors: a change needs a second account)."""
    with runtime.db.unit_of_work() as session:
        service = AccountService(session, runtime.config.county.townships)
        for username, role, townships in ACCOUNTS:
            service.add(username, role, PASSWORD, townships, actor="test")


def actor(runtime, username: str) -> Actor:
    """The service actor of an account."""
    with runtime.db.unit_of_work() as session:
        service = AccountService(session, runtime.config.county.townships)
        user = session.query(User).filter_by(username=username).one()
        return service.actor(user)


def ask_unanswered(runtime, texts=UNKNOWN, channel: str = "wechat") -> None:
    """Store questions as the engine does when it cannot answer them."""
    for text in texts:
        record_unanswered(runtime.db, text, channel, "unknown", best_topic=None, confidence=0.1)


@pytest.fixture
def app(runtime):
    from web.app import create_app

    return create_app(runtime)


@pytest.fixture
def login(app):
    """login(username) → a test client with a session of that account."""
    def as_user(username: str):
        client = app.test_client()
        log_in(client, username)
        return client
    return as_user


def post(client, url: str, data: dict | None = None, page: str | None = None):
    """A POST with the CSRF token of `page` (default: the workbench home)."""
    html = client.get(page or "/workbench/curation").get_data(as_text=True)
    return client.post(url, data={**(data or {}), "csrf_token": csrf_of(html)})


def wait_for_checks(app) -> None:
    """Until every check started by the app's requests has finished."""
    from workbench.curation_changes import RUNNER_KEY

    runner = app.extensions.get(RUNNER_KEY)
    if runner is not None:
        runner.wait(timeout=300)


def publish_phrasing(runtime, text: str = UNKNOWN[0], target: str = "linshi.eligibility") -> tuple[int, int, str]:
    """Draft (cw), check, approve (sup1) a new phrasing of `target`: (change id, new version, entry id)."""
    from bot.curation.changes import ChangeService
    from bot.curation.checks import run_check

    entry = next(e for e in runtime.kb.entries if e.topic == target)
    with runtime.db.unit_of_work() as session:
        service = ChangeService(session, runtime, actor(runtime, "cw"))
        change_id = service.draft("phrasing", {"entry_id": entry.id, "text": text}, None).id
        service.request_check(change_id)
    assert run_check(runtime, change_id, sets=[])["valid"]
    with runtime.db.unit_of_work() as session:
        return change_id, ChangeService(session, runtime, actor(runtime, "sup1")).approve(change_id).version, entry.id
