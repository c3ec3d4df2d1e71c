"""Replies that are not answers to the question asked: questions back, confusion, an emergency told in passing."""
from __future__ import annotations

import re

from bot.screening.parsing.words import _compact, _Words
from bot.textnorm import normalize_text

# what ends a clause, kept (a ? ends a question); not the , of 1,800 nor the . of 3.5万
_NEGATORS = "不没冇"
_A_NOT_A = re.compile(r"(\w\w?)(?:不|没|冇)\1")  # 办不办, 申请不申请
_CLAUSES = re.compile(r"((?:[。，！!？?；;：:、…~～]|(?<![0-9])[,.]|[,.](?![0-9]))+)")


class Doubts:
    """Finds what in a reply is not an answer, from answers.yaml's questions, confused and topics."""

    def __init__(self, v: dict):
        q = v["questions"]
        self._question = _Words(dict.fromkeys(q["words"], "ask") | dict.fromkeys(q["either_or"], "either")
                                | dict.fromkeys(q["indefinite_before"], "any"))
        self._particles = tuple(q["particles"])
        self._soft = tuple(w for w in q["soft_endings"] if len(w) == 1)
        self._after = tuple(q["indefinite_after"])
        c = v["confused"]
        self._confused = _Words(dict.fromkeys(c["fillers"], "filler") | dict.fromkeys(c["words"], "confused"))
        self._unavailable = _Words(dict.fromkeys(c["unavailable"], True))
        self._emergency = _Words(dict.fromkeys(v["topics"]["emergency"], True))

    def without_questions(self, text: str) -> tuple[str, bool]:
        """The reply without its question clauses, and whether it had one.

        "冇得车，低保能领多少？" → ("冇得车", True); "冇么子存款" → (itself, False):
        a question word right after a negator (or before 都/也) means "any".
        """
        pieces = _CLAUSES.split(normalize_text(text))
        kept, asked = [], False
        for i in range(0, len(pieces), 2):
            clause = pieces[i]
            marks = pieces[i + 1] if i + 1 < len(pieces) else ""
            if not _compact(clause):
                asked = asked or "?" in marks
                continue
            if "?" in marks or self.asks(clause):
                asked = True
            else:
                kept.append(clause.strip())
        return ("，".join(kept) if asked else text), asked  # an answer without a question is left as it is

    def asks(self, clause: str) -> bool:
        """Whether one clause (no punctuation) asks something."""
        compact = _compact(clause)
        while len(compact) > 1 and compact.endswith(self._soft):
            compact = compact[:-1]
        tokens = self._question.scan(compact)
        # a final 么 of 什么 is no particle: 没什么 says "nothing much"
        final_word = bool(tokens) and tokens[-1][1] == len(compact)
        if compact.endswith(self._particles) and len(compact) > 1 and not final_word:
            return True
        asking = [(start, end) for start, end, tag in tokens if tag != "any"]
        # 办不办, 领冇领 — but 没有没有, 不是不是 only say no twice
        asking += [m.span() for m in _A_NOT_A.finditer(compact)
                   if m.group(1)[0] not in _NEGATORS
                   and not (m.start() and compact[m.start() - 1] == compact[m.end(1)])]
        indefinite = [end for _, end, tag in tokens if tag == "any"]
        for start, end in asking:
            cancelled = any(0 <= start - e <= 2 for e in indefinite)
            if not cancelled and not compact[end:].startswith(self._after):
                return True
        return False

    def confused(self, text: str) -> bool:
        """啥意思, 么子, ？, 听不懂: the whole reply says the question was not understood."""
        clean = normalize_text(text)
        compact = _compact(clean)
        if not compact:
            return "?" in clean
        found = self._confused.scan(compact)
        covered = sum(end - start for start, end, _ in found)
        return covered == len(compact) and any(tag == "confused" for _, _, tag in found)

    def unavailable(self, text: str) -> bool:
        """身份证在我崽那里冇带, 不记得了: the resident cannot answer now."""
        return bool(self._unavailable.scan(_compact(normalize_text(text))))

    def emergency(self, text: str) -> bool:
        """屋里昨晚着火了: an emergency told at some other question."""
        return bool(self._emergency.scan(_compact(normalize_text(text))))
