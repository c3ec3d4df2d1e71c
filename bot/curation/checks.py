"""The check before publishing: what a change does to the knowledge base and the evaluation sets.

It applies the change on top of the live knowledge (files plus published changes), runs
the knowledge base's whole validation, fits the matcher (cached in ~/.cache/jiuzhu by
content: the processes load that very fit once the change is published), and answers
every question of the evaluation sets — tests/data/*.jsonl (dev and held-out) and
bench/questions/*.jsonl — and the group's own questions with the matcher before and after.
It reports per set the right answers before and after, every question whose answered topic
changes, and whether accuracy falls (publishing that then needs a stated reason).

A check takes seconds (fitting, ~900 questions twice), so it runs on a thread of the web
process (CheckRunner) and the change page refreshes until the result is stored.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.answers import compose_answer
from bot.config import PROJECT_DIR
from bot.curation.live import Loaded, fit_matcher, load_live
from bot.curation.overlay import ENTRY, IN_FILES, NO_TARGET, PHRASING, Change, Overlay
from bot.errors import KnowledgeError
from bot.knowledge import load_knowledge
from bot.storage.models import KnowledgeChange, utcnow

log = logging.getLogger(__name__)
EVAL_GLOBS = ("tests/data/*.jsonl", "bench/questions/*.jsonl")
SET_LABELS = {"dev-questions": "开发集", "heldout-style": "留出集·表达方式", "heldout-context": "留出集·寒暄上下文",
              "challenge": "挑战集"}
STALE_AFTER = dt.timedelta(minutes=10)  # a check "running" longer died with its process
MAX_LISTED = 200                        # changed questions kept in the result
_BEFORE_CACHE: dict[str, dict] = {}     # live fingerprint → answers of the eval sets (this process)


@dataclass(frozen=True)
class EvalSet:
    """A labelled question file: {"q": …, "topic": … or null} per line."""

    name: str
    rows: tuple[tuple[str, str | None], ...]

    @property
    def label(self) -> str:
        """Its name on the page."""
        return SET_LABELS.get(self.name, self.name)


def eval_sets(root: Path = PROJECT_DIR) -> list[EvalSet]:
    """Every evaluation set of the project, in a stable order."""
    sets = []
    for pattern in EVAL_GLOBS:
        for path in sorted(root.glob(pattern)):
            rows = []
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    item = json.loads(line)
                    rows.append((str(item["q"]), item.get("topic")))
            sets.append(EvalSet(path.stem, tuple(rows)))
    return sets


def answered_topic(kb, matcher, question: str, max_chars: int) -> tuple[str, str | None]:
    """(outcome, topic) of the bot's answer to one question: a topic only for a confident answer."""
    answer = compose_answer(kb, matcher.match(question[:max_chars]), "wechat")
    return answer.outcome, answer.topic


def run_check(runtime, change_id: int, sets: list[EvalSet] | None = None) -> dict:
    """Check one change and store the result on it; returns the result."""
    config = runtime.config
    started = time.monotonic()
    with runtime.db.unit_of_work() as session:
        row = session.get(KnowledgeChange, change_id)
        change = Change(row.id, row.kind, dict(row.payload))
        live = load_live(config, session)
        from bot.curation.groups import texts_of

        group_texts = texts_of(session, row.group_id) if row.group_id else []
    try:
        result = compare(runtime, live, change, group_texts, sets if sets is not None else eval_sets())
        state = "done"
    except Exception as exc:  # noqa: BLE001 — a failed check is shown, never publishes
        log.exception("check of knowledge change #%s failed", change_id)
        result, state = {"error": type(exc).__name__}, "failed"
    result["seconds"] = round(time.monotonic() - started, 1)
    result["checked_at"] = utcnow().isoformat()
    with runtime.db.unit_of_work() as session:
        row = session.get(KnowledgeChange, change_id)
        row.check_result, row.check_state = result, state
    return result


def compare(runtime, live: Loaded, change: Change, group_texts: list[str], sets: list[EvalSet]) -> dict:
    """Validation, then the eval sets and the group's questions before and after the change."""
    config = runtime.config
    base = {"base_version": live.version, "base_fingerprint": live.kb.fingerprint}
    overlay = Overlay([*live.kept, change])
    try:
        after_kb = load_knowledge(config, overlay=overlay)
    except KnowledgeError as exc:
        return {**base, "valid": False, "problems": list(exc.problems), "warnings": []}
    outcome = overlay.outcome.get(change.id)
    if outcome == NO_TARGET:
        return {**base, "valid": False, "warnings": [],
                "problems": [f"没有条目 {change.payload['entry_id']}（尚未发布，或已改名、删除）。"]}
    warnings = ["知识库文件中已经有这项内容，发布后不会改变什么。"] if outcome == IN_FILES else []
    warnings += _eval_overlap(change, sets)
    before_matcher = fit_matcher(live.kb, config, previous=runtime.matcher)
    after_matcher = fit_matcher(after_kb, config, previous=runtime.matcher)
    limit = config.matching.max_question_chars
    before = _BEFORE_CACHE.get(live.kb.fingerprint)
    if before is None or set(before) != {s.name for s in sets}:
        before = {s.name: [answered_topic(live.kb, before_matcher, q, limit)[1] for q, _ in s.rows] for s in sets}
        _BEFORE_CACHE.clear()
        _BEFORE_CACHE[live.kb.fingerprint] = before
    summaries, changed = [], []
    for s in sets:
        after = [answered_topic(after_kb, after_matcher, q, limit)[1] for q, _ in s.rows]
        summaries.append(_summary(s, before[s.name], after))
        for (q, expected), was, now in zip(s.rows, before[s.name], after):
            if was != now:
                verdict = "better" if now == expected else "worse" if was == expected else "other"
                changed.append({"set": s.label, "q": q, "expected": expected, "before": was, "after": now,
                                "verdict": verdict})
    group = []
    for q in group_texts:
        was, now = answered_topic(live.kb, before_matcher, q, limit), answered_topic(after_kb, after_matcher, q, limit)
        group.append({"q": q, "before": list(was), "after": list(now)})
    changed.sort(key=lambda c: ({"worse": 0, "other": 1, "better": 2}[c["verdict"]], c["set"]))
    preview = None
    if change.kind == ENTRY and after_kb.has_entry(change.payload["id"]):
        entry = after_kb.entry(change.payload["id"])
        preview = {"wechat": entry.answer_for("wechat"), "sms": entry.answer_for("sms")}
    return {**base, "valid": True, "problems": [], "warnings": warnings, "fingerprint": after_kb.fingerprint,
            "preview": preview,
            "sets": summaries, "changed": changed[:MAX_LISTED], "changed_total": len(changed),
            "lowers": any(s["after_correct"] < s["before_correct"] for s in summaries), "group": group}


def _summary(s: EvalSet, before: list, after: list) -> dict:
    in_scope = [(e, b, a) for (_, e), b, a in zip(s.rows, before, after) if e is not None]
    out_scope = [(b, a) for (_, e), b, a in zip(s.rows, before, after) if e is None]
    out = {"name": s.name, "label": s.label, "questions": len(s.rows), "in_scope": len(in_scope),
           "out_scope": len(out_scope),
           "before_right": sum(b == e for e, b, _ in in_scope), "after_right": sum(a == e for e, _, a in in_scope),
           "before_declined": sum(b is None for b, _ in out_scope), "after_declined": sum(a is None for _, a in out_scope),
           "before_wrong": sum(b is not None and b != e for e, b, _ in in_scope),
           "after_wrong": sum(a is not None and a != e for e, _, a in in_scope)}
    out["before_correct"] = out["before_right"] + out["before_declined"]
    out["after_correct"] = out["after_right"] + out["after_declined"]
    return out


def _eval_overlap(change: Change, sets: list[EvalSet]) -> list[str]:
    """A phrasing copied from an evaluation set makes that set measure nothing for it."""
    new = [change.payload["text"]] if change.kind == PHRASING else \
        list(change.payload.get("questions", ())) if change.kind == ENTRY else []
    asked = {q.strip(): s.label for s in sets for q, _ in s.rows}
    return [f"问法“{q}”是{asked[q]}里的原题：评估集不应被用来训练，请换一种说法。" for q in new if q.strip() in asked]


def is_stale(row: KnowledgeChange, now: dt.datetime | None = None) -> bool:
    """A check marked running for longer than any check takes (its process was restarted)."""
    started = row.check_started_at
    if row.check_state != "running" or started is None:
        return False
    started = started if started.tzinfo else started.replace(tzinfo=dt.timezone.utc)
    return (now or utcnow()) - started > STALE_AFTER


class CheckRunner:
    """Runs checks one at a time on a thread of this process."""

    def __init__(self, runtime):
        self.runtime = runtime
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jiuzhu-check")
        self._running: dict[int, Future] = {}

    def start(self, change_id: int) -> None:
        """Queue the check of a change (already marked running); a second request while it runs is one."""
        future = self._running.get(change_id)
        if future is not None and not future.done():
            return
        self._running[change_id] = self._executor.submit(run_check, self.runtime, change_id)

    def wait(self, timeout: float | None = None) -> None:
        """Until every queued check has finished (tests, and a clean shutdown)."""
        for future in list(self._running.values()):
            future.result(timeout)
