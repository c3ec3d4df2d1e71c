"""The words of the domain, defined once: channels, programmes, lead statuses.

Everything that lists channels (the CLI's --channel, knowledge texts per channel,
the outbox), programmes (rules, documents, the engine's "start a screening"
offer) or lead statuses (the CLI, the workbench) reads them from here.
"""
from __future__ import annotations

# The channels a resident writes on; a knowledge-base text may differ per channel.
CHANNELS = ("wechat", "sms")

# The assistance programmes a screening can find, in the default ranking of its
# findings (特困 before 低保: a household that qualifies for 特困 is told so first).
PROGRAMS = ("tekun", "dibao", "bianyuan", "yiliao", "linshi")

# A lead's life: new on submission, contacted by the township, submitted as a
# formal application, then closed (done) or rejected.
LEAD_STATUSES = ("new", "contacted", "submitted", "closed", "rejected")

# Which status a lead may move to from each. Today a caseworker may correct any
# status to any other (a mistaken "closed" is reopened by hand); a narrower rule
# belongs here, not in a caller.
LEAD_TRANSITIONS: dict[str, frozenset[str]] = {status: frozenset(LEAD_STATUSES) for status in LEAD_STATUSES}


def can_move(previous: str, status: str) -> bool:
    """True when a lead in `previous` may be set to `status`."""
    return status in LEAD_TRANSITIONS.get(previous, frozenset())
