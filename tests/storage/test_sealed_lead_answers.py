"""Migration 0013 and the sealed lead columns: answers, reasons and documents never sit in the clear;
the queue still filters on programme ids; existing rows are sealed by `jiuzhu db upgrade` (and back)."""
from __future__ import annotations

import warnings

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import String, cast, create_engine, select, text

from bot.config import load_config
from bot.privacy import DataProtector, generate_key
from bot.runtime import Runtime
from bot.screening.leads import LeadStore
from bot.storage import schema
from bot.storage.db import Database
from bot.storage.models import Base, Lead
from bot.storage.sealing import NotBound
from tests.conftest import ROOT
from tests.deploy.gunicorn_run import jiuzhu

KEY = generate_key()
ANSWERS = {"village": "太平村", "household_monthly_income": 1800, "savings": 0, "serious_illness": True,
           "illness": "尿毒症", "disability_level": 4, "emergency": True,
           "emergency_description": "屋里着火了，隔壁刘桂英帮忙报的警"}
PROGRAMS = [{"program": "dibao", "reason": "人均月收入360元，低于农村低保标准720元", "source": "赣民发〔2021〕1号"},
            {"program": "linshi", "reason": "遭遇火灾", "source": ""}]
DOCUMENTS = ["身份证", "户口簿", "残疾证", "诊断证明"]
CLEAR_WORDS = ("太平村", "1800", "尿毒症", "着火", "刘桂英", "360元", "残疾证", "诊断证明", "黄春生")


def _raw_row(url: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT * FROM leads")).mappings().one())
    finally:
        engine.dispose()


def _json(value):
    return json.loads(value) if isinstance(value, str) else value  # PostgreSQL hands JSON parsed


def test_a_new_lead_is_sealed_at_rest_and_read_back_plain(any_db_url):
    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": any_db_url}),
                      protector=DataProtector(KEY))
    store = runtime.leads
    ref = store.create(channel="sms", user_key="u", values={"name": "黄春生", "township": "崇贤乡", **ANSWERS},
                       programs=PROGRAMS, urgency="high", documents=DOCUMENTS, consent={"version": "v1"})
    with runtime.db.unit_of_work() as s:
        lead = s.execute(select(Lead).where(Lead.ref == ref)).scalar_one()
        lead.documents_received = ["户口簿", "残疾证"]
    raw = " ".join(str(v) for v in _raw_row(any_db_url).values())
    assert not [word for word in CLEAR_WORDS if word in raw]
    assert "崇贤乡" in raw and "high" in raw and "dibao" in raw  # what the queue filters on stays clear

    lead = store.get(ref)
    assert lead.fields == {"township": "崇贤乡", **ANSWERS}
    assert lead.programs == PROGRAMS and lead.documents == DOCUMENTS
    assert lead.documents_received == ["户口簿", "残疾证"]
    assert lead.program_ids == [{"program": "dibao"}, {"program": "linshi"}]
    with runtime.db.unit_of_work() as s:  # the queue's programme filter (bot/leads/queue.py)
        found = s.execute(select(Lead.ref).where(cast(Lead.program_ids, String).like('%"program": "linshi"%')))
        assert found.scalars().all() == [ref]
    runtime.db.dispose()


def test_a_database_without_a_protector_refuses_instead_of_reading_garbage(sqlite_url):
    Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": sqlite_url}),
            protector=DataProtector(KEY)).leads.create(
        channel="sms", user_key="u", values=ANSWERS, programs=PROGRAMS, urgency="normal", documents=[], consent={})
    bare = Database(sqlite_url)
    with pytest.raises(NotBound, match="without a data protector"), bare.unit_of_work() as s:
        s.execute(select(Lead.fields)).all()
    bare.dispose()


def _lead_at_0011(url: str, protector: DataProtector) -> None:
    """A lead as the code before 0013 wrote it: every answer in clear JSON."""
    engine = create_engine(url)
    schema.upgrade(engine, "0011")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO leads (ref, status, channel, user_key, township, urgency, programs, documents, fields, "
            "personal, consent, needs_callback, created_at, updated_at, documents_received) VALUES "
            "('JZ261202-AAAA', 'new', 'sms', 'u', '崇贤乡', 'high', :programs, :documents, :fields, :personal, "
            "'{}', false, :now, :now, :received)"),
            {"programs": json.dumps(PROGRAMS, ensure_ascii=False), "documents": json.dumps(DOCUMENTS, ensure_ascii=False),
             "fields": json.dumps(ANSWERS, ensure_ascii=False), "received": json.dumps(["户口簿"], ensure_ascii=False),
             "personal": protector.encrypt(json.dumps({"name": "黄春生"}, ensure_ascii=False)),
             "now": "2026-11-01 08:00:00+00:00"})
    engine.dispose()


def test_jiuzhu_db_upgrade_seals_existing_leads_and_the_way_back_unseals(any_db_url):
    protector = DataProtector(KEY)
    _lead_at_0011(any_db_url, protector)
    assert any(word in " ".join(map(str, _raw_row(any_db_url).values())) for word in CLEAR_WORDS)

    wrong = jiuzhu("db", "upgrade", env={"JIUZHU_DATABASE_URL": any_db_url, "JIUZHU_DATA_KEY": generate_key()})
    assert wrong.returncode != 0 and "does not open the existing leads" in wrong.stderr
    check = Database(any_db_url)
    assert check.current_revision() == "0011"  # refused before any change
    check.dispose()

    done = jiuzhu("db", "upgrade", env={"JIUZHU_DATABASE_URL": any_db_url, "JIUZHU_DATA_KEY": KEY})
    assert done.returncode == 0, done.stderr
    assert f"0011 → {schema.head_revision()}" in done.stdout
    raw = _raw_row(any_db_url)
    assert not [word for word in CLEAR_WORDS if word in " ".join(map(str, raw.values()))]
    assert "fields" not in raw and _json(raw["programs"]) == [{"program": "dibao"}, {"program": "linshi"}]
    db = Database(any_db_url)
    store = LeadStore(db, protector)
    lead = store.get("JZ261202-AAAA")
    assert (lead.fields, lead.programs, lead.documents, lead.documents_received) == (
        ANSWERS, PROGRAMS, DOCUMENTS, ["户口簿"])
    assert store.as_dict(lead, reveal=True)["fields"] == {**ANSWERS, "name": "黄春生"}

    schema.downgrade(db.engine, "0011", protector=protector)
    raw = _raw_row(any_db_url)
    assert _json(raw["fields"]) == ANSWERS and _json(raw["programs"]) == PROGRAMS
    assert "sealed_fields" not in raw
    db.dispose()


def test_an_empty_database_needs_no_key_and_the_models_match_the_migrations(any_db_url):
    db = Database(any_db_url)
    db.ensure_schema()  # a new database: 0013 has nothing to seal
    with db.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect the expression index of subscriptions (coalesce(township, '')),
        # which is not a lead table's anyway
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    # (0011's queue indexes are declared in the migration only, on purpose)
    lead_diff = [d for d in diff if "leads" in repr(d) and "ix_leads_urgency_age" not in repr(d)
                 and "ix_leads_program_" not in repr(d)]
    assert lead_diff == []
