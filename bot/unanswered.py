"""Questions the bot could not answer: stored without personal data, reviewed grouped."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from rapidfuzz import fuzz
from sqlalchemy import select

from bot.privacy import scrub_personal_data
from bot.storage.db import Database
from bot.storage.models import UnansweredQuestion

SIMILAR = 72  # rapidfuzz token-set score at which two questions count as the same question
# What the curation queue groups: questions the bot could not answer. A 留言 left for a
# caseworker is a message to a person (the 群众留言 page, scoped by township), not a question.
QUESTION_OUTCOMES = ("unknown", "choices")


def similar(a: str, b: str) -> bool:
    """Whether two questions count as the same (character-level token-set ratio)."""
    return fuzz.token_set_ratio(" ".join(a), " ".join(b)) >= SIMILAR


def record_unanswered(db: Database, text: str, channel: str, outcome: str,
                      best_topic: str | None = None, confidence: float = 0.0,
                      conversation_id: int | None = None) -> None:
    """Store one question (ID numbers, phones and long digit runs scrubbed)."""
    with db.session() as s:
        s.add(UnansweredQuestion(text=scrub_personal_data(text)[:1000], channel=channel, outcome=outcome,
                                 best_topic=best_topic, confidence=confidence,
                                 conversation_id=conversation_id))


@dataclass
class QuestionGroup:
    """Similar unanswered questions, represented by the first one seen."""

    text: str
    count: int = 0
    channels: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)
    last_seen: dt.datetime | None = None
    left_message: int = 0


def group_unanswered(db: Database, since: dt.datetime | None = None) -> list[QuestionGroup]:
    """Unanswered questions grouped by similarity, most frequent first."""
    # (a text emptied by bot/retention.py has nothing left to group)
    query = select(UnansweredQuestion).where(UnansweredQuestion.text != "").order_by(UnansweredQuestion.created_at)
    if since is not None:
        query = query.where(UnansweredQuestion.created_at >= since)
    groups: list[QuestionGroup] = []
    with db.session() as s:
        for row in s.execute(query).scalars():
            group = next((g for g in groups if similar(g.text, row.text)), None)
            if group is None:
                group = QuestionGroup(text=row.text)
                groups.append(group)
            group.count += 1
            group.channels.add(row.channel)
            group.left_message += row.outcome == "left_message"
            if row.text != group.text and row.text not in group.examples and len(group.examples) < 3:
                group.examples.append(row.text)
            group.last_seen = row.created_at
    groups.sort(key=lambda g: (-g.count, g.text))
    return groups
