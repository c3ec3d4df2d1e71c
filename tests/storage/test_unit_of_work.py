"""One unit of work: a lead's status change, its audit row and the SMS to the applicant
are written together or not at all (SQLite and PostgreSQL); the schema at deploy time."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from bot.config import load_config
from bot.runtime import Runtime
from bot.screening.notify import notify_status
from bot.storage.models import AuditEvent, Lead, OutboxMessage
from bot.storage.schema import SchemaError, head_revision
from tests.conftest import ROOT


@pytest.fixture
def rt(any_db_url, shared_runtime):
    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": any_db_url}),
                      kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    yield runtime
    runtime.db.dispose()


def _lead(rt) -> str:
    return rt.leads.create(channel="wechat", user_key="k", values={"name": "黄春生", "phone": "13970712468"},
                           programs=[], urgency="normal", documents=[], consent={"given": True})


def _written(rt, ref: str) -> tuple[str, int, int]:
    with rt.db.unit_of_work() as s:
        return (s.execute(select(Lead.status).where(Lead.ref == ref)).scalar_one(),
                len(s.execute(select(AuditEvent.id).where(AuditEvent.action == "status")).all()),
                len(s.execute(select(OutboxMessage.id)).all()))


def test_a_status_change_its_audit_row_and_its_sms_are_written_together(rt):
    ref = _lead(rt)
    with rt.db.unit_of_work() as session:
        lead = rt.leads.set_status(ref, "contacted", actor="test", session=session)
        assert notify_status(rt, lead, session)
    assert _written(rt, ref) == ("contacted", 1, 1)


def test_a_failing_step_rolls_back_the_change_its_audit_row_and_its_outbox_message(rt, monkeypatch):
    ref = _lead(rt)
    with pytest.raises(RuntimeError), rt.db.unit_of_work() as session:
        lead = rt.leads.set_status(ref, "contacted", actor="test", session=session)
        assert notify_status(rt, lead, session)
        session.flush()  # all three are in the database's transaction by now …
        raise RuntimeError("the next step fails")
    assert _written(rt, ref) == ("new", 0, 0)  # … and none of them stays


def test_the_cli_status_change_is_one_unit_of_work(cli):
    assert cli("leads", "status", "JZ000000-XXXX", "contacted", check=False).returncode == 1


def test_server_start_ups_refuse_an_outdated_schema_and_db_upgrade_fixes_it(any_db_url, cli):
    from bot.storage import schema
    from bot.storage.db import Database

    db = Database(any_db_url)
    schema._alembic_upgrade(db.engine, "0007")  # the schema of the previous release
    server = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": any_db_url}))
    server.create_empty_schema = False
    with pytest.raises(SchemaError, match="jiuzhu db upgrade"):
        server.db  # noqa: B018
    cli_runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": any_db_url}))
    with pytest.raises(SchemaError, match="jiuzhu db upgrade"):  # nobody migrates on first use
        cli_runtime.db  # noqa: B018
    env = {"JIUZHU_DATABASE_URL": any_db_url}
    assert cli("db", "check", env=env, check=False).returncode == 1
    assert "0007 → " + head_revision() in cli("db", "upgrade", env=env).stdout
    assert cli("db", "check", env=env).returncode == 0
    assert "nothing to do" in cli("db", "upgrade", env=env).stdout
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    db.dispose()


def test_a_server_start_up_refuses_an_empty_database(sqlite_url):
    server = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": sqlite_url}))
    server.create_empty_schema = False
    with pytest.raises(SchemaError, match="jiuzhu db upgrade"):
        server.db  # noqa: B018
