""""Why this lead": each likely programme's reason (the answers and the configured figures it
compared, stored at submission), the household's figures beside the county's standards
in force today, what else the rules noticed, and the documents still missing.

The figures are computed the way the rules compute them (bot/screening/household.py), so
the page never says "低于" where the screening said otherwise. The household is assessed
again with today's standards: when they changed since submission and the likely
programmes differ, the page says so instead of silently showing the old reasons alone.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.placeholders import format_number
from bot.screening.household import Household
from bot.storage.models import Lead

BELOW, ABOVE, SAME = "below", "above", ""


@dataclass(frozen=True)
class Figure:
    """One line of the comparison table: the household's value, the county's line, the verdict."""

    what: str
    household: str
    standard: str = ""
    verdict: str = SAME     # BELOW (meets the line) or ABOVE (exceeds it), "" when not compared
    verdict_text: str = ""


@dataclass(frozen=True)
class Why:
    """What a caseworker triages with, without re-interviewing."""

    programs: list[dict]            # program, label, reason, source (as stored at submission)
    figures: list[Figure]
    notes: list[str]                # what else today's assessment says (assets, 单人保, …)
    now_programs: list[str] | None  # today's likely programmes, when they differ from the stored ones
    standards_note: str             # when and how sure the county's figures are
    missing: list[str]              # checklist documents not yet received
    received: list[str]


def why(lead: Lead, runtime) -> Why:
    """The reasons stored with the lead, and the household against today's configured figures."""
    texts = runtime.screener.texts
    rules = runtime.screener.rules
    programs = [{"program": p.get("program"), "label": texts.program(p.get("program", "")),
                 "reason": p.get("reason", ""), "source": p.get("source", "")} for p in lead.programs or ()]
    received = [d for d in lead.documents_received or () if d in (lead.documents or ())]
    missing = [d for d in lead.documents or () if d not in received]
    fields = dict(lead.fields or {})
    standards = runtime.config.county.standards
    now = rules.assess(fields)
    stored = [p["program"] for p in programs]
    listed_now = [p.program for p in now.programs]
    changed = sorted(listed_now) != sorted(stored)
    note = "" if standards.verified else "（示例数值，待县民政局核实）"
    return Why(programs, figures(Household(fields, standards, rules.thresholds)),
               [n.text for n in now.notes if n.key != "standards"],
               [texts.program(p) for p in listed_now] if changed else None,
               f"本县标准 {standards.effective:%Y-%m-%d} 起执行{note}", missing, received)


def figures(h: Household) -> list[Figure]:
    """The household's figures, each beside the county line the rules compare it with."""
    out: list[Figure] = []
    yuan = (lambda v: f"{format_number(round(v))} 元")
    area = "城市" if h.residence == "urban" else "农村"
    if h.size:
        out.append(Figure("家庭人口", f"{h.size} 人"))
    if h.income is not None:
        out.append(Figure("家庭月收入", yuan(h.income)))
    if h.per_capita is not None:
        out.append(_compare("人均月收入", h.per_capita, f"本县{area}低保标准", h.standard))
        out.append(_compare("人均月收入", h.per_capita, "低保边缘标准", h.bianyuan_line,
                            f"（低保标准 × {format_number(h.standards.bianyuan_multiplier)}）"))
    else:
        out.append(Figure(f"本县{area}低保标准", "未说收入，未比较", f"{yuan(h.standard)}/人·月"))
    savings, limit = h.number("savings"), h.savings_limit
    if savings is not None:
        if limit is not None:
            out.append(_compare("存款", savings, "常见上限", limit,
                                f"（{format_number(h.standard)} 元 × {h.size} 人 × {format_number(h.t.savings_months)} 个月）",
                                at_most=True))
        else:
            out.append(Figure("存款", yuan(savings)))
    houses = h.number("house_count")
    if houses is not None:
        over = houses > h.t.max_houses
        out.append(Figure("房产", f"{format_number(houses)} 套", f"一般不超过 {format_number(h.t.max_houses)} 套",
                          ABOVE if over else BELOW, "超过" if over else "未超过"))
    if h.flag("owns_vehicle") is not None:
        owns = h.flag("owns_vehicle")
        out.append(Figure("小汽车", "有" if owns else "没有", "有小汽车一般不符合低保",
                          ABOVE if owns else BELOW, "不符合" if owns else "符合"))
    if h.disability:
        out.append(Figure("残疾等级", f"{h.disability} 级（家中最高）"))
    if h.number("medical_expense_year") and h.annual_income:
        ratio = h.t.yiliao_expense_ratio
        share = h.medical_expense / h.annual_income
        out.append(Figure("一年自付医药费", f"{yuan(h.medical_expense)}（全年收入的 {share:.0%}）",
                          f"医疗救助看支出是否超过全年收入的 {ratio:.0%}",
                          ABOVE if share > ratio else BELOW, "超过" if share > ratio else "未超过"))
    if h.age is not None and h.no_labour_reason() in ("elderly", "child"):  # only where age decides
        line = (f"满 {format_number(h.t.tekun_elderly_age)} 岁" if h.no_labour_reason() == "elderly"
                else f"未满 {format_number(h.t.tekun_child_age)} 岁")
        out.append(Figure("申请人年龄", f"{format_number(h.age)} 岁", f"{line}按无劳动能力认定（特困）",
                          BELOW, "符合"))
    return out


def _compare(what: str, value: float, line_name: str, line: float, how: str = "",
             at_most: bool = False) -> Figure:
    """value against a line: below meets it (income), at most meets it (savings)."""
    meets = value <= line if at_most else value < line
    words = ("未超过" if at_most else "低于") if meets else ("超过" if at_most else "不低于")
    return Figure(what, f"{format_number(round(value))} 元", f"{line_name} {format_number(round(line))} 元{how}",
                  BELOW if meets else ABOVE, words)
