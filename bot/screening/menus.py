"""Our own numbered questions inside a screening, and the reply to each.

What a screening waits for is an Awaiting (bot/screening/state.py); each has its
answer here or with the part it belongs to (consent and leaving in agreement,
cross-channel links in linking, which the engine asks first). The numbers and
what they mean are declared once, in bot/dialogue/choices.py.
"""
from __future__ import annotations

import logging

from bot.dialogue.choices import RESUME, TOO_MANY_TRIES
from bot.messages import Reply
from bot.screening.state import Awaiting, Ending, ScreeningState

log = logging.getLogger(__name__)


class Menus:
    """Offering and answering the screening's menus, for a Screener."""

    def __init__(self, screener):
        self.s = screener
        questions = screener.questions
        self.answers = {  # what each waiting state's reply goes to
            Awaiting.RESUME: self.resume,
            Awaiting.TOO_MANY: self.after_too_many,
            Awaiting.LEAVE: questions.answer_leave,
            Awaiting.CONSENT_MENU: questions.consent_menu,
        }

    def answer(self, state: ScreeningState, text: str, ctx, reply: Reply) -> Reply:
        """The reply to what the screening waits for."""
        answer = self.answers.get(state.awaiting)
        if answer is None:  # (link replies go to the hand-over before the screener is asked)
            log.error("the screener has no answer for a screening awaiting %s; asking its question again",
                      state.awaiting)
            state.awaiting = None
            return self.lost(state, ctx, reply)
        return answer(state, text, ctx, reply)

    def lost(self, state: ScreeningState, ctx, reply: Reply) -> Reply:
        """A waiting that could not be answered was dropped: say so, then the current question."""
        again = Reply()
        self.s.reask(state, ctx, again)
        return reply.add("\n".join([self.s.say("awaiting_lost", ctx), *again.messages])).expect_slot(state)

    # ---- back after a pause ----------------------------------------------------------
    def offer_resume(self, state: ScreeningState, ctx, reply: Reply) -> Reply:
        """Back after hours away: continue where it stopped, or start over."""
        state.awaiting = Awaiting.RESUME
        return reply.add(self.s.say_menu(RESUME, ctx, label=self.s.texts.label(state.asked))).expect_slot(state)

    def resume(self, state: ScreeningState, text: str, ctx, reply: Reply) -> Reply:
        """2 (or 重新开始) starts over; anything else continues with the question it stopped at."""
        s = self.s
        if RESUME.picked(text) == "restart" or s.command_of(text) == "restart":
            return s.restart(state, ctx, reply)
        state.awaiting = None
        state.updated = s.clock()
        s.reask(state, ctx, reply)
        return reply.expect_slot(state)

    # ---- too many unclear answers ----------------------------------------------------
    def too_many_tries(self, state: ScreeningState, ctx, reply: Reply) -> Reply:
        """Never loop on a question: offer a way out."""
        state.awaiting = Awaiting.TOO_MANY
        return reply.add(self.s.say_menu(TOO_MANY_TRIES, ctx)).expect_slot(state)

    def after_too_many(self, state: ScreeningState, text: str, ctx, reply: Reply) -> Reply:
        """1 skip, 2 a caseworker calls, 3 try again, 4 leave; anything else may be the answer after
        all — if not, the question is skipped with a call asked for, rather than asked again."""
        s, slot = self.s, state.asked
        picked = TOO_MANY_TRIES.picked(text)
        state.awaiting = None
        if picked == "leave" or s.questions.reader.wants_to_leave(text):
            state.done = Ending.CANCELLED
            return reply.add(s.say("exited", ctx))
        if picked == "skip" or s.command_of(text) == "skip":
            state.skipped.append(slot)
            reply.add(s.say("skipped", ctx))
            return s.ask_next(state, ctx, reply)
        if picked == "again":
            state.attempts[slot] = 0
            s.reask(state, ctx, reply)
            return reply.expect_slot(state)
        if picked != "callback":
            parsed = s.parse(s.flow.slot(slot), text)
            if parsed.ok:
                return s.answer(state, s.flow.slot(slot), text, ctx, reply, parsed)
        state.skipped.append(slot)
        state.callback = True
        reply.add(s.say("callback_noted", ctx))
        return s.ask_next(state, ctx, reply)
