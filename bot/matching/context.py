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


def _clauses(text: str) -> list[tuple[str, str]]:
    """(clause, the separator after it) pairs; empty clauses left out."""
    parts = _SPLIT.split(text)
    parts.append("")
    return [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2) if parts[i]]


def _chars(chars) -> str:
    """The characters for a regex character class."""
    return "".join(re.escape(c) for c in sorted(chars))


class _Words:
    """A word list matched at a position, longest word first (a set per length: no regex to
    compile at start-up, where an alternation of a hundred words costs ~20 ms)."""

    def __init__(self, words):
        self.words = {str(w).lower() for w in words}
        self.lengths = sorted({len(w) for w in self.words}, reverse=True)
        # most clauses start and end with no wrapper: one set lookup tells
        self.firsts, self.lasts = {w[0] for w in self.words}, {w[-1] for w in self.words}

    def at(self, text: str, i: int) -> int:
        """Where the longest word starting at i ends, or -1."""
        if i >= len(text) or text[i] not in self.firsts:
            return -1
        for n in self.lengths:
            if i + n <= len(text) and text[i:i + n] in self.words:
                return i + n
        return -1

    def before(self, text: str, end: int) -> int:
        """Where the longest word ending at `end` starts, or -1."""
        if end <= 0 or text[end - 1] not in self.lasts:
            return -1
        for n in self.lengths:
            if n <= end and text[end - n:end] in self.words:
                return end - n
        return -1

    def within(self, text: str) -> bool:
        """Whether any of the words occurs in text."""
        return any(w in text for w in self.words)


class Wrappers:
    """Greetings, forms of address, politeness and thanks around a question."""

    def __init__(self, spec: dict):
        self._address = _Words(spec["addresses"])
        self._greetings = _Words(spec["greetings"])
        self._thanks = _Words(spec["thanks"])
        self._leading = _Words([*spec["greetings"], *spec["polite"], *spec["thanks"]])
        self._acks = _Words(spec["acknowledgements"])
        self._particles = _Words(spec["particles"])
        self.canonical = dict(spec["canonical"])
        # a clause neither starting nor ending like a wrapper (most of them) is left as it is;
        # one search for the first two characters of a wrapper starting a clause, or the last
        # two of a thanks ending one, tells whether a message has any such clause (1 in 20 has)
        self._firsts = self._address.firsts | self._leading.firsts | self._acks.firsts
        self._lasts = self._thanks.lasts | self._particles.lasts
        heads = {w[:2] for words in (self._address, self._leading, self._acks) for w in words.words}
        self._maybe = re.compile(f"(?:^|[{_SEPARATORS}])(?:{'|'.join(map(re.escape, sorted(heads)))})"
                                 f"|(?:{'|'.join(re.escape(w[-2:]) for w in sorted(self._thanks.words))})"
                                 f"[{_chars(self._particles.words)}]*(?:[{_SEPARATORS}]|$)")

    def _unit(self, text: str, i: int, alone: bool) -> int:
        """Where one wrapper starting at i ends, particles included, or -1: a greeting, polite
        word or thanks, optionally after forms of address (同志你好), or forms of address with 好
        (师傅好); `alone` (a whole clause) also takes forms of address and acknowledgements."""
        j = i
        while (k := self._address.at(text, j)) > 0:
            j = k
        end = self._leading.at(text, j)
        if end < 0 and j > i and text.startswith("好", j):
            end = j + 1
        if end < 0 and alone:
            end = j if j > i else self._acks.at(text, i)
        if end < 0:
            return -1
        while (k := self._particles.at(text, end)) > 0:
            end = k
        return end

    def _whole(self, clause: str) -> bool:
        if clause[0] not in self._firsts:
            return False
        i = 0
        while i < len(clause) and (k := self._unit(clause, i, alone=True)) > i:
            i = k
        return i == len(clause)

    def _core(self, clause: str) -> str:
        """The clause without wrappers at its start and thanks at its end."""
        if clause[0] not in self._firsts and clause[-1] not in self._lasts:
            return clause
        i = 0
        while (k := self._unit(clause, i, alone=False)) > i:
            i = k
        end = len(clause)
        while True:  # 低保标准多少谢谢啦: particles, then a thanks, from the end
            e = end
            while (k := self._particles.before(clause, e)) > i:
                e = k
            k = self._thanks.before(clause, e)
            if k < i:  # none (-1), or it overlaps the start already stripped
                return clause[i:end]
            end = k

    def unwrap(self, question: str) -> str:
        """The question without the wrappers around it; the message itself if it is nothing else
        but polite words or acknowledgements, the canonical greeting or thanks if it is those."""
        text = normalize_text(question)
        if not self._maybe.search(text):
            return question
        kept, dropped = [], []
        for clause, sep in _clauses(text):
            if self._whole(clause):
                dropped.append(clause)
                continue
            core = self._core(clause)
            if len(core) == 1:  # 有没有人工 is not 有没有人 + 工: a lone character stays in its words
                core = clause
            if core:
                kept.append(core + sep)
            else:
                dropped.append(clause)
        if kept:
            unwrapped = "".join(kept).strip()
            return question if unwrapped == text else unwrapped  # unchanged: the very same string
        if any(self._thanks.within(c) for c in dropped):
            return self.canonical["thanks"]
        if any(self._greetings.within(c) or self._address.within(c) for c in dropped):
            return self.canonical["greeting"]
        return question


class ApplyWish:
    """"我想申请特困", "帮我奶奶申请低保": a wish to apply, not a question about applying."""

    def __init__(self, spec: dict):
        self.topic = spec["topic"]
        self.gap = int(spec["gap"])
        self._wish, self._verbs = _Words(spec["wish"]), _Words(spec["verbs"])
        self._between, self._programs = _Words(spec["between"]), _Words(spec["programs"])
        self._particles = _Words(spec["particles"])
        # a programme ending a clause, the least a wish has: most questions end otherwise
        self._maybe = re.compile(f"[{_chars(self._programs.lasts)}][{_chars(self._particles.words)}]*"
                                 f"(?:[{_SEPARATORS}]|$)")
        self._question = _Words(spec["questions"])
        self._refusal = _Words(spec["refusals"])

    def found(self, prepared: str) -> bool:
        """Whether the (prepared) message is a wish to apply for a programme."""
        if not self._maybe.search(prepared):
            return False
        wishes = [c for c, _ in _clauses(prepared) if self._wished(c)]  # seldom any: checked first
        # a question in any clause (or its question mark) is one for the FAQ
        return bool(wishes) and not self._question.within(prepared) and \
            any(not self._refusal.within(c) for c in wishes)

    def _wished(self, clause: str) -> bool:
        """wish word, within `gap` characters an apply verb (+ 一下/个), a programme ending the
        clause (+ particles); or a wish word right before the programme (我想低保)."""
        end = len(clause)
        while (k := self._particles.before(clause, end)) > 0:
            end = k
        start = self._programs.before(clause, end)
        if start <= 0:
            return False
        if self._wish.before(clause, start) >= 0:
            return True
        for verb_end in dict.fromkeys((self._between.before(clause, start), start)):
            verb = self._verbs.before(clause, verb_end) if verb_end > 0 else -1
            if verb > 0 and any(self._wish.before(clause, verb - g) >= 0 for g in range(min(self.gap, verb) + 1)):
                return True
        return False


class FollowUp:
    """A short follow-up question read in the programme of the answer just given."""

    def __init__(self, spec: dict):
        self.max_chars = int(spec["max_chars"])
        self.programs = {str(k): str(v) for k, v in spec["programs"].items()}
        self._names = _Words([*spec["names"], *self.programs.values()])

    def program(self, topic: str | None) -> str | None:
        """The programme (dibao, tekun …) a topic belongs to, if follow-ups are read in it."""
        prefix = (topic or "").split(".")[0]
        return prefix if prefix in self.programs else None

    def frame(self, prepared: str, topic: str | None) -> str | None:
        """The follow-up with the programme's word put in front, or None when it is not a
        short question naming no subject of its own."""
        program = self.program(topic)
        if program is None or not any("\u4e00" <= ch <= "\u9fff" for ch in prepared):
            return None  # a bare number or mark is no follow-up question (1 answers an offer, or nothing)
        if len(_NOT_WORD.sub("", prepared)) > self.max_chars or self.names_subject(prepared):
            return None
        return self.programs[program] + prepared

    def names_subject(self, prepared: str) -> bool:
        """Whether the text names a subject of its own (a programme, 残疾, 敬老院, 医保 …)."""
        return self._names.within(prepared)

    def prefer(self, plain, framed, topic: str) -> bool:
        """Whether the framed reading wins: it answers within the programme, and the question on
        its own was not answered, or was answered in some programme only by default."""
        if framed.outcome != "answer" or self.program(framed.best.entry.topic) != self.program(topic):
            return False
        if plain.outcome in ("answer", "decline") and plain.best is not None:
            # an intent read less surely (那要怎么申请啊 → start a screening) yields to the programme's answer
            weaker_intent = plain.best.entry.kind == "intent" and plain.best.confidence < framed.best.confidence
            return weaker_intent or self.program(plain.best.entry.topic) is not None
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
    "apply_wish": ("wish", "verbs", "between", "programs", "particles", "questions", "refusals"),
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
