"""The vocabulary of an insight event, and the recorder every hook calls (`runtime.insight`).

Every value of an event comes from a closed list — a kind below, a topic id of
knowledge/topics.yaml, a step of the screening flow, a configured township, a
programme, an age band — so no message text or personal data can reach the table
even by mistake: a value outside its list is dropped (the event kept, the value
None). Recording never raises into a resident's answer: a bug here is logged and
the event lost.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from functools import cached_property
from zoneinfo import ZoneInfo

from bot.domain import CHANNELS, PROGRAMS
from bot.insight.screening import ScreeningView, screening_events, view_of
from bot.storage.models import InsightEvent

log = logging.getLogger(__name__)

QUESTION_KINDS = {
    "answer": "question.answered",     # a confident answer
    "choices": "question.offered",     # 您是不是想问 with numbered choices (subject: the first choice)
    "unknown": "question.unanswered",  # an honest "I don't know"
    "decline": "question.declined",    # out of scope (weather, tickets …), declined politely
}
QUESTION_CHOSEN = "question.chosen"    # a numbered choice of an offer taken
SCREENING_KINDS = ("screening.started", "screening.asked", "screening.answered", "screening.skipped",
                   "screening.failed", "screening.abandoned", "screening.submitted")
OUTBOX_KINDS = ("outbox.sent", "outbox.failed", "outbox.cancelled")
SUBSCRIPTION_KINDS = ("subscription.subscribed", "subscription.unsubscribed")
KINDS = frozenset((*QUESTION_KINDS.values(), QUESTION_CHOSEN, *SCREENING_KINDS, *OUTBOX_KINDS,
                   *SUBSCRIPTION_KINDS))
PROGRAMME_VALUES = frozenset((*PROGRAMS, "unsure"))
AGE_BANDS = ("<60", "60-79", "80+")
_SLUG = re.compile(r"[a-z][a-z0-9_-]{0,23}")         # an outbox kind (the idempotency key's first part)
_CAMPAIGN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


def age_band(age) -> str | None:
    """<60, 60-79 or 80+ for an age in years; None when unknown or not a plausible age."""
    if isinstance(age, bool) or not isinstance(age, (int, float)) or not 0 <= age < 130:
        return None
    return AGE_BANDS[0] if age < 60 else AGE_BANDS[1] if age < 80 else AGE_BANDS[2]


class Insight:
    """Builds checked events and puts them where they belong: the running turn, or a session."""

    def __init__(self, runtime):
        self.runtime = runtime

    @cached_property
    def zone(self) -> ZoneInfo:
        """The county's time zone: an event's day is the county's day."""
        return ZoneInfo(self.runtime.config.workbench.timezone)

    @cached_property
    def townships(self) -> frozenset[str]:
        return frozenset(self.runtime.config.county.townships)

    @cached_property
    def topics(self) -> frozenset[str]:
        """The knowledge base's topic ids (loaded only by processes that answer questions)."""
        return frozenset(self.runtime.kb.topics)

    @cached_property
    def steps(self) -> frozenset[str]:
        from bot.screening.flow import CONTRACT_SLOTS

        return frozenset(CONTRACT_SLOTS)

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The county's date now."""
        return (now or dt.datetime.now(dt.timezone.utc)).astimezone(self.zone).date()

    # ---- building ----------------------------------------------------------------------
    def event(self, kind: str, channel: str, subject: str | None = None, *, township: str | None = None,
              programme: str | None = None, age=None, campaign: str | None = None,
              day: dt.date | None = None) -> dict | None:
        """An event's row with every value checked against its list; None for an unknown kind or channel."""
        if kind not in KINDS or channel not in CHANNELS:
            return None
        return {"day": day or self.today(), "kind": kind, "subject": self._subject(kind, subject),
                "channel": channel, "township": township if township in self.townships else None,
                "programme": programme if programme in PROGRAMME_VALUES else None,
                "age_band": age if age in AGE_BANDS else age_band(age),
                "campaign": campaign if isinstance(campaign, str) and _CAMPAIGN.fullmatch(campaign) else None}

    def _subject(self, kind: str, subject) -> str | None:
        if not isinstance(subject, str):
            return None
        family = kind.split(".", 1)[0]
        if family == "question":
            return subject if subject in self.topics else None
        if family == "screening":
            return subject if subject in self.steps else None
        if family == "outbox":
            return subject if _SLUG.fullmatch(subject) else None
        if subject in ("all", "notices"):  # subscription: the channel itself, general notices, or a topic
            return subject
        return subject if subject in self.topics else None

    # ---- recording ---------------------------------------------------------------------
    def note(self, kind: str, channel: str, subject: str | None = None, **dimensions) -> None:
        """Record an event with the turn being run (written in its transaction); outside a turn
        (`jiuzhu ask`, evaluations) nothing is recorded."""
        from bot.dialogue.turns import current_turn

        try:
            turn = current_turn()
            row = self.event(kind, channel, subject, **dimensions) if turn is not None else None
            if row is not None:
                turn.events.append(row)
        except Exception:  # noqa: BLE001 — counting must never cost a resident their answer
            log.exception("insight: could not note a %s event", kind)

    def record(self, session, kind: str, channel: str, subject: str | None = None, **dimensions) -> None:
        """Add an event to the caller's unit of work (an outbox outcome, a subscription change)."""
        try:
            row = self.event(kind, channel, subject, **dimensions)
            if row is not None:
                session.add(InsightEvent(**row))
        except Exception:  # noqa: BLE001 — as note(): the caller's change goes on without it
            log.exception("insight: could not record a %s event", kind)

    # ---- the hooks -----------------------------------------------------------------------
    def answered(self, answer, channel: str, township: str | None = None) -> None:
        """A question matched: answered, offered (subject: the first choice), unanswered or declined.
        `township`: the resident's, when the conversation knows it (never guessed)."""
        kind = QUESTION_KINDS.get(answer.outcome)
        if kind is not None:
            topic = answer.topic or (answer.choices[0].entry.topic if answer.choices else None)
            self.note(kind, channel, topic, township=township)

    def chosen(self, topic: str | None, channel: str, township: str | None = None) -> None:
        """A numbered choice of 您是不是想问 taken: the question is answered after all."""
        self.note(QUESTION_CHOSEN, channel, topic, township=township)

    @staticmethod
    def before_screening(state) -> ScreeningView | None:
        """What screening() compares with: the screening as a message finds it."""
        return view_of(state)

    def screening(self, before, after, channel: str) -> None:
        """The events of one message in a screening: started, asked, answered, skipped, failed,
        abandoned, submitted (a state None: no screening, before it began or after it ended)."""
        try:
            if not isinstance(before, ScreeningView):
                before = view_of(before)  # a screening state (or its JSON) as the message found it
            for kind, step, context in screening_events(before, view_of(after)):
                self.note(kind, channel, step, township=context.get("township"),
                          programme=context.get("program"), age=context.get("age"))
        except Exception:  # noqa: BLE001 — a screening state of an unexpected shape: counted less
            log.exception("insight: could not read a screening's events")
