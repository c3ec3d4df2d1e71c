"""Residents' 留言: questions left for a caseworker (unanswered_questions with outcome left_message),
answered through the outbox on the resident's own channel.

Scope: a caseworker sees the 留言 of residents who have a lead in one of their townships;
a supervisor sees all (those of residents without a lead reach only the county).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import exists, false, select
from sqlalchemy.orm import Session

from bot.accounts.roles import Actor
from bot.leads import delivery
from bot.leads.queue import scoped
from bot.leads.service import MAX_MESSAGE_CHARS, NotAllowed
from bot.storage.models import AuditEvent, Conversation, Lead, MessageReply, UnansweredQuestion, utcnow

LEFT_MESSAGE = "left_message"


class MessageNotFound(LookupError):
    """No such 留言 within the actor's scope."""


@dataclass(frozen=True)
class LeftMessage:
    """One 留言 as the queue shows it."""

    id: int
    text: str
    channel: str
    at: dt.datetime
    township: str | None
    lead_ref: str | None          # the resident's latest lead within the actor's scope
    answered_at: dt.datetime | None
    answered_by: str | None
    answer: str | None


class MessageService:
    """The 留言 queue of one actor."""

    def __init__(self, session: Session, runtime, actor: Actor):
        self.session = session
        self.runtime = runtime
        self.actor = actor

    def _scoped(self, query):
        if not self.actor.works_leads:
            return query.where(false())
        query = query.where(UnansweredQuestion.outcome == LEFT_MESSAGE,
                            UnansweredQuestion.conversation_id.is_not(None))
        if self.actor.county_wide:
            return query
        return query.where(exists().where(
            Conversation.id == UnansweredQuestion.conversation_id, Lead.user_key == Conversation.user_key,
            Lead.channel == Conversation.channel, Lead.township.in_(sorted(self.actor.townships))))

    def list(self, answered: bool = False, limit: int = 100) -> list[LeftMessage]:
        """Unanswered 留言 oldest first (or the answered ones, newest first)."""
        replied = exists().where(MessageReply.question_id == UnansweredQuestion.id)
        query = self._scoped(select(UnansweredQuestion)).where(replied if answered else ~replied)
        order = UnansweredQuestion.created_at.desc() if answered else UnansweredQuestion.created_at
        rows = self.session.execute(query.order_by(order, UnansweredQuestion.id).limit(limit)).scalars().all()
        return [self._item(q) for q in rows]

    def get(self, question_id: int) -> LeftMessage:
        """One 留言 (MessageNotFound outside the scope)."""
        return self._item(self._question(question_id))

    def answer(self, question_id: int, message: str) -> str:
        """Send the answer through the outbox in this unit of work; the channel used (短信/微信)."""
        question = self._question(question_id)
        if self._reply_of(question.id) is not None:
            raise NotAllowed("这条留言已经答复过了")
        message = " ".join((message or "").split())
        if not message or len(message) > MAX_MESSAGE_CHARS:
            raise NotAllowed(f"请写答复内容（不超过{MAX_MESSAGE_CHARS}字）")
        plan = self._plan(question)
        if plan is None:
            raise NotAllowed("没有可用的联系方式（微信已超过48小时未互动，且没有手机号）")
        texts = self.runtime.screener.texts
        body = texts.get(f"reply_{plan.channel}", question=_short(question.text), message=message)
        reply = MessageReply(question_id=question.id, actor=self.actor.label, channel=plan.channel,
                             body=self.runtime.protector.encrypt(message), at=utcnow())
        self.session.add(reply)
        self.session.flush()
        reply.outbox_id = delivery.send(self.runtime, self.session, plan, body, key=f"reply:{question.id}:{reply.id}")
        self.session.add(AuditEvent(actor=self.actor.label, action="reply", lead_ref=self._latest(question)[0],
                                    detail=f"答复留言 #{question.id}（{plan.label}）", at=utcnow()))
        return plan.label

    def channel_for(self, question_id: int) -> str | None:
        """How an answer would go (短信 / 微信客服消息), or None."""
        plan = self._plan(self._question(question_id))
        return plan.label if plan else None

    def _plan(self, question: UnansweredQuestion) -> delivery.Delivery | None:
        conversation = self.session.get(Conversation, question.conversation_id)
        if conversation is None:
            return None
        lead = self.session.execute(select(Lead).where(Lead.user_key == conversation.user_key,
                                                       Lead.channel == conversation.channel)
                                    .order_by(Lead.created_at.desc()).limit(1)).scalar_one_or_none()
        phone = json.loads(self.runtime.protector.decrypt(lead.personal)).get("phone") if lead else None
        return delivery.plan(self.session, self.runtime, conversation.channel, conversation.user_key, phone)

    def _question(self, question_id: int) -> UnansweredQuestion:
        row = self.session.execute(self._scoped(select(UnansweredQuestion))
                                   .where(UnansweredQuestion.id == question_id)).scalar_one_or_none()
        if row is None:
            raise MessageNotFound(question_id)
        return row

    def _reply_of(self, question_id: int) -> MessageReply | None:
        return self.session.execute(select(MessageReply).where(MessageReply.question_id == question_id)
                                    .limit(1)).scalar_one_or_none()

    def _latest(self, q: UnansweredQuestion) -> tuple[str | None, str | None]:
        """(reference, township) of the resident's latest lead the actor may open, or (None, None)."""
        row = self.session.execute(scoped(
            select(Lead.ref, Lead.township).join(Conversation, (Conversation.user_key == Lead.user_key)
                                                 & (Conversation.channel == Lead.channel))
            .where(Conversation.id == q.conversation_id), self.actor)
            .order_by(Lead.created_at.desc()).limit(1)).first()
        return (row.ref, row.township) if row else (None, None)

    def _item(self, q: UnansweredQuestion) -> LeftMessage:
        ref, township = self._latest(q)
        reply = self._reply_of(q.id)
        return LeftMessage(q.id, q.text, q.channel, _aware(q.created_at), township, ref,
                           _aware(reply.at) if reply else None, reply.actor if reply else None,
                           self.runtime.protector.decrypt(reply.body) if reply else None)


def _short(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite drops the zone
