""""Why this lead": each likely programme's reason (the answers and the configured figures it
compared), the county figures in force, and the documents still missing."""
from __future__ import annotations

from dataclasses import dataclass

from bot.storage.models import Lead


@dataclass(frozen=True)
class Why:
    """What a caseworker triages with, without re-interviewing."""

    programs: list[dict]        # program, label, reason, source
    figures: list[tuple[str, str]]   # (what, value) of the household and the standards compared
    missing: list[str]          # checklist documents not yet received
    received: list[str]


def why(lead: Lead, runtime) -> Why:
    """The reasons stored with the lead at submission, with today's configured figures beside them."""
    texts = runtime.screener.texts
    programs = [{"program": p.get("program"), "label": texts.program(p.get("program", "")),
                 "reason": p.get("reason", ""), "source": p.get("source", "")} for p in lead.programs or ()]
    received = [d for d in lead.documents_received or () if d in (lead.documents or ())]
    missing = [d for d in lead.documents or () if d not in received]
    return Why(programs, _figures(lead, runtime), missing, received)


def _figures(lead: Lead, runtime) -> list[tuple[str, str]]:
    fields, standards = lead.fields or {}, runtime.config.county.standards
    out: list[tuple[str, str]] = []
    size, income = fields.get("household_size"), fields.get("household_monthly_income")
    if isinstance(size, int) and size > 0 and isinstance(income, (int, float)):
        out.append(("人均月收入", f"{income / size:.0f} 元（家庭月收入 {income:.0f} 元 ÷ {size} 人）"))
    rural = fields.get("residence") != "urban"
    standard = standards.dibao_rural if rural else standards.dibao_urban
    kind = "农村" if rural else "城市"
    note = "" if standards.verified else "（示例数值，待县民政局核实）"
    out.append((f"{kind}低保标准", f"{standard:g} 元/人·月，{standards.effective:%Y-%m-%d} 起{note}"))
    out.append(("特困供养标准", f"不低于低保标准 × {standards.tekun_multiplier:g}"))
    out.append(("低保边缘", f"人均收入低于低保标准 × {standards.bianyuan_multiplier:g}"))
    if fields.get("disability_level"):
        out.append(("残疾等级", f"{fields['disability_level']} 级"))
    return out
