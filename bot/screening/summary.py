"""The summary read back before submitting, and how each value is shown to the resident."""
from __future__ import annotations

from bot.privacy import mask_id_number, mask_phone
from bot.screening.state import ScreeningState
from bot.screening.texts import ScreeningTexts

NOT_SUMMARISED = ("consent", "confirm")


def summary(screener, state: ScreeningState, ctx) -> str:
    """Every answer that applies, in the flow's order; skipped questions said so (WeChat)."""
    texts, values = screener.texts, screener.applicable(state)
    if ctx.channel == "sms":  # every character costs: one compact line (the question says 请核对)
        return texts.join_parts(f"{texts.label(n)}{shown(texts, n, v, ctx.channel)}" for n, v in values.items()
                                if n not in NOT_SUMMARISED)
    lines = [texts.get("summary_header")]
    for slot in screener.flow.slots:
        if slot.name in NOT_SUMMARISED:
            continue
        if slot.name in values:
            lines.append(texts.get("summary_line", label=texts.label(slot.name),
                                   value=shown(texts, slot.name, values[slot.name], ctx.channel)))
        elif slot.name in state.skipped and slot.applies(values):
            lines.append(texts.get("summary_line", label=texts.label(slot.name),
                                   value=texts.doc["values"]["skipped"]))
    return "\n".join(lines)


def shown(texts: ScreeningTexts, slot: str, value, channel: str) -> str:
    """Values as shown back: ID and phone partly hidden on the screen (shoulder-surfing, logs)."""
    if slot == "id_number":
        return mask_id_number(value)
    if slot == "phone" and channel != "sms":
        return mask_phone(value)
    return texts.display(slot, value)
