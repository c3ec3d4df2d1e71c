"""The conversation core: one IncomingMessage in, one Reply out, for any channel.

The engine never sees HTTP or wire formats. State lives in the database
(bot.conversations), so a restart or a second server process continues the
same conversation. A bug never reaches the resident as a traceback: it is
logged and they get a short apology.
"""
from __future__ import annotations

import contextvars
import copy
import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.answers import compose_answer
from bot.conversations import ConcurrentUpdate, ConversationStore
from bot.dedup import claim_on, store_reply_on, take_over_on
from bot.matching.matcher import Scored
from bot.messages import IncomingMessage, Reply
from bot.privacy import scrub_personal_data
from bot.storage.db import DatabaseTouched, Sql, is_unique_violation, no_database
from bot.storage.models import utcnow
from bot.textnorm import normalize_text
from bot.unanswered import record_unanswered

log = logging.getLogger(__name__)
_CHOICE = re.compile(r"^[(（]?([0-9一二三四五])[)）.。、]?$")
_CN_DIGIT = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_COMMAND_STRIP = re.compile(r"[\s\W_]+")
_REF = re.compile(r"JZ\d{6}-?[0-9A-Z]{4}")
SCREENING_PROGRAMS = ("dibao", "tekun", "linshi", "yiliao", "bianyuan")
_UNANSWERED = Sql("""INSERT INTO unanswered_questions
                       (text, channel, outcome, best_topic, confidence, conversation_id, created_at)
                       VALUES (:text, :channel, :outcome, :best_topic, :confidence, :conversation_id, :created_at)""")


@dataclass
class Turn:
    """One message's work between Engine.start and Engine.finish: the reply and what to write."""

    message: IncomingMessage
    claim: str | None = None          # the webhook message id claimed for it
    duplicate: bool = False           # a retry of a claimed message: nothing was run
    stored: dict | None = None        # … and the reply stored for the first delivery, if any yet
    late: bool = False                # a retry came first: nobody waits for this reply (dedup.py)
    claimed: bool = True              # False: worked out before claiming; finish() claims
    reply: Reply = field(default_factory=Reply)
    user_key: str = ""
    cid: int | None = None            # the conversation (None: the reply did not involve one)
    version: int = 0
    state: dict = field(default_factory=dict)
    loaded: dict = field(default_factory=dict)      # the state as loaded: unchanged → not written
    unanswered: list[dict] = field(default_factory=list)


class _ClaimedElsewhere(Exception):
    """finish(): another delivery of the message committed its claim first."""


_TURN: contextvars.ContextVar[Turn | None] = contextvars.ContextVar("jiuzhu_turn", default=None)


class Engine:
    """Routes each message: commands, a pending choice, or a policy question."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.kb = runtime.kb
        self.matcher = runtime.matcher
        self.db = runtime.db
        self.store = ConversationStore(runtime.db, runtime.protector)

    def handle(self, message: IncomingMessage) -> Reply:
        """Answer one message; never raises for a resident's input."""
        try:
            with self.db.one_connection():
                return self.finish(self.start(message))
        except Exception:  # noqa: BLE001 — a bug must not reach the resident as a traceback
            log.exception("failed to handle a %s message", message.channel)
            return Reply().add(self.kb.message("generic_apology", message.channel))

    def handle_limited(self, message: IncomingMessage) -> Reply:
        """What webhooks call: like handle, but a flood from one resident gets one polite reply.

        (Scripted channels — simulate, chat — are not limited.)
        """
        if not self.runtime.rate_limiter.allow(self.store.user_key(message.channel, message.user_id)):
            return Reply().add(self.kb.message("rate_limited", message.channel))
        return self.handle(message)

    # ---- one message, few and short transactions -------------------------------------
    # A webhook message id must be worked out exactly once across processes: the first
    # delivery to commit a claim row for it wins. Two ways to get there:
    # * optimistic (the usual case): one read — has this message been claimed, and the
    #   conversation — then the turn is worked out with the database out of bounds
    #   (no_database), and finish() claims the message, saves the conversation and stores
    #   the reply in one transaction. A delivery that loses the claim there has written
    #   nothing and done nothing outside the database, so nothing ran twice.
    # * claim first: when the turn needs the database while it is worked out (a screening
    #   that files its lead, a phone code), for a new conversation, or for a retry: claim
    #   and load in one transaction, work the turn out, finish() saves and stores the reply.
    # A webhook adapter runs start() against its deadline and decides what finish() stores.
    def start(self, message: IncomingMessage, claim: str | None = None, limited: bool = False,
              fixed: str | None = None) -> Turn:
        """Answer a message, claiming `claim` (a message id); a retry gets a Turn with `duplicate` set.

        `fixed`: the reply is this text and the conversation is not involved (an unfollow,
        a photo). Raises only when the database cannot be reached.
        """
        if fixed is not None:
            with self.db.transaction() as tx:
                if claim is not None and not claim_on(tx, message.channel, claim):
                    return Turn(message, claim, duplicate=True, stored=take_over_on(tx, message.channel, claim))
            return Turn(message, claim, reply=Reply().add(fixed))
        turn = Turn(message, claim, user_key=self.store.user_key(message.channel, message.user_id))
        optimistic = claim is not None and self._peek(turn)
        if not optimistic and not self._claim_and_load(turn):
            return turn  # a retry: nothing to work out
        if limited and not self.runtime.rate_limiter.allow(turn.user_key):
            turn.reply = Reply().add(self.kb.message("rate_limited", message.channel))
            return turn
        if turn.claimed:
            return self._run(turn)
        try:
            with no_database():
                return self._run(turn)
        except DatabaseTouched:  # the turn needs the database: claim first, then work it out again
            return self._run(turn) if self._claim_and_load(turn) else turn

    def _peek(self, turn: Turn) -> bool:
        """Load the conversation without claiming; False if the message was claimed already
        (a retry) or the conversation is still to be created: then claim first."""
        with self.db.reading() as tx:
            found = self.store.peek_on(tx, turn.message.channel, turn.user_key, turn.claim)
        if found is None:
            return False
        turn.cid, turn.version, turn.state = found
        turn.loaded, turn.claimed = turn.state, False
        return True

    def _claim_and_load(self, turn: Turn) -> bool:
        """Claim the turn's message (if it has one) and load the conversation, in one transaction.

        False for a message claimed before: the turn is then marked a duplicate.
        """
        message = turn.message
        with self.db.transaction() as tx:
            if turn.claim is not None and not claim_on(tx, message.channel, turn.claim):
                turn.duplicate, turn.stored = True, take_over_on(tx, message.channel, turn.claim)
                return False
            turn.cid, turn.version, turn.state = self.store.load_on(tx, message.channel, message.user_id,
                                                                    turn.user_key)
        turn.loaded, turn.claimed = turn.state, True
        return True

    def finish(self, turn: Turn, store: Callable[[Reply], dict | None] | None = None) -> Reply:
        """Claim (if not yet), write what the turn changed and `store(reply)` for retries.

        Afterwards `turn.duplicate` tells whether another delivery of the message claimed it
        first (nothing of this one was written; `turn.stored` is what it stored), and
        `turn.late` whether a retry had given up on this delivery: then the reply was not
        kept, and the caller must send it another way.

        Another process may have answered the same resident meanwhile: then the turn is
        worked out again on the fresh state (at most three times), as before.
        """
        for _ in range(3):
            kept = store(turn.reply) if store is not None and turn.claim is not None else None
            changed = turn.cid is not None and turn.state != turn.loaded
            if turn.claimed and not (changed or turn.unanswered or kept is not None):
                return turn.reply  # a plain answer on a scripted channel: nothing to write
            try:
                if not turn.claimed and not turn.unanswered and self.db.is_postgresql:
                    self._claim_in_one_statement(turn, kept, changed)
                    turn.claimed = True
                    return turn.reply
                with self.db.transaction() as tx:
                    if not turn.claimed:  # claimed together with its reply: no retry can find it half done
                        if not claim_on(tx, turn.message.channel, turn.claim, reply=kept):
                            raise _ClaimedElsewhere
                    elif kept is not None:
                        turn.late = not store_reply_on(tx, turn.message.channel, turn.claim, kept)
                    if changed:
                        self.store.save_on(tx, turn.cid, turn.version, turn.state)
                    if turn.unanswered:
                        tx.run_many(_UNANSWERED, [{**row, "created_at": tx.time(row["created_at"])}
                                                  for row in turn.unanswered])
                turn.claimed = True
                return turn.reply
            except _ClaimedElsewhere:  # rolled back: this delivery wrote nothing
                with self.db.transaction() as tx:
                    turn.duplicate, turn.stored = True, take_over_on(tx, turn.message.channel, turn.claim)
                return turn.reply
            except ConcurrentUpdate:  # rolled back: nothing of this attempt was written, nor claimed
                if turn.claimed:
                    with self.db.transaction() as tx:
                        turn.cid, turn.version, turn.state = self.store.load_on(
                            tx, turn.message.channel, turn.message.user_id, turn.user_key)
                elif not self._claim_and_load(turn):
                    return turn.reply  # meanwhile another delivery claimed it: a duplicate now
                self._run(turn)
        raise RuntimeError("conversation kept changing under us")

    def _claim_in_one_statement(self, turn: Turn, kept: dict | None, changed: bool) -> None:
        """finish() of an optimistic turn on PostgreSQL: the claim, its reply and the saved
        conversation in one autocommitted statement (one round trip instead of four).

        Raises as the transaction would, having written nothing: _ClaimedElsewhere or
        ConcurrentUpdate.
        """
        channel = turn.message.channel
        try:
            with self.db.one_statement() as tx:
                if not changed:
                    done = claim_on(tx, channel, turn.claim, reply=kept)
                elif not self.store.save_and_claim_on(tx, turn.cid, turn.version, turn.state, channel,
                                                      turn.claim, kept):
                    raise ConcurrentUpdate(turn.cid)
                else:
                    done = True
        except Exception as error:
            if is_unique_violation(error):
                raise _ClaimedElsewhere from None
            raise
        if not done:
            raise _ClaimedElsewhere

    def _run(self, turn: Turn) -> Turn:
        """Route the message on the loaded state; a bug gives an apology and changes nothing."""
        turn.loaded = copy.deepcopy(turn.state)
        turn.unanswered = []
        token = _TURN.set(turn)
        try:
            turn.reply = self._route(turn.message, turn.cid, turn.state)
        except Exception:  # noqa: BLE001 — a bug must not reach the resident as a traceback
            log.exception("failed to handle a %s message", turn.message.channel)
            turn.state, turn.unanswered = copy.deepcopy(turn.loaded), []
            turn.reply = Reply().add(self.kb.message("generic_apology", turn.message.channel))
        finally:
            _TURN.reset(token)
        return turn

    def _unanswered(self, text: str, channel: str, outcome: str, **fields) -> None:
        """Log a question we could not answer: with the turn's write, or on its own."""
        turn = _TURN.get()
        if turn is None:
            record_unanswered(self.db, text, channel, outcome, **fields)
            return
        turn.unanswered.append({
            "text": scrub_personal_data(text)[:1000], "channel": channel, "outcome": outcome,
            "best_topic": fields.get("best_topic"), "confidence": float(fields.get("confidence", 0.0)),
            "conversation_id": fields.get("conversation_id"), "created_at": utcnow()})

    def _route(self, message: IncomingMessage, cid: int, state: dict) -> Reply:
        channel = message.channel
        reply = Reply()
        if message.kind != "text":
            return reply.add(self.kb.message("unreadable_message", channel))
        text = message.text or ""
        limit = self.runtime.config.matching.max_question_chars
        if len(text) > limit:
            text = text[:limit]
            reply.add(self.kb.message("message_trimmed", channel))
        command = self.command_of(text)

        if state.get("screening"):
            handled = self._continue_screening(text, channel, message.user_id, cid, state, reply)
            if handled:
                return reply
        if state.pop("offer_screening", False) and command == "continue":
            return self.start_screening(text, message, state, reply, opening="")

        if state.get("mode") == "awaiting_message":
            if not normalize_text(text):
                return reply.add(self.kb.message("leave_message_prompt", channel))
            state.pop("mode")
            if command == "cancel":
                return reply.add(self.kb.message("leave_message_cancelled", channel))
            self._unanswered(text, channel, "left_message", conversation_id=cid)
            return reply.add(self.kb.message("leave_message_saved", channel))
        if command == "leave_message":
            state["mode"] = "awaiting_message"
            return reply.add(self.kb.message("leave_message_prompt", channel))

        if _REF.search(normalize_text(text).upper()):
            return self.show_progress(text, message, state, reply)  # a bare reference number: 查进度

        offer = self._valid_offer(state)
        choice = self.choice_number(text)
        if offer and choice is not None:
            if 1 <= choice <= len(offer):
                state.pop("offer", None)
                entry = self.kb.entry(offer[choice - 1])
                if entry.topic in INTENTS:
                    return INTENTS[entry.topic](self, "", message, state, reply)
                self._remember_topic(state, entry.topic)
                reply.topic = entry.topic
                return reply.add(entry.answer_for(channel))
            return reply.add(self.kb.message("choice_out_of_range", channel, max=len(offer)))
        state.pop("offer", None)
        return self.answer_question(text, message, state, reply)

    def answer_question(self, text: str, message: IncomingMessage, state: dict, reply: Reply) -> Reply:
        """Match a policy question; remember offered choices; log what we could not answer."""
        channel = message.channel
        result = self.matcher.match_after(text, self._last_topic(state))  # 那要怎么申请啊？ after 低保
        answer = compose_answer(self.kb, result, channel)
        if answer.outcome in ("answer", "decline"):
            self._remember_topic(state, answer.topic)
        intent = INTENTS.get(answer.topic or "")
        if intent:
            return intent(self, text, message, state, reply)
        if answer.outcome == "choices":
            self._remember_offer(state, answer.choices)
        unsure = answer.outcome in ("choices", "unknown") or (answer.outcome == "decline" and not result.best)
        if unsure:
            self._unanswered(text, channel, answer.outcome,
                              best_topic=result.best.entry.topic if result.best else None,
                              confidence=answer.confidence)
        reply.topic = answer.topic
        reply.add(answer.text)
        program_choice = answer.outcome == "choices" and any(
            (c.entry.topic or "").split(".")[0] in SCREENING_PROGRAMS for c in answer.choices)
        if answer.outcome == "unknown" or program_choice or (
                answer.outcome == "answer" and self._invites_screening(answer)):
            if channel != "sms":  # two SMS segments are all an answer gets; 申请 still works there
                reply.add(self.runtime.screener.texts.get("offer_screening"))
            state["offer_screening"] = True
        elif answer.topic == "meta.greeting":
            state["offer_screening"] = True  # the menu already mentions applying
        return reply

    @staticmethod
    def _invites_screening(answer) -> bool:
        """Program questions lead naturally to 'shall I check whether you qualify?'."""
        return (answer.topic or "").split(".")[0] in SCREENING_PROGRAMS

    # ---- screening and progress ------------------------------------------------------
    def start_screening(self, text: str, message: IncomingMessage, state: dict, reply: Reply,
                        opening: str | None = None) -> Reply:
        """Begin a guided pre-screening (consent first)."""
        screener = self.runtime.screener
        ctx = self._context(message)
        sc, start = screener.start(ctx, opening if opening is not None else text)
        if message.channel == "sms":
            self.handover.offer_on_sms(sc, ctx, start)
        state["screening"] = self._seal(sc)
        if sc["values"].get("phone"):  # derived from the SMS sender
            self._index_phone(self.handover.conversation_id(ctx), sc)
        reply.messages.extend(start.messages)
        reply.expecting = start.expecting
        return reply

    def show_progress(self, text: str, message: IncomingMessage, state: dict, reply: Reply) -> Reply:
        """The resident's own applications; another person's reference reveals nothing."""
        texts = self.runtime.screener.texts
        hotline = self.runtime.config.county.hotlines.assistance
        leads = self.runtime.leads.for_user(self.store.user_key(message.channel, message.user_id))
        asked = {m.replace("-", "")[:8] + "-" + m.replace("-", "")[8:]  # JZ261128ABCD → JZ261128-ABCD
                 for m in _REF.findall(normalize_text(text).upper())}
        own = {lead.ref for lead in leads}
        if asked - own:
            return reply.add(texts.get("progress_foreign_ref", assistance_hotline=hotline))
        if not leads:
            name = texts.doc["channel_names"].get(message.channel, "")
            return reply.add(texts.get("progress_none", channel_name=name, assistance_hotline=hotline))
        lines = [texts.get("progress_header")]
        for lead in leads[:5]:
            lines.append(texts.get("progress_line", ref=lead.ref, date=f"{lead.created_at:%Y-%m-%d}",
                                   status=texts.doc["status"].get(lead.status, lead.status)))
        return reply.add("\n".join(lines))

    def subscription(self, text: str, message: IncomingMessage, state: dict, reply: Reply) -> Reply:
        """订阅 / 退订 policy notices: remembered with the conversation (SMS STOP/START is in handlers/sms)."""
        stop = any(w in normalize_text(text) for w in self.kb.commands.get("unsubscribe", ()))
        state["policy_notices"] = not stop
        reply.topic = "service.subscribe"
        return reply.add(self.kb.message("notices_off" if stop else "notices_on", message.channel))

    def _continue_screening(self, text: str, channel: str, user_id: str, cid: int, state: dict,
                            reply: Reply) -> bool:
        """Route a message into the screening in progress; False if it had expired."""
        screener = self.runtime.screener
        sc = self._unseal(state["screening"])
        if sc is None or screener.expired(sc):
            state.pop("screening")
            reply.add(screener.texts.get("expired", days=self.runtime.config.screening_expiry_days))
            return False
        ctx = self._context(IncomingMessage(channel=channel, user_id=user_id))
        indexed = sc.get("values", {}).get("phone")
        if sc.get("awaiting") in ("link_offer", "link_code"):
            inner = Reply()
            sc = self.handover.answer(sc, text, ctx, inner)
        else:
            inner = screener.handle(sc, text, ctx)
            if channel != "sms" and not sc.get("done") and sc["values"].get("phone") != indexed:
                self.handover.offer_code(sc, ctx, inner)
        if sc.get("done") or sc.get("values", {}).get("phone") != indexed:
            self._index_phone(cid, sc)  # only when it changes: one write less per message
        reply.messages.extend(inner.messages)
        reply.expecting = inner.expecting
        if sc.get("done"):
            state.pop("screening")  # personal data leaves the conversation row with the screening
            reply.done = True
            reply.application_ref = sc.get("ref")
        else:
            state["screening"] = self._seal(sc)
        return True

    @property
    def handover(self):
        """Continuing a screening across channels (bot/screening/linking.py)."""
        from bot.screening.linking import Handover, ScreeningLinker

        if not hasattr(self, "_handover"):
            self._handover = Handover(self.runtime, ScreeningLinker(self.runtime))
        return self._handover

    def _index_phone(self, cid: int | None, sc: dict) -> None:
        """Keep the conversation findable by the screening's phone while it is unfinished."""
        if cid is not None:
            phone = None if sc.get("done") else sc.get("values", {}).get("phone")
            self.handover.linker.remember(cid, phone)

    def _context(self, message: IncomingMessage):
        from bot.screening.session import Context

        return Context(channel=message.channel, user_id=message.user_id,
                       user_key=self.store.user_key(message.channel, message.user_id))

    def _seal(self, sc: dict) -> str:
        """Screening state holds names and ID numbers: encrypted inside the conversation row."""
        return self.runtime.protector.encrypt(json.dumps(sc, ensure_ascii=False)).decode("ascii")

    def _unseal(self, token: str) -> dict | None:
        try:
            return json.loads(self.runtime.protector.decrypt(token.encode("ascii")))
        except ValueError:
            log.warning("a screening state could not be decrypted (key changed?); starting afresh")
            return None

    def command_of(self, text: str) -> str | None:
        """The command a message is (留言, 取消 …), if it is exactly one."""
        word = _command_word(text)
        for name, words in self.kb.commands.items():
            if word in words:
                return name
        return None

    @staticmethod
    def choice_number(text: str) -> int | None:
        """'2', '２', '（2）', '二' → 2; anything else → None."""
        m = _CHOICE.match(normalize_text(text))
        if not m:
            return None
        d = m.group(1)
        return int(d) if d.isdigit() else _CN_DIGIT[d]

    def _remember_offer(self, state: dict, choices: tuple[Scored, ...]) -> None:
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(
            minutes=self.runtime.config.offer_minutes)
        state["offer"] = {"entries": [s.entry.id for s in choices], "expires": expires.isoformat()}

    def _remember_topic(self, state: dict, topic: str | None) -> None:
        """The topic just answered frames a follow-up for a while (as long as an offer lasts)."""
        if not self.matcher.context.follow_up.program(topic):
            state.pop("last_topic", None)  # another subject: a follow-up is no longer about it
            return
        if self._last_topic(state) == topic:
            return  # not renewed: the conversation row is not written again for it
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=self.runtime.config.offer_minutes)
        state["last_topic"] = {"topic": topic, "expires": expires.isoformat()}

    def _last_topic(self, state: dict) -> str | None:
        last = state.get("last_topic")
        if not last or dt.datetime.fromisoformat(last["expires"]) < dt.datetime.now(dt.timezone.utc):
            state.pop("last_topic", None)
            return None
        return last["topic"]

    def _valid_offer(self, state: dict) -> list[str] | None:
        offer = state.get("offer")
        if not offer:
            return None
        if dt.datetime.fromisoformat(offer["expires"]) < dt.datetime.now(dt.timezone.utc):
            state.pop("offer", None)
            return None
        ids = [i for i in offer["entries"] if self.kb.has_entry(i)]
        return ids or None



@functools.lru_cache(maxsize=16)  # only the message at hand is asked again (and it may be personal)
def _command_word(text: str) -> str:
    """The message without spaces and punctuation (asked of one message two or three times)."""
    return _COMMAND_STRIP.sub("", normalize_text(text))


# Topics that trigger behaviour rather than only an answer (style.md habit 8).
INTENTS = {
    "service.apply_start": Engine.start_screening,
    "service.progress": Engine.show_progress,
    "service.subscribe": Engine.subscription,
}
