"""Changing an earlier answer: '说错了，是四口人', '收入改成一千五', '打错了' then the right ID, 返回.

Which answer a correction means: the one it names (收入, 身份证), else the one
whose kind of value it carries (四口人 is a household size, an 18-digit number an
ID number), else the last one given. A bare '打错了' asks the last one again.
"""
from __future__ import annotations

import re

from bot.messages import Reply
from bot.screening.answers import forget_derived_from
from bot.screening.flow import Slot
from bot.screening.state import ScreeningState

# Answers whose values cannot be mistaken for another slot's: a parse is enough to tell.
DISTINCT_KINDS = ("id_number", "phone", "township")
# "是黄春森，不是黄春生" / "不是黄春生，是黄春森": the 不是 clause names the wrong value
_WRONG_VALUE = re.compile(r"不是[^，,。；;！!？?\s]*")
# what joins the marker to the value, left behind once the marker is cut: "说错了，是黄春森"
_LEADING_COPULA = re.compile(r"^[\s，,。：:；;、]*(?:应该)?(?:是|叫|为)?[\s，,：:]*")
_CONTRAST = re.compile(r"不是.+是|是.+不是")


def _value_part(text: str, marked: list[str], alias: str | None) -> str:
    """The new value of a correction, without what says it is one.

    '说错了，名字是黄春森' → 黄春森, '村子说错了，是太平村' → 太平村, '不对，我叫黄春森' → 我叫黄春森
    (the name parser knows 我叫): what follows the last marker (or precedes the first,
    '四口人，说错了'), without the wrong value (不是黄春生), the slot's name or the 是 / 叫 joining them.
    """
    said = _WRONG_VALUE.sub(" ", text) if "不是" in text else text
    if marked:
        cut = max(said.rfind(m) + len(m) for m in marked if m in said) if any(m in said for m in marked) else 0
        after = said[cut:]
        if any(ch.isalnum() for ch in after):
            said = after
        else:
            said = said[:min(said.find(m) for m in marked if m in said)] if any(m in said for m in marked) else said
    for _ in range(2):  # ，名字是黄春森: punctuation, the slot's name, then 是
        said = _LEADING_COPULA.sub("", said)
        if alias and said.startswith(alias):
            said = said[len(alias):]
    for word in marked:  # a marker inside what is left (打错了 twice)
        said = said.replace(word, " ")
    return said.strip()


class Corrections:
    """Corrections and going back, for a Screener (it owns the state and the texts)."""

    def __init__(self, screener):
        self.s = screener

    def correct(self, state: ScreeningState, text: str, ctx, reply: Reply, alias_alone: bool) -> bool:
        """Change an earlier answer if the message is a correction; True if it was handled.

        `alias_alone`: a message naming an answered slot (收入1500) corrects it even
        without 改成 / 说错了 (at the summary, where no question is pending).
        """
        flow = self.s.flow
        marked = [m for m in flow.correction_markers if m in text]
        target, alias = self._named_slot(state, text)
        contrast = target is not None and _CONTRAST.search(text)  # 名字是黄春森，不是黄春生
        if not marked and not contrast and not (alias_alone and target):
            return False
        rest = _value_part(text, marked, alias)
        if target is None:
            target = self._meant_slot(state, rest)
        if target is not None and target.name == state.asked:
            return False  # correcting the question just asked: that is simply its answer
        if target is None:
            return self._ask_last_again(state, rest, ctx, reply)
        parsed = self.s.parse(target, rest)
        if not parsed.ok or target.name == "consent":
            reply.add(self.s.say("not_corrected", ctx))
            return True
        self.s.store(state, target, parsed.value, answered=target.name not in state.history)
        reply.add(self.s.say("corrected", ctx, label=self.s.texts.label(target.name),
                             value=self.s.shown(target.name, parsed.value, ctx)))
        return True

    def _meant_slot(self, state: ScreeningState, rest: str) -> Slot | None:
        """The answered slot a correction without a name is about, latest answers first."""
        flow, answered = self.s.flow, [n for n in reversed(state.history) if n in state.values]
        asked = state.asked
        for name in [asked, *answered] if asked in flow.by_name else answered:  # 四口人: a value's unit words
            if any(cue in rest for cue in flow.correction_cues.get(name, ())):
                return flow.slot(name)
        for name in answered:  # an ID number, a phone number, a township
            slot = flow.slot(name)
            if slot.kind in DISTINCT_KINDS and self.s.parse(slot, rest).ok:
                return slot
        if answered and self.s.parse(flow.slot(answered[0]), rest).ok:
            return flow.slot(answered[0])
        return None

    def _ask_last_again(self, state: ScreeningState, rest: str, ctx, reply: Reply) -> bool:
        """'打错了' alone: ask the last answer again; with words we cannot place, say how."""
        if any(ch.isalnum() for ch in rest) or not state.history:
            reply.add(self.s.say("not_corrected", ctx))
            return True
        self.go_back(state, ctx, reply, said="ask_again")
        return True

    def _named_slot(self, state: ScreeningState, text: str) -> tuple[Slot | None, str | None]:
        """The answered slot the message names by an alias, longest alias first."""
        best: tuple[Slot | None, str | None] = (None, None)
        for slot in self.s.flow.slots:
            if slot.name in ("consent", "confirm") or slot.name not in state.values:
                continue
            for alias in slot.aliases:
                if alias in text and (best[1] is None or len(alias) > len(best[1])):
                    best = (slot, alias)
        return best

    def go_back(self, state: ScreeningState, ctx, reply: Reply, said: str = "went_back") -> Reply:
        """返回: forget the last answer (and what was derived from it) and ask it again."""
        s = self.s
        if not state.history:
            reply.add(s.say("nothing_to_go_back", ctx))
            s.reask(state, ctx, reply)
            return reply.expect_slot(state)
        previous = state.history.pop()
        state.values.pop(previous, None)
        forget_derived_from(s.flow, state, previous)  # values derived from the undone answer go too
        state.asked = previous
        reply.add(s.say(said, ctx, label=s.texts.label(previous)))
        s.reask(state, ctx, reply)
        return reply.expect_slot(state)
