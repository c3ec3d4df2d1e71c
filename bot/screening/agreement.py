"""The screening's questions about the conversation itself: consent, the final confirmation, leaving.

Consent and submission need an explicit yes (bot/screening/replies.py reads
replies strictly). Consent cannot be skipped: after unclear replies the way out
offers only hearing it again, 不同意, or a caseworker's call back, which keeps
nothing but the request. Leaving in one's own words (不想填了) is confirmed once,
then everything collected is deleted.
"""
from __future__ import annotations

import hashlib

from bot.dialogue.choices import CONSENT_MENU, CONSENT_SMS, LEAVE_CONFIRM
from bot.messages import Reply
from bot.privacy import scrub_personal_data
from bot.screening import submission
from bot.screening.replies import Meaning
from bot.screening.state import Awaiting, Ending, ScreeningState


class ConversationQuestions:
    """Consent, confirm and leave handling for a Screener (it owns the state and the texts)."""

    def __init__(self, screener, reader):
        self.s = screener
        self.reader = reader

    # ---- consent ---------------------------------------------------------------------
    def consent(self, state: ScreeningState, text: str, ctx, reply: Reply) -> Reply:
        """An explicit yes starts the questions; a question about the data is answered first."""
        s = self.s
        meaning = self.reader.read(text, "consent", self._numbered(ctx, "consent"))
        if meaning is Meaning.YES:
            self._record_consent(state, text, ctx)
            s.store(state, s.flow.slot("consent"), True)
            state.attempts.pop("consent", None)
            reply.add(s.say("controls_hint_sms" if ctx.channel == "sms" else "controls_hint", ctx))
            return s.ask_next(state, ctx, reply)
        if meaning in (Meaning.NO, Meaning.LEAVE):
            state.done = Ending.REFUSED
            return reply.add(s.say("consent_refused", ctx))
        if meaning is Meaning.WHY:
            reply.add(s.say("consent_why", ctx, bureau=s.config.county.bureau,
                            retention=s.texts.get("retention")))
            return reply.add(self.consent_again(ctx)).expect_slot(state)
        if meaning is Meaning.GREETING:
            return reply.add(s.say("greeting_back", ctx) + self.consent_again(ctx)).expect_slot(state)
        if meaning is Meaning.HESITATION:
            return reply.add(s.say("consent_take_time", ctx)).expect_slot(state)
        if meaning is Meaning.QUESTION and s.digression(text, ctx, reply):
            return reply.add(self.consent_again(ctx)).expect_slot(state)
        if s.count_try(state, s.flow.slot("consent")):
            state.awaiting = Awaiting.CONSENT_MENU
            return reply.add(s.say_menu(CONSENT_MENU, ctx)).expect_slot(state)
        return reply.add(s.say("consent_unclear", ctx) + self.consent_again(ctx)).expect_slot(state)

    def consent_menu(self, state: ScreeningState, text: str, ctx, reply: Reply) -> Reply:
        """After unclear replies: 1 hear it again, 2 不同意, 3 a caseworker calls back. No skipping."""
        s = self.s
        choice = CONSENT_MENU.picked(text)
        meaning = self.reader.read(text, "consent")
        if choice == "refuse" or meaning in (Meaning.NO, Meaning.LEAVE):
            state.done = Ending.REFUSED
            return reply.add(s.say("consent_refused", ctx))
        if choice == "callback":
            state.done = Ending.CALLBACK  # the engine keeps the request, nothing else
            return reply.add(s.say("consent_callback", ctx,
                                   channel_name=s.texts.doc["channel_names"].get(ctx.channel, "")))
        if meaning is Meaning.YES:
            state.awaiting = None
            return self.consent(state, text, ctx, reply)
        if choice == "again":
            state.awaiting = None
            state.attempts["consent"] = 0
            return reply.add(s.question(state, s.flow.slot("consent"), ctx)).expect_slot(state)
        return reply.add(s.say_menu(CONSENT_MENU, ctx)).expect_slot(state)

    def consent_again(self, ctx) -> str:
        """The short form of the consent question, after an answer or a greeting."""
        if ctx.channel == "sms":
            return self.s.say_menu(CONSENT_SMS, ctx)
        return self.s.say("consent_again", ctx)

    def _record_consent(self, state: ScreeningState, text: str, ctx) -> None:
        """Which consent text (its version and digest), on which channel, when, and the reply."""
        s = self.s
        shown = s.question(state, s.flow.slot("consent"), ctx)
        state.consent = {"version": s.flow.consent_version, "channel": ctx.channel,
                            "text_sha256": hashlib.sha256(shown.encode()).hexdigest()[:16],
                            "at": s.clock().isoformat(), "reply": scrub_personal_data(text)[:60]}

    # ---- confirm ---------------------------------------------------------------------
    def confirm(self, state: ScreeningState, text: str, ctx, reply: Reply) -> Reply:
        """Only an explicit yes files the application; a correction changes the summary."""
        s = self.s
        if s.corrections.correct(state, text, ctx, reply, alias_alone=True):
            state.asked = None
            return s.ask_next(state, ctx, reply)
        meaning = self.reader.read(text, "confirm", self._numbered(ctx, "confirm"))
        if meaning is Meaning.YES:
            return submission.submit(s, state, ctx, reply)
        if meaning is Meaning.LEAVE:
            return self.ask_leave(state, ctx, reply)
        if meaning is Meaning.NO:
            return reply.add(s.say("correct_hint", ctx)).expect_slot(state)
        if meaning is Meaning.GREETING:
            return reply.add(s.say("greeting_back", ctx) + self.confirm_again(ctx)).expect_slot(state)
        if meaning in (Meaning.QUESTION, Meaning.WHY) and s.digression(text, ctx, reply):
            return reply.add(self.confirm_again(ctx)).expect_slot(state)
        return reply.add(s.say("confirm_unclear", ctx) + self.confirm_again(ctx)).expect_slot(state)

    def confirm_again(self, ctx) -> str:
        """How to file or change, without the whole summary again."""
        return self.s.say("confirm_again_sms" if ctx.channel == "sms" else "confirm_again", ctx)

    # ---- leaving ---------------------------------------------------------------------
    def ask_leave(self, state: ScreeningState, ctx, reply: Reply) -> Reply:
        """不想填了: ask once whether to end and delete what was collected."""
        state.awaiting = Awaiting.LEAVE
        return reply.add(self.s.say_menu(LEAVE_CONFIRM, ctx)).expect_slot(state)

    def answer_leave(self, state: ScreeningState, text: str, ctx, reply: Reply) -> Reply:
        """1 / 确定 / 退出 ends and deletes; anything else goes back to the question."""
        s = self.s
        state.awaiting = None
        meaning = self.reader.read(text, "confirm")
        if LEAVE_CONFIRM.picked(text) == "leave" or meaning in (Meaning.YES, Meaning.LEAVE) \
                or s.command_of(text) == "exit":
            state.done = Ending.CANCELLED
            return reply.add(s.say("exited", ctx))
        reply.add(s.say("leave_declined", ctx))
        s.reask(state, ctx, reply)
        return reply.expect_slot(state)

    def _numbered(self, ctx, slot_name: str) -> dict[str, Meaning] | None:
        """The digits shown with this question, if the channel shows them: its two choices are
        yes and no, in CONSENT_SMS's order (flow.yaml lists 同意 / 对，提交 first)."""
        if not self.s.shows_numbers(self.s.flow.slot(slot_name), ctx):
            return None
        meanings = {"yes": Meaning.YES, "no": Meaning.NO}
        return {str(i): meanings[name] for i, name in enumerate(CONSENT_SMS.options, 1)}
