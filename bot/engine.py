"""The conversation core: one IncomingMessage in, one Reply out, for any channel.

The engine never sees HTTP or wire formats. It routes a message on the
conversation's state; the turn pipeline (bot/dialogue/turns.py) loads and saves
that state, exactly once per channel message id, so a restart or a second
server process continues the same conversation. A bug never reaches the
resident as a traceback: it is logged and they get a short apology.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re

from bot.answers import compose_answer
from bot.conversations import ConversationStore
from bot.dialogue.turns import Outcome, Turn, current_turn
from bot.domain import PROGRAMS
from bot.matching.matcher import Scored
from bot.messages import IncomingMessage, Reply
from bot.publicity import subscribe
from bot.subscriptions import set_notices
from bot.textnorm import normalize_text
from bot.unanswered import record_unanswered

log = logging.getLogger(__name__)
_CHOICE = re.compile(r"^[(（]?([0-9一二三四五])[)）.。、]?$")
_CN_DIGIT = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_COMMAND_STRIP = re.compile(r"[\s\W_]+")
_REF = re.compile(r"JZ\d{6}-?[0-9A-Z]{4}")


class Engine:
    """Routes each message: commands, a pending choice, or a policy question."""

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

    def _unanswered(self, text: str, channel: str, outcome: str, **fields) -> None:
        """Log a question we could not answer: with the turn's write, or on its own."""
        turn = current_turn()
        if turn is None:
            record_unanswered(self.db, text, channel, outcome, **fields)
            return
        turn.note_unanswered(text, channel, outcome, **fields)

    def _route(self, message: IncomingMessage, cid: int, state: dict) -> Reply:
        channel = message.channel
        reply = Reply()
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
        if subscribe.route(self.runtime, message, state, reply):  # 订阅 / 我的订阅 / 退订 (bot/publicity)
            return reply

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
                self.runtime.insight.chosen(entry.topic, channel)
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
        self.runtime.insight.answered(answer, channel)
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
            (c.entry.topic or "").split(".")[0] in PROGRAMS for c in answer.choices)
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
        return (answer.topic or "").split(".")[0] in PROGRAMS

    # ---- screening and progress ------------------------------------------------------
    def start_screening(self, text: str, message: IncomingMessage, state: dict, reply: Reply,
                        opening: str | None = None) -> Reply:
        """Begin a guided pre-screening (consent first)."""
        screener = self.runtime.screener
        ctx = self._context(message)
        sc, start = screener.start(ctx, opening if opening is not None else text)
        self.runtime.insight.screening(None, sc, message.channel)
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
        """订阅 / 退订 policy notices, in the subscriptions table (SMS STOP/START: handlers/sms.py)."""
        stop = any(w in normalize_text(text) for w in self.kb.commands.get("unsubscribe", ()))
        if not stop and message.channel == "sms":  # an SMS opt-in is confirmed: the topic flow asks
            return subscribe.start(self.runtime, message, state, reply)
        set_notices(self.runtime, message.channel, message.user_id, not stop, wording=text)
        reply.topic = "service.subscribe"
        return reply.add(self.kb.message("notices_off" if stop else "notices_on", message.channel))

    def _continue_screening(self, text: str, channel: str, user_id: str, cid: int, state: dict,
                            reply: Reply) -> bool:
        """Route a message into the screening in progress; False if it had expired."""
        screener = self.runtime.screener
        sc = self._unseal(state["screening"])
        if sc is None or screener.expired(sc):
            self.runtime.insight.screening(sc, None, channel)
            state.pop("screening")
            reply.add(screener.texts.get("expired", days=self.runtime.config.screening_expiry_days))
            return False
        ctx = self._context(IncomingMessage(channel=channel, user_id=user_id))
        indexed = sc.get("values", {}).get("phone")
        seen = self.runtime.insight.before_screening(sc)
        if sc.get("awaiting") in ("link_offer", "link_code"):
            inner = Reply()
            sc = self.handover.answer(sc, text, ctx, inner)
        else:
            inner = screener.handle(sc, text, ctx)
            if channel != "sms" and not sc.get("done") and sc["values"].get("phone") != indexed:
                self.handover.offer_code(sc, ctx, inner)
        self.runtime.insight.screening(seen, sc, channel)
        if sc.get("done") or sc.get("values", {}).get("phone") != indexed:
            self._index_phone(cid, sc)  # only when it changes: one write less per message
        reply.messages.extend(inner.messages)
        reply.expecting = inner.expecting
        if sc.get("done") == "callback":  # consent not given: only the request to be called is kept
            self._unanswered(screener.texts.get("consent_callback_note"), channel, "left_message",
                             conversation_id=cid)
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
        return self.runtime.protector.seal(json.dumps(sc, ensure_ascii=False))

    def _unseal(self, token: str) -> dict | None:
        try:
            return json.loads(self.runtime.protector.unseal(token))
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
