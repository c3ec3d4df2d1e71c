"""`jiuzhu backup` then `jiuzhu restore` into an empty database gives the same leads back (both databases)."""
from __future__ import annotations

import tarfile
import uuid
from pathlib import Path

import pytest

from bot.config import load_config
from bot.privacy import DataProtector, generate_key
from bot.runtime import Runtime
from bot.screening.leads import LeadStore
from bot.storage.db import Database
from tests.conftest import PG_URL, ROOT, service_missing
from tests.deploy.gunicorn_run import jiuzhu

KEY = generate_key()
APPLICANTS = [
    {"name": "黄秀英", "id_number": "360732195803152125", "phone": "13970712468", "township": "梅窖镇",
     "village": "三僚村", "household_size": 2, "household_monthly_income": 800},
    {"name": "刘桂英", "id_number": "36073219790915213X", "phone": "13807971234", "township": "潋江镇",
     "emergency": True, "emergency_description": "屋里着火了，邻居李四13912345678帮忙报的警"},
    {"name": "钟小明", "phone": "15170701234", "township": None, "illness": "尿毒症", "disability_level": 2},
]


@pytest.fixture
def two_pg_databases():
    """A source and an empty target database on the PostgreSQL server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    names = [f"jz_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        service_missing("PostgreSQL at 127.0.0.1:5432", exc)
    base = PG_URL.rsplit("/", 1)[0]
    yield [f"{base}/{name}" for name in names]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def source_and_target(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'live.sqlite3'}", f"sqlite:///{tmp_path / 'restored' / 'jiuzhu.sqlite3'}"
    return tuple(request.getfixturevalue("two_pg_databases"))


def _store(url: str) -> LeadStore:
    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": url}),
                      protector=DataProtector(KEY))
    return LeadStore(runtime.db, runtime.protector)


def _leads(store: LeadStore) -> dict[str, dict]:
    out = {}
    for lead in store.all():
        shown = store.as_dict(lead, reveal=False)
        shown["revealed"] = store.as_dict(lead, reveal=True, actor="test")["fields"]
        out[lead.ref] = shown
    return out


def test_a_backup_restored_into_an_empty_database_reads_the_same_leads(source_and_target, tmp_path):
    source_url, target_url = source_and_target
    store = _store(source_url)
    refs = [store.create(channel="sms", user_key=f"user-{i}", values=values, urgency="high" if i == 1 else "normal",
                         programs=[{"program": "dibao", "reason": "人均月收入400元"}], documents=["户口簿"],
                         consent={"version": "v1", "reply": "同意"}) for i, values in enumerate(APPLICANTS)]
    store.set_status(refs[0], "contacted", actor="caseworker-1")
    before = _leads(store)
    audit_before = _audit_rows(store)
    store.db.dispose()
    env = {"JIUZHU_DATA_KEY": KEY}

    made = jiuzhu("backup", "--output", str(tmp_path / "backups"), env={**env, "JIUZHU_DATABASE_URL": source_url})
    assert made.returncode == 0, made.stderr
    archive = next((tmp_path / "backups").glob("jiuzhu-backup-*.tar.gz"))
    assert "3 leads" in made.stdout and archive.stat().st_mode & 0o077 == 0  # only its owner reads it
    with tarfile.open(archive) as tar:
        assert {"manifest.json", "config/config.toml"} <= set(tar.getnames())

    restored = jiuzhu("restore", str(archive), "--config-to", str(tmp_path / "restored.toml"),
                      env={**env, "JIUZHU_DATABASE_URL": target_url})
    assert restored.returncode == 0, restored.stderr
    assert "3 leads" in restored.stdout
    assert (tmp_path / "restored.toml").read_bytes() == (ROOT / "config.toml").read_bytes()

    store = _store(target_url)
    after = _leads(store)
    assert after == before  # every lead, its status, urgency, answers and revealed personal data
    assert after[refs[1]]["revealed"]["emergency_description"].startswith("屋里着火了")
    assert after[refs[0]]["status"] == "contacted"
    # the audit trail came back too (+ the reveals _leads just wrote here)
    count = _audit_rows(store)
    assert count == audit_before + len(APPLICANTS)
    store.db.dispose()

    again = jiuzhu("restore", str(archive), env={**env, "JIUZHU_DATABASE_URL": target_url})
    assert again.returncode == 2 and "not empty" in again.stderr and "--replace" in again.stderr
    replaced = jiuzhu("restore", str(archive), "--replace", env={**env, "JIUZHU_DATABASE_URL": target_url})
    assert replaced.returncode == 0, replaced.stderr
    store = _store(target_url)
    assert set(_leads(store)) == set(refs)
    store.db.dispose()


def test_a_restore_refuses_another_key_a_damaged_archive_and_another_backend(tmp_path):
    source = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    store = _store(source)
    store.create(channel="sms", user_key="u", values=APPLICANTS[0], programs=[], urgency="normal",
                 documents=[], consent={})
    store.db.dispose()
    assert jiuzhu("backup", "-o", str(tmp_path / "b.tar.gz"),
                  env={"JIUZHU_DATA_KEY": KEY, "JIUZHU_DATABASE_URL": source}).returncode == 0
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"

    other_key = jiuzhu("restore", str(tmp_path / "b.tar.gz"),
                       env={"JIUZHU_DATA_KEY": generate_key(), "JIUZHU_DATABASE_URL": empty})
    assert other_key.returncode == 2 and "another JIUZHU_DATA_KEY" in other_key.stderr

    damaged = _damaged_copy(tmp_path / "b.tar.gz", tmp_path / "damaged.tar.gz")
    broken = jiuzhu("restore", str(damaged), env={"JIUZHU_DATA_KEY": KEY, "JIUZHU_DATABASE_URL": empty})
    assert broken.returncode == 2 and "damaged" in broken.stderr

    cross = jiuzhu("restore", str(tmp_path / "b.tar.gz"), env={"JIUZHU_DATA_KEY": KEY, "JIUZHU_DATABASE_URL": PG_URL})
    assert cross.returncode == 2 and "same kind of database" in cross.stderr
    db = Database(empty)
    assert db.current_revision() is None  # nothing was written by the refusals
    db.dispose()


def _audit_rows(store: LeadStore) -> int:
    with store.db.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM audit_log").scalar()


def _damaged_copy(archive: Path, target: Path) -> Path:
    """The same archive with one byte of the database file changed."""
    work = target.parent / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    database = work / "database.sqlite3"
    data = bytearray(database.read_bytes())
    data[len(data) // 2] ^= 0xFF
    database.write_bytes(bytes(data))
    with tarfile.open(target, "w:gz") as tar:
        for name in ("manifest.json", "database.sqlite3", "config/config.toml"):
            tar.add(work / name, arcname=name)
    return target
