"""Draft applications: create with encrypted personal data, list masked, reveal audited.

Name, ID number and phone are encrypted in `personal` (revealed one by one, audited); the
other answers, the programmes' reasons and the documents checklist are sealed columns
(bot/storage/sealing.py), read as plain values; only what the queue filters on is clear.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain import LEAD_STATUSES, can_move
from bot.privacy import DataProtector, mask_id_number, mask_name, mask_phone
from bot.storage.db import Database
from bot.storage.models import AuditEvent, Lead, program_ids, utcnow
from bot.storage.sealing import bind

PERSONAL = ("name", "id_number", "phone")
MASKS = {"name": mask_name, "id_number": mask_id_number, "phone": mask_phone}
_REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud over the phone


class LeadStore:
    """Creates and reads leads; the only code that decrypts their personal data."""

    def __init__(self, db: Database, protector: DataProtector):
        self.db = db
        self.protector = protector
        bind(db, protector)  # the sealed columns (answers, reasons, documents) under the same key

    def create(self, *, channel: str, user_key: str, values: dict, programs: list[dict], urgency: str,
               documents: list[str], consent: dict, needs_callback: bool = False,
               submission_key: str | None = None) -> str:
        """Store a new lead and return its reference number (the existing one for a repeated submission)."""
        if submission_key and (existing := self._by_submission(submission_key)):
            return existing
        personal = {k: values[k] for k in PERSONAL if values.get(k) is not None}
        fields = {k: v for k, v in values.items() if k not in PERSONAL and k not in ("consent", "confirm")}
        id_index = (self.protector.blind_index("id_number", personal["id_number"])
                    if personal.get("id_number") else None)
        for _ in range(5):
            ref = new_ref()
            try:
                with self.db.session() as s:
                    s.add(Lead(ref=ref, status="new", channel=channel, user_key=user_key,
                               township=values.get("township"), urgency=urgency, programs=programs,
                               program_ids=program_ids(programs),
                               documents=documents, fields=fields, id_index=id_index, consent=consent,
                               personal=self.protector.encrypt(json.dumps(personal, ensure_ascii=False)),
                               name_masked=listed_name(personal.get("name")),
                               needs_callback=needs_callback, submission_key=submission_key))
                return ref
            except IntegrityError:
                if submission_key and (existing := self._by_submission(submission_key)):
                    return existing  # another process submitted this screening a moment ago
                continue  # a reference number collision: draw another
        raise RuntimeError("could not allocate a unique reference number")

    def _by_submission(self, submission_key: str) -> str | None:
        with self.db.session() as s:
            return s.execute(select(Lead.ref).where(Lead.submission_key == submission_key)).scalar()

    def for_user(self, user_key: str) -> list[Lead]:
        """The resident's own leads, newest first."""
        with self.db.session() as s:
            return list(s.execute(select(Lead).where(Lead.user_key == user_key)
                                  .order_by(Lead.created_at.desc())).scalars())

    def all(self, limit: int | None = None) -> list[Lead]:
        """Every lead, newest first."""
        query = select(Lead).order_by(Lead.created_at.desc(), Lead.id.desc())
        if limit:
            query = query.limit(limit)
        with self.db.session() as s:
            return list(s.execute(query).scalars())

    def get(self, ref: str) -> Lead | None:
        """One lead by reference number (case-insensitive)."""
        with self.db.session() as s:
            return s.execute(select(Lead).where(Lead.ref == ref.strip().upper())).scalar_one_or_none()

    def duplicates(self, lead: Lead) -> list[str]:
        """Other leads with the same ID number, found through the keyed hash."""
        if not lead.id_index:
            return []
        with self.db.session() as s:
            return list(s.execute(select(Lead.ref).where(Lead.id_index == lead.id_index,
                                                         Lead.id != lead.id)).scalars())

    def as_dict(self, lead: Lead, reveal: bool = False, actor: str = "cli") -> dict:
        """The contract's lead JSON; personal values masked unless revealed (and audited)."""
        personal = json.loads(self.protector.decrypt(lead.personal))
        if reveal:
            self.audit(actor, "reveal", lead.ref, "personal data shown: " + ", ".join(sorted(personal)))
        else:
            personal = {k: MASKS[k](v) for k, v in personal.items()}
        return {
            "ref": lead.ref, "status": lead.status, "channel": lead.channel,
            "created_at": _iso(lead.created_at), "urgency": lead.urgency,
            "likely_programs": lead.programs, "documents": lead.documents,
            "township": lead.township, "needs_callback": lead.needs_callback,
            "duplicates": self.duplicates(lead), "consent": lead.consent,
            "fields": {**lead.fields, **personal},
        }

    def set_status(self, ref: str, status: str, actor: str, session: Session | None = None) -> Lead | None:
        """Move a lead to a new status with its audit row, in the caller's unit of work (or one
        of its own); None if there is no such lead. ValueError for a move the workflow forbids."""
        if status not in LEAD_STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(LEAD_STATUSES)}")
        if session is None:
            with self.db.unit_of_work() as own:
                return self.set_status(ref, status, actor, own)
        lead = session.execute(select(Lead).where(Lead.ref == ref.strip().upper())).scalar_one_or_none()
        if lead is None:
            return None
        if not can_move(lead.status, status):
            raise ValueError(f"a lead that is {lead.status!r} cannot become {status!r}")
        previous, lead.status, lead.updated_at = lead.status, status, utcnow()
        self.audit(actor, "status", lead.ref, f"{previous} → {status}", session)
        return lead

    def phone_of(self, lead: Lead) -> str | None:
        """The applicant's phone, decrypted only to send them a message about their own application."""
        return json.loads(self.protector.decrypt(lead.personal)).get("phone")

    def audit(self, actor: str, action: str, ref: str | None, detail: str = "",
              session: Session | None = None) -> None:
        """Write one audit event (in the caller's unit of work, with the change it records)."""
        if session is None:
            with self.db.unit_of_work() as own:
                return self.audit(actor, action, ref, detail, own)
        session.add(AuditEvent(actor=actor, action=action, lead_ref=ref, detail=detail))


def listed_name(name: str | None) -> str:
    """The name as lists show it (黄**), kept beside the sealed data so a list decrypts nothing."""
    return mask_name(name)[:16] if name else ""


def new_ref(today: dt.date | None = None) -> str:
    """A reference like JZ261128-7Q4K: the date, then 4 random unambiguous characters."""
    today = today or utcnow().date()
    tail = "".join(secrets.choice(_REF_ALPHABET) for _ in range(4))
    return f"JZ{today:%y%m%d}-{tail}"


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)  # SQLite drops the zone; we only store UTC
    return value.isoformat()
