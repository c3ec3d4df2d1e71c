"""The curation queue: unanswered questions in groups of similar ones, each with a status and a note.

A question is put in a group once (the first group whose first question it resembles,
bot.unanswered.similar), so a group keeps its identity, status and note while more
questions join it; the grouping runs for the new questions whenever the queue is read.
Texts were scrubbed when stored, and are scrubbed again when shown (rows stored before
the scrubber learnt a pattern).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.errors import JiuzhuError
from bot.privacy import scrub_personal_data
from bot.storage.models import AuditEvent, QuestionGroup, UnansweredQuestion, utcnow
from bot.unanswered import QUESTION_OUTCOMES, similar

STATUSES = ("open", "resolved", "ignored")
STATUS_LABELS = {"open": "待处理", "resolved": "已解决", "ignored": "已忽略"}
PAGE_SIZE = 50
NOTE_CHARS = 500


class GroupNotFound(JiuzhuError):
    """No question group with this id."""


@dataclass(frozen=True)
class GroupRow:
    """A group as the queue lists it."""

    id: int
    text: str
    status: str
    note: str
    count: int
    last_seen: dt.datetime | None
    since_update: int           # questions that arrived after the status was last set
    examples: tuple[str, ...]
    updated_by: str | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class GroupDetail:
    """One group with its questions."""

    row: GroupRow
    questions: tuple[tuple[str, int, tuple[str, ...], dt.datetime], ...]  # (text, times, channels, last), newest first
    channels: dict[str, int]
    best_topics: tuple[tuple[str, int], ...]             # the matcher's nearest topics, most frequent first


def assign_new(session: Session) -> int:
    """Put every question not yet grouped into a group (a new one if it resembles none); how many."""
    pending = session.scalars(select(UnansweredQuestion)
                              .where(UnansweredQuestion.group_id.is_(None),
                                     UnansweredQuestion.outcome.in_(QUESTION_OUTCOMES))
                              .order_by(UnansweredQuestion.created_at, UnansweredQuestion.id)).all()
    if not pending:
        return 0
    groups = [(g.id, g.text) for g in session.execute(select(QuestionGroup.id, QuestionGroup.text))]
    for question in pending:
        text = scrub_personal_data(question.text)
        found = next((gid for gid, gtext in groups if similar(gtext, text)), None)
        if found is None:
            at = question.created_at or utcnow()
            group = QuestionGroup(text=text, status="open", note="", created_at=at, updated_at=at)
            session.add(group)
            session.flush()
            found = group.id
            groups.append((found, text))
        question.group_id = found
    session.flush()
    return len(pending)


def queue(session: Session, status: str = "open", page: int = 1) -> tuple[list[GroupRow], int, dict[str, int]]:
    """One page of groups of a status, most frequent first; the total; counts per status."""
    assign_new(session)
    stats = _stats()
    counts = dict.fromkeys(STATUSES, 0)
    for st, n in session.execute(select(QuestionGroup.status, func.count()).group_by(QuestionGroup.status)):
        counts[st] = n
    query = (select(QuestionGroup, stats.c.n, stats.c.last_seen)
             .join(stats, stats.c.group_id == QuestionGroup.id)
             .where(QuestionGroup.status == status)
             .order_by(stats.c.n.desc(), stats.c.last_seen.desc(), QuestionGroup.id)
             .limit(PAGE_SIZE).offset((max(1, page) - 1) * PAGE_SIZE))
    rows = [_row(session, g, n, last) for g, n, last in session.execute(query)]
    return rows, counts.get(status, 0), counts


def detail(session: Session, group_id: int, limit: int = 100) -> GroupDetail:
    """One group: its row, its latest questions, channels and the topics the matcher leaned to."""
    group = session.get(QuestionGroup, group_id)
    if group is None:
        raise GroupNotFound(group_id)
    questions = session.execute(select(UnansweredQuestion.text, UnansweredQuestion.channel,
                                       UnansweredQuestion.created_at, UnansweredQuestion.best_topic)
                                .where(UnansweredQuestion.group_id == group_id)
                                .order_by(UnansweredQuestion.created_at.desc())).all()
    count = len(questions)
    row = _row(session, group, count, questions[0].created_at if questions else None)
    channels = Counter(q.channel for q in questions)
    topics = Counter(q.best_topic for q in questions if q.best_topic)
    distinct: dict[str, list] = {}
    for q in questions:  # newest first: the first time a text is met is its last time asked
        seen = distinct.setdefault(scrub_personal_data(q.text), [0, set(), q.created_at])
        seen[0] += 1
        seen[1].add(q.channel)
    shown = tuple((text, n, tuple(sorted(chs)), last) for text, (n, chs, last) in list(distinct.items())[:limit])
    return GroupDetail(row, shown, dict(channels), tuple(topics.most_common(5)))


def texts_of(session: Session, group_id: int, limit: int = 30) -> list[str]:
    """The group's distinct question texts (scrubbed), most frequent first: what a check replays."""
    rows = session.execute(select(UnansweredQuestion.text, func.count())
                           .where(UnansweredQuestion.group_id == group_id)
                           .group_by(UnansweredQuestion.text).order_by(func.count().desc())
                           .limit(limit)).all()
    return list(dict.fromkeys(scrub_personal_data(t) for t, _ in rows))


def set_status(session: Session, group_id: int, status: str, note: str, actor: str) -> QuestionGroup:
    """Mark a group open, resolved or ignored, with a note of what was done (audited)."""
    if status not in STATUSES:
        raise JiuzhuError(f"未知状态：{status}")
    note = scrub_personal_data(note.strip())[:NOTE_CHARS]
    if status != "open" and not note:
        raise JiuzhuError("请写明做了什么（或为什么忽略）。")
    group = session.get(QuestionGroup, group_id)
    if group is None:
        raise GroupNotFound(group_id)
    group.status, group.note, group.updated_by, group.updated_at = status, note, actor, utcnow()
    session.add(AuditEvent(actor=actor, action="kb_group_status", lead_ref=None,
                           detail=f"问题组#{group_id}改为{STATUS_LABELS[status]}：{note[:200]}"))
    return group


def _stats():
    return (select(UnansweredQuestion.group_id.label("group_id"), func.count().label("n"),
                   func.max(UnansweredQuestion.created_at).label("last_seen"))
            .where(UnansweredQuestion.group_id.is_not(None))
            .group_by(UnansweredQuestion.group_id).subquery())


def _row(session: Session, group: QuestionGroup, count: int, last_seen) -> GroupRow:
    since = 0
    if group.status != "open":
        since = session.scalar(select(func.count()).select_from(UnansweredQuestion)
                               .where(UnansweredQuestion.group_id == group.id,
                                      UnansweredQuestion.created_at > group.updated_at)) or 0
    examples = session.scalars(select(UnansweredQuestion.text).where(UnansweredQuestion.group_id == group.id)
                               .group_by(UnansweredQuestion.text).order_by(func.count().desc()).limit(4)).all()
    shown = tuple(t for t in dict.fromkeys(scrub_personal_data(t) for t in examples) if t != group.text)[:2]
    return GroupRow(group.id, scrub_personal_data(group.text), group.status, group.note, count, last_seen,
                    since, shown, group.updated_by, group.updated_at)
