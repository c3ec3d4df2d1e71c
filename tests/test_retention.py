"""Retention deletes old transcripts and unanswered-question texts, never applications or the audit log."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from bot.commands.worker import run_worker
from bot.config import RetentionSettings, load_config
from bot.errors import ConfigError
from bot.retention import Deleted, apply_retention
from bot.screening.leads import LeadStore
from bot.storage.models import AuditEvent, Lead, MessageReply, UnansweredQuestion, utcnow
from bot.unanswered import group_unanswered, record_unanswered
from tests.conftest import ROOT

NOW = utcnow()


def _lead(runtime, name: str, age_days: int) -> str:
    store = LeadStore(runtime.db, runtime.protector)
    ref = store.create(channel="sms", user_key=f"u-{name}", values={"name": name, "township": "梅窖镇"},
                       programs=[{"program": "dibao"}], urgency="normal", documents=["户口簿"], consent={"v": 1})
    transcript = runtime.protector.encrypt(json.dumps([{"from": "resident", "text": f"我叫{name}"}]))
    with runtime.db.unit_of_work() as s:
        s.execute(update(Lead).where(Lead.ref == ref).values(
            transcript=transcript, created_at=NOW - dt.timedelta(days=age_days)))
    store.set_status(ref, "contacted", actor="caseworker")
    return ref


def _question(runtime, text: str, age_days: int, replied: bool = False) -> int:
    record_unanswered(runtime.db, text, "wechat", "left_message", conversation_id=None)
    with runtime.db.unit_of_work() as s:
        row = s.execute(select(UnansweredQuestion).order_by(UnansweredQuestion.id.desc())).scalars().first()
        row.created_at = NOW - dt.timedelta(days=age_days)
        if replied:
            s.add(MessageReply(question_id=row.id, actor="caseworker", channel="wechat",
                               body=runtime.protector.encrypt("请带户口簿到乡镇")))
        return row.id


def test_old_transcripts_and_question_texts_go_applications_and_audit_stay(any_db_url, shared_runtime):
    from bot.runtime import Runtime

    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": any_db_url}),
                      kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    settings = RetentionSettings(transcript_days=180, unanswered_text_days=90)
    old_ref, new_ref = _lead(runtime, "黄秀英", 200), _lead(runtime, "刘桂英", 10)
    old_q = _question(runtime, "我家的房子塌了能补助多少", 100, replied=True)
    new_q = _question(runtime, "电动车补贴怎么领", 5)
    audit_before = _audit(runtime)

    assert apply_retention(runtime.db, settings, dry_run=True) == Deleted(1, 1)
    assert apply_retention(runtime.db, settings) == Deleted(1, 1)

    store = LeadStore(runtime.db, runtime.protector)
    old, new = store.get(old_ref), store.get(new_ref)
    assert old.transcript is None and new.transcript is not None
    shown = store.as_dict(old, reveal=True)
    assert shown["status"] == "contacted" and shown["fields"]["name"] == "黄秀英"  # the application is whole
    assert shown["likely_programs"] == [{"program": "dibao"}] and shown["consent"] == {"v": 1}
    with runtime.db.unit_of_work() as s:
        texts = dict(s.execute(select(UnansweredQuestion.id, UnansweredQuestion.text)).all())
        assert s.execute(select(MessageReply.question_id)).scalars().all() == [old_q]  # the office's reply stays
    assert texts == {old_q: "", new_q: "电动车补贴怎么领"}
    assert [g.text for g in group_unanswered(runtime.db)] == ["电动车补贴怎么领"]

    audit = _audit(runtime)
    assert audit[: len(audit_before)] == audit_before  # nothing of the audit log was removed or changed
    added = audit[len(audit_before):]
    assert [(a[0], a[1], a[2]) for a in added] == [("retention", "retention", old_ref), ("cli", "reveal", old_ref)]
    assert apply_retention(runtime.db, settings) == Deleted(0, 0)  # a second run deletes nothing more
    runtime.db.dispose()


def _audit(runtime) -> list[tuple]:
    with runtime.db.unit_of_work() as s:
        return [tuple(r) for r in s.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.lead_ref,
                                                   AuditEvent.detail).order_by(AuditEvent.id)).all()]


def test_the_worker_housekeeping_applies_retention(runtime):
    from tests.test_outbox import RecordingSender, always

    ref = _lead(runtime, "钟小明", 400)
    _question(runtime, "去年的问题", 400)
    assert run_worker(runtime, {"sms": RecordingSender()}, always, once=True) == {}
    assert LeadStore(runtime.db, runtime.protector).get(ref).transcript is None
    assert group_unanswered(runtime.db) == []


def test_jiuzhu_retention_counts_then_deletes(cli, runtime):
    _lead(runtime, "钟小明", 400)
    dry = cli("retention", "--dry-run").stdout
    assert "would delete 1 transcript(s) older than 180 days" in dry
    assert "deleted 1 transcript(s)" in cli("retention").stdout
    assert "deleted 0 transcript(s)" in cli("purge").stdout


def test_retention_periods_are_typed_and_bounded():
    config = load_config(ROOT / "config.toml", environ={})
    assert config.retention == RetentionSettings(transcript_days=180, unanswered_text_days=180)
    with pytest.raises(ConfigError, match="retention.transcript_days"):
        load_config(ROOT / "config.toml", overrides={"retention.transcript_days": 0}, environ={})
    with pytest.raises(ConfigError, match="retention.keep_forever"):
        load_config(ROOT / "config.toml", overrides={"retention.keep_forever": True}, environ={})
