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

# A lead's life: new on submission (新线索), contacted by the township (已联系), taken in
# as a formal application (已受理), then closed: done (已办结), not eligible (不符合条件),
# or the applicant could not be reached (无法联系).
LEAD_STATUSES = ("new", "contacted", "submitted", "closed", "rejected", "unreachable")

# How the workbench, its exports and printouts name them (a caseworker's words; a resident
# reads knowledge/screening/messages.yaml `status` instead).
LEAD_STATUS_LABELS = {"new": "新线索", "contacted": "已联系", "submitted": "已受理", "closed": "已办结",
                      "rejected": "不符合条件", "unreachable": "无法联系"}

# The closing statuses: a caseworker must write a note when moving a lead to one.
CLOSING_STATUSES = frozenset({"closed", "rejected", "unreachable"})

# Which status a lead may move to from each. A lead found not eligible at the first call
# is contacted first (the call is the contact); an applicant unreachable who calls back is
# contacted again; a closed lead is not reopened here (a new screening makes a new lead).
LEAD_TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"contacted", "unreachable"}),
    "contacted": frozenset({"submitted", "rejected", "unreachable"}),
    "submitted": frozenset({"closed", "rejected"}),
    "unreachable": frozenset({"contacted"}),
    "closed": frozenset(),
    "rejected": frozenset(),
}


def can_move(previous: str, status: str) -> bool:
    """True when a lead in `previous` may be set to `status`."""
    return status in LEAD_TRANSITIONS.get(previous, frozenset())
