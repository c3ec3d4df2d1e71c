"""Turn a MatchResult into the text a resident receives on a given channel."""
from __future__ import annotations

from dataclasses import dataclass

from bot.dialogue.choices import numbered_lines
from bot.knowledge import KnowledgeBase
from bot.matching.matcher import MatchResult, Scored


@dataclass(frozen=True)
class Answer:
    """The reply to one question, plus what `jiuzhu ask --json` reports about it."""

    text: str
    topic: str | None
    entry_id: str | None
    confidence: float
    outcome: str
    choices: tuple[Scored, ...] = ()   # offered as numbered choices (outcome "choices")
    alternatives: tuple[Scored, ...] = ()

    def as_json(self) -> dict:
        """The contract's JSON object for `jiuzhu ask --json` (plus `outcome`)."""
        shown = self.choices or self.alternatives
        return {
            "topic": self.topic,
            "entry_id": self.entry_id,
            "confidence": round(self.confidence, 3),
            "answer": self.text,
            "alternatives": [{"topic": s.entry.topic, "entry_id": s.entry.id, "title": s.entry.title}
                             for s in shown],
            "outcome": self.outcome,
        }


def compose_answer(kb: KnowledgeBase, result: MatchResult, channel: str) -> Answer:
    """The reply for a match result; only a confident match names a topic."""
    best = result.best
    confidence = best.confidence if best else 0.0
    if result.outcome == "answer" and best:
        return Answer(best.entry.answer_for(channel), best.entry.topic, best.entry.id, confidence,
                      "answer", alternatives=result.alternatives)
    if result.outcome == "choices":
        return Answer(render_choices(kb, result.alternatives, channel), None, None, confidence,
                      "choices", choices=result.alternatives)
    if result.outcome == "decline":
        text = best.entry.answer_for(channel) if best else kb.message("decline_default", channel)
        return Answer(text, None, None, confidence, "decline")
    if result.outcome == "empty":
        return Answer(kb.message("empty_message", channel), None, None, 0.0, "empty")
    return Answer(kb.message("dont_know", channel), None, None, confidence, "unknown",
                  alternatives=result.alternatives)


def render_choices(kb: KnowledgeBase, choices: tuple[Scored, ...], channel: str) -> str:
    """「您是不是想问：」 with numbered entry titles."""
    lines = numbered_lines([s.entry.title for s in choices],
                           lambda n, title: kb.message("choice_line", channel, number=n, title=title))
    return kb.message("did_you_mean", channel, choices=lines)
