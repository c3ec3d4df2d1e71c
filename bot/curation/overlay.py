"""Published knowledge changes as an overlay on the knowledge/ files.

The files stay as they are (they are the developers'); the workbench's reviewed changes
live in the database and are applied to the files' documents while bot.knowledge reads
them, so the same validation runs on the result. Three kinds:

- phrasing: one more way residents ask an existing entry (its `questions` list);
- synonym: a colloquial or dialect word for a canonical term (lexicon/synonyms.yaml);
- entry: a new FAQ entry, with the source document (文件号) it rests on.

A change already present in the files (a developer copied it into the YAML) is
"in_files" and changes nothing; a phrasing whose entry no longer exists is "no_target".
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

PHRASING, SYNONYM, ENTRY = "phrasing", "synonym", "entry"
KINDS = (PHRASING, SYNONYM, ENTRY)
KIND_LABELS = {PHRASING: "新问法", SYNONYM: "同义词/方言词", ENTRY: "新条目"}
CURATED_FILE = "faq/(workbench)"  # where the loader says a curated entry comes from
APPLIED, IN_FILES, NO_TARGET = "applied", "in_files", "no_target"
SYNONYMS_FILE = "lexicon/synonyms.yaml"


@dataclass(frozen=True)
class Change:
    """One change as the loader applies it (a row of knowledge_changes, or a candidate)."""

    id: int
    kind: str
    payload: dict


class Overlay:
    """Applies changes to the documents bot.knowledge.load_knowledge reads; records what each did."""

    def __init__(self, changes: Sequence[Change]):
        self.changes = tuple(changes)
        self.outcome: dict[int, str] = {}
        self._file_entry_ids: set[str] = set()

    def digest(self) -> bytes:
        """The changes' content (not their ids): equal overlays give equal knowledge fingerprints,
        so the matcher fitted for a change's check is the one every process then loads."""
        return json.dumps([[c.kind, c.payload] for c in self.changes], sort_keys=True,
                          ensure_ascii=False, default=str).encode()

    def patch(self, rel: str, doc: Any) -> Any:
        """The document of file `rel` with the changes that belong in it."""
        if rel.startswith("faq/") and isinstance(doc, dict) and isinstance(doc.get("entries"), list):
            by_id = {e.get("id"): e for e in doc["entries"] if isinstance(e, dict)}
            self._file_entry_ids.update(k for k in by_id if isinstance(k, str))
            for change in self._of(PHRASING):
                target = by_id.get(change.payload["entry_id"])
                if target is not None:
                    self.outcome[change.id] = _add_question(target, change.payload["text"])
        elif rel == SYNONYMS_FILE and isinstance(doc, dict):
            for change in self._of(SYNONYM):
                canonical, variant = change.payload["canonical"], change.payload["variant"]
                variants = doc.get(canonical)
                if isinstance(variants, list) and variant in (str(v) for v in variants):
                    self.outcome[change.id] = IN_FILES
                elif variants is None or isinstance(variants, list):
                    doc[canonical] = [*(variants or []), variant]
                    self.outcome[change.id] = APPLIED
                # (a canonical term written as something else: the loader reports the file)
        return doc

    def documents(self) -> Iterator[tuple[str, dict]]:
        """The curated entries as one more FAQ document (after every file has been read)."""
        entries = []
        for change in self._of(ENTRY):
            if change.payload["id"] in self._file_entry_ids:
                self.outcome[change.id] = IN_FILES
                continue
            raw = {k: v for k, v in change.payload.items() if k != "checked"}
            raw["questions"] = list(raw.get("questions") or [])
            raw["checked"] = _date(change.payload.get("checked"))
            entries.append(raw)
            self.outcome[change.id] = APPLIED
        by_id = {e["id"]: e for e in entries}
        for change in self._of(PHRASING):
            if change.id in self.outcome:
                continue
            target = by_id.get(change.payload["entry_id"])
            self.outcome[change.id] = NO_TARGET if target is None else _add_question(target, change.payload["text"])
        if entries:
            yield CURATED_FILE, {"entries": entries}

    def _of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]


def _add_question(entry: dict, text: str) -> str:
    questions = entry.get("questions")
    if not isinstance(questions, list):
        return NO_TARGET
    if text in (str(q).strip() for q in questions):
        return IN_FILES
    entry["questions"] = [*questions, text]
    return APPLIED


def _date(value: Any) -> Any:
    """The `checked` date as the loader expects it (a date; anything else it reports)."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value
