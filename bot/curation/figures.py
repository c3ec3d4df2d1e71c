"""County figures quoted by entries: when config.toml changes one, the entries quoting it are flagged.

The figures are filled into answers at run time, so a new 低保标准 reaches residents at
once — but the words around it may no longer hold (比去年提高了…, an example worked out
with last year's figure). So each entry's quoted figures are recorded (at start-up for
entries seen for the first time, at publication for a curated one, and when a supervisor
marks the entry reviewed); an entry whose figures today differ from the recorded ones is
listed on the curation page until someone has read it again.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.knowledge import Entry, KnowledgeBase
from bot.placeholders import COUNTY_FIGURES, base_values
from bot.storage.models import AuditEvent, EntryFigures, utcnow

# The placeholders whose value is a county figure worth re-reading an answer for (config.toml
# [county.standards]); names, hotlines and addresses change nothing around them.
REVIEWED_FIGURES = COUNTY_FIGURES | {"standards_effective", "tekun_multiplier", "bianyuan_multiplier"}
FIGURE_LABELS = {
    "dibao_urban": "城市低保标准", "dibao_rural": "农村低保标准", "standards_effective": "标准执行日期",
    "tekun_multiplier": "特困标准倍数", "tekun_urban": "城市特困供养标准", "tekun_rural": "农村特困供养标准",
    "bianyuan_multiplier": "低保边缘倍数", "bianyuan_urban": "城市低保边缘标准",
    "bianyuan_rural": "农村低保边缘标准",
}


@dataclass(frozen=True)
class FlaggedEntry:
    """An entry whose quoted figures changed since it was last reviewed."""

    entry: Entry
    recorded: dict[str, str]
    now: dict[str, str]
    recorded_at: dt.datetime
    reviewed_by: str | None

    @property
    def changed(self) -> list[tuple[str, str, str]]:
        """(label, before, now) for each figure that changed."""
        names = sorted(set(self.recorded) | set(self.now))
        return [(FIGURE_LABELS.get(n, n), self.recorded.get(n, "—"), self.now.get(n, "—"))
                for n in names if self.recorded.get(n) != self.now.get(n)]


def quoted_figures(entry: Entry, values: dict[str, str]) -> dict[str, str]:
    """The reviewed figures the entry's texts quote, with today's values."""
    return {name: values[name] for name in sorted(entry.quotes & REVIEWED_FIGURES) if name in values}


def fingerprint(figures: dict[str, str]) -> str:
    """A short digest of figure names and values."""
    return hashlib.sha256(json.dumps(figures, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def record_baselines(session: Session, kb: KnowledgeBase, config, reviewer: str | None = None,
                     only: set[str] | None = None) -> int:
    """Record today's figures for entries that quote some and have no record yet; how many.

    Existing records are never overwritten here (a changed figure must stay flagged).
    Several processes start at once: a row another one inserted meanwhile is skipped.
    """
    values = base_values(config)
    known = set(session.scalars(select(EntryFigures.entry_id)))
    rows = []
    for entry in kb.entries:
        if entry.id in known or (only is not None and entry.id not in only):
            continue
        figures = quoted_figures(entry, values)
        if figures:
            rows.append({"entry_id": entry.id, "fingerprint": fingerprint(figures), "figures": figures,
                         "recorded_at": utcnow(), "reviewed_by": reviewer, "note": ""})
    if rows:
        session.execute(_insert_ignoring_duplicates(session, rows))
    return len(rows)


def flagged(session: Session, kb: KnowledgeBase, config) -> list[FlaggedEntry]:
    """Entries whose quoted figures differ from those recorded, in knowledge-base order."""
    values = base_values(config)
    records = {r.entry_id: r for r in session.scalars(select(EntryFigures))}
    out = []
    for entry in kb.entries:
        record = records.get(entry.id)
        if record is None:
            continue
        now = quoted_figures(entry, values)
        if fingerprint(now) != record.fingerprint:
            out.append(FlaggedEntry(entry, dict(record.figures), now, record.recorded_at, record.reviewed_by))
    return out


def mark_reviewed(session: Session, kb: KnowledgeBase, config, entry_id: str, actor: str, note: str) -> None:
    """The entry was read again with today's figures: record them (audited)."""
    entry = kb.entry(entry_id)
    figures = quoted_figures(entry, base_values(config))
    record = session.get(EntryFigures, entry_id) or EntryFigures(entry_id=entry_id)
    record.figures, record.fingerprint = figures, fingerprint(figures)
    record.recorded_at, record.reviewed_by, record.note = utcnow(), actor, note.strip()[:500]
    session.add(record)
    session.add(AuditEvent(actor=actor, action="kb_figures_reviewed", lead_ref=None,
                           detail=f"核对条目{entry_id}（{entry.title}）的县级数字：{note.strip()[:200]}"))


def _insert_ignoring_duplicates(session: Session, rows: list[dict]):
    table = EntryFigures.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).values(rows).on_conflict_do_nothing(index_elements=["entry_id"])
