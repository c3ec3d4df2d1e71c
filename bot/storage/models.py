"""Tables. Schema changes go through an Alembic migration in migrations/versions.

Personal data never sits here in the clear: a channel identity (an SMS user's
id is their phone number) is stored as a keyed hash for look-ups plus an
encrypted copy for replying.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary,
                        String, Text, UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.storage.sealing import SealedJSON


def utcnow() -> dt.datetime:
    """Timezone-aware now, the only clock the models use."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every jiuzhu table."""


class Conversation(Base):
    """One resident's conversation state on one channel.

    `state` is plain JSON (pending choices, the screening in progress) so any
    server process can continue the conversation; `version` guards against two
    processes updating the same conversation at once.
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "user_key", name="uq_conversation_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(64))  # keyed hash of the channel user id
    user_ref: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted channel user id
    # keyed hash of the phone an unfinished screening gave: the same resident on the other channel
    phone_key: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UnansweredQuestion(Base):
    """A question the bot could not answer confidently (no personal data)."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))  # unknown, choices, left_message
    best_topic: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    conversation_id: Mapped[int | None] = mapped_column(Integer)  # set when the resident left a message
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # the curation queue's group of similar questions (bot/curation/groups.py assigns it)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("question_groups.id"), index=True)


def program_ids(programs) -> list[dict]:
    """[{"program": id}, …] of likely programmes (their reasons stay sealed)."""
    return [{"program": p.get("program")} for p in programs or () if isinstance(p, dict) and p.get("program")]


def _program_ids_of_row(context) -> list[dict]:
    """The insert default of `program_ids`: derived from the row's programmes (bulk inserts too)."""
    return program_ids(context.get_current_parameters().get("programs"))


class Lead(Base):
    """A draft application from the pre-screening, for a caseworker to pick up.

    Personal values (name, ID number, phone) live only in `personal`, encrypted; every
    other answer is sealed too (below); in the clear only what the queue and the
    dashboard filter on: township, programme ids, urgency, status, dates. `id_index` is a keyed hash of the ID number so duplicates are found without
    decrypting. `user_key` ties the lead to the resident's channel identity for
    progress look-ups.
    """

    __tablename__ = "leads"
    # The workbench queue: a township's leads of one status, most urgent then oldest first.
    __table_args__ = (Index("ix_leads_queue", "township", "status", "urgency", "created_at"),
                      Index("ix_leads_status_queue", "status", "urgency", "created_at"),
                      # the dashboard's first-contact medians read from the index alone (migration 0019)
                      Index("ix_leads_first_contact", "township", "created_at",
                            postgresql_include=["first_contacted_at"]))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    # keyed hash of (resident, screening start): a retried submission finds the first lead
    submission_key: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(64), index=True)
    township: Mapped[str | None] = mapped_column(String(32), index=True)
    urgency: Mapped[str] = mapped_column(String(8), default="normal")
    # Sealed at rest (bot/storage/sealing.py): read and written as plain values, stored encrypted
    # (each column's key is the attribute's name, so Core inserts of attribute-named rows work too).
    # The likely programmes with their reasons (which quote the income) and sources:
    programs: Mapped[list] = mapped_column("sealed_programs", SealedJSON, key="programs", default=list)
    # only their ids in the clear, for the queue's filter and migration 0011's partial indexes
    # (column "programs", shaped [{"program": id}, …]); derived from `programs` when not given
    program_ids: Mapped[list] = mapped_column("programs", JSON, key="program_ids", default=_program_ids_of_row)
    documents: Mapped[list] = mapped_column("sealed_documents", SealedJSON, key="documents",
                                            default=list)  # the checklist: 残疾证 says why
    fields: Mapped[dict] = mapped_column("sealed_fields", SealedJSON, key="fields",
                                         default=dict)  # every other answer: village, income, illness…
    personal: Mapped[bytes] = mapped_column(LargeBinary)           # encrypted JSON: name, id_number, phone
    id_index: Mapped[str | None] = mapped_column(String(64), index=True)
    consent: Mapped[dict] = mapped_column(JSON, default=dict)
    needs_callback: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the workbench: who works the lead, when the applicant was first reached, papers received
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    first_contacted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    documents_received: Mapped[list] = mapped_column("sealed_documents_received", SealedJSON,
                                                     key="documents_received", default=list)
    transcript: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed JSON, scrubbed of numbers
    # 刘**: what the queue and the exports show, so listing leads decrypts nothing (0015)
    name_masked: Mapped[str | None] = mapped_column(String(16))


class AuditEvent(Base):
    """Who saw or changed what: every reveal of personal data is written here."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    lead_ref: Mapped[str | None] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    field: Mapped[str | None] = mapped_column(String(32))      # a reveal: which personal field
    purpose: Mapped[str | None] = mapped_column(String(200))   # a reveal: why (scrubbed of numbers)
    note: Mapped[bytes | None] = mapped_column(LargeBinary)    # a caseworker's note, encrypted


class User(Base):
    """A workbench account: caseworker (its townships), supervisor (the county) or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # a session signed before this is void (a reset password logs every browser out)
    password_changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserTownship(Base):
    """A caseworker's township (one row per township)."""

    __tablename__ = "user_townships"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    township: Mapped[str] = mapped_column(String(32), primary_key=True)


class MessageReply(Base):
    """A caseworker's answer to a resident's 留言 (an unanswered question they left), sent by the outbox."""

    __tablename__ = "message_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("unanswered_questions.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))   # how it went out; None: closed unsent
    body: Mapped[bytes] = mapped_column(LargeBinary)          # encrypted
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProcessedMessage(Base):
    """A webhook message already handled: retries (WeChat resends after 5 s) run nothing twice.

    The reply is kept so a retry can be answered with it; rows are pruned after a day.
    A claim still without its reply belongs to `owner` until `lease_until`; after that a
    retry takes it over and answers (bot/dialogue/turns.py).
    """

    __tablename__ = "processed_messages"
    __table_args__ = (UniqueConstraint("channel", "message_id", name="uq_processed_message"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(128))
    reply: Mapped[dict | None] = mapped_column(JSON)
    owner: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Subscription(Base):
    """Whether one recipient receives one kind of message, and the consent behind it (bot/subscriptions.py).

    `topic` "all" is the channel itself (SMS STOP/START, WeChat follow/unfollow): while it is
    unsubscribed the recipient receives nothing from the outbox. "notices" is the general policy
    notices; any other value a topic id of knowledge/topics.yaml. `recipient_key` is the keyed hash
    the recipient is looked up by (bot/phones.phone_key for SMS, the conversation's user key for
    WeChat), `recipient_ref` the encrypted address a broadcast needs. The consent fields hold the
    last change; every change is kept in subscription_changes.
    """

    __tablename__ = "subscriptions"
    # township is nullable (a county-wide subscription): a plain unique index would let two NULLs in
    __table_args__ = (Index("uq_subscriptions_recipient_topic", "channel", "recipient_key", "topic",
                            text("coalesce(township, '')"), unique=True),
                      Index("ix_subscriptions_audience", "topic", "status", "township"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient_key: Mapped[str] = mapped_column(String(64))
    recipient_ref: Mapped[bytes | None] = mapped_column(LargeBinary)
    topic: Mapped[str] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))                       # subscribed, unsubscribed
    consent_wording: Mapped[str | None] = mapped_column(String(200))      # what the resident sent (scrubbed)
    consent_channel: Mapped[str] = mapped_column(String(16))
    consent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubscriptionChange(Base):
    """One opt-in or opt-out, append-only: the proof of consent (never updated, never deleted)."""

    __tablename__ = "subscription_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient_key: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))                       # the status it set
    wording: Mapped[str | None] = mapped_column(String(200))              # what the resident sent (scrubbed)
    source: Mapped[str] = mapped_column(String(32))                       # sms_keyword, wechat_event, command …
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A token shared by every server process (the WeChat access token), with its expiry."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Base):
    """A message waiting to be sent (or sent) by `jiuzhu worker`: SMS, or a WeChat customer-service message.

    Recipient and body are encrypted (a body can quote a name or a lead's details);
    `recipient_key` is the keyed hash a conversation uses for the same resident.
    `idempotency_key` holds a keyed hash of the caller's key, so queuing the same
    logical message twice is a no-op. `last_error` never holds personal data.
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
                      Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient_key: Mapped[str] = mapped_column(String(64), index=True)
    recipient_ref: Mapped[bytes] = mapped_column(LargeBinary)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued sending sent failed cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(200))
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)  # Twilio's Message SID
    provider_status: Mapped[str | None] = mapped_column(String(24))          # from status callbacks
    segments: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24), default="message")  # confirmation, status, link, reply …
    campaign_id: Mapped[str | None] = mapped_column(String(64), index=True)  # a broadcast's messages
    idempotency_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# BIGINT on PostgreSQL (a county's years of events), SQLite's own rowid INTEGER there
_EVENT_ID = BigInteger().with_variant(Integer, "sqlite")


class InsightEvent(Base):
    """One thing that happened, for the dashboard (bot/insight/): never text, never personal data.

    Only the county's day is kept, not the time, and no user id, so an event cannot be tied back to
    a message or a resident. Every value is from a closed vocabulary (bot/insight/events.py).
    """

    __tablename__ = "insight_events"

    id: Mapped[int] = mapped_column(_EVENT_ID, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)   # in the county's time zone
    kind: Mapped[str] = mapped_column(String(32))            # question.answered, screening.asked, outbox.sent …
    subject: Mapped[str | None] = mapped_column(String(64))  # a topic id, a flow step, an outbox kind
    channel: Mapped[str] = mapped_column(String(16))
    township: Mapped[str | None] = mapped_column(String(32))
    programme: Mapped[str | None] = mapped_column(String(16))
    age_band: Mapped[str | None] = mapped_column(String(8))
    campaign: Mapped[str | None] = mapped_column(String(64))


class InsightDaily(Base):
    """Events counted per day and dimensions, folded from insight_events by bot/insight/rollup.py.

    The dimensions are NOT NULL with "" for "not known", so one unique index serves the fold's
    upsert and the dashboard's range reads (kind and day first).
    """

    __tablename__ = "insight_daily"
    # count INCLUDEd (PostgreSQL): a dashboard's range read is an index-only scan
    __table_args__ = (Index("uq_insight_daily", "kind", "day", "subject", "channel", "township", "programme",
                            "age_band", "campaign", unique=True, postgresql_include=["count"]),
                      Index("ix_insight_daily_day", "day"))  # a day's recount replaces its rows

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(16), default="")
    township: Mapped[str] = mapped_column(String(32), default="")
    programme: Mapped[str] = mapped_column(String(16), default="")
    age_band: Mapped[str] = mapped_column(String(8), default="")
    campaign: Mapped[str] = mapped_column(String(64), default="")
    count: Mapped[int] = mapped_column(BigInteger)


class InsightFold(Base):
    """A day counted in insight_daily, up to event id `through_id` (later ones are read from insight_events)."""

    __tablename__ = "insight_folds"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    through_id: Mapped[int] = mapped_column(BigInteger)
    folded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Broadcast(Base):
    """A policy notice to subscribers (bot/publicity/broadcast.py): drafted, approved by a second
    account, then planned into broadcast_recipients and queued in the outbox under `campaign_id`.

    `body` is the bureau's text with config.toml {placeholders}, filled when it is planned, so a
    notice quotes the standard in force on the day it goes out. No resident's data is here.
    """

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(32))
    channels: Mapped[str] = mapped_column(String(32))          # "wechat,sms", "wechat" or "sms"
    status: Mapped[str] = mapped_column(String(16))            # draft, approved, cancelled
    author: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str | None] = mapped_column(String(64))
    send_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QuestionGroup(Base):
    """Similar unanswered questions in the curation queue, with what was done about them.

    `text` is the first question seen (scrubbed); a later question joins the first group it
    resembles. Status: open, resolved or ignored; `note` says what was done.
    """

    __tablename__ = "question_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BroadcastRecipient(Base):
    """One recipient of one broadcast, by the cheapest legal route; unique, so never queued twice.

    route: wechat_cs (customer-service message, within 48 h of the resident's last message),
    wechat_mass (群发, at most 4 a month per follower), wechat_template (模板消息, a service
    notice outside the 48 h once 群发 is used up), sms. The delivery state is the outbox row's.
    """

    __tablename__ = "broadcast_recipients"
    __table_args__ = (UniqueConstraint("broadcast_id", "channel", "recipient_key",
                                       name="uq_broadcast_recipients_once"),
                      Index("ix_broadcast_recipients_key_route", "recipient_key", "route", "planned_at"),
                      # a caseworker's townships' recipients of a broadcast, for the dashboard (migration 0020)
                      Index("ix_broadcast_recipients_township", "broadcast_id", "township"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(16))
    recipient_key: Mapped[str] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(32))
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    planned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MassJob(Base):
    """One WeChat 群发 call of a broadcast (handlers/wechat_mass.py): the openids it was accepted for
    and, once WeChat pushes MASSSENDJOBFINISH, what became of them. WeChat reports counts only,
    never which follower failed, so the counts live here and not on the outbox rows.

    status: accepted (msg_id known, waiting for the event) or finished; job_status is WeChat's
    own word ("send success", "send fail", "err(10001)" …).
    """

    __tablename__ = "mass_jobs"
    __table_args__ = (UniqueConstraint("msg_id", name="uq_mass_jobs_msg_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    msg_id: Mapped[str] = mapped_column(String(32))
    msg_data_id: Mapped[str | None] = mapped_column(String(32))
    recipients: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    job_status: Mapped[str | None] = mapped_column(String(64))
    total_count: Mapped[int | None] = mapped_column(Integer)
    filter_count: Mapped[int | None] = mapped_column(Integer)
    sent_count: Mapped[int | None] = mapped_column(Integer)
    error_count: Mapped[int | None] = mapped_column(Integer)
    accepted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class KnowledgeChange(Base):
    """A reviewed change to the knowledge base, kept as an overlay on knowledge/ (bot/curation/).

    kind: phrasing (a new way to ask an existing entry), synonym (a word for the lexicon) or
    entry (a new entry with its source). Status: pending → published (a second account
    approved it) → reverted; or pending → rejected / withdrawn. `check_result` holds the result of
    the validation and evaluation run before publishing.
    """

    __tablename__ = "knowledge_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("question_groups.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    check_state: Mapped[str] = mapped_column(String(16), default="none")  # none running done failed
    check_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    check_result: Mapped[dict | None] = mapped_column(JSON)
    reviewer: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str] = mapped_column(Text, default="")
    override_reason: Mapped[str | None] = mapped_column(Text)  # published although accuracy fell
    published_version: Mapped[int | None] = mapped_column(Integer)
    reverted_version: Mapped[int | None] = mapped_column(Integer)
    reverted_by: Mapped[str | None] = mapped_column(String(64))
    reverted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class KnowledgeVersion(Base):
    """One step of the live knowledge: a change published or reverted. The newest id is the version
    every process compares with its own (bot/curation/live.py) to pick up changes without a restart."""

    __tablename__ = "knowledge_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))  # publish, revert
    change_id: Mapped[int] = mapped_column(ForeignKey("knowledge_changes.id"))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EntryFigures(Base):
    """The county figures (config.toml) an entry's answer quoted when it was last reviewed: when they
    differ from today's, the entry is flagged for review (bot/curation/figures.py)."""

    __tablename__ = "entry_figures"

    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    figures: Mapped[dict] = mapped_column(JSON)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))  # None: recorded at start-up
    note: Mapped[str] = mapped_column(Text, default="")
