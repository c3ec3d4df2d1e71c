"""One resident's screening conversation: ask, understand, correct, confirm, submit.

The state is a plain dict (kept encrypted in the conversation row, since it
holds names and ID numbers): answered values, skipped slots, the slot just
asked, failed attempts per slot, and the order of answers for 返回.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.messages import Reply
from bot.screening.agreement import ConversationQuestions
from bot.screening.corrections import Corrections
from bot.screening.flow import Flow, Slot
from bot.screening.replies import ReplyReader
from bot.screening.texts import ScreeningTexts
from bot.textnorm import normalize_text


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
    """Runs the screening flow for any channel; stateless apart from the state dicts it is given."""

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
        self.clock = now

    # ---- starting -------------------------------------------------------------------
    def start(self, ctx: Context, opening: str = "") -> tuple[dict, Reply]:
        """A new screening; a program named in the opening message is not asked again."""
        state = {"flow": self.flow.id, "version": self.flow.version, "values": {}, "skipped": [],
                 "derived": [], "history": [], "attempts": {}, "asked": None, "awaiting": None,
                 "callback": False, "started": now().isoformat(), "updated": now().isoformat()}
        program = self.program_in(opening)
        if program:
            state["prefill"] = {"program": program}
        reply = Reply()
        self._ask_next(state, ctx, reply)
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

    def resume(self, state: dict, ctx: Context) -> Reply:
        """Ask the current question again (after a hand-over between channels)."""
        reply = Reply()
        self._reask(state, ctx, reply)
        return reply.expect_slot(state)

    # ---- each message ---------------------------------------------------------------
    def handle(self, state: dict, text: str, ctx: Context) -> Reply:
        """Process one resident message inside a screening; sets state['done'] when it ends."""
        reply = Reply()
        command = self.runtime.engine.command_of(text)
        if command == "exit":
            state["done"] = "cancelled"
            return reply.add(self._say("exited", ctx))
        if command == "restart":
            state.clear()
            new, start_reply = self.start(ctx)
            state.update(new)
            return reply.add(self._say("restarted", ctx)).add("\n".join(start_reply.messages)) \
                .expect_slot(state)
        awaiting = state.get("awaiting")
        if awaiting:
            return self._answer_awaiting(state, text, ctx, reply)
        if self._stale(state):
            state["awaiting"] = "resume"
            return reply.add(self._say("resume_prompt", ctx, label=self.texts.label(state["asked"]))).expect_slot(state)
        state["updated"] = now().isoformat()
        if command == "back":
            return self.corrections.go_back(state, ctx, reply)
        slot = self.flow.slot(state["asked"])
        if slot.name == "consent":
            return self.questions.consent(state, text, ctx, reply)
        if self.questions.reader.wants_to_leave(text):
            return self.questions.ask_leave(state, ctx, reply)
        if command == "skip" and slot.name != "confirm" and not self.parse(slot, text).ok:
            state["skipped"].append(slot.name)  # 不知道 / 跳过: the township asks again in person
            reply.add(self._say("skipped", ctx))
            return self._ask_next(state, ctx, reply)
        if slot.name == "confirm":
            return self.questions.confirm(state, text, ctx, reply)
        doubtful = self._doubtful(state, slot, text, ctx, reply)
        if doubtful is not None:
            return doubtful
        if self.corrections.correct(state, text, ctx, reply, alias_alone=False):
            self._reask(state, ctx, reply)
            return reply.expect_slot(state)
        parsed = self.parse(slot, text)
        digressions = state.setdefault("digressions", {})
        if not parsed.ok and digressions.get(slot.name, 0) < self.flow.retry_limit \
                and self._digression(text, ctx, reply):
            # counted, so a resident whose answer keeps reading like a question still gets a way out
            digressions[slot.name] = digressions.get(slot.name, 0) + 1
            reply.add(self._say("digression_back", ctx) + "\n" + self._question(state, slot, ctx))
            return reply.expect_slot(state)
        return self._answer(state, slot, text, ctx, reply, parsed)

    def _answer(self, state: dict, slot: Slot, text: str, ctx: Context, reply: Reply, parsed=None) -> Reply:
        parsed = parsed or self.parse(slot, text)
        if parsed.ok:
            self._store(state, slot, parsed.value)
            state["attempts"].pop(slot.name, None)
            return self._ask_next(state, ctx, reply)
        tries = state["attempts"][slot.name] = state["attempts"].get(slot.name, 0) + 1
        if tries >= self.flow.retry_limit:
            state["awaiting"] = "too_many"  # never loop: offer a way out
            return reply.add(self._say("too_many_tries", ctx)).expect_slot(state)
        hint = self._problem(parsed, text, ctx)
        reply.add((hint + "\n" if hint else "") + self._say("reask", ctx, ask=self._question(state, slot, ctx),
                                                            example=slot.example))
        return reply.expect_slot(state)

    def _doubtful(self, state: dict, slot: Slot, text: str, ctx: Context, reply: Reply) -> Reply | None:
        """Never store what the resident did not say: the yes or no to a read-back ("您是说……吗？"),
        a doubtful value read back, an emergency told at another question checked before it is
        recorded, help with a question not understood. None: an ordinary answer."""
        pending = state.pop("readback", None)
        said = self.parsers.confirms(text) if pending and pending["asked"] == slot.name else None
        if said:
            self._store(state, self.flow.slot(pending["slot"]), pending["value"])
            if pending["slot"] != pending["asked"]:  # told at another question: kept even where not asked
                state.setdefault("volunteered", []).append(pending["slot"])
            state["attempts"].pop(slot.name, None)
            return self._ask_next(state, ctx, reply)
        parsed = self.parse(slot, text)
        if said is False or parsed.problem == "confused":  # each counts as a try: never a loop
            tries = state["attempts"][slot.name] = state["attempts"].get(slot.name, 0) + 1
            if tries >= self.flow.retry_limit:
                state["awaiting"] = "too_many"
                return reply.add(self._say("too_many_tries", ctx)).expect_slot(state)
        if said is False:
            return reply.add(self._say("readback_no", ctx) + "\n" + self._question(state, slot, ctx)).expect_slot(state)
        emergency = self.flow.by_name.get("emergency")
        told = parsed.problem == "emergency_mentioned" and emergency is not None \
            and emergency.name not in state["values"]  # urgent whatever was asked for: kept if confirmed
        if parsed.readback or told:
            target, value = (emergency.name, True) if told else (slot.name, parsed.value)
            state["readback"] = {"asked": slot.name, "slot": target, "value": value}
            ask = self._say("readback_emergency" if told else "readback", ctx, label=self.texts.label(target),
                            value=self._shown(target, value, ctx))
            return reply.add(ask + self.texts.doc["readback_reply"]["sms" if ctx.channel == "sms" else "wechat"]) \
                .expect_slot(state)
        if parsed.problem != "confused":
            return None
        help_text = self.texts.doc["slot_help"].get(slot.name, "")
        if slot.name != "consent":
            help_text += ("\n" if help_text else "") + self._say("help_skip", ctx)
        return reply.add(help_text + "\n" + self._question(state, slot, ctx)).expect_slot(state)

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

    # ---- waiting for a choice of ours ------------------------------------------------
    def _answer_awaiting(self, state: dict, text: str, ctx: Context, reply: Reply) -> Reply:
        choice = self.runtime.engine.choice_number(text)
        awaiting = state["awaiting"]
        if awaiting == "leave":
            return self.questions.answer_leave(state, text, ctx, reply)
        if awaiting == "consent_menu":
            return self.questions.consent_menu(state, text, ctx, reply)
        if awaiting == "resume":
            if choice == 2 or self.runtime.engine.command_of(text) == "restart":
                state.clear()
                new, start_reply = self.start(ctx)
                state.update(new)
                return reply.add(self._say("restarted", ctx)).add("\n".join(start_reply.messages)).expect_slot(state)
            state["awaiting"] = None
            state["updated"] = now().isoformat()
            self._reask(state, ctx, reply)
            return reply.expect_slot(state)
        # too many failed tries: 1 skip, 2 ask a caseworker to call, 3 try again, 4 leave
        slot = state["asked"]
        if choice == 4 or self.questions.reader.wants_to_leave(text):
            state["awaiting"] = None
            state["done"] = "cancelled"
            return reply.add(self._say("exited", ctx))
        if choice == 1 or self.runtime.engine.command_of(text) == "skip":
            state["awaiting"] = None
            state["skipped"].append(slot)
            reply.add(self._say("skipped", ctx))
            return self._ask_next(state, ctx, reply)
        if choice == 2:
            state["awaiting"] = None
            state["skipped"].append(slot)
            state["callback"] = True
            reply.add(self._say("callback_noted", ctx))
            return self._ask_next(state, ctx, reply)
        if choice == 3:
            state["awaiting"] = None
            state["attempts"][slot] = 0
            self._reask(state, ctx, reply)
            return reply.expect_slot(state)
        # anything else: maybe it is the answer after all; if not, move on rather than ask again
        parsed = self.parse(self.flow.slot(slot), text)
        state["awaiting"] = None
        if parsed.ok:
            return self._answer(state, self.flow.slot(slot), text, ctx, reply, parsed)
        state["skipped"].append(slot)
        state["callback"] = True
        reply.add(self._say("callback_noted", ctx))
        return self._ask_next(state, ctx, reply)

    # ---- digressions -------------------------------------------------------------------
    def _digression(self, text: str, ctx: Context, reply: Reply) -> bool:
        """A policy question asked mid-form gets its answer; the form then resumes."""
        if not any(m in text for m in self.flow.question_markers):
            return False
        result = self.runtime.matcher.match(text)
        if result.outcome != "answer" or result.best.entry.kind not in ("faq", "referral"):
            return False
        self.runtime.insight.note("question.answered", ctx.channel, result.best.entry.topic)
        reply.add(result.best.entry.answer_for(ctx.channel))
        return True

    # ---- confirming and submitting -------------------------------------------------------
    def _submit(self, state: dict, ctx: Context, reply: Reply) -> Reply:
        from bot.screening import submission
        from bot.screening.notify import notify_submitted

        values = self._applicable(state)
        assessment = self.rules.assess(values)
        consent = {"given": True, "flow_version": self.flow.version,
                   # screenings begun before consent records were kept: when and where only
                   **state.get("consent", {"at": state["started"], "channel": ctx.channel})}
        ref = self.leads.create(
            channel=ctx.channel, user_key=ctx.user_key, values=values,
            programs=submission.lead_programs(assessment),
            urgency=assessment.urgency, documents=list(assessment.documents), consent=consent,
            needs_callback=state.get("callback", False),
            # derived from saved state, so a retry after a concurrent update finds the same lead
            submission_key=self.leads.protector.blind_index("submission", f"{ctx.user_key}|{state['started']}"))
        state["done"] = "submitted"
        state["ref"] = ref
        notify_submitted(self.runtime, ref, ctx.channel, values,
                         submission.confirmation_sms(self.config, self.texts, ref, values, assessment))
        reply.application_ref = ref
        return reply.add(submission.submitted_text(self.config, self.texts, ref, values, assessment,
                                                   ctx.channel, self.rules.forms))

    # ---- asking ----------------------------------------------------------------------
    def _ask_next(self, state: dict, ctx: Context, reply: Reply) -> Reply:
        """Fill what can be derived, then ask the next slot that applies."""
        self._derive(state, ctx)
        slot = self.flow.next_slot(state["values"], set(state["skipped"]))
        state["asked"] = slot.name if slot else "confirm"
        reply.add(self._question(state, self.flow.slot(state["asked"]), ctx))
        return reply.expect_slot(state)

    def _reask(self, state: dict, ctx: Context, reply: Reply) -> None:
        if state["asked"] == "confirm" or state["asked"] is None:
            state["asked"] = None
            self._ask_next(state, ctx, reply)
        else:
            reply.add(self._question(state, self.flow.slot(state["asked"]), ctx))

    def _question(self, state: dict, slot: Slot, ctx: Context) -> str:
        ask = slot.ask_sms if ctx.channel == "sms" and slot.ask_sms else slot.ask
        text = ask.format(bureau=self.config.county.bureau, county=self.config.county.name,
                               retention=self.texts.get("retention"),
                               summary=self._summary(state, ctx) if slot.name == "confirm" else "")
        if self.shows_numbers(slot, ctx):
            text += "\n" + "\n".join(f"{i}. {c}" for i, c in enumerate(slot.choices, 1))
            if ctx.channel == "sms":
                text += "\n回复数字"
        return text

    @staticmethod
    def shows_numbers(slot: Slot, ctx: Context) -> bool:
        """Whether a question lists its choices as numbers (always on SMS; choice questions everywhere)."""
        return bool(slot.choices) and (ctx.channel == "sms" or slot.kind == "choice")

    def _summary(self, state: dict, ctx: Context) -> str:
        values = self._applicable(state)
        if ctx.channel == "sms":  # every character costs: one compact line
            parts = [f"{self.texts.label(n)}{self._shown(n, v, ctx)}" for n, v in values.items()
                     if n not in ("consent", "confirm")]
            return "，".join(parts)  # the SMS question itself says 请核对
        lines = [self.texts.get("summary_header")]
        for slot in self.flow.slots:
            if slot.name in ("consent", "confirm"):
                continue
            if slot.name in values:
                lines.append(self.texts.get("summary_line", label=self.texts.label(slot.name),
                                            value=self._shown(slot.name, values[slot.name], ctx)))
            elif slot.name in state["skipped"] and slot.applies(values):
                lines.append(self.texts.get("summary_line", label=self.texts.label(slot.name),
                                            value=self.texts.doc["values"]["skipped"]))
        return "\n".join(lines)

    def _shown(self, slot: str, value, ctx: Context) -> str:
        """Values as shown back: ID and phone partly hidden on the screen (shoulder-surfing, logs)."""
        from bot.privacy import mask_id_number, mask_phone

        if slot == "id_number":
            return mask_id_number(value)
        if slot == "phone" and ctx.channel != "sms":
            return mask_phone(value)
        return self.texts.display(slot, value)

    # ---- values ----------------------------------------------------------------------
    def _store(self, state: dict, slot: Slot, value, answered: bool = True) -> None:
        state["values"][slot.name] = value
        if slot.name in state["skipped"]:
            state["skipped"].remove(slot.name)
        if slot.name in state["derived"]:
            state["derived"].remove(slot.name)  # the resident's own word beats a derivation
        if answered and slot.name not in state["history"]:
            state["history"].append(slot.name)
        if slot.name == "id_number":  # a corrected ID number re-derives the age
            for derived in list(state["derived"]):
                if self._source_of(derived) == "id_number":
                    state["values"].pop(derived, None)
                    state["derived"].remove(derived)

    def _derive(self, state: dict, ctx: Context) -> None:
        values = state["values"]
        for name, value in (state.pop("prefill", None) or {}).items():
            values.setdefault(name, value)
            state["derived"].append(name)
        for slot in self.flow.slots:
            if not slot.derive or slot.name in values:
                continue
            value = derive(slot.derive, values, ctx)
            if value is not None:
                values[slot.name] = value
                state["derived"].append(slot.name)

    def _source_of(self, derived_slot: str) -> str | None:
        slot = self.flow.by_name.get(derived_slot)
        return {"age_from_id": "id_number"}.get(slot.derive) if slot and slot.derive else None

    def _applicable(self, state: dict) -> dict:
        """Answers to slots that (still) apply — a changed program drops the others."""
        values = state["values"]
        volunteered = state.get("volunteered", ())
        return {s.name: values[s.name] for s in self.flow.slots if s.name in values and s.name != "confirm"
                and (s.applies(values) or s.name in volunteered)}

    def _stale(self, state: dict) -> bool:
        updated = dt.datetime.fromisoformat(state["updated"])
        return now() - updated > dt.timedelta(hours=self.config.resume_hours)

    def expired(self, state: dict) -> bool:
        """Abandoned longer than the configured expiry: the state must be deleted."""
        updated = dt.datetime.fromisoformat(state["updated"])
        return now() - updated > dt.timedelta(days=self.config.screening_expiry_days)

    def _problem(self, parsed, text: str, ctx: Context) -> str:
        problems = self.texts.doc["reask_problem"]
        if not parsed.problem or parsed.problem not in problems:
            return ""
        digits = sum(c.isdigit() or c in "xX" for c in normalize_text(text))
        return problems[parsed.problem].format(
            length=digits, county=self.config.county.name,
            townships="、".join(t.rstrip("乡镇") for t in self.config.county.townships))

    def _say(self, key: str, ctx: Context, **values) -> str:
        defaults = {"assistance_hotline": self.config.county.hotlines.assistance,
                    "days": self.config.screening_expiry_days}
        return self.texts.get(key, **{**defaults, **values})


def derive(kind: str, values: dict, ctx: Context):
    """Fill a slot from others: age from the ID number's birth date; phone from the SMS sender."""
    if kind == "age_from_id" and values.get("id_number"):
        born = dt.date(int(values["id_number"][6:10]), int(values["id_number"][10:12]),
                       int(values["id_number"][12:14]))
        today = now().date()
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if kind == "channel_phone" and ctx.channel == "sms":
        digits = "".join(c for c in ctx.user_id if c.isdigit())[-11:]
        if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
            return digits
    return None
