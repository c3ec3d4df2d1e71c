"""Draw the screening flow as a Mermaid diagram, generated from flow.yaml.

docs/screening-flow.md is this module's output; a test regenerates it and fails
when the committed picture no longer matches the flow (`jiuzhu flow diagram`).
"""
from __future__ import annotations

from bot.screening.flow import Flow, Slot


def _condition(slot: Slot) -> str:
    def group(conditions) -> str:
        return " and ".join(f"{n} ∈ {{{', '.join(map(_value, vals))}}}" for n, vals in conditions)
    parts = []
    if slot.when:
        parts.append(group(slot.when))
    if slot.when_any:
        parts.append(" or ".join(f"({group(g)})" for g in slot.when_any))
    return " and ".join(parts)


def _value(v) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def render_mermaid(flow: Flow) -> str:
    """The flow as Markdown with a Mermaid flowchart: one node per slot, conditions on the edges."""
    lines = ["flowchart TD", '  start(["resident asks to apply"]) --> consent']
    for slot in flow.slots:
        extra = f"<br/>derived: {slot.derive}" if slot.derive else ""
        lines.append(f'  {slot.name}["{slot.name}<br/>({slot.kind}){extra}"]')
    lines.append('  consent -- "no" --> refused(["nothing stored"])')
    names = [s.name for s in flow.slots]
    for slot, following in zip(flow.slots, flow.slots[1:]):
        cond = _condition(following)
        label = f' -- "if {cond}" ' if cond else " "
        lines.append(f"  {slot.name}{label}--> {following.name}")
    lines.append('  confirm -- "yes" --> submitted(["draft application + reference number"])')
    lines.append('  confirm -- "correction" --> confirm')
    body = "\n".join(lines)
    table = "\n".join(f"| {s.name} | {s.kind} | {_condition(s) or 'always'} | {s.derive or ''} |"
                      for s in flow.slots)
    return (f"# Screening flow `{flow.id}` v{flow.version}\n\n"
            "Generated from `knowledge/screening/flow.yaml` by `jiuzhu flow diagram`; do not edit.\n"
            f"Slots are asked in this order when their condition holds; {len(names)} slots, "
            f"{flow.retry_limit} tries each before the resident may skip or ask for a call.\n"
            "At any step: 返回 (previous question), 重新开始, 退出, corrections (说错了…), "
            "and policy questions, answered before the form resumes.\n\n"
            f"```mermaid\n{body}\n```\n\n"
            "| slot | kind | asked when | derived from |\n|---|---|---|---|\n"
            f"{table}\n")
