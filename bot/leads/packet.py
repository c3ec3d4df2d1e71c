"""The application packet a resident signs at the township window, pre-filled from a lead.

`application_pdf` is pure: it takes the lead as already authorised for printing
(the contract §3 JSON with its personal fields revealed — the caller checked the
caseworker's scope and wrote the audit row) and returns the PDF. Four forms, each
starting on a page of its own: 社会救助申请书, 家庭经济状况核对授权书, 承诺书 and
the documents checklist; the reference number and its QR code on every page, so
a page that comes loose is matched back to the lead at the window. What the
resident did not say is left as a blank to fill in by hand, never guessed.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, PageBreak, SimpleDocTemplate, Spacer

from bot.config import Config
from bot.domain import PROGRAMS
from bot.errors import KnowledgeError
from bot.leads.printing import (BODY, BOTTOM, CELL, CENTERED, HEADING, MARGIN, PAGE_W, PLAIN, SMALL, TOP,
                                SHADE, PageFrame, Title, framed_canvas, grid_table, para, signature_line)
from bot.screening.rules_validation import load_rule_files
from bot.screening.texts import ScreeningTexts
from knowledge import KNOWLEDGE_DIR

PACKET_FILE = Path("workbench") / "packet.yaml"
WIDTH = PAGE_W - 2 * MARGIN
# The applicant's answers on the form, two a row, in the order a window clerk checks them.
BASIC_ROWS = (("name", "id_number"), ("age", "phone"), ("residence", "address"),
              ("household_size", "household_monthly_income"), ("labor_capacity", "has_supporter"),
              ("disability_level", "serious_illness"), ("medical_expense_year", "savings"),
              ("house_count", "owns_vehicle"))
REQUIRED = {"": ("header", "ref_label", "page", "footer", "township_unknown", "date_blank"),
            "application": ("title", "to", "intro", "basic", "address", "prescreened", "channel", "channels", "members",
                            "member_columns", "programs", "program_columns", "program_likely", "reason",
                            "emergency", "signature", "proxy", "date", "office", "office_complete",
                            "office_clerk", "office_date", "office_seal"),
            "authorization": ("title", "to", "body", "columns", "self", "guardian", "signature", "date"),
            "promise": ("title", "to", "body", "signature", "date"),
            "checklist": ("title", "intro", "columns", "tick", "received", "none", "note", "handed")}
CHINA = dt.timezone(dt.timedelta(hours=8))
BLANK_INLINE = "＿" * 8   # a name or number not given, inside a sentence


@dataclass(frozen=True)
class PacketTexts:
    """The packet's sentences (knowledge/workbench/packet.yaml), the screening's labels and value
    wording, and the programmes' full names (screening/rules.yaml)."""

    doc: dict
    screening: ScreeningTexts
    program_names: dict

    @classmethod
    def load(cls, directory: Path | None = None) -> PacketTexts:
        """Read and check the texts; KnowledgeError names what is missing."""
        directory = Path(directory or KNOWLEDGE_DIR)
        doc = yaml.safe_load((directory / PACKET_FILE).read_text(encoding="utf-8")) or {}
        missing = [f"{part}.{key}".lstrip(".") for part, keys in REQUIRED.items() for key in keys
                   if key not in (doc.get(part) or {} if part else doc)]
        if missing:
            raise KnowledgeError([f"{PACKET_FILE}: missing {key!r}" for key in missing])
        rules_doc = load_rule_files(directory)[0]
        return cls(doc, ScreeningTexts.load(directory / "screening" / "messages.yaml"),
                   dict(rules_doc["program_names"]))


@lru_cache(maxsize=1)
def default_texts() -> PacketTexts:
    """The project's packet texts, read once."""
    return PacketTexts.load()


def lead_view(lead, personal: Mapping[str, Any]) -> dict:
    """A stored lead with its decrypted personal fields as the packet reads it (contract §3 JSON,
    revealed, plus the documents the office has received)."""
    created = lead.created_at if lead.created_at.tzinfo else lead.created_at.replace(tzinfo=dt.timezone.utc)
    return {"ref": lead.ref, "status": lead.status, "channel": lead.channel, "created_at": created.isoformat(),
            "urgency": lead.urgency, "township": lead.township, "likely_programs": list(lead.programs or ()),
            "documents": list(lead.documents or ()),
            "documents_received": list(lead.documents_received or ()),
            "fields": {**(lead.fields or {}), **{k: v for k, v in personal.items() if v}}}


def application_pdf(lead: Mapping[str, Any], config: Config, texts: PacketTexts | None = None) -> bytes:
    """The pre-filled packet for one lead (contract §3 JSON, personal fields revealed) as PDF bytes."""
    texts = texts or default_texts()
    packet = _Packet(lead, config, texts)
    doc = texts.doc
    frame = PageFrame(header=packet.fill(doc["header"]), ref_label=doc["ref_label"], ref=str(lead["ref"]),
                      footer=doc["footer"],
                      page_text=lambda page, pages: doc["page"].format(page=page, pages=pages))
    out = io.BytesIO()
    template = SimpleDocTemplate(out, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=TOP,
                                 bottomMargin=BOTTOM, title=f"{doc['application']['title']} {lead['ref']}",
                                 author=config.county.bureau, subject=str(lead["ref"]))
    story = (packet.application() + [PageBreak()] + packet.authorization() + [PageBreak()]
             + packet.promise() + [PageBreak()] + packet.checklist())
    template.build(story, canvasmaker=framed_canvas(frame))
    return out.getvalue()


class _Packet:
    """One lead's values, as each form prints them."""

    def __init__(self, lead: Mapping[str, Any], config: Config, texts: PacketTexts):
        self.lead, self.texts, self.doc = lead, texts, texts.doc
        self.fields: dict = dict(lead.get("fields") or {})
        county = config.county
        township = lead.get("township") or self.fields.get("township")
        self.values = {
            "county": county.name, "bureau": county.bureau, "ref": lead["ref"],
            "township": township or self.doc["township_unknown"],
            "center": county.service_centers.get(township or "", "") or county.bureau,
            "name": self.fields.get("name") or BLANK_INLINE,
            "id_number": self.fields.get("id_number") or BLANK_INLINE,
            "date": _chinese_date(lead.get("created_at")),
        }

    def fill(self, text: str, **extra: Any) -> str:
        """A packet sentence with its placeholders filled."""
        return str(text).format(**{**self.values, **extra})

    def answer(self, slot: str) -> str:
        """What the resident answered for a slot, as they read it; '' (a blank) if they did not."""
        if slot == "address":
            township = self.lead.get("township") or self.fields.get("township") or ""
            return " ".join(part for part in (township, self.fields.get("village") or "") if part)
        if slot not in self.fields:
            return ""
        return self.texts.screening.display(slot, self.fields[slot])

    def label(self, slot: str) -> str:
        """A slot's name on the form."""
        if slot == "address":
            return self.doc["application"]["address"]
        return self.texts.screening.label(slot)

    def member_rows(self) -> int:
        """Blank rows for the other household members: as many as the resident said, 3 to 6 (the
        application's first page holds no more; a larger household adds a sheet by hand)."""
        size = self.fields.get("household_size")
        return min(6, max(3, int(size) - 1)) if isinstance(size, (int, float)) else 5

    # ----- 社会救助申请书

    def application(self) -> list:
        """The application form."""
        a = self.doc["application"]
        story: list = [Title(a["title"]), para(self.fill(a["to"]), PLAIN), Spacer(1, 2 * mm),
                       para(self.fill(a["intro"]), BODY), para(a["basic"], HEADING)]
        rows = [[self.label(left), para(self.answer(left)), self.label(right), para(self.answer(right))]
                for left, right in BASIC_ROWS]
        channel = a["channels"].get(self.lead.get("channel"), "")
        rows.append([a["prescreened"], para(self.values["date"]), a["channel"], para(channel)])
        story.append(grid_table(rows, [30 * mm, 57 * mm, 30 * mm, WIDTH - 117 * mm], label_cols=(0, 2),
                                height=7.5 * mm))
        members = [list(a["member_columns"])] + [[""] * 6 for _ in range(self.member_rows())]
        story += [para(a["members"], HEADING),
                  grid_table(members, [22 * mm, 24 * mm, 44 * mm, 14 * mm, 34 * mm, WIDTH - 138 * mm],
                             header=True, height=7.5 * mm)]
        story += [para(a["programs"], HEADING), self._programs_table(a), PageBreak()]
        reason = [[para(self.fill(a["emergency"], description=self.fields["emergency_description"]), SMALL)
                   if self.fields.get("emergency") and self.fields.get("emergency_description") else ""]]
        story += [para(a["reason"], HEADING),
                  grid_table(reason, [WIDTH], height=70 * mm, extra=[("VALIGN", (0, 0), (-1, -1), "TOP")]),
                  signature_line([(a["signature"], 0.42), (a["proxy"], 0.28), (a["date"], 0.30)], WIDTH)]
        inner = WIDTH - 12
        office = [[para(self.fill(a["office"]), CELL)], [para(a["office_complete"], PLAIN)],
                  [signature_line([(a["office_clerk"], 0.5), (a["office_date"], 0.5)], inner)],
                  [para(a["office_seal"], PLAIN)]]
        story += [Spacer(1, 6 * mm),
                  KeepTogether(grid_table(office, [WIDTH], height=[8 * mm, 10 * mm, 14 * mm, 30 * mm], ruled=False, extra=[
                      ("BACKGROUND", (0, 0), (0, 0), SHADE),
                      ("ALIGN", (0, -1), (0, -1), "RIGHT"), ("VALIGN", (0, -1), (0, -1), "BOTTOM"),
                      ("RIGHTPADDING", (0, -1), (0, -1), 30 * mm), ("BOTTOMPADDING", (0, -1), (0, -1), 8)]))]
        return story

    def _programs_table(self, a: dict):
        likely = {p.get("program"): p for p in self.lead.get("likely_programs") or []}
        rows = [list(a["program_columns"])]
        for program in PROGRAMS:
            hint = ""
            if program in likely:
                hint = a["program_likely"] + str(likely[program].get("reason") or "")
            rows.append([self.doc["checklist"]["tick"], para(self.texts.program_names.get(program, program)),
                         para(hint, SMALL)])
        return grid_table(rows, [10 * mm, 46 * mm, WIDTH - 56 * mm], header=True,
                          extra=[("ALIGN", (0, 1), (0, -1), "CENTER"), ("FONTSIZE", (0, 1), (0, -1), 15),
                                 ("TOPPADDING", (0, 1), (-1, -1), 5), ("BOTTOMPADDING", (0, 1), (-1, -1), 5)])

    # ----- 家庭经济状况核对授权书

    def authorization(self) -> list:
        """The authorisation to check the household's income and assets."""
        z = self.doc["authorization"]
        story: list = [Title(z["title"]), para(self.fill(z["to"]), PLAIN), Spacer(1, 2 * mm)]
        story += [para(self.fill(text), BODY) for text in z["body"]]
        applicant = [para(self.fields.get("name") or ""), z["self"], para(self.fields.get("id_number") or ""), ""]
        rows = [list(z["columns"]), applicant] + [[""] * 4 for _ in range(self.member_rows())]
        story += [Spacer(1, 4 * mm),
                  grid_table(rows, [34 * mm, 30 * mm, 56 * mm, WIDTH - 120 * mm], header=True, height=11 * mm,
                             extra=[("ALIGN", (1, 1), (1, -1), "CENTER")]),
                  Spacer(1, 2 * mm), para(z["guardian"], SMALL),
                  signature_line([(z["signature"], 0.6), (z["date"], 0.4)], WIDTH)]
        return story

    # ----- 承诺书

    def promise(self) -> list:
        """The applicant's promise that what they said is true."""
        p = self.doc["promise"]
        story: list = [Title(p["title"]), para(self.fill(p["to"]), PLAIN), Spacer(1, 3 * mm)]
        first, *points = p["body"]
        story.append(para(self.fill(first), BODY))
        story += [para(self.fill(text), BODY) for text in points]
        story += [Spacer(1, 16 * mm), signature_line([(p["signature"], 0.6), (p["date"], 0.4)], WIDTH)]
        return story

    # ----- 申请材料清单

    def checklist(self) -> list:
        """The documents to bring, with boxes the window ticks."""
        c = self.doc["checklist"]
        story: list = [Title(c["title"]), para(self.fill(c["intro"]), BODY), Spacer(1, 3 * mm)]
        documents = list(self.lead.get("documents") or [])
        if documents:
            received = set(self.lead.get("documents_received") or ())
            rows = [list(c["columns"])] + [[str(i), para(name), c["tick"], c["tick"],
                                            c["received"] if name in received else ""]
                                           for i, name in enumerate(documents, start=1)]
            story.append(grid_table(rows, [14 * mm, WIDTH - 84 * mm, 20 * mm, 20 * mm, 30 * mm], header=True,
                                    height=9 * mm, extra=[("ALIGN", (0, 1), (0, -1), "CENTER"),
                                                          ("ALIGN", (2, 1), (3, -1), "CENTER"),
                                                          ("ALIGN", (4, 1), (4, -1), "CENTER"),
                                                          ("FONTSIZE", (2, 1), (3, -1), 14)]))
        else:
            story.append(para(c["none"], CENTERED))
        story += [Spacer(1, 3 * mm), para(c["note"], SMALL), Spacer(1, 8 * mm),
                  signature_line([(c["handed"], 0.65), (self.doc["promise"]["date"], 0.35)], WIDTH)]
        return story


def _chinese_date(value: Any) -> str:
    """2026年11月28日 (China's calendar) from an ISO timestamp or date; '' when there is none."""
    if not value:
        return ""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        day = value
    else:
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
        # stored in UTC; the county's calendar day is China's (UTC+8, no summer time)
        day = moment.astimezone(CHINA) if moment.tzinfo else moment
    return f"{day.year}年{day.month}月{day.day}日"
