"""A screening's values: storing an answer, deriving what follows from others, what still applies.

Derived values (age from the ID number, the phone of an SMS sender, the programme
named in the opening) yield to the resident's own word, and go when the answer
they came from is corrected or undone.
"""
from __future__ import annotations

import datetime as dt

from bot.screening.flow import Flow, Slot
from bot.screening.state import ScreeningState

# What each derivation reads: undoing or correcting that answer drops the derived value.
DERIVED_FROM = {"age_from_id": "id_number"}


def store(flow: Flow, state: ScreeningState, slot: Slot, value, answered: bool = True) -> None:
    """Keep a value for a slot; `answered`: the resident said it (返回 can undo it)."""
    state.values[slot.name] = value
    if slot.name in state.skipped:
        state.skipped.remove(slot.name)
    if slot.name in state.derived:
        state.derived.remove(slot.name)  # the resident's own word beats a derivation
    if answered and slot.name not in state.history:
        state.history.append(slot.name)
    if slot.name == "id_number":  # a corrected ID number re-derives the age
        forget_derived_from(flow, state, "id_number")


def forget_derived_from(flow: Flow, state: ScreeningState, source: str) -> None:
    """Drop the values derived from one answer (it was corrected or undone)."""
    for name in list(state.derived):
        if source_of(flow, name) == source:
            state.values.pop(name, None)
            state.derived.remove(name)


def derive_all(flow: Flow, state: ScreeningState, ctx, today: dt.date) -> None:
    """Fill what the opening named and what follows from other answers (not asked then)."""
    values = state.values
    for name, value in state.prefill.items():
        values.setdefault(name, value)
        state.derived.append(name)
    state.prefill = {}
    for slot in flow.slots:
        if not slot.derive or slot.name in values:
            continue
        value = derive(slot.derive, values, ctx, today)
        if value is not None:
            values[slot.name] = value
            state.derived.append(slot.name)


def source_of(flow: Flow, derived_slot: str) -> str | None:
    """The answer a derived slot was worked out from, if any."""
    slot = flow.by_name.get(derived_slot)
    return DERIVED_FROM.get(slot.derive) if slot and slot.derive else None


def applicable(flow: Flow, state: ScreeningState) -> dict:
    """Answers to slots that (still) apply — a changed program drops the others."""
    values = state.values
    return {s.name: values[s.name] for s in flow.slots if s.name in values and s.name != "confirm"
            and (s.applies(values) or s.name in state.volunteered)}


def derive(kind: str, values: dict, ctx, today: dt.date):
    """Fill a slot from others: age from the ID number's birth date; phone from the SMS sender."""
    if kind == "age_from_id" and values.get("id_number"):
        born = dt.date(int(values["id_number"][6:10]), int(values["id_number"][10:12]),
                       int(values["id_number"][12:14]))
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if kind == "channel_phone" and ctx.channel == "sms":
        digits = "".join(c for c in ctx.user_id if c.isdigit())[-11:]
        if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
            return digits
    return None
