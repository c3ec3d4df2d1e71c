"""The conversation core: one IncomingMessage in, one Reply out, for any channel.

The engine never sees HTTP or wire formats. It routes a message through
ROUTES (at the end of this module), a table read top to bottom: the first
route whose condition holds answers. The turn pipeline (bot/dialogue/turns.py)
loads and saves the conversation's state around it, exactly once per channel
message id, so a restart or a second server process continues the same
conversation. A bug never reaches the resident as a traceback: it is logged
and they get a short apology.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from bot.answers import compose_answer
from bot.conversations import ConversationStore
from bot.dialogue.choices import choice_number
from bot.dialogue.commands import command_of
from bot.dialogue.state import ConversationMode, ConversationState, Expiring
from bot.dialogue.turns import Outcome, Turn, current_turn
from bot.domain import PROGRAMS
from bot.leads import transcript
from bot.leads.handler import handler_of
from bot.messages import IncomingMessage, Reply
from bot import recheck_consent
from bot.publicity import subscribe
from bot.screening.session import Context
from bot.screening.state import Awaiting, Ending, ScreeningState, seal_screening, unseal_screening
from bot.subscriptions import set_notices
from bot.textnorm import MessageText
from bot.unanswered import record_unanswered

log = logging.getLogger(__name__)
_REF = re.compile(r"JZ\d{6}-?[0-9A-Z]{4}")
# Replies about a cross-channel link go to the hand-over, not to the screening's questions.
LINK_AWAITING = frozenset({Awaiting.LINK_OFFER, Awaiting.LINK_CODE})


@dataclass
class Inbound:
    """One message being routed: what was said, the conversation's state, the reply so far."""

    message: IncomingMessage
    text: MessageText               # as sent (trimmed to the question limit), cleaned once
    cid: int | None                 # the conversation row
    state: ConversationState
    reply: Reply
    command: str | None             # the command the whole message is (留言, 继续 …), if any
    screening_offered: bool         # the reply before offered the screening (this message uses it up)

    @property
    def channel(self) -> str:
        """The channel the message came by."""
        return self.message.channel


class Engine:
    """Routes each message through ROUTES; each route's work is one method here."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.kb = runtime.kb
        self.matcher = runtime.matcher
        self.db = runtime.db
        self.store = ConversationStore(runtime.db, runtime.protector)

    def handle(self, message: IncomingMessage) -> Reply:
        """Answer one message of a scripted channel (simulate, chat); never raises for a resident's input."""
        try:
            result = self.runtime.turns.handle(message, self.route_turn)
        except Exception:  # noqa: BLE001 — a bug must not reach the resident as a traceback
            log.exception("failed to handle a %s message", message.channel)
            return Reply().add(self.kb.message("generic_apology", message.channel))
        if result.outcome is Outcome.UNAVAILABLE:
            return Reply().add(self.kb.message("generic_apology", message.channel))
        return result.reply

    def handle_limited(self, message: IncomingMessage) -> Reply:
        """Like handle, but a flood from one resident gets one polite reply (what webhooks do)."""
        if not self.runtime.rate_limiter.allow(self.store.user_key(message.channel, message.user_id)):
            return Reply().add(self.kb.message("rate_limited", message.channel))
        return self.handle(message)

    def route_turn(self, turn: Turn) -> Reply:
        """The turn pipeline's work for a conversation: route the message on the turn's state."""
        return self._route(turn.message, turn.cid, turn.state)

    def route_limited(self, turn: Turn) -> Reply:
        """route_turn for webhooks: a flood from one resident gets one polite reply."""
        if turn.allowed is None:  # (asked once: a turn may be worked out again after claiming)
            turn.allowed = self.runtime.rate_limiter.allow(turn.user_key)
        if not turn.allowed:
            return Reply().add(self.kb.message("rate_limited", turn.message.channel))
        return self._route(turn.message, turn.cid, turn.state)

    def _route(self, message: IncomingMessage, cid: int | None, state: ConversationState) -> Reply:
        """The first route of ROUTES whose condition holds answers (one may pass: None)."""
        reply = Reply()
        raw = message.text or ""
        limit = self.runtime.config.matching.max_question_chars
        if len(raw) > limit:
            raw = raw[:limit]
            reply.add(self.kb.message("message_trimmed", message.channel))
        text = MessageText(raw)
        offered, state.offer_screening = state.offer_screening, False  # an offer lasts one message
        m = Inbound(message, text, cid, state, reply, command_of(self.kb.commands, text), offered)
        for route in ROUTES:
            if route.when(self, m):
                answered = route.then(self, m)
                if answered is not None:
                    return answered
        raise AssertionError("the last route answers every message")

    def _unanswered(self, text: str, channel: str, outcome: str, **fields) -> None:
        """Log a question we could not answer: with the turn's write, or on its own."""
        turn = current_turn()
        if turn is None:
            record_unanswered(self.db, text, channel, outcome, **fields)
            return
        turn.note_unanswered(text, channel, outcome, **fields)

    # ---- leaving a message -----------------------------------------------------------
    def ask_for_message(self, m: Inbound) -> Reply:
        """留言: the next message is the question to leave for a caseworker."""
        m.state.mode = ConversationMode.LEAVING_MESSAGE
        return m.reply.add(self.kb.message("leave_message_prompt", m.channel))

    def take_message(self, m: Inbound) -> Reply:
        """The question left after 留言 (取消 leaves none; an empty message is asked for again)."""
        if not m.text.clean:
            return m.reply.add(self.kb.message("leave_message_prompt", m.channel))
        m.state.mode = None
        if m.command == "cancel":
            return m.reply.add(self.kb.message("leave_message_cancelled", m.channel))
        self._unanswered(m.text, m.channel, "left_message", conversation_id=m.cid)
        return m.reply.add(self.kb.message("leave_message_saved", m.channel))

    # ---- subscriptions -------------------------------------------------------------------
    def subscriptions_flow(self, m: Inbound) -> Reply | None:
        """订阅 / 我的订阅 / 退订 and the numbered steps after them (bot/publicity); None: not about that."""
        return m.reply if subscribe.route(self.runtime, m.message, m.state, m.reply) else None

    # ---- questions and offered choices -------------------------------------------------
    def offered(self, m: Inbound) -> tuple[str, ...] | None:
        """The FAQ entries offered as numbered choices, while the offer holds."""
        entries = m.state.offer.current() if m.state.offer else None
        ids = tuple(i for i in entries or () if self.kb.has_entry(i))
        return ids or None

    def pick_offered(self, m: Inbound) -> Reply:
        """A number picks one of the offered entries; another number asks again, keeping the offer."""
        offer, choice = self.offered(m), choice_number(m.text)
        if not 1 <= choice <= len(offer):
            return m.reply.add(self.kb.message("choice_out_of_range", m.channel, max=len(offer)))
        m.state.offer = None
        entry = self.kb.entry(offer[choice - 1])
        if entry.topic in INTENTS:
            return INTENTS[entry.topic](self, _without_text(m))  # the digit says nothing more
        self.runtime.insight.chosen(entry.topic, m.channel, township=self._known_township(m))
        self._remember_topic(m.state, entry.topic)
        m.reply.topic = entry.topic
        return m.reply.add(entry.answer_for(m.channel))

    def _known_township(self, m: Inbound) -> str | None:
        """The resident's township as this conversation knows it (the screening's answer), for the
        question events; None when it does not know — a township is never guessed."""
        try:
            sc = unseal_screening(self.runtime.protector, m.state.screening)
        except Exception:  # noqa: BLE001 — a newer or unreadable screening: the event just has no township
            return None
        township = sc.values.get("township") if sc is not None else None
        return township if isinstance(township, str) else None

    def answer_question(self, m: Inbound) -> Reply:
        """Match a policy question; remember offered choices; log what we could not answer."""
        channel, state, reply = m.channel, m.state, m.reply
        offered = [self.kb.entry(i).topic for i in self.offered(m) or ()]
        state.offer = None  # a new question replaces an offer
        last = self._last_topic(state)
        result = self.matcher.match_after_choices(m.text, offered) if offered and last is None else \
            self.matcher.match_after(m.text, last)  # 那要怎么申请啊？ after 低保, or after 1 低保 2 临时救助
        answer = compose_answer(self.kb, result, channel)
        self.runtime.insight.answered(answer, channel, township=self._known_township(m))
        if answer.outcome in ("answer", "decline"):
            self._remember_topic(state, answer.topic)
        intent = INTENTS.get(answer.topic or "")
        if intent:
            return intent(self, m)
        if answer.outcome == "choices":
            state.offer = Expiring.lasting(tuple(s.entry.id for s in answer.choices),
                                           self.runtime.config.offer_minutes)
        unsure = answer.outcome in ("choices", "unknown") or (answer.outcome == "decline" and not result.best)
        if unsure:
            self._unanswered(m.text, channel, answer.outcome,
                             best_topic=result.best.entry.topic if result.best else None,
                             confidence=answer.confidence)
        reply.topic = answer.topic
        reply.add(answer.text)
        program_choice = answer.outcome == "choices" and any(
            (c.entry.topic or "").split(".")[0] in PROGRAMS for c in answer.choices)
        if answer.outcome == "unknown" or program_choice or (
                answer.outcome == "answer" and _is_programme(answer.topic)):
            if channel != "sms":  # two SMS segments are all an answer gets; 申请 still works there
                reply.add(self.runtime.screener.texts.get("offer_screening"))
            state.offer_screening = True  # program questions lead to "shall I check whether you qualify?"
        elif answer.topic == "meta.greeting":
            state.offer_screening = True  # the menu already mentions applying
        return reply

    def _remember_topic(self, state: ConversationState, topic: str | None) -> None:
        """The topic just answered frames a follow-up for a while (as long as an offer lasts)."""
        if not self.matcher.context.follow_up.program(topic):
            state.last_topic = None  # another subject: a follow-up is no longer about it
            return
        if self._last_topic(state) == topic:
            return  # not renewed: the conversation row is not written again for it
        state.last_topic = Expiring.lasting(topic, self.runtime.config.offer_minutes)

    @staticmethod
    def _last_topic(state: ConversationState) -> str | None:
        topic = state.last_topic.current() if state.last_topic else None
        if topic is None:
            state.last_topic = None
        return topic

    # ---- screening and progress ------------------------------------------------------
    def start_screening(self, m: Inbound) -> Reply:
        """Begin a guided pre-screening (consent first); a programme the message names is kept."""
        screener = self.runtime.screener
        ctx = self._context(m.message)
        sc, start = screener.start(ctx, m.text)
        self.runtime.insight.screening(None, sc, m.channel)
        if m.channel == "sms":
            self.handover.offer_on_sms(sc, ctx, start)
        transcript.record(sc, m.text.raw, start.messages, None)  # kept with the lead, scrubbed (bot/leads/transcript.py)
        m.state.screening = seal_screening(self.runtime.protector, sc)
        if sc.values.get("phone"):  # derived from the SMS sender
            self._index_phone(self.handover.conversation_id(ctx), sc)
        m.reply.messages.extend(start.messages)
        m.reply.expecting = start.expecting
        return m.reply

    def accept_screening_offer(self, m: Inbound) -> Reply:
        """好 / 继续 right after we offered the screening: it starts."""
        return self.start_screening(_without_text(m))  # 好 names no programme

    def continue_screening(self, m: Inbound) -> Reply | None:
        """Route a message into the screening in progress; None if it had expired (then the
        message is read as if there had been none)."""
        screener, reply = self.runtime.screener, m.reply
        sc = unseal_screening(self.runtime.protector, m.state.screening)
        if sc is None or screener.expired(sc):
            self.runtime.insight.screening(sc, None, m.channel)
            m.state.screening = None
            reply.add(screener.texts.get("expired", days=self.runtime.config.screening_expiry_days))
            return None
        ctx = self._context(m.message)
        indexed, asked = sc.values.get("phone"), sc.asked
        seen = self.runtime.insight.before_screening(sc)
        if sc.awaiting in LINK_AWAITING:
            inner = Reply()
            sc = self.handover.answer(sc, m.text, ctx, inner)
        else:
            inner = screener.handle(sc, m.text, ctx)
            if m.channel != "sms" and not sc.done and sc.values.get("phone") != indexed:
                self.handover.offer_code(sc, ctx, inner)
        self.runtime.insight.screening(seen, sc, m.channel)
        transcript.record(sc, m.text.raw, inner.messages, asked)
        transcript.attach(self.runtime, sc)  # on submission: sealed into the lead
        if sc.done or sc.values.get("phone") != indexed:
            self._index_phone(m.cid, sc)  # only when it changes: one write less per message
        reply.messages.extend(inner.messages)
        reply.expecting = inner.expecting
        if sc.done is Ending.CALLBACK:  # consent not given: only the request to be called is kept
            self._unanswered(screener.texts.get("consent_callback_note"), m.channel, "left_message",
                             conversation_id=m.cid)
        if sc.done is Ending.SUBMITTED:  # 政策找人: may we write again if a standard changes?
            recheck_consent.offer(self.runtime, m.state, m.message, sc.ref, reply)
        if sc.done:
            m.state.screening = None  # personal data leaves the conversation row with the screening
            reply.done = True
            reply.application_ref = sc.ref
        else:
            m.state.screening = seal_screening(self.runtime.protector, sc)
        return reply

    def answer_recheck(self, m: Inbound) -> Reply | None:
        """The reply to the 政策找人 question; anything but yes or no passes on (nothing kept)."""
        user_key = self.store.user_key(m.channel, m.message.user_id)
        answered = recheck_consent.answer(self.runtime, m.state, m.message, m.text.clean, user_key, m.reply)
        return m.reply if answered else None

    def show_progress(self, m: Inbound) -> Reply:
        """The resident's own applications; another person's reference reveals nothing."""
        texts = self.runtime.screener.texts
        hotline = self.runtime.config.county.hotlines.assistance
        leads = self.runtime.leads.for_user(self.store.user_key(m.channel, m.message.user_id))
        asked = {r.replace("-", "")[:8] + "-" + r.replace("-", "")[8:]  # JZ261128ABCD → JZ261128-ABCD
                 for r in _REF.findall(m.text.clean.upper())}
        own = {lead.ref for lead in leads}
        if asked - own:
            return m.reply.add(texts.get("progress_foreign_ref", assistance_hotline=hotline))
        if not leads:
            name = texts.doc["channel_names"].get(m.channel, "")
            return m.reply.add(texts.get("progress_none", channel_name=name, assistance_hotline=hotline))
        lines = [texts.get("progress_header")]
        for lead in leads[:5]:
            lines.append(texts.get("progress_line", ref=lead.ref, date=f"{lead.created_at:%Y-%m-%d}",
                                   status=texts.doc["status"].get(lead.status, lead.status)))
            lines.append(texts.get("progress_handler", handler=handler_of(self.runtime, lead.township)))
        return m.reply.add("\n".join(lines))

    def subscription(self, m: Inbound) -> Reply:
        """订阅 / 退订 policy notices, in the subscriptions table (SMS STOP/START: handlers/sms.py)."""
        stop = any(w in m.text.clean for w in self.kb.commands.get("unsubscribe", ()))
        if not stop and m.channel == "sms":  # an SMS opt-in is confirmed: the topic flow asks
            return subscribe.start(self.runtime, m.message, m.state, m.reply)
        set_notices(self.runtime, m.channel, m.message.user_id, not stop, wording=m.text.raw)
        m.reply.topic = "service.subscribe"
        return m.reply.add(self.kb.message("notices_off" if stop else "notices_on", m.channel))

    @cached_property
    def handover(self):
        """Continuing a screening across channels (bot/screening/linking.py)."""
        from bot.screening.linking import Handover, ScreeningLinker

        return Handover(self.runtime, ScreeningLinker(self.runtime))

    def _index_phone(self, cid: int | None, sc: ScreeningState) -> None:
        """Keep the conversation findable by the screening's phone while it is unfinished."""
        if cid is not None:
            self.handover.linker.remember(cid, None if sc.done else sc.values.get("phone"))

    def _context(self, message: IncomingMessage) -> Context:
        return Context(channel=message.channel, user_id=message.user_id,
                       user_key=self.store.user_key(message.channel, message.user_id))


def _is_programme(topic: str | None) -> bool:
    """Whether a topic is about one of the programmes (低保.标准 …), not a service or referral."""
    return (topic or "").split(".")[0] in PROGRAMS


def _without_text(m: Inbound) -> Inbound:
    """The message with nothing said: an intent reached by a number or a 好 reads no words of it."""
    return dataclasses.replace(m, text=MessageText(""))


def has_reference(text: MessageText) -> bool:
    """Whether a message holds an application's reference number (JZ261128-ABCD)."""
    return bool(_REF.search(text.clean.upper()))


# Topics that trigger behaviour rather than only an answer (a registry, not an if/elif chain).
INTENTS: dict[str, Callable[[Engine, Inbound], Reply]] = {
    "service.apply_start": Engine.start_screening,
    "service.progress": Engine.show_progress,
    "service.subscribe": Engine.subscription,
}


@dataclass(frozen=True)
class Route:
    """Where one kind of message goes: the first route whose `when` holds answers it."""

    name: str
    when: Callable[[Engine, Inbound], bool]
    then: Callable[[Engine, Inbound], Reply | None]  # None: it passes (the next routes are asked)


# Every message, in priority order.
ROUTES: tuple[Route, ...] = (
    Route("a screening in progress (passes when it has expired)",
          lambda e, m: m.state.screening is not None, Engine.continue_screening),
    Route("the answer to the 政策找人 question after a filed screening (passes otherwise)",
          lambda e, m: m.state.mode is ConversationMode.RECHECK_CONSENT, Engine.answer_recheck),
    Route("复查: the reply to a 政策找人 invitation starts a new screening",
          lambda e, m: m.command == "recheck", Engine.start_screening),
    Route("yes to the screening just offered",
          lambda e, m: m.screening_offered and m.command == "continue", Engine.accept_screening_offer),
    Route("the question left after 留言",
          lambda e, m: m.state.mode is ConversationMode.LEAVING_MESSAGE, Engine.take_message),
    Route("留言", lambda e, m: m.command == "leave_message", Engine.ask_for_message),
    Route("订阅 / 我的订阅 / 退订, or a step of that flow (passes otherwise)", lambda e, m: True,
          Engine.subscriptions_flow),
    Route("an application's reference number (查进度)", lambda e, m: has_reference(m.text), Engine.show_progress),
    Route("a number picking an offered choice",
          lambda e, m: choice_number(m.text) is not None and e.offered(m) is not None, Engine.pick_offered),
    Route("a policy question (intents: apply, progress, notices)", lambda e, m: True, Engine.answer_question),
)
