"""The queue as an Excel workbook, in one of two presets whose columns the server decides.

内部版 (`internal`): every column the queue shows — names masked as on the page, since
only what the list shows is decrypted — with who exported it and when written in the
file (the caller writes the audit row). 公示版 (`public`): what public posting allows and
nothing else: the masked name, the village, the programmes and the status. Its columns
are a fixed list here, so no query string can add the ID number, the phone, income or
bank data: the rows given to this module do not even carry them.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from bot.domain import LEAD_STATUS_LABELS
from bot.errors import KnowledgeError
from bot.screening.texts import ScreeningTexts
from knowledge import KNOWLEDGE_DIR

EXPORT_FILE = Path("workbench") / "export.yaml"
PRESETS = ("internal", "public")
# The columns of each preset, in order: attributes of the queue's rows (bot/leads/queue.QueueRow).
COLUMNS = {
    "internal": ("ref", "created_at", "status", "urgency", "township", "village", "programs", "name_masked",
                 "assignee", "needs_callback", "overdue"),
    "public": ("name_masked", "village", "programs", "status"),
}
WIDTHS = {"ref": 16, "created_at": 17, "status": 11, "urgency": 9, "township": 10, "village": 14,
          "programs": 26, "name_masked": 10, "assignee": 12, "needs_callback": 9, "overdue": 10}
_HEADER_FILL = PatternFill("solid", fgColor="E8E8E8")
_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


@dataclass(frozen=True)
class ExportTexts:
    """The exports' words (knowledge/workbench/export.yaml) and the programmes' short names."""

    doc: dict
    screening: ScreeningTexts

    @classmethod
    def load(cls, directory: Path | None = None) -> ExportTexts:
        """Read and check the texts: every column of every preset needs its heading."""
        directory = Path(directory or KNOWLEDGE_DIR)
        doc = yaml.safe_load((directory / EXPORT_FILE).read_text(encoding="utf-8")) or {}
        missing = [f"{preset}.columns.{column}" for preset, columns in COLUMNS.items() for column in columns
                   if column not in ((doc.get(preset) or {}).get("columns") or {})]
        missing += [f"internal.{key}" for key in ("title", "sheet", "notice", "exported_by", "exported_at",
                                                  "filters", "no_filter", "truncated", "urgency", "flag_yes",
                                                  "flag_no") if key not in (doc.get("internal") or {})]
        missing += [f"public.{key}" for key in ("title", "sheet") if key not in (doc.get("public") or {})]
        missing += [] if isinstance(doc.get("filter_names"), dict) else ["filter_names"]
        if missing:
            raise KnowledgeError([f"{EXPORT_FILE}: missing {key!r}" for key in missing])
        return cls(doc, ScreeningTexts.load(directory / "screening" / "messages.yaml"))


@lru_cache(maxsize=1)
def default_texts() -> ExportTexts:
    """The project's export texts, read once."""
    return ExportTexts.load()


def queue_xlsx(rows: Iterable[Any], preset: str, *, county: str, exported_by: str, exported_at: dt.datetime,
               zone: dt.tzinfo, filters: Mapping[str, str] | None = None, truncated_at: int | None = None,
               texts: ExportTexts | None = None) -> bytes:
    """The rows (queue rows, in queue order) as an .xlsx in `preset`; ValueError for another preset."""
    if preset not in PRESETS:
        raise ValueError(f"unknown export preset {preset!r}; one of {', '.join(PRESETS)}")
    texts = texts or default_texts()
    part = texts.doc[preset]
    columns = COLUMNS[preset]
    book = Workbook()
    sheet = book.active
    sheet.title = part["sheet"]
    book.properties.creator = county if preset == "public" else exported_by
    book.properties.title = part["title"].format(county=county)
    lines = [part["title"].format(county=county)]
    if preset == "internal":
        local = exported_at.astimezone(zone)
        lines += [part["notice"], part["exported_by"].format(exported_by=exported_by),
                  part["exported_at"].format(exported_at=f"{local:%Y-%m-%d %H:%M}"),
                  part["filters"].format(filters=describe_filters(filters or {}, texts))]
        if truncated_at:
            lines.append(part["truncated"].format(limit=truncated_at))
    for number, line in enumerate(lines, start=1):
        sheet.cell(row=number, column=1, value=line).font = Font(bold=number == 1, size=14 if number == 1 else 10)
        sheet.merge_cells(start_row=number, start_column=1, end_row=number, end_column=len(columns))
    header = len(lines) + 2
    for col, name in enumerate(columns, start=1):
        cell = sheet.cell(row=header, column=col, value=part["columns"][name])
        cell.font, cell.fill, cell.border = Font(bold=True), _HEADER_FILL, _BOX
        cell.alignment = Alignment(horizontal="center", vertical="center")
        sheet.column_dimensions[get_column_letter(col)].width = WIDTHS[name]
    count = 0
    for count, row in enumerate(rows, start=1):
        for col, name in enumerate(columns, start=1):
            cell = sheet.cell(row=header + count, column=col)
            _put(cell, _value(row, name, texts, zone))
            cell.border = _BOX
            cell.alignment = Alignment(vertical="center", wrap_text=name == "programs")
    sheet.freeze_panes = sheet.cell(row=header + 1, column=1)
    sheet.auto_filter.ref = f"A{header}:{get_column_letter(len(columns))}{header + max(count, 1)}"
    sheet.print_title_rows = f"{header}:{header}"
    sheet.page_setup.orientation = "landscape" if preset == "internal" else "portrait"
    sheet.page_setup.fitToWidth = 1
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def describe_filters(filters: Mapping[str, str], texts: ExportTexts | None = None) -> str:
    """The queue filter in words (状态：新线索；乡镇：崇贤乡), for the internal export's header."""
    texts = texts or default_texts()
    names, internal = texts.doc["filter_names"], texts.doc["internal"]
    words = []
    for key, name in names.items():
        value = str(filters.get(key) or "").strip()
        if not value:
            continue
        if key == "status":
            value = LEAD_STATUS_LABELS.get(value, value)
        elif key == "program":
            value = texts.screening.program(value)
        elif key == "urgency":
            value = internal["urgency"].get(value, value)
        elif key == "mine":
            value = internal["flag_yes"]
        words.append(f"{name}：{value}")
    return "；".join(words) or internal["no_filter"]


def _value(row: Any, name: str, texts: ExportTexts, zone: dt.tzinfo) -> Any:
    """One cell of a row, in the words the workbench uses."""
    value = getattr(row, name)
    internal = texts.doc["internal"]
    if name == "created_at":
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if name == "status":
        return LEAD_STATUS_LABELS.get(value, value)
    if name == "urgency":
        return internal["urgency"].get(value, value)
    if name == "programs":
        return "、".join(texts.screening.program(p) for p in value if p)
    if isinstance(value, bool):
        return internal["flag_yes"] if value else internal["flag_no"]
    return value or ""


def _put(cell, value: Any) -> None:
    """Write a value as text: a village or name typed by a resident that starts with "=" must stay
    text, never become a formula Excel runs (openpyxl reads such strings as formulas)."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
