"""The conversation core: one IncomingMessage in, one Reply out, for any channel.

The engine never sees HTTP or wire formats. State lives in the database
(bot.conversations), so a restart or a second server process continues the
same conversation. A bug never reaches the resident as a traceback: it is
logged and they get a short apology.
"""
from __future__ import annotations

import datetime as dt
import logging
import re

from bot.answers import compose_answer
from bot.conversations import ConcurrentUpdate, ConversationStore
from bot.matching.matcher import Scored
from bot.messages import IncomingMessage, Reply
from bot.textnorm import normalize_text
from bot.unanswered import record_unanswered

log = logging.getLogger(__name__)
_CHOICE = re.compile(r"^[(（]?([0-9一二三四五])[)）.。、]?$")
_CN_DIGIT = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_COMMAND_STRIP = re.compile(r"[\s\W_]+")


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
            for _ in range(3):
                try:
                    with self.store.editing(message.channel, message.user_id) as (cid, state):
                        return self._route(message, cid, state)
                except ConcurrentUpdate:
                    continue  # another process answered this resident a moment ago: reload
            raise RuntimeError("conversation kept changing under us")
        except Exception:  # noqa: BLE001 — a bug must not reach the resident as a traceback
            log.exception("failed to handle a %s message", message.channel)
            return Reply().add(self.kb.message("generic_apology", message.channel))

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

        if state.get("mode") == "awaiting_message":
            if not normalize_text(text):
                return reply.add(self.kb.message("leave_message_prompt", channel))
            state.pop("mode")
            if command == "cancel":
                return reply.add(self.kb.message("leave_message_cancelled", channel))
            record_unanswered(self.db, text, channel, "left_message", conversation_id=cid)
            return reply.add(self.kb.message("leave_message_saved", channel))
        if command == "leave_message":
            state["mode"] = "awaiting_message"
            return reply.add(self.kb.message("leave_message_prompt", channel))

        offer = self._valid_offer(state)
        choice = self.choice_number(text)
        if offer and choice is not None:
            if 1 <= choice <= len(offer):
                state.pop("offer", None)
                entry = self.kb.entry(offer[choice - 1])
                reply.topic = entry.topic
                return reply.add(entry.answer_for(channel))
            return reply.add(self.kb.message("choice_out_of_range", channel, max=len(offer)))
        state.pop("offer", None)
        return self.answer_question(text, channel, cid, state, reply)

    def answer_question(self, text: str, channel: str, cid: int, state: dict, reply: Reply) -> Reply:
        """Match a policy question; remember offered choices; log what we could not answer."""
        result = self.matcher.match(text)
        answer = compose_answer(self.kb, result, channel)
        if answer.outcome == "choices":
            self._remember_offer(state, answer.choices)
        unsure = answer.outcome in ("choices", "unknown") or (answer.outcome == "decline" and not result.best)
        if unsure:
            record_unanswered(self.db, text, channel, answer.outcome,
                              best_topic=result.best.entry.topic if result.best else None,
                              confidence=answer.confidence)
        reply.topic = answer.topic
        return reply.add(answer.text)

    def command_of(self, text: str) -> str | None:
        """The command a message is (留言, 取消 …), if it is exactly one."""
        word = _COMMAND_STRIP.sub("", normalize_text(text))
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

    def _valid_offer(self, state: dict) -> list[str] | None:
        offer = state.get("offer")
        if not offer:
            return None
        if dt.datetime.fromisoformat(offer["expires"]) < dt.datetime.now(dt.timezone.utc):
            state.pop("offer", None)
            return None
        ids = [i for i in offer["entries"] if self.kb.has_entry(i)]
        return ids or None

