"""What a reply to one of the screening's own questions means: yes, no, leave, why, a greeting.

Consent and submission need an explicit yes, so this reader is strict where the
answer parsers are generous: a reply is AGREE (or CONFIRM) only when it is made
of nothing but agreement words and fillers (好的同意, 嗯嗯，提交, 确认无误). Anything
with a question in it, a greeting alone, a hesitation or words we do not know is
not a yes. The words live in knowledge/screening/replies.yaml.
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path

import yaml

from bot.errors import KnowledgeError
from bot.screening.parsing.words import _compact, _Words
from bot.textnorm import normalize_text
from knowledge import KNOWLEDGE_DIR

REPLIES_FILE = Path("screening") / "replies.yaml"
SECTIONS = ("agree", "confirm", "refuse", "modify", "fillers", "greetings", "hesitations",
            "question_words", "why_words", "leave")


class Meaning(Enum):
    """What a reply to a conversation question says."""

    YES = "yes"              # an explicit yes (consent) or "file it" (confirm)
    NO = "no"                # a refusal (consent) or "something is wrong" (confirm)
    LEAVE = "leave"          # the resident wants to stop: 不想填了, 删掉我的信息
    WHY = "why"              # why is this needed, who sees it (为什么要身份证号)
    QUESTION = "question"    # some other question
    GREETING = "greeting"    # 你好, 在吗: nothing more
    HESITATION = "hesitation"  # 我要想一下
    UNCLEAR = "unclear"      # anything else


class ReplyReader:
    """Reads replies to consent, confirm and leave questions from the words of replies.yaml."""

    def __init__(self, words: dict[str, list[str]]):
        missing = [s for s in SECTIONS if not isinstance(words.get(s), list)]
        if missing:
            raise KnowledgeError([f"{REPLIES_FILE}: missing list {s!r}" for s in missing])
        w = {s: [_compact(normalize_text(str(x))) for x in words[s]] for s in SECTIONS}
        self._leave = _Words(dict.fromkeys(w["leave"], True))
        self._questions = _Words(dict.fromkeys(w["question_words"], True))
        self._why = _Words(dict.fromkeys(w["why_words"], True))
        self._hesitations = _Words(dict.fromkeys(w["hesitations"], True))
        neutral = {x: "filler" for x in w["fillers"]} | {x: "greeting" for x in w["greetings"]}
        # per question: yes words and no words, with the fillers that may stand around them
        self._consent = _Words(neutral | dict.fromkeys(w["agree"], "yes") | dict.fromkeys(w["refuse"], "no"))
        self._confirm = _Words(neutral | dict.fromkeys(w["confirm"], "yes") | dict.fromkeys(w["modify"], "no"))

    @classmethod
    def from_knowledge(cls, directory: Path | None = None) -> ReplyReader:
        """Load knowledge/screening/replies.yaml; KnowledgeError if unreadable or incomplete."""
        path = Path(directory or KNOWLEDGE_DIR) / REPLIES_FILE
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KnowledgeError([f"{REPLIES_FILE}: cannot read ({exc})"]) from None
        return cls(doc)

    def wants_to_leave(self, text: str) -> bool:
        """不想填了, 算了不搞了, 删掉我的信息 … anywhere in the message."""
        return bool(self._leave.scan(_compact(normalize_text(text))))

    def read(self, text: str, question: str, numbered: dict[str, Meaning] | None = None) -> Meaning:
        """The meaning of a reply to the 'consent' or 'confirm' question.

        `numbered` maps the digits offered with the question (1 同意, 2 不同意) to meanings;
        a digit that was not offered means nothing.
        """
        clean = normalize_text(text)
        compact = _compact(clean)
        if not compact:
            return Meaning.UNCLEAR
        if numbered and compact in numbered:
            return numbered[compact]
        if self._leave.scan(compact):
            return Meaning.LEAVE
        words = self._consent if question == "consent" else self._confirm
        meaning = self._polarity(compact, words)
        if meaning is Meaning.GREETING:
            return meaning  # 在吗？ is a greeting, not a question
        if "?" in clean or "？" in clean or self._questions.scan(compact):
            return Meaning.WHY if self._why.scan(compact) else Meaning.QUESTION
        if self._why.scan(compact):
            return Meaning.WHY  # 要身份证做么子 without a question mark
        if self._hesitations.scan(compact):
            return Meaning.HESITATION
        return meaning

    @staticmethod
    def _polarity(compact: str, words: _Words) -> Meaning:
        """YES only when every character belongs to a known word and a yes word is among them."""
        found = words.scan(compact)
        covered = sum(end - start for start, end, _ in found) == len(compact)
        tags = {tag for _, _, tag in found}
        if "no" in tags and (covered or "yes" not in tags and any(
                end - start >= 2 for start, end, tag in found if tag == "no")):
            return Meaning.NO  # 不同意, 不对; a lone 不 among other words is not enough
        if not covered or "no" in tags:
            return Meaning.UNCLEAR  # words we do not know, or yes and no together: never a yes
        if "yes" in tags:
            return Meaning.YES
        return Meaning.GREETING if "greeting" in tags else Meaning.UNCLEAR
