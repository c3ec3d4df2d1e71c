"""SMS as the handset counts it: segments, UCS-2 length, pages cut at sentence ends.

No Flask here: `jiuzhu worker` uses these to count what it sends without loading
the webhook's routes.
"""
from __future__ import annotations

import math

STATUS_PATH = "/sms/status"   # where Twilio reports the delivery of messages `jiuzhu worker` sent
_BREAKS = ("\n", "。！？；!?;", "，、,：: ")  # preferred page boundaries, best first
# GSM 03.38: the ASCII characters of the basic set, and those needing an escape (2 units).
_GSM_EXTENDED = frozenset("^{}\\[~]|")
_GSM_ASCII = frozenset(chr(c) for c in range(32, 127)) - {"`"} - _GSM_EXTENDED | {"\n", "\r"}


def segments(text: str) -> int:
    """How many SMS segments a text costs: GSM-7 160/153 if it fits that alphabet, else UCS-2 70/67."""
    if not text:
        return 0
    if all(c in _GSM_ASCII or c in _GSM_EXTENDED for c in text):
        units = len(text) + sum(c in _GSM_EXTENDED for c in text)
        return 1 if units <= 160 else math.ceil(units / 153)
    units = ucs2_len(text)
    return 1 if units <= 70 else math.ceil(units / 67)


def ucs2_len(text: str) -> int:
    """Length in UTF-16 code units, as the handset counts (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def paginate(text: str, limit: int, suffix: str) -> list[str]:
    """Pages of at most `limit` UCS-2 units, cut at line or sentence ends; all but the last end in suffix."""
    budget = limit - ucs2_len(suffix)
    if budget < 10:
        raise ValueError("the 'more' suffix leaves no room for text")
    text, pages = text.strip(), []
    while ucs2_len(text) > limit:
        cut = _cut_point(text, budget)
        pages.append(text[:cut].rstrip() + suffix)
        text = text[cut:].lstrip()
    return pages + [text]


def _cut_point(text: str, budget: int) -> int:
    """Where to end a page: after the last good boundary that fits, else at the budget."""
    fits, units = 0, 0
    for ch in text:
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > budget:
            break
        fits += 1
    floor = fits // 3  # a boundary too early would waste most of the page
    for marks in _BREAKS:
        at = max(text.rfind(mark, floor, fits) for mark in marks)
        if at >= floor and text[:at + 1].strip():
            return at + 1
    return fits
