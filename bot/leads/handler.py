"""Who handles a lead, as a resident is told: the township's 便民服务中心, or the county bureau
when the township is not known — an office, never a caseworker's name."""
from __future__ import annotations


def handler_of(runtime, township: str | None) -> str:
    """江背镇便民服务中心 / 兴国县民政局 (texts: knowledge/screening/messages.yaml handler_*)."""
    texts = runtime.screener.texts
    if township:
        return texts.get("handler_township", township=township)
    return texts.get("handler_county", bureau=runtime.config.county.bureau)
