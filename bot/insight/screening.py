"""A screening's events, read from its state before and after one message.

Reading the change instead of calling a hook at every branch of the screening
keeps bot/screening/ free of counting. A step counts as asked when the screening
moves on to it — not for a re-ask, a resume, or the step 返回 goes back to — and
as answered when its answer is recorded (a correction is no new answer; the one
given again after 返回 is). Every screening that starts ends as submitted or
abandoned — 退出, 不同意, a restart, or left unfinished until it expired — at the
step where it stopped: that is the "where people give up" count. Steps that only
some residents are asked are counted only where they were asked, so a conditional
step never looks like a drop-off.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

FAILED_STATES = ("too_many", "consent_menu")      # the way-out menu after too many unclear replies
CONTEXT = ("township", "program", "age")           # the values an event may carry (as band or name)


@dataclass(frozen=True)
class ScreeningView:
    """The parts of a screening state the events are read from (a copy: the state changes in place)."""

    started: str | None
    asked: str | None
    history: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    known: frozenset[str] = frozenset()
    awaiting: str | None = None
    done: str | None = None
    context: dict = field(default_factory=dict)


def view_of(state) -> ScreeningView | None:
    """A screening state's view (a ScreeningState or its JSON), or None for no screening."""
    if not state:
        return None
    if not isinstance(state, dict):
        state = state.to_json()  # bot.screening.state.ScreeningState: the same keys
    values = state.get("values") or {}
    return ScreeningView(started=state.get("started"), asked=state.get("asked"),
                         history=tuple(state.get("history") or ()), skipped=tuple(state.get("skipped") or ()),
                         known=frozenset(values), awaiting=state.get("awaiting"), done=state.get("done"),
                         context={k: values[k] for k in CONTEXT if k in values})


Event = tuple[str, "str | None", dict]  # (kind, step, context)


def screening_events(before: ScreeningView | None, after: ScreeningView | None) -> list[Event]:
    """What happened between two views of a conversation's screening."""
    if before is None and after is None:
        return []
    if before is not None and before.done:
        before = None  # (an ended screening still in hand: what follows is a new one)
    if after is None:
        return [] if before is None else [("screening.abandoned", before.asked, before.context)]
    if before is None:
        return [("screening.started", None, after.context), *_progress(None, after)]
    if after.started != before.started:
        if after.history:  # the screening left on the other channel, taken over (counted there already)
            return [("screening.abandoned", before.asked, before.context)]
        return [("screening.abandoned", before.asked, before.context),  # 重新开始: a new one begins
                ("screening.started", None, after.context), *_progress(None, after)]
    return list(_progress(before, after))


def _progress(before: ScreeningView | None, after: ScreeningView) -> Iterator[Event]:
    """Answers, skips, a failed step, the next step asked, and how it ended."""
    ctx = after.context
    earlier = set(before.history) if before else set()
    for step in after.history:
        if step not in earlier:
            yield "screening.answered", step, ctx
    skipped_before = set(before.skipped) if before else set()
    for step in after.skipped:
        if step not in skipped_before:
            yield "screening.skipped", step, ctx
    if after.awaiting in FAILED_STATES and (before is None or before.awaiting != after.awaiting):
        yield "screening.failed", after.asked, ctx
    if after.done == "submitted":
        yield "screening.submitted", after.asked, ctx
        return
    if after.done:  # cancelled (退出, 不想填了), refused (不同意), callback (only a call back asked)
        yield "screening.abandoned", after.asked, ctx
        return
    reached = (set(before.history) | set(before.skipped) | before.known) if before else set()
    if after.asked and (before is None or after.asked != before.asked) and after.asked not in reached:
        yield "screening.asked", after.asked, ctx
