"""The one rule for phone numbers: a mainland mobile number, its E.164 form, its blind-index key.

A number reaches us in several spellings — Twilio's "+8613800000001", a
resident's "138 0000 0001" in a screening answer, "0086 138-0000-0001" — and
is looked up by a keyed hash (an SMS opt-out, a screening to continue on the
other channel). Every spelling of one number must give one key, so the key is
always taken from the E.164 form.
"""
from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-()]")
_MAINLAND = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})")


def mainland_mobile(number: str | None) -> str | None:
    """The 11-digit mainland mobile number in any spelling (+86 138…, 138-…, 0086…), else None."""
    match = _MAINLAND.fullmatch(_SEPARATORS.sub("", number or ""))
    return match.group(1) if match else None


def to_e164(number: str | None) -> str:
    """E.164 form: a mainland mobile as +86…, 00… as +…; any other number without separators."""
    mobile = mainland_mobile(number)
    if mobile:
        return "+86" + mobile
    digits = _SEPARATORS.sub("", number or "")
    return "+" + digits[2:] if digits.startswith("00") else digits


def phone_key(protector, number: str) -> str:
    """The keyed hash a number is looked up by: always of its E.164 form."""
    return protector.blind_index("phone", to_e164(number))


def legacy_phone_key(protector, number: str) -> str | None:
    """The key conversations were indexed by before phone_key (the bare 11 digits).

    Only unfinished screenings carry it, and they expire after
    `[conversation] screening_expiry_days`: once that has passed since this
    release, the look-up that still accepts it can go.
    """
    mobile = mainland_mobile(number)
    return protector.blind_index("phone", mobile) if mobile else None
