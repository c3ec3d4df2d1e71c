"""Never store what the resident did not say: values read back first, help with a question not understood.

A plausible value the resident may not have meant (a bare 1 at a money question)
is read back ("您是说……吗？") and kept only after a yes; an emergency told at
another question is checked before it is recorded; 啥意思 gets what the question
means. Each "no" or confusion counts as a try, so none of this can loop.
"""
from __future__ import annotations

from bot.messages import Reply
from bot.screening.flow import Slot
from bot.screening.state import ReadBack, ScreeningState


class ReadBacks:
    """Read-backs and help for a Screener (it owns the state and the texts)."""

    def __init__(self, screener):
        self.s = screener

    def check(self, state: ScreeningState, slot: Slot, text: str, ctx, reply: Reply) -> Reply | None:
        """The reply to a read-back, a doubtful value read back, an emergency checked, help given;
        None: an ordinary answer, for the screener to take."""
        s = self.s
        pending, state.readback = state.readback, None
        said = s.parsers.confirms(text) if pending and pending.asked == slot.name else None
        if said:
            s.store(state, s.flow.slot(pending.slot), pending.value)
            if pending.slot != pending.asked:  # told at another question: kept even where not asked
                state.volunteered.append(pending.slot)
            state.attempts.pop(slot.name, None)
            return s.ask_next(state, ctx, reply)
        parsed = s.parse(slot, text)
        if (said is False or parsed.problem == "confused") and s.count_try(state, slot):
            return s.menus.too_many_tries(state, ctx, reply)
        if said is False:
            return reply.add(s.say("readback_no", ctx) + "\n" + s.question(state, slot, ctx)).expect_slot(state)
        emergency = s.flow.by_name.get("emergency")
        told = parsed.problem == "emergency_mentioned" and emergency is not None \
            and emergency.name not in state.values  # urgent whatever was asked for: kept if confirmed
        if parsed.readback or told:
            target, value = (emergency.name, True) if told else (slot.name, parsed.value)
            state.readback = ReadBack(asked=slot.name, slot=target, value=value)
            ask = s.say("readback_emergency" if told else "readback", ctx, label=s.texts.label(target),
                        value=s.shown(target, value, ctx))
            return reply.add(ask + s.texts.doc["readback_reply"]["sms" if ctx.channel == "sms" else "wechat"]) \
                .expect_slot(state)
        if parsed.problem != "confused":
            return None
        help_text = s.texts.doc["slot_help"].get(slot.name, "")
        if slot.name != "consent":
            help_text += ("\n" if help_text else "") + s.say("help_skip", ctx)
        return reply.add(help_text + "\n" + s.question(state, slot, ctx)).expect_slot(state)
