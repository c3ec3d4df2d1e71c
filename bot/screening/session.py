"""One resident's screening conversation: ask, understand, correct, confirm, submit.

The state is a ScreeningState (bot/screening/state.py), kept encrypted in the
conversation row since it holds names and ID numbers. The Screener works on
it in place; its parts live beside it: agreement (consent, confirming,
leaving), corrections (说错了, 返回), readback (values kept only after a yes),
menus (our own numbered questions), answers (storing and deriving values),
summary, submission.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from bot.dialogue.commands import command_of
from bot.messages import Reply
from bot.screening.agreement import ConversationQuestions
from bot.screening.answers import applicable, derive_all, store
from bot.screening.corrections import Corrections
from bot.screening.flow import Flow, Slot
from bot.screening.menus import Menus
from bot.screening.readback import ReadBacks
from bot.screening.replies import ReplyReader
from bot.screening.state import Ending, ScreeningState
from bot.screening.summary import shown, summary
from bot.screening.texts import ScreeningTexts
from bot.textnorm import normalize_text

log = logging.getLogger(__name__)


@dataclass
class Context:
    """Who the screening is for and where it runs."""

    channel: str
    user_id: str
    user_key: str


def now() -> dt.datetime:
    """The screening clock (UTC); tests move it with monkeypatch."""
    return dt.datetime.now(dt.timezone.utc)


class Screener:
    """Runs the screening flow for any channel; stateless apart from the states it is given."""

    def __init__(self, runtime, flow: Flow, texts: ScreeningTexts, parsers, rules, leads,
                 replies: ReplyReader | None = None):
        self.runtime = runtime
        self.flow = flow
        self.texts = texts
        self.parsers = parsers
        self.rules = rules
        self.leads = leads
        self.config = runtime.config
        self.questions = ConversationQuestions(self, replies or ReplyReader.from_knowledge())
        self.corrections = Corrections(self)
        self.readbacks = ReadBacks(self)
        self.menus = Menus(self)
        self.clock = lambda: now()  # (late-bound: tests move the module's clock)

    def command_of(self, text: str) -> str | None:
        """The command a message is (退出, 跳过, 返回 …), if any."""
        return command_of(self.runtime.kb.commands, text)

    # ---- starting -------------------------------------------------------------------
    def start(self, ctx: Context, opening: str = "") -> tuple[ScreeningState, Reply]:
        """A new screening; a program named in the opening message is not asked again."""
        state = ScreeningState.new(self.flow.id, self.flow.version, now())
        program = self.program_in(opening)
        if program:
            state.prefill = {"program": program}
        reply = Reply()
        self.ask_next(state, ctx, reply)
        return state, reply

    def program_in(self, text: str) -> str | None:
        """The one program a message names (低保边缘 before 低保), else None."""
        text = self.runtime.matcher.preparer.prepare(text).text if text else ""
        found = []
        for program, words in self.flow.program_words.items():  # longer names listed first
            hits = [w for w in words if w in text]
            if hits:
                found.append(program)
                for w in hits:
                    text = text.replace(w, " ")
        return found[0] if len(found) == 1 else None

    def resume(self, state: ScreeningState, ctx: Context) -> Reply:
        """Ask the current question again (after a hand-over between channels)."""
        reply = Reply()
        self.reask(state, ctx, reply)
        return reply.expect_slot(state)

    def restart(self, state: ScreeningState, ctx: Context, reply: Reply) -> Reply:
        """重新开始: the same conversation's screening from the first question."""
        new, start_reply = self.start(ctx)
        state.restart_as(new)
        return reply.add(self.say("restarted", ctx)).add("\n".join(start_reply.messages)).expect_slot(state)

    # ---- each message ---------------------------------------------------------------
    def handle(self, state: ScreeningState, text: str, ctx: Context) -> Reply:
        """Process one resident message inside a screening; sets state.done when it ends."""
        reply = Reply()
        command = self.command_of(text)
        if command == "exit":
            state.done = Ending.CANCELLED
            return reply.add(self.say("exited", ctx))
        if command == "restart":
            return self.restart(state, ctx, reply)
        if state.lost_awaiting:  # stored waiting for something unknown: dropped, say so, ask again
            state.lost_awaiting = False
            return self.menus.lost(state, ctx, reply)
        if state.awaiting:
            return self.menus.answer(state, text, ctx, reply)
        if self._stale(state):
            return self.menus.offer_resume(state, ctx, reply)
        state.updated = now()
        if command == "back":
            return self.corrections.go_back(state, ctx, reply)
        slot = self.flow.slot(state.asked)
        if slot.name == "consent":
            return self.questions.consent(state, text, ctx, reply)
        if self.questions.reader.wants_to_leave(text):
            return self.questions.ask_leave(state, ctx, reply)
        if command == "skip" and slot.name != "confirm" and not self.parse(slot, text).ok:
            state.skipped.append(slot.name)  # 不知道 / 跳过: the township asks again in person
            reply.add(self.say("skipped", ctx))
            return self.ask_next(state, ctx, reply)
        if slot.name == "confirm":
            return self.questions.confirm(state, text, ctx, reply)
        doubtful = self.readbacks.check(state, slot, text, ctx, reply)
        if doubtful is not None:
            return doubtful
        if self.corrections.correct(state, text, ctx, reply, alias_alone=False):
            self.reask(state, ctx, reply)
            return reply.expect_slot(state)
        parsed = self.parse(slot, text)
        if not parsed.ok and state.digressions.get(slot.name, 0) < self.flow.retry_limit \
                and self.digression(text, ctx, reply, township=state.values.get("township")):
            # counted, so a resident whose answer keeps reading like a question still gets a way out
            state.digressions[slot.name] = state.digressions.get(slot.name, 0) + 1
            reply.add(self.say("digression_back", ctx) + "\n" + self.question(state, slot, ctx))
            return reply.expect_slot(state)
        return self.answer(state, slot, text, ctx, reply, parsed)

    def answer(self, state: ScreeningState, slot: Slot, text: str, ctx: Context, reply: Reply,
               parsed=None) -> Reply:
        """Store a good answer and ask the next question; else say what was wrong and ask again."""
        parsed = parsed or self.parse(slot, text)
        if parsed.ok:
            self.store(state, slot, parsed.value)
            state.attempts.pop(slot.name, None)
            return self.ask_next(state, ctx, reply)
        if self.count_try(state, slot):
            return self.menus.too_many_tries(state, ctx, reply)
        followup = self.texts.doc.get("reask_followup", {}).get(parsed.problem)
        if followup:  # 有 at the disability question: ask for its level, not "没看明白"
            numbered = self.texts.numbered(slot.choices, self.runtime.kb, sms=True) \
                if slot.choices and ctx.channel == "sms" else ""
            return reply.add(followup + ("\n" + numbered if numbered else "")).expect_slot(state)
        hint = self._problem(parsed, text)
        reply.add((hint + "\n" if hint else "") + self.say("reask", ctx, ask=self.question(state, slot, ctx),
                                                           example=slot.example))
        return reply.expect_slot(state)

    def count_try(self, state: ScreeningState, slot: Slot) -> bool:
        """Count one unclear answer to a slot; True when that was one too many (never a loop)."""
        tries = state.attempts[slot.name] = state.attempts.get(slot.name, 0) + 1
        return tries >= self.flow.retry_limit

    def parse(self, slot: Slot, text: str):
        """Run the slot's parser; map choice indexes to values and enforce minimums."""
        parsed = self.parsers.parse(slot.kind, text, choices=list(slot.choices) or None)
        if parsed.ok and slot.kind == "choice" and slot.values:
            parsed = type(parsed)(ok=True, value=slot.values[parsed.value])
        if parsed.ok and slot.minimum is not None and (parsed.value is None or parsed.value < slot.minimum):
            parsed = type(parsed)(ok=False, problem="out_of_range")
        if parsed.ok and parsed.value == 0 and slot.kind in ("count", "money") and self._about_another(slot, text):
            parsed = type(parsed)(ok=False, problem="other_subject")  # 冇车 at the house question is no 0 houses
        return parsed

    def _about_another(self, slot: Slot, text: str) -> bool:
        """Whether a reply names what another question is about (车, 存款) and nothing of this one's."""
        own = (*slot.aliases, *self.flow.correction_cues.get(slot.name, ()))
        if any(word in text for word in own):
            return False
        return any(alias in text for other in self.flow.slots if other.name != slot.name
                   for alias in other.aliases if len(alias) > 1 or alias == "车")

    def digression(self, text: str, ctx: Context, reply: Reply, township: str | None = None) -> bool:
        """A policy question asked mid-form gets its answer; the form then resumes. `township`:
        the resident's answer so far, for the question event (None before it is given)."""
        if not any(m in text for m in self.flow.question_markers):
            return False
        result = self.runtime.matcher.match(text)
        if result.outcome != "answer" or result.best.entry.kind not in ("faq", "referral"):
            return False
        self.runtime.insight.note("question.answered", ctx.channel, result.best.entry.topic,
                                  township=township if isinstance(township, str) else None)
        reply.add(result.best.entry.answer_for(ctx.channel))
        return True

    # ---- asking ----------------------------------------------------------------------
    def ask_next(self, state: ScreeningState, ctx: Context, reply: Reply) -> Reply:
        """Fill what can be derived, then ask the next slot that applies."""
        derive_all(self.flow, state, ctx, now().date())
        slot = self.flow.next_slot(state.values, set(state.skipped))
        state.asked = slot.name if slot else "confirm"
        reply.add(self.question(state, self.flow.slot(state.asked), ctx))
        return reply.expect_slot(state)

    def reask(self, state: ScreeningState, ctx: Context, reply: Reply) -> None:
        """Ask the current question again (the next one, after the summary)."""
        if state.asked == "confirm" or state.asked is None:
            state.asked = None
            self.ask_next(state, ctx, reply)
        else:
            reply.add(self.question(state, self.flow.slot(state.asked), ctx))

    def question(self, state: ScreeningState, slot: Slot, ctx: Context) -> str:
        """A slot's question as this channel asks it (with its numbered choices where shown)."""
        ask = slot.ask_sms if ctx.channel == "sms" and slot.ask_sms else slot.ask
        text = ask.format(bureau=self.config.county.bureau, county=self.config.county.name,
                          retention=self.texts.get("retention"),
                          summary=summary(self, state, ctx) if slot.name == "confirm" else "")
        if self.shows_numbers(slot, ctx):
            text += "\n" + self.texts.numbered(slot.choices, self.runtime.kb, sms=ctx.channel == "sms")
        return text

    @staticmethod
    def shows_numbers(slot: Slot, ctx: Context) -> bool:
        """Whether a question lists its choices as numbers (always on SMS; choice questions everywhere)."""
        return bool(slot.choices) and (ctx.channel == "sms" or slot.kind == "choice")

    def shown(self, slot: str, value, ctx: Context) -> str:
        """A value as read back to the resident (ID and phone partly hidden on screens)."""
        return shown(self.texts, slot, value, ctx.channel)

    # ---- values ----------------------------------------------------------------------
    def store(self, state: ScreeningState, slot: Slot, value, answered: bool = True) -> None:
        """Keep an answer (the resident's own word beats a derivation)."""
        store(self.flow, state, slot, value, answered)

    def applicable(self, state: ScreeningState) -> dict:
        """Answers to slots that (still) apply — a changed program drops the others."""
        return applicable(self.flow, state)

    def _stale(self, state: ScreeningState) -> bool:
        return now() - state.updated > dt.timedelta(hours=self.config.resume_hours)

    def expired(self, state: ScreeningState) -> bool:
        """Abandoned longer than the configured expiry: the state must be deleted."""
        return now() - state.updated > dt.timedelta(days=self.config.screening_expiry_days)

    def _problem(self, parsed, text: str) -> str:
        problems = self.texts.doc["reask_problem"]
        if not parsed.problem or parsed.problem not in problems:
            return ""
        digits = sum(c.isdigit() or c in "xX" for c in normalize_text(text))
        return problems[parsed.problem].format(
            length=digits, county=self.config.county.name,
            townships=self.texts.join(t.rstrip("乡镇") for t in self.config.county.townships))  # stems

    def say(self, key: str, ctx: Context, **values) -> str:
        """A screening sentence with the county's hotline and the expiry filled in."""
        return self.texts.get(key, **self._defaults(values))

    def say_menu(self, menu, ctx: Context, **values) -> str:
        """One of our numbered questions (bot/dialogue/choices.py), filled in like say()."""
        return self.texts.menu(menu, **self._defaults(values))

    def _defaults(self, values: dict) -> dict:
        return {"assistance_hotline": self.config.county.hotlines.assistance,
                "days": self.config.screening_expiry_days, **values}
