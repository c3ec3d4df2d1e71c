"""LeadService: one caseworker's work on leads, in the caller's unit of work, within their scope.

Every query goes through `queue.scoped`: a lead outside the actor's townships is
LeadNotFound, exactly as a reference that does not exist. A change, its audit row and
the message telling the resident are written in the one session, or none of them.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.accounts.roles import Actor
from bot.domain import CLOSING_STATUSES, LEAD_STATUSES, can_move
from bot.leads import delivery
from bot.leads.audit import FIELD_LABELS, readable
from bot.leads.handler import handler_of
from bot.leads.queue import QueueFilter, QueuePage, queue, scoped
from bot.privacy import scrub_personal_data
from bot.screening.leads import MASKS, PERSONAL
from bot.storage.models import AuditEvent, Lead, User, utcnow

# Why a personal field is revealed: one of these, or a purpose written out ("other").
PURPOSES = {"home_visit": "入户核查", "phone_callback": "电话回访", "documents": "材料补正"}
HISTORY_ACTIONS = ("status", "claim", "assign", "transfer", "contact", "documents", "reply")
MAX_NOTE_CHARS = 1000
MAX_MESSAGE_CHARS = 300


class LeadNotFound(LookupError):
    """No such lead within the actor's scope (outside it, a lead does not exist)."""


class NotAllowed(ValueError):
    """An action this actor, or this lead's state, does not allow; the text says why (in Chinese)."""


@dataclass(frozen=True)
class Revealed:
    """A personal field shown in full until `until`."""

    field: str
    value: str
    until: dt.datetime


@dataclass(frozen=True)
class Outcome:
    """What an action did: the lead, and how the resident was told (None: not told)."""

    lead: Lead
    sent_by: str | None = None


class LeadService:
    """Leads as one actor may see and work them."""

    def __init__(self, session: Session, runtime, actor: Actor):
        self.session = session
        self.runtime = runtime
        self.actor = actor
        self.protector = runtime.protector

    # ---- reading ----------------------------------------------------------------------
    def queue(self, flt: QueueFilter, now: dt.datetime | None = None) -> QueuePage:
        """A filtered page of the actor's queue."""
        return queue(self.session, self.runtime, self.actor, flt, now=now)

    def get(self, ref: str) -> Lead:
        """The lead (LeadNotFound when it does not exist or is outside the scope)."""
        lead = self.session.execute(scoped(select(Lead).where(Lead.ref == (ref or "").strip().upper()),
                                           self.actor)).scalar_one_or_none()
        if lead is None:
            raise LeadNotFound(ref)
        return lead

    def masked(self, lead: Lead) -> dict[str, str]:
        """The personal fields, masked as contract §3 says."""
        personal = self._personal(lead)
        return {k: MASKS[k](v) for k, v in personal.items() if k in MASKS and v}

    def revealed(self, lead: Lead, now: dt.datetime | None = None) -> dict[str, Revealed]:
        """The fields this actor revealed on this lead within the last `reveal_minutes`."""
        now = now or utcnow()
        minutes = dt.timedelta(minutes=self.runtime.config.workbench.reveal_minutes)
        rows = self.session.execute(select(AuditEvent.field, AuditEvent.at).where(
            AuditEvent.lead_ref == lead.ref, AuditEvent.action == "reveal",
            AuditEvent.actor == self.actor.label, AuditEvent.at > now - minutes)).all()
        if not rows:
            return {}
        personal = self._personal(lead)
        out = {}
        for name, at in rows:
            if personal.get(name):
                until = _aware(at) + minutes
                if name not in out or out[name].until < until:
                    out[name] = Revealed(name, str(personal[name]), until)
        return out

    def history(self, lead: Lead) -> list[dict]:
        """What happened to the lead, oldest first, notes decrypted."""
        rows = self.session.execute(select(AuditEvent).where(
            AuditEvent.lead_ref == lead.ref, AuditEvent.action.in_(HISTORY_ACTIONS))
            .order_by(AuditEvent.at, AuditEvent.id)).scalars()
        return [{"at": _aware(r.at), "actor": r.actor, "action": r.action, "detail": readable(r.detail),
                 "note": self.protector.decrypt(r.note) if r.note else ""} for r in rows]

    def who_saw(self, lead: Lead) -> list[dict]:
        """Every reveal of the lead's personal data: who, which field, why, when (newest first)."""
        rows = self.session.execute(select(AuditEvent).where(
            AuditEvent.lead_ref == lead.ref, AuditEvent.action == "reveal")
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())).scalars()
        return [{"at": _aware(r.at), "actor": r.actor, "field": r.field, "purpose": r.purpose} for r in rows]

    def assignee(self, lead: Lead) -> str | None:
        """The username working the lead."""
        return self.session.get(User, lead.assigned_to).username if lead.assigned_to else None

    def duplicates(self, lead: Lead) -> list[str]:
        """Other leads with the same ID number (keyed hash), within the actor's scope only."""
        if not lead.id_index:
            return []
        return list(self.session.execute(scoped(
            select(Lead.ref).where(Lead.id_index == lead.id_index, Lead.id != lead.id), self.actor)
            .order_by(Lead.created_at)).scalars())

    def overdue(self, lead: Lead, now: dt.datetime | None = None) -> bool:
        """A new lead nobody contacted within `[workbench] overdue_days` (the queue's highlight)."""
        days = dt.timedelta(days=self.runtime.config.workbench.overdue_days)
        return lead.status == "new" and _aware(lead.created_at) < (now or utcnow()) - days

    def sender(self, lead: Lead) -> str:
        """The office a message to the applicant is signed with (never a person's name)."""
        return handler_of(self.runtime, lead.township)

    def transcript(self, lead: Lead) -> list[dict]:
        """The screening conversation, scrubbed when it was stored ([] for leads before it was kept)."""
        return json.loads(self.protector.decrypt(lead.transcript)) if lead.transcript else []

    # ---- working ----------------------------------------------------------------------
    def claim(self, ref: str) -> Lead:
        """Take the lead on: it is assigned to the actor (someone else's lead is not taken)."""
        lead = self.get(ref)
        if lead.assigned_to == self.actor.user_id:
            return lead
        if lead.assigned_to is not None:
            raise NotAllowed(f"已由 {self.assignee(lead)} 认领")
        lead.assigned_to, lead.updated_at = self.actor.user_id, utcnow()
        self._audit("claim", lead, f"认领：{self.actor.label}")
        return lead

    def assign(self, ref: str, username: str) -> Lead:
        """A supervisor gives the lead to an account that may work its township."""
        self._supervisor_only()
        from bot.accounts.service import AccountService

        lead = self.get(ref)
        accounts = AccountService(self.session, self.runtime.config.county.townships)
        if username not in accounts.usernames_for(lead.township or ""):
            raise NotAllowed(f"{username} 不能办理{lead.township or '未填乡镇'}的线索")
        user = self.session.execute(select(User).where(User.username == username)).scalar_one()
        previous = self.assignee(lead)
        lead.assigned_to, lead.updated_at = user.id, utcnow()
        self._audit("assign", lead, f"分派：{previous or '未分派'} → {username}")
        return lead

    def transfer(self, ref: str, township: str, note: str) -> Lead:
        """A supervisor moves the lead to another township's queue (a resident living away from
        their 户籍地); the assignment is cleared, the reason kept."""
        self._supervisor_only()
        if township not in self.runtime.config.county.townships:
            raise NotAllowed("没有这个乡镇")
        note = _note(note, required=True, what="转办原因")
        lead = self.get(ref)
        if township == lead.township:
            raise NotAllowed("已在该乡镇")
        previous = lead.township
        lead.township, lead.assigned_to, lead.updated_at = township, None, utcnow()
        self._audit("transfer", lead, f"转办：{previous or '未填乡镇'} → {township}", note)
        return lead

    def preview_status(self, ref: str, status: str) -> tuple[str, delivery.Delivery | None]:
        """The message the resident would get for `status`, and how (None: cannot be told)."""
        lead = self.get(ref)
        self._check_move(lead, status)
        plan = delivery.plan_for_lead(self.session, self.runtime, lead)
        return (self._status_text(lead, status, plan.channel if plan else lead.channel), plan)

    def set_status(self, ref: str, status: str, note: str = "", notify: bool = True) -> Outcome:
        """Move the lead (allowed transitions only; a note to close it), audited, and tell the
        resident on their channel — all in this unit of work."""
        lead = self.get(ref)
        self._check_move(lead, status)
        note = _note(note, required=status in CLOSING_STATUSES, what="办结说明")
        previous, now = lead.status, utcnow()
        lead.status, lead.updated_at = status, now
        if status == "contacted" and lead.first_contacted_at is None:
            lead.first_contacted_at = now
        event = self._audit("status", lead, f"{previous} → {status}", note)
        sent_by = None
        if notify and (plan := delivery.plan_for_lead(self.session, self.runtime, lead)):
            delivery.send(self.runtime, self.session, plan, self._status_text(lead, status, plan.channel),
                          key=f"status:{lead.ref}:{event.id}")
            sent_by = plan.channel
            event.detail += f"（已通过{plan.label}告知申请人）"
        return Outcome(lead, sent_by)

    def contact(self, ref: str, message: str) -> Outcome:
        """Send the applicant a message through the outbox; the caseworker never sees the number."""
        lead = self.get(ref)
        message = " ".join((message or "").split())
        if not message:
            raise NotAllowed("请写要发送的内容")
        if len(message) > MAX_MESSAGE_CHARS:
            raise NotAllowed(f"内容不超过{MAX_MESSAGE_CHARS}字")
        plan = delivery.plan_for_lead(self.session, self.runtime, lead)
        if plan is None:
            raise NotAllowed("没有可用的联系方式（没有手机号，微信已超过48小时未互动）")
        event = self._audit("contact", lead, f"发送{plan.label}", message)
        body = self._texts().get(f"contact_{plan.channel}", ref=lead.ref, message=message,
                                 sender=self.sender(lead))
        delivery.send(self.runtime, self.session, plan, body, key=f"contact:{lead.ref}:{event.id}")
        return Outcome(lead, plan.channel)

    def reveal(self, ref: str, field: str, purpose: str, written: str = "") -> Revealed:
        """Show one personal field in full, with a stated purpose, audited (who, field, lead, why, when)."""
        if field not in PERSONAL:
            raise NotAllowed("只能查看姓名、身份证号或手机号中的一项")
        if purpose in PURPOSES:
            why = PURPOSES[purpose]
        else:
            why = scrub_personal_data(" ".join((written or "").split()))[:200]
            if len(why) < 2:
                raise NotAllowed("请选择或写明查看原因")
        lead = self.get(ref)
        value = self._personal(lead).get(field)
        if not value:
            raise NotAllowed("申请人没有填写这一项")
        event = AuditEvent(actor=self.actor.label, action="reveal", lead_ref=lead.ref, field=field,
                           purpose=why, detail=f"查看{FIELD_LABELS[field]}", at=utcnow())
        self.session.add(event)
        minutes = dt.timedelta(minutes=self.runtime.config.workbench.reveal_minutes)
        return Revealed(field, str(value), event.at + minutes)

    def set_documents(self, ref: str, received: list[str]) -> Lead:
        """Record which checklist documents the office has received."""
        lead = self.get(ref)
        received = [d for d in lead.documents or () if d in set(received)]
        if received != list(lead.documents_received or ()):
            lead.documents_received, lead.updated_at = received, utcnow()
            self._audit("documents", lead, "已收材料：" + ("、".join(received) or "无"))
        return lead

    # ---- helpers -----------------------------------------------------------------------
    def _check_move(self, lead: Lead, status: str) -> None:
        if status not in LEAD_STATUSES:
            raise NotAllowed("没有这个状态")
        if not can_move(lead.status, status):
            raise NotAllowed("当前状态不能改为这个状态")

    def _status_text(self, lead: Lead, status: str, channel: str) -> str:
        texts = self._texts()
        words = texts.doc["status"].get(status, status)
        hotline = self.runtime.config.county.hotlines.assistance
        if channel == "sms":
            return texts.get("status_sms", ref=lead.ref, status=words, assistance_hotline=hotline)
        return texts.get("status_wechat", ref=lead.ref, status=words, assistance_hotline=hotline,
                         sender=self.sender(lead))

    def _texts(self):
        return self.runtime.screener.texts

    def _personal(self, lead: Lead) -> dict:
        return json.loads(self.protector.decrypt(lead.personal))

    def _supervisor_only(self) -> None:
        if not self.actor.supervises:
            raise NotAllowed("只有县级督导可以分派或转办")

    def _audit(self, action: str, lead: Lead, detail: str, note: str = "") -> AuditEvent:
        event = AuditEvent(actor=self.actor.label, action=action, lead_ref=lead.ref, detail=detail,
                           note=self.protector.encrypt(note) if note else None, at=utcnow())
        self.session.add(event)
        self.session.flush()  # its id names the outbox message, so a second change sends again
        return event


def _note(note: str, required: bool, what: str) -> str:
    note = (note or "").strip()
    if required and not note:
        raise NotAllowed(f"请填写{what}")
    if len(note) > MAX_NOTE_CHARS:
        raise NotAllowed(f"{what}不超过{MAX_NOTE_CHARS}字")
    return note


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite drops the zone
