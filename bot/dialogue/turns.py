"""The one turn pipeline, for WeChat, SMS and any later inbound path.

claim → load → run → save → keep the reply → hand a late reply to the outbox,
with the same guarantees on every channel:

* A message id is worked out once. The first delivery to commit a claim row for
  it wins; a retry gets the reply kept with the claim (Outcome.REPLAYED).
* A retry while the first delivery still works waits for it (polling, up to the
  channel's deadline) and answers with its reply (Outcome.REPLAYED); a retry that
  stops waiting gets nothing now and marks the claim late: the first delivery then
  sends its reply through the outbox instead of into a connection nobody reads
  (Outcome.IN_PROGRESS / LATE). Claims: bot/dialogue/claims.py.
* A claim is leased (`lease_seconds`) to its owner. A worker killed between
  claim and reply leaves a lease that runs out; the next retry takes the claim
  over and answers. The owner token fences the slow original: its reply and
  saved conversation are written only while it still owns the claim, so the
  message is never answered twice.
* A database that cannot be reached gives Outcome.UNAVAILABLE quickly (the
  engine's wait is bounded, `[database] wait_seconds`) and records nothing, so
  the channel answers politely and a redelivery after recovery is answered.
  When the outage broke the turn's last write, that write may have landed: the
  resident's resend of the same words then gets the first reply instead of
  being read as the next answer (bot/dialogue/resends.py).

Fast path (the only hand-written SQL outside migrations; figures in
bench/README.md): a known resident's message is one read — the conversation and
whether the message is claimed — then the turn is worked out with the database
out of bounds (`no_database`), then one transaction claims the message together
with its reply, the saved conversation and the turn's insight events (on
PostgreSQL one autocommitted statement). A turn that needs the database while it runs (a lead filed, a phone
code, STOP on SMS), a new conversation or a retry claims first, with a lease.
The statements run on one pooled DBAPI connection per turn (`_Link`);
everything the turn's work does besides goes through `Database.unit_of_work()`.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import enum
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from bot.conversations import ConcurrentUpdate
from bot.dialogue.claims import POLL_SECONDS, Held, claim_or_take_over, give_up, is_replayed
from bot.dialogue.resends import ApologisedMessages, LastChange, claim_with, kept_reply_if_resent
from bot.dialogue.state import ConversationState
from bot.dialogue.turn_sql import (CLAIM_ROW, CLAIM_WITH_REPLY, CLAIM_WITH_REPLY_AND_EVENTS, CREATE, EVENTS, LOAD,
                                   PEEK, SAVE, SAVE_AND_CLAIM, SAVE_AND_CLAIM_WITH_EVENTS, STORE_LATE, STORE_REPLY,
                                   UNANSWERED, Link, Tx, is_outage)
from bot.messages import IncomingMessage, Reply
from bot.privacy import scrub_personal_data
from bot.storage.db import Database, DatabaseTouched, is_unique_violation, no_database
from bot.storage.models import utcnow

log = logging.getLogger(__name__)
# Above WeChat's 4 s reply budget (a live worker gives up passively before its lease ends, so it is
# never taken over while it still answers) and below WeChat's 5 s between retries (the first retry
# takes over a dead worker's claim; the second surely does). Production: [conversation] claim_lease_seconds.
LEASE_SECONDS = 4.5
LEASE_MARGIN_SECONDS = 0.5  # a claim's lease lasts at least its channel's deadline plus this
DEFAULT_WAIT_SECONDS = 4.0  # a channel that names no deadline: how long a retry waits for a live claim


class Outcome(enum.Enum):
    """What became of one delivery of a message (replaces Turn's old flags)."""

    ANSWERED = "answered"          # worked out now: the reply is the channel's to give
    REPLAYED = "replayed"          # a retry: TurnResult.stored is what the first delivery kept
    IN_PROGRESS = "in_progress"    # a retry while another delivery holds the claim: give nothing now
    LATE = "late"                  # worked out, but nobody waits any more: the reply went to the outbox
    UNAVAILABLE = "unavailable"    # the database could not be reached: nothing recorded


@dataclass
class Turn:
    """One message's work: the state it runs on, its reply and what the run asks to write."""

    message: IncomingMessage
    user_key: str = ""
    cid: int | None = None            # the conversation (None: the reply involves none)
    version: int = 0
    state: ConversationState = field(default_factory=ConversationState)
    loaded: dict = field(default_factory=dict)      # its JSON before the run: unchanged → not written
    reply: Reply = field(default_factory=Reply)
    unanswered: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # insight events (bot/insight/), written with the turn
    allowed: bool | None = None       # the rate limiter's verdict, asked once per message

    def changed(self) -> bool:
        """Whether the run changed the conversation's state (then it is written)."""
        return self.cid is not None and self.state.to_json() != self.loaded

    def note_unanswered(self, text: str, channel: str, outcome: str, **fields) -> None:
        """A question the bot could not answer: written with the turn (scrubbed)."""
        self.unanswered.append({
            "text": scrub_personal_data(text)[:1000], "channel": channel, "outcome": outcome,
            "best_topic": fields.get("best_topic"), "confidence": float(fields.get("confidence", 0.0)),
            "conversation_id": fields.get("conversation_id"), "created_at": utcnow()})


@dataclass(frozen=True)
class TurnResult:
    """The outcome, the reply worked out (ANSWERED, LATE) and, for REPLAYED, what was kept."""

    outcome: Outcome
    reply: Reply = field(default_factory=Reply)
    stored: dict | None = None


Work = Callable[[Turn], Reply]              # route the message on turn.state (may change it)
Keep = Callable[[Reply], dict]              # the JSON kept with the claim for retries (sealed)
SendLater = Callable[[Session, Reply], None]  # queue the reply in the outbox, in this unit of work


@dataclass(frozen=True)
class Delivery:
    """How a channel wants one of its messages handled."""

    claim: str | None = None         # the channel's message id (None: a scripted channel)
    keep: Keep | None = None
    send_later: SendLater | None = None
    deadline: float | None = None    # seconds the channel waits for the reply
    conversation: bool = True        # False: a fixed reply that involves no conversation


_CURRENT: contextvars.ContextVar[Turn | None] = contextvars.ContextVar("jiuzhu_turn", default=None)


def current_turn() -> Turn | None:
    """The turn being run on this thread, if any (the engine notes unanswered questions on it)."""
    return _CURRENT.get()


class _Lost(Exception):
    """Another delivery claimed (or took over) the message: this one wrote nothing."""


class TurnPipeline:
    """Runs every inbound message of every channel through the same steps."""

    def __init__(self, db: Database, user_key: Callable[[str, str], str], encrypt: Callable[[str], bytes],
                 apology: Callable[[str], str], lease_seconds: float = LEASE_SECONDS,
                 fingerprint: Callable[[str], str] | None = None, apologised: ApologisedMessages | None = None):
        self.db, self.user_key, self.encrypt, self.apology = db, user_key, encrypt, apology
        self.lease = dt.timedelta(seconds=lease_seconds)
        # a keyed hash of a message's text (it may hold an ID number): never the text itself
        self.fingerprint = fingerprint or (lambda text: user_key("text", text)[:16])
        self.apologised = apologised or ApologisedMessages()

    def handle(self, message: IncomingMessage, work: Work, delivery: Delivery = Delivery()) -> TurnResult:
        """One delivery of one message; raises only for a bug in the pipeline itself."""
        began = time.monotonic()
        turn = Turn(message, user_key=self.user_key(message.channel, message.user_id))
        try:
            with Link(self.db) as link:
                return self._handle(link, turn, work, delivery, began)
        except Exception as error:
            if not is_outage(error):
                raise
            log.warning("database unreachable: a %s message gets a polite answer (%s)", message.channel,
                        type(error).__name__)
            if delivery.claim is not None and turn.changed():  # its write may have landed before the break
                self.apologised.note(message.channel, turn.user_key, delivery.claim[:128])
            return TurnResult(Outcome.UNAVAILABLE)

    def _handle(self, link: Link, turn: Turn, work: Work, delivery: Delivery, began: float) -> TurnResult:
        if delivery.claim is None:
            return self._scripted(link, turn, work)
        if not delivery.conversation:
            self._run(turn, work)
            return self._finish(link, turn, work, delivery, began, owner=None)
        if self._peek(link, turn, delivery.claim):
            resent = self._resent(link, turn)
            if resent is not None:
                return self._replay_resent(link, turn, delivery, resent, owner=None)
            try:
                with no_database():
                    self._run(turn, work)
                return self._finish(link, turn, work, delivery, began, owner=None)
            except DatabaseTouched:
                pass  # the turn needs the database: claim first, then work it out again
        owner = self._claim_and_load(link, turn, delivery, began)
        if isinstance(owner, TurnResult):
            return owner
        resent = self._resent(link, turn)
        if resent is not None:
            return self._replay_resent(link, turn, delivery, resent, owner)
        self._run(turn, work)
        return self._finish(link, turn, work, delivery, began, owner)

    # ---- the same words again after an outage apology (bot/dialogue/resends.py) ----------
    def _resent(self, link: Link, turn: Turn) -> dict | None:
        last = turn.state.last_change
        if last is None or last.text != self.fingerprint(turn.message.text):
            return None  # (the usual case: one comparison, no Redis)
        return kept_reply_if_resent(link, turn.message.channel, turn.user_key, last, self.apologised)

    @staticmethod
    def _replay_resent(link: Link, turn: Turn, delivery: Delivery, kept: dict, owner: str | None) -> TurnResult:
        log.info("%s: a message sent again after an outage apology gets its first reply", turn.message.channel)
        if claim_with(link, turn.message.channel, delivery.claim[:128], kept, owner):
            return TurnResult(Outcome.REPLAYED, stored=kept)
        return TurnResult(Outcome.IN_PROGRESS)

    def _run(self, turn: Turn, work: Work) -> None:
        """Work the reply out on the loaded state; a bug gives an apology and changes nothing."""
        turn.loaded, turn.unanswered, turn.events = turn.state.to_json(), [], []
        token = _CURRENT.set(turn)
        try:
            turn.reply = work(turn)
        except Exception:  # noqa: BLE001 — a bug must not reach the resident as a traceback
            log.exception("failed to handle a %s message", turn.message.channel)
            turn.state, turn.unanswered, turn.events = ConversationState.from_json(turn.loaded), [], []
            turn.reply = Reply().add(self.apology(turn.message.channel))
        finally:
            _CURRENT.reset(token)

    # ---- a scripted channel (simulate, chat): no message id, no claim ------------------
    def _scripted(self, link: Link, turn: Turn, work: Work) -> TurnResult:
        for _ in range(3):
            with link.transaction() as tx:
                self._load(tx, turn)
            self._run(turn, work)
            try:
                with link.transaction() as tx:
                    self._write(tx, turn)
                return TurnResult(Outcome.ANSWERED, turn.reply)
            except ConcurrentUpdate:
                continue  # another process answered the same resident meanwhile: again on its state
        raise RuntimeError("conversation kept changing under us")

    # ---- claim and load ------------------------------------------------------------------
    def _peek(self, link: Link, turn: Turn, claim: str) -> bool:
        """Load the conversation without claiming; False if the message has a claim already
        (a retry) or the conversation is still to be created: then claim first."""
        with link.autocommit() as tx:
            row = tx.first(PEEK, {"channel": turn.message.channel, "user_key": turn.user_key,
                                   "message_id": claim[:128]})
        if row is None or row[0] is None or row[3] is not None:
            return False
        turn.cid, turn.version, turn.state = row[0], row[1], ConversationState.from_json(tx.from_json(row[2]))
        return True

    def _claim_and_load(self, link: Link, turn: Turn, delivery: Delivery, began: float) -> str | TurnResult:
        """Claim with a lease (or take a stale claim over) and load, in one transaction: the
        owner token, or the TurnResult of a delivery that is not ours to work out.

        A claim held by a live worker is waited for (polled until `until`, the channel's
        deadline): its reply when it lands, or the claim itself once its lease runs out.
        """
        owner, until = secrets.token_hex(8), _until(delivery, began)
        # A live worker gives up passively at its deadline: its lease outlasts that, so nobody takes
        # over a claim whose worker still answers (SMS's 10 s budget outlasts the 4.5 s lease).
        lease = max(self.lease, dt.timedelta(seconds=(delivery.deadline or 0) + LEASE_MARGIN_SECONDS))
        while True:
            now = utcnow()
            with link.transaction() as tx:
                params = {"channel": turn.message.channel, "message_id": delivery.claim[:128], "owner": owner,
                          "now": tx.time(now), "lease_until": tx.time(now + lease)}
                held = claim_or_take_over(tx, params, now)
                if held is None:
                    self._load(tx, turn)
                    return owner
            if held is Held.BUSY and time.monotonic() + POLL_SECONDS > until:
                held = give_up(link, params)
            if held is not Held.BUSY:
                return (TurnResult(Outcome.REPLAYED, stored=dict(held)) if is_replayed(held)
                        else TurnResult(Outcome.IN_PROGRESS))
            time.sleep(POLL_SECONDS)  # the live claimer's reply, or its lease's end, is near

    def _load(self, tx: Tx, turn: Turn) -> None:
        """The conversation (created if new) into the turn."""
        params = {"channel": turn.message.channel, "user_key": turn.user_key}
        row = tx.first(LOAD, params)
        if row is None:
            tx.run(CREATE, {**params, "user_ref": self.encrypt(turn.message.user_id), "state": tx.json({}),
                             "now": tx.time(utcnow())})
            row = tx.first(LOAD, params)
        turn.cid, turn.version, turn.state = row[0], row[1], ConversationState.from_json(tx.from_json(row[2]))

    # ---- save and keep the reply ---------------------------------------------------------
    def _finish(self, link: Link, turn: Turn, work: Work, delivery: Delivery, began: float,
                owner: str | None) -> TurnResult:
        """Write the turn with its reply; `owner` None: claim the message in the same transaction.

        A conversation changed meanwhile by another process is worked out again on the fresh
        state (at most three times).
        """
        channel, message_id = turn.message.channel, delivery.claim[:128]
        for _ in range(3):
            try:
                self._stamp(turn, message_id)
                if delivery.deadline is not None and time.monotonic() - began > delivery.deadline:
                    return self._finish_late(turn, delivery, owner)
                kept = delivery.keep(turn.reply)
                if owner is None and not turn.unanswered and self.db.is_postgresql:
                    self._claim_in_one_statement(link, turn, message_id, kept)
                    return TurnResult(Outcome.ANSWERED, turn.reply)
                with link.transaction() as tx:
                    params = {"channel": channel, "message_id": message_id, "reply": tx.json(kept),
                              "owner": owner, "now": tx.time(utcnow())}
                    if owner is None:
                        if tx.run(CLAIM_WITH_REPLY, params) != 1:
                            raise _Lost
                    elif tx.run(STORE_REPLY, params) != 1:
                        raise _Lost
                    self._write(tx, turn)
                return TurnResult(Outcome.ANSWERED, turn.reply)
            except _Lost:  # rolled back: this delivery wrote nothing
                if owner is None:  # another delivery claimed it: its reply (waited for), or its lease
                    found = self._claim_and_load(link, turn, delivery, began)
                    if isinstance(found, TurnResult):
                        return found
                    owner = found  # taken over from a worker that died: worked out again on its state
                    self._run(turn, work)
                    continue
                if self._still_owner(link, channel, message_id, owner):
                    return self._finish_late(turn, delivery, owner)  # a retry gave up on this delivery
                return TurnResult(Outcome.IN_PROGRESS)  # taken over after our lease ran out: theirs to answer
            except ConcurrentUpdate:  # rolled back: nothing of this attempt was written
                if owner is None:
                    found = self._claim_and_load(link, turn, delivery, began)
                    if isinstance(found, TurnResult):
                        return found
                    owner = found
                else:
                    with link.transaction() as tx:
                        self._load(tx, turn)
                self._run(turn, work)
        raise RuntimeError("conversation kept changing under us")

    def _finish_late(self, turn: Turn, delivery: Delivery, owner: str | None) -> TurnResult:
        """Nobody waits for this reply: keep "nothing" for retries and queue the reply in the
        outbox, in the one unit of work that saves the conversation."""
        channel, message_id = turn.message.channel, delivery.claim[:128]
        try:
            with self.db.unit_of_work() as session:
                tx = Tx.of(session)
                params = {"channel": channel, "message_id": message_id, "owner": owner,
                          "reply": tx.json(delivery.keep(Reply())), "now": tx.time(utcnow())}
                if tx.run(CLAIM_WITH_REPLY if owner is None else STORE_LATE, params) != 1:
                    raise _Lost
                self._write(tx, turn)
                if delivery.send_later is not None and turn.reply.messages:
                    delivery.send_later(session, turn.reply)
        except _Lost:
            return TurnResult(Outcome.IN_PROGRESS)  # another delivery has it: it answers
        except Exception as error:
            if owner is None and is_unique_violation(error):
                return TurnResult(Outcome.IN_PROGRESS)
            raise
        log.warning("%s: the reply was ready after the channel stopped waiting; sent later", channel)
        return TurnResult(Outcome.LATE, turn.reply)

    def _stamp(self, turn: Turn, message_id: str) -> None:
        """A turn that changes the conversation records which message did (see _resent)."""
        if turn.changed():
            turn.state.last_change = LastChange(message_id, self.fingerprint(turn.message.text))

    def _claim_in_one_statement(self, link: Link, turn: Turn, message_id: str, kept: dict) -> None:
        """PostgreSQL: claim, reply and saved conversation in one autocommitted statement (one
        round trip instead of four). Raises _Lost or ConcurrentUpdate having written nothing."""
        changed = turn.changed()
        events = turn.events
        try:
            with link.autocommit() as tx:
                params = {"channel": turn.message.channel, "message_id": message_id, "reply": tx.json(kept),
                          "now": tx.time(utcnow()), "owner": None}
                if events:  # written from the claimed row: as many rows as events, or none
                    params["events"] = tx.json([{**e, "day": e["day"].isoformat()} for e in events])
                written = len(events) or 1
                if not changed:
                    done = tx.run(CLAIM_WITH_REPLY_AND_EVENTS if events else CLAIM_WITH_REPLY, params) == written
                elif tx.run(SAVE_AND_CLAIM_WITH_EVENTS if events else SAVE_AND_CLAIM,
                            {**params, "id": turn.cid, "version": turn.version,
                             "state": tx.json(turn.state.to_json())}) != written:
                    raise ConcurrentUpdate(turn.cid)
                else:
                    done = True
        except Exception as error:
            if is_unique_violation(error):
                raise _Lost from None
            raise
        if not done:
            raise _Lost

    def _write(self, tx: Tx, turn: Turn) -> None:
        """The conversation if it changed (else ConcurrentUpdate), the unanswered questions and the
        insight events."""
        if turn.changed():
            if tx.run(SAVE, {"id": turn.cid, "version": turn.version, "state": tx.json(turn.state.to_json()),
                              "now": tx.time(utcnow())}) != 1:
                raise ConcurrentUpdate(turn.cid)
        if turn.unanswered:
            tx.run_many(UNANSWERED, [{**row, "created_at": tx.time(row["created_at"])}
                                      for row in turn.unanswered])
        if turn.events:
            tx.run_many(EVENTS, [{**row, "day": tx.day(row["day"])} for row in turn.events])

    @staticmethod
    def _still_owner(link: Link, channel: str, message_id: str, owner: str) -> bool:
        with link.transaction() as tx:
            row = tx.first(CLAIM_ROW, {"channel": channel, "message_id": message_id})
        return row is not None and row[1] == owner


def _until(delivery: Delivery, began: float) -> float:
    """When a retry stops waiting for another worker's claim: the channel's deadline."""
    return began + (delivery.deadline if delivery.deadline is not None else DEFAULT_WAIT_SECONDS)
