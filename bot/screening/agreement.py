"""The screening's questions about the conversation itself: consent, the final confirmation, leaving.

Consent and submission need an explicit yes (bot/screening/replies.py reads
replies strictly). Consent cannot be skipped: after unclear replies the way out
offers only hearing it again, 不同意, or a caseworker's call back, which keeps
nothing but the request. Leaving in one's own words (不想填了) is confirmed once,
then everything collected is deleted.
"""
from __future__ import annotations

import hashlib

from bot.messages import Reply
from bot.privacy import scrub_personal_data
from bot.screening.replies import Meaning

CONSENT_MENU = {"1": "again", "2": "refuse", "3": "callback"}


class ConversationQuestions:
    """Consent, confirm and leave handling for a Screener (it owns the state and the texts)."""

    def __init__(self, screener, reader):
        self.s = screener
        self.reader = reader

    # ---- consent ---------------------------------------------------------------------
    def consent(self, state: dict, text: str, ctx, reply: Reply) -> Reply:
        """An explicit yes starts the questions; a question about the data is answered first."""
        s = self.s
        meaning = self.reader.read(text, "consent", self._numbered(ctx, "consent"))
        if meaning is Meaning.YES:
            self._record_consent(state, text, ctx)
            s._store(state, s.flow.slot("consent"), True)
            state["attempts"].pop("consent", None)
            reply.add(s._say("controls_hint_sms" if ctx.channel == "sms" else "controls_hint", ctx))
            return s._ask_next(state, ctx, reply)
        if meaning in (Meaning.NO, Meaning.LEAVE):
            state["done"] = "refused"
            return reply.add(s._say("consent_refused", ctx))
        if meaning is Meaning.WHY:
            reply.add(s._say("consent_why", ctx, bureau=s.config.county.bureau,
                             retention=s.texts.get("retention")))
            return reply.add(self.consent_again(ctx)).expect_slot(state)
        if meaning is Meaning.GREETING:
            return reply.add(s._say("greeting_back", ctx) + self.consent_again(ctx)).expect_slot(state)
        if meaning is Meaning.HESITATION:
            return reply.add(s._say("consent_take_time", ctx)).expect_slot(state)
        if meaning is Meaning.QUESTION and s._digression(text, ctx, reply):
            return reply.add(self.consent_again(ctx)).expect_slot(state)
        tries = state["attempts"]["consent"] = state["attempts"].get("consent", 0) + 1
        if tries >= s.flow.retry_limit:
            state["awaiting"] = "consent_menu"
            return reply.add(s._say("consent_menu", ctx)).expect_slot(state)
        return reply.add(s._say("consent_unclear", ctx) + self.consent_again(ctx)).expect_slot(state)

    def consent_menu(self, state: dict, text: str, ctx, reply: Reply) -> Reply:
        """After unclear replies: 1 hear it again, 2 不同意, 3 a caseworker calls back. No skipping."""
        s = self.s
        choice = CONSENT_MENU.get(str(s.runtime.engine.choice_number(text)))
        meaning = self.reader.read(text, "consent")
        if choice == "refuse" or meaning in (Meaning.NO, Meaning.LEAVE):
            state["done"] = "refused"
            return reply.add(s._say("consent_refused", ctx))
        if choice == "callback":
            state["done"] = "callback"  # the engine keeps the request, nothing else
            return reply.add(s._say("consent_callback", ctx,
                                    channel_name=s.texts.doc["channel_names"].get(ctx.channel, "")))
        if meaning is Meaning.YES:
            state["awaiting"] = None
            return self.consent(state, text, ctx, reply)
        if choice == "again":
            state["awaiting"] = None
            state["attempts"]["consent"] = 0
            return reply.add(s._question(state, s.flow.slot("consent"), ctx)).expect_slot(state)
        return reply.add(s._say("consent_menu", ctx)).expect_slot(state)

    def consent_again(self, ctx) -> str:
        """The short form of the consent question, after an answer or a greeting."""
        return self.s._say("consent_again_sms" if ctx.channel == "sms" else "consent_again", ctx)

    def _record_consent(self, state: dict, text: str, ctx) -> None:
        """Which consent text (its version and digest), on which channel, when, and the reply."""
        s = self.s
        shown = s._question(state, s.flow.slot("consent"), ctx)
        state["consent"] = {"version": s.flow.consent_version, "channel": ctx.channel,
                            "text_sha256": hashlib.sha256(shown.encode()).hexdigest()[:16],
                            "at": s.clock().isoformat(), "reply": scrub_personal_data(text)[:60]}

    # ---- confirm ---------------------------------------------------------------------
    def confirm(self, state: dict, text: str, ctx, reply: Reply) -> Reply:
        """Only an explicit yes files the application; a correction changes the summary."""
        s = self.s
        if s.corrections.correct(state, text, ctx, reply, alias_alone=True):
            state["asked"] = None
            return s._ask_next(state, ctx, reply)
        meaning = self.reader.read(text, "confirm", self._numbered(ctx, "confirm"))
        if meaning is Meaning.YES:
            return s._submit(state, ctx, reply)
        if meaning is Meaning.LEAVE:
            return self.ask_leave(state, ctx, reply)
        if meaning is Meaning.NO:
            return reply.add(s._say("correct_hint", ctx)).expect_slot(state)
        if meaning is Meaning.GREETING:
            return reply.add(s._say("greeting_back", ctx) + self.confirm_again(ctx)).expect_slot(state)
        if meaning in (Meaning.QUESTION, Meaning.WHY) and s._digression(text, ctx, reply):
            return reply.add(self.confirm_again(ctx)).expect_slot(state)
        return reply.add(s._say("confirm_unclear", ctx) + self.confirm_again(ctx)).expect_slot(state)

    def confirm_again(self, ctx) -> str:
        """How to file or change, without the whole summary again."""
        return self.s._say("confirm_again_sms" if ctx.channel == "sms" else "confirm_again", ctx)

    # ---- leaving ---------------------------------------------------------------------
    def ask_leave(self, state: dict, ctx, reply: Reply) -> Reply:
        """不想填了: ask once whether to end and delete what was collected."""
        state["awaiting"] = "leave"
        return reply.add(self.s._say("leave_confirm", ctx)).expect_slot(state)

    def answer_leave(self, state: dict, text: str, ctx, reply: Reply) -> Reply:
        """1 / 确定 / 退出 ends and deletes; anything else goes back to the question."""
        s = self.s
        state["awaiting"] = None
        choice = s.runtime.engine.choice_number(text)
        meaning = self.reader.read(text, "confirm")
        if choice == 1 or meaning in (Meaning.YES, Meaning.LEAVE) or s.runtime.engine.command_of(text) == "exit":
            state["done"] = "cancelled"
            return reply.add(s._say("exited", ctx))
        reply.add(s._say("leave_declined", ctx))
        s._reask(state, ctx, reply)
        return reply.expect_slot(state)

    def _numbered(self, ctx, slot_name: str) -> dict[str, Meaning] | None:
        """The digits shown with this question, if the channel shows them (1 yes, 2 no)."""
        if not self.s.shows_numbers(self.s.flow.slot(slot_name), ctx):
            return None
        return {"1": Meaning.YES, "2": Meaning.NO}
