"""A question in its conversation: the greetings around it, a wish to apply, a follow-up.

Residents rarely send a bare question. "同志你好，临时救助去哪里申请" is a
question in a greeting; "我想申请特困" asks for nothing but to apply;
"那要怎么申请啊？" right after an answer about 低保 is about 低保. The word lists
are data (knowledge/lexicon/context.yaml); this module only applies them:

* `Wrappers.unwrap` drops greetings, thanks and politeness around a question
  (a message of nothing else becomes the canonical greeting or thanks);
* `ApplyWish.found` tells a wish to apply from a question about applying;
* `FollowUp.frame` puts a short follow-up in the programme just answered, and
  `FollowUp.prefer` decides whether that reading wins.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot.textnorm import normalize_text

_SEPARATORS = r"\s,，.。!！?？;；:：、~～…·"
_SPLIT = re.compile(f"([{_SEPARATORS}]+)")
_NOT_WORD = re.compile(r"[\W_]+")


def _alternation(words) -> str:
    """A regex alternation of the words, longest first (so 谢谢你 is not read as 谢谢 + 你)."""
    return "|".join(map(re.escape, sorted({str(w).lower() for w in words}, key=len, reverse=True)))


def _clauses(text: str) -> list[tuple[str, str]]:
    """(clause, the separator after it) pairs; empty clauses left out."""
    parts = _SPLIT.split(text)
    parts.append("")
    return [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2) if parts[i]]


class Wrappers:
    """Greetings, forms of address, politeness and thanks around a question."""

    def __init__(self, spec: dict):
        particles = f"(?:{_alternation(spec['particles'])})*"
        address = _alternation(spec["addresses"])
        leading = _alternation([*spec["greetings"], *spec["polite"], *spec["thanks"]])
        # one wrapper: greeting/polite/thanks word, optionally after forms of address (同志你好),
        # or forms of address with 好 (师傅好)
        unit = f"(?:(?:{address})*(?:{leading})|(?:{address})+好){particles}"
        self._lead = re.compile(f"^(?:{unit})+")
        self._tail = re.compile(f"(?:(?:{_alternation(spec['thanks'])}){particles})+$")
        self._whole = re.compile(f"(?:{unit}|(?:{address}|{_alternation(spec['acknowledgements'])}){particles})+")
        self._thanks = re.compile(_alternation(spec["thanks"]))
        self._greeting = re.compile(f"{_alternation(spec['greetings'])}|{address}")
        self.canonical = dict(spec["canonical"])

    def unwrap(self, question: str) -> str:
        """The question without the wrappers around it; the message itself if it is nothing else
        but polite words or acknowledgements, the canonical greeting or thanks if it is those."""
        text = normalize_text(question)
        kept, dropped = [], []
        for clause, sep in _clauses(text):
            if self._whole.fullmatch(clause):
                dropped.append(clause)
                continue
            core = self._tail.sub("", self._lead.sub("", clause, count=1), count=1)
            if len(core) == 1:  # 有没有人工 is not 有没有人 + 工: a lone character stays in its words
                core = clause
            if core:
                kept.append(core + sep)
            else:
                dropped.append(clause)
        if kept:
            unwrapped = "".join(kept).strip()
            return question if unwrapped == text else unwrapped  # unchanged: the very same string
        if any(self._thanks.search(c) for c in dropped):
            return self.canonical["thanks"]
        if any(self._greeting.search(c) for c in dropped):
            return self.canonical["greeting"]
        return question


class ApplyWish:
    """"我想申请特困", "帮我奶奶申请低保": a wish to apply, not a question about applying."""

    def __init__(self, spec: dict):
        self.topic = spec["topic"]
        verbs, between = _alternation(spec["verbs"]), _alternation(spec["between"])
        self._wish = re.compile(
            f"(?:{_alternation(spec['wish'])})"
            f"(?:[^{_SEPARATORS}]{{0,{int(spec['gap'])}}}?(?:{verbs})(?:{between})?)?"
            f"(?:{_alternation(spec['programs'])})(?:{_alternation('啊呀吧啦了哦嘛哈的喔')})*$")
        self._question = re.compile(_alternation(spec["questions"]))
        self._refusal = re.compile(_alternation(spec["refusals"]))

    def found(self, prepared: str) -> bool:
        """Whether the (prepared) message is a wish to apply for a programme."""
        if self._question.search(prepared):  # in any clause, or its question mark
            return False
        return any(self._wish.search(c) and not self._refusal.search(c) for c, _ in _clauses(prepared))


class FollowUp:
    """A short follow-up question read in the programme of the answer just given."""

    def __init__(self, spec: dict):
        self.max_chars = int(spec["max_chars"])
        self.programs = {str(k): str(v) for k, v in spec["programs"].items()}
        self._names = re.compile(_alternation([*spec["names"], *self.programs.values()]))

    def program(self, topic: str | None) -> str | None:
        """The programme (dibao, tekun …) a topic belongs to, if follow-ups are read in it."""
        prefix = (topic or "").split(".")[0]
        return prefix if prefix in self.programs else None

    def frame(self, prepared: str, topic: str | None) -> str | None:
        """The follow-up with the programme's word put in front, or None when it is not a
        short question naming no subject of its own."""
        program = self.program(topic)
        if program is None or not prepared:
            return None
        if len(_NOT_WORD.sub("", prepared)) > self.max_chars or self._names.search(prepared):
            return None
        return self.programs[program] + prepared

    def prefer(self, plain, framed, topic: str) -> bool:
        """Whether the framed reading wins: it answers within the programme, and the question on
        its own was not answered, or was answered in some programme only by default."""
        if framed.outcome != "answer" or self.program(framed.best.entry.topic) != self.program(topic):
            return False
        if plain.outcome in ("answer", "decline") and plain.best is not None:
            return self.program(plain.best.entry.topic) is not None
        return True


@dataclass(frozen=True)
class ContextRules:
    """The three readings, from the knowledge base's lexicon/context.yaml."""

    wrappers: Wrappers
    apply_wish: ApplyWish
    follow_up: FollowUp

    @classmethod
    def from_spec(cls, spec: dict) -> ContextRules:
        """Compile the word lists (validated by bot.knowledge)."""
        return cls(Wrappers(spec["wrappers"]), ApplyWish(spec["apply_wish"]), FollowUp(spec["follow_up"]))


_LISTS = {
    "wrappers": ("greetings", "addresses", "polite", "thanks", "acknowledgements", "particles"),
    "apply_wish": ("wish", "verbs", "between", "programs", "questions", "refusals"),
    "follow_up": ("names",),
}


def spec_problems(doc, topics: set[str]) -> list[str]:
    """What is wrong with lexicon/context.yaml (bot.knowledge reports it with the rest)."""
    if not isinstance(doc, dict):
        return ["must be a mapping"]
    problems = []
    for section, lists in _LISTS.items():
        if not isinstance(doc.get(section), dict):
            problems.append(f"missing section {section!r}")
            continue
        for name in lists:
            words = doc[section].get(name)
            if not isinstance(words, list) or not words or not all(str(w).strip() for w in words):
                problems.append(f"{section}.{name} must be a non-empty list of words")
    if problems:
        return problems
    wrappers, wish, follow = (doc[k] for k in _LISTS)
    canonical = wrappers.get("canonical")
    if not isinstance(canonical, dict) or set(canonical) != {"greeting", "thanks"}:
        problems.append("wrappers.canonical must give the greeting and the thanks")
    if wish.get("topic") not in topics:
        problems.append(f"apply_wish.topic {wish.get('topic')!r} is not a topic")
    if not isinstance(wish.get("gap"), int) or not isinstance(follow.get("max_chars"), int):
        problems.append("apply_wish.gap and follow_up.max_chars must be whole numbers")
    programs = follow.get("programs")
    if not isinstance(programs, dict) or not programs or not all(
            str(w).strip() and any(t.startswith(f"{p}.") for t in topics) for p, w in programs.items()):
        problems.append("follow_up.programs must map topic prefixes (dibao …) to a word")
    return problems
