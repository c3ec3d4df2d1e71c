"""Answers about what a person can do: the applicant's own labour capacity and an able supporter.

Both questions ask about *ability*, and residents answer with circumstances instead:
打零工, 以前打工现在干不动了, 儿子在外面打工, 有个儿子，残疾了. A yes/no word in such a
reply is not enough to store a fact, so the rules here, with the words of answers.yaml's
`ability` section, decide what was said:

- what was true before (以前打工) does not answer "can … now": the clauses about the
  past are dropped when the reply says something about now, and read back when not;
- a circumstance that limits (年纪大了, 身体不好, 残疾了, 坐牢) reads back as "cannot",
  unless the reply already says so in plain words (儿子残疾，养不了我 is a plain no);
- a yes about somebody else (儿子在外面打工 at the labour question) is read back;
- at the supporter question, a yes that says more than "yes, who, and that they help"
  (有个儿子，还在读书) is read back: every word of a confident yes is a known one.
"""
from __future__ import annotations

from bot.screening.parsing.registry import Parsed, _doubt, _fail, _kind
from bot.screening.parsing.words import _PUNCT, _compact, _Words
from bot.textnorm import normalize_text

_NUMERALS = frozenset("0123456789零〇一二两俩三四五六七八九十几")


class AbilityParsers:
    """The labor and supporter parsers of AnswerParsers (built on its yes/no parser)."""

    def _ability_words(self) -> dict:
        """The ability vocabulary, with the scanners built once."""
        cached = getattr(self, "_ability_cache", None)
        if cached is None:
            a, topics = self._v["ability"], self._v["topics"]
            people = [w for w in (*self._v["name"]["relations"], *a["relatives"]) if w]
            cached = {
                "past": tuple(a["past"]), "now": tuple(a["now"]),
                "labor_able": _Words(dict.fromkeys(a["labor_able"], True)),
                "labor_unable": tuple(a["labor_unable"]), "labor_limits": tuple(a["labor_limits"]),
                "job_status": tuple(a["job_status"]), "self": tuple(a["self"]),
                "people": _Words(dict.fromkeys(people, True)),
                "unable": tuple(topics["supporter_unable"]), "away": tuple(topics["supporter_away"]),
                # what a confident yes to the supporter question may be made of
                "plain": _Words(dict.fromkeys([*a["supporter_plain"], *people, *self._v["yes_no"]["affirm"],
                                               *self._v["yes_no"]["affirm_weak"]], True)),
                "particles": frozenset("".join(a["particles"])),
            }
            self._ability_cache = cached
        return cached

    # ---- labour -------------------------------------------------------------------
    @_kind("labor")
    def _parse_labor(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Can the applicant still work? 能做点零工 → yes; 干不动了 → no; 以前打工 → read back."""
        w = self._ability_words()
        clean = normalize_text(text)
        compact = _compact(clean)
        if not compact:
            return _fail("empty")
        if compact in self._digits:
            return self._parse_yes_no(text, choices, topic="labor")
        clauses = [_compact(c) for c in _PUNCT.split(clean) if _compact(c)]
        past = [c for c in clauses if c.startswith(w["past"]) or (any(p in c for p in w["past"])
                                                                   and not any(n in c for n in w["now"]))]
        current = [c for c in clauses if c not in past]
        # 以前打工现在干不动了: one clause with both; what follows 现在 is what counts now
        current = [_after_now(c, w["now"]) for c in current] + [_after_now(c, w["now"]) for c in past
                                                                if any(n in c for n in w["now"])]
        current = [c for c in current if c]
        said = "，".join(current) if current else compact
        if any(word in said for word in w["labor_unable"]):
            return Parsed(True, False)  # 瘫痪, 打不动了: says so in plain words
        status = [word for word in w["job_status"] if word in said]
        for word in status:  # 没工作，干不动了: having no job is no answer; what else is said may be
            said = said.replace(word, "，")
        parsed = self._parse_yes_no(said, choices, topic="labor") if _compact(said) else _fail("not_understood")
        if not parsed.ok and w["labor_able"].scan(_compact(said)):
            parsed = Parsed(True, True)  # 外出务工, 做点小生意
        if not parsed.ok and status:
            return _fail("ability_unclear")  # 下岗了, 找不到工作: not whether the applicant could work
        if not current:  # only the past was told (以前在广东打工): not how it is now
            return _doubt(False) if parsed.ok and parsed.value else _fail(parsed.problem or "not_understood")
        limited = any(word in said for word in w["labor_limits"])
        if limited and not (parsed.ok and parsed.value is False and self._plain_no(said)):
            yes_no = self._v["yes_no"]
            if parsed.ok and parsed.value and any(w in said for w in yes_no["affirm"]) \
                    and not any(w in said for w in yes_no["clause_breaks"]):
                return _doubt(True)  # 我今年七十了还在种田: works, though old — asked, not assumed
            return _doubt(False)  # 年纪大了, 能是能，但是身体不好, 我是残疾人, 腿脚不好
        if parsed.ok and self._about_someone_else(said, w):
            return _doubt(parsed.value)  # 儿子在外面打工: the question is about the applicant
        return parsed

    def _plain_no(self, said: str) -> bool:
        """A no said in so many words (干不了, 做不动, 不能), not just 不好 after a body part."""
        return any(word in said for word in self._v["yes_no"]["deny"] if len(word) > 1 or word in ("冇", "无"))

    def _about_someone_else(self, said: str, w: dict) -> bool:
        """儿子在外面打工: a clause whose subject is a relative, not the applicant (我, 自己).
        我妈还能种点菜 is about 妈: the 我 of 我妈 is no subject."""
        for clause in said.split("，"):
            bare = clause
            for owner in ("我的", "我家", "我", "俺"):
                if bare.startswith(owner):
                    bare = bare[len(owner):]
                    break
            found = w["people"].scan(bare)
            if found and found[0][0] == 0 and not any(word in bare for word in w["self"]):
                return True
        return False

    # ---- supporter ----------------------------------------------------------------
    @_kind("supporter")
    def _parse_supporter(self, text: str, choices: list[str] | None = None) -> Parsed:
        """Children or relatives able to support the applicant? 没儿没女 → no.

        The question asks for a supporter *able* to support: a relative who cannot
        (儿子在外面打工，自己都顾不过来, 有个儿子，残疾了) is read back as "no able supporter",
        never stored as a plain 有; a yes said only as "in another place" (儿女都在外地打工)
        is read back too, since such a child may or may not support, and so is any yes that
        says something the vocabulary does not know (有个儿子，还在读书 …).
        """
        w = self._ability_words()
        parsed = self._parse_yes_no(text, choices, topic="supporter")
        compact = _compact(normalize_text(text))
        if any(word in compact for word in w["unable"]):
            return parsed if parsed.ok and parsed.value is False else _doubt(False)
        if parsed.ok and parsed.value is True:
            if any(word in compact for word in w["away"]) or not self._plain(compact, w):
                return _doubt(True)
        return parsed

    @staticmethod
    def _plain(compact: str, w: dict) -> bool:
        """Whether every word of a yes is one a plain yes is made of (有，儿子管我; 有两个女儿)."""
        covered = set()
        for start, end, _ in w["plain"].scan(compact):
            covered.update(range(start, end))
        return all(i in covered or ch in _NUMERALS or ch in w["particles"] for i, ch in enumerate(compact))


def _after_now(clause: str, now: tuple[str, ...]) -> str:
    """The part of a clause from its last 现在/如今 on; the clause itself when it has none."""
    cut = max((clause.rfind(n) for n in now), default=-1)
    return clause[cut:] if cut > 0 else clause
