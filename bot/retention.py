"""Retention: the words residents typed are deleted after `[retention]`'s periods.

- A lead's transcript (the screening conversation, sealed) after `transcript_days` from the
  lead's submission. The lead itself — answers, programmes, status, consent — stays: it is
  the application, and the office must be able to account for it. Each deletion is written
  to the audit log (actor "retention"), so the lead's record says where its transcript went.
- The text of an unanswered question (and of a 留言) after `unanswered_text_days`. The row
  stays, emptied: counts by channel, outcome and topic still add up, and a caseworker's reply
  to it (the office's record of what it answered) is kept.

The audit log is never touched. Runs from the worker's housekeeping (bot/housekeeping.py)
and `jiuzhu retention`; deleting twice deletes nothing more.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update

from bot.config import RetentionSettings
from bot.storage.db import Database
from bot.storage.models import AuditEvent, Lead, UnansweredQuestion, utcnow

ACTOR = "retention"
BATCH = 500  # leads per transaction: a first run on a county's backlog holds no lock for long


@dataclass(frozen=True)
class Deleted:
    """What a run deleted (or, dry, would delete)."""

    transcripts: int
    question_texts: int


def apply_retention(db: Database, settings: RetentionSettings, now: dt.datetime | None = None,
                    dry_run: bool = False) -> Deleted:
    """Delete transcripts and unanswered-question texts older than their periods; the counts."""
    now = now or utcnow()
    transcripts_before = now - dt.timedelta(days=settings.transcript_days)
    questions_before = now - dt.timedelta(days=settings.unanswered_text_days)
    old_transcript = (Lead.transcript.is_not(None), Lead.created_at < transcripts_before)
    old_question = (UnansweredQuestion.text != "", UnansweredQuestion.created_at < questions_before)
    if dry_run:
        with db.unit_of_work() as s:
            return Deleted(s.execute(select(func.count()).select_from(Lead).where(*old_transcript)).scalar_one(),
                           s.execute(select(func.count()).select_from(UnansweredQuestion)
                                     .where(*old_question)).scalar_one())
    transcripts = 0
    detail = f"transcript deleted: older than {settings.transcript_days} days ([retention] transcript_days)"
    while True:
        with db.unit_of_work() as s:
            batch = s.execute(select(Lead.id, Lead.ref).where(*old_transcript).order_by(Lead.id)
                              .limit(BATCH)).all()
            if not batch:
                break
            s.execute(update(Lead).where(Lead.id.in_([row.id for row in batch])).values(transcript=None))
            s.add_all(AuditEvent(actor=ACTOR, action="retention", lead_ref=row.ref, detail=detail, at=now)
                      for row in batch)
        transcripts += len(batch)
    with db.unit_of_work() as s:
        questions = s.execute(update(UnansweredQuestion).where(*old_question).values(text="")).rowcount
    return Deleted(transcripts, questions)
