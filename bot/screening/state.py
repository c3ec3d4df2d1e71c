"""One screening in progress, typed: what was answered, skipped, asked, and what we wait for.

Kept sealed (encrypted) inside the conversation state, since it holds names and
ID numbers. Its JSON keys are the ones screenings have always been stored
with, plus "state_version" (bot/dialogue/state.py says how versions are read);
a screening stored before versions (version 1) loads as it is.

What the screening waits for, besides the answer to a slot, is an `Awaiting`.
A stored value that is none of them is an error: logged, the waiting is
dropped and the screening asks its current question again (the screener says
so politely), instead of reading the reply as something it is not.
"""
from __future__ import annotations

import datetime as dt
import enum
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from bot.dialogue.state import STATE_VERSION, Expiring, StateError, StateVersionError, stored_version

log = logging.getLogger(__name__)


class Awaiting(enum.Enum):
    """A question of ours the next reply answers (instead of the slot asked)."""

    RESUME = "resume"              # back after a pause: 1 continue, 2 start over
    TOO_MANY = "too_many"          # unclear answers to one slot: 1 skip, 2 call me, 3 again, 4 leave
    LEAVE = "leave"                # 不想填了: 1 leave and delete, 2 go on
    CONSENT_MENU = "consent_menu"  # consent unclear: 1 hear it again, 2 no, 3 call me
    LINK_OFFER = "link_offer"      # on SMS, a WeChat screening found: 1 continue it, else start here
    LINK_CODE = "link_code"        # on WeChat, the code texted to the phone (0 gives up)


class Ending(enum.Enum):
    """How a screening ended (it then leaves the conversation)."""

    SUBMITTED = "submitted"
    CANCELLED = "cancelled"        # 退出: everything collected is deleted
    REFUSED = "refused"            # no consent: nothing collected
    CALLBACK = "callback"          # no consent, but a caseworker's call asked for: only that is kept


class UnknownAwaiting(StateError):
    """A stored screening waits for something this version does not know."""


@dataclass
class ReadBack:
    """A value read back ("您是说……吗？") and kept only after a yes."""

    asked: str          # the slot asked when it was said
    slot: str           # the slot it is a value of (an emergency told at another question)
    value: Any


@dataclass
class Link:
    """The other channel's unfinished screening this one was offered to continue."""

    source: int                           # that conversation's id
    code: Expiring[str] | None = None     # on WeChat: the keyed hash of the code texted to the phone
    tries: int = 0

    def to_json(self) -> dict:
        data: dict[str, Any] = {"source": self.source}
        if self.code is not None:
            data |= {**self.code.to_json("code"), "tries": self.tries}
        return data

    @classmethod
    def from_json(cls, data: Any) -> Link:
        if not isinstance(data, Mapping) or not isinstance(data.get("source"), int):
            raise StateError("a link needs the source conversation's id")
        code = Expiring.from_json(data, "code", str) if "code" in data else None
        return cls(data["source"], code, int(data.get("tries", 0)))


@dataclass
class ScreeningState:
    """One resident's screening between two messages."""

    flow: str
    flow_version: int
    started: dt.datetime
    updated: dt.datetime
    values: dict[str, Any] = field(default_factory=dict)     # slot → normalised answer
    skipped: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)         # filled from other answers (age from the ID)
    history: list[str] = field(default_factory=list)         # answered slots in order, for 返回
    attempts: dict[str, int] = field(default_factory=dict)   # unclear answers per slot
    digressions: dict[str, int] = field(default_factory=dict)  # policy questions answered per slot
    asked: str | None = None                                 # the slot just asked ("confirm" at the end)
    awaiting: Awaiting | None = None
    callback: bool = False                                   # a caseworker's call was asked for
    prefill: dict[str, Any] = field(default_factory=dict)    # named in the opening (the programme)
    readback: ReadBack | None = None
    volunteered: list[str] = field(default_factory=list)     # told at another question, confirmed, kept
    consent: dict[str, str] | None = None                    # which consent text, where, when, the reply
    done: Ending | None = None
    ref: str | None = None                                   # the lead filed
    link: Link | None = None
    transcript: list[dict] = field(default_factory=list)     # the turns, raw: scrubbed into the lead (bot/leads/transcript.py)
    # Not stored: set when a stored waiting could not be read and was dropped (the screener says so).
    lost_awaiting: bool = field(default=False, compare=False)

    @classmethod
    def new(cls, flow: str, flow_version: int, at: dt.datetime) -> ScreeningState:
        """A screening just begun."""
        return cls(flow=flow, flow_version=flow_version, started=at, updated=at)

    def restart_as(self, other: ScreeningState) -> None:
        """Become `other` (重新开始: this conversation's screening starts over, in place)."""
        for f in fields(self):
            setattr(self, f.name, getattr(other, f.name))

    def to_json(self) -> dict:
        """The JSON sealed into the conversation (the keys screenings have always used)."""
        data: dict[str, Any] = {
            "state_version": STATE_VERSION, "flow": self.flow, "version": self.flow_version,
            "values": self.values, "skipped": self.skipped, "derived": self.derived, "history": self.history,
            "attempts": self.attempts, "asked": self.asked,
            "awaiting": self.awaiting.value if self.awaiting else None, "callback": self.callback,
            "started": self.started.isoformat(), "updated": self.updated.isoformat()}
        optional = {"digressions": self.digressions or None, "prefill": self.prefill or None,
                    "readback": vars(self.readback) if self.readback else None,
                    "volunteered": self.volunteered or None, "consent": self.consent,
                    "done": self.done.value if self.done else None, "ref": self.ref,
                    "link": self.link.to_json() if self.link else None,
                    "transcript": self.transcript or None}
        return data | {k: v for k, v in optional.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping) -> ScreeningState:
        """A stored screening (version 1 or 2). StateVersionError if newer, UnknownAwaiting if it
        waits for something unknown, StateError if it is malformed."""
        if not isinstance(data, Mapping):
            raise StateError(f"a screening is an object, not a {type(data).__name__}")
        stored_version(data, "screening")
        try:
            awaiting = data.get("awaiting")
            if awaiting is not None and awaiting not in _AWAITING:
                raise UnknownAwaiting(f"screening awaits {awaiting!r}, which this version does not know")
            readback = data.get("readback")
            return cls(
                flow=str(data["flow"]), flow_version=int(data["version"]),
                started=_time(data["started"]), updated=_time(data["updated"]),
                values=dict(data.get("values") or {}), skipped=list(data.get("skipped") or []),
                derived=list(data.get("derived") or []), history=list(data.get("history") or []),
                attempts={str(k): int(v) for k, v in (data.get("attempts") or {}).items()},
                digressions={str(k): int(v) for k, v in (data.get("digressions") or {}).items()},
                asked=data.get("asked"), awaiting=Awaiting(awaiting) if awaiting else None,
                callback=bool(data.get("callback", False)), prefill=dict(data.get("prefill") or {}),
                readback=ReadBack(**readback) if readback else None,
                volunteered=list(data.get("volunteered") or []),
                consent=dict(data["consent"]) if data.get("consent") else None,
                done=Ending(data["done"]) if data.get("done") else None, ref=data.get("ref"),
                link=Link.from_json(data["link"]) if data.get("link") else None,
                transcript=[dict(t) for t in data.get("transcript") or []])
        except StateError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise StateError(f"malformed screening ({type(error).__name__}: {error})") from None

    @classmethod
    def read(cls, data: Mapping) -> ScreeningState:
        """from_json, but a waiting this version does not know is logged and dropped (lost_awaiting)."""
        try:
            return cls.from_json(data)
        except UnknownAwaiting as error:
            log.error("%s; asking the current question again", error)
            state = cls.from_json({**data, "awaiting": None, "link": None})
            state.lost_awaiting = True
            return state


_AWAITING = frozenset(a.value for a in Awaiting)


def _time(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def seal_screening(protector, state: ScreeningState) -> str:
    """The screening as the conversation keeps it: encrypted JSON (it holds names and ID numbers)."""
    return protector.seal(json.dumps(state.to_json(), ensure_ascii=False))


def unseal_screening(protector, sealed: str | None) -> ScreeningState | None:
    """The screening a conversation keeps; None if there is none or it cannot be read (then it
    starts afresh). A screening of a newer release raises StateVersionError: it is left alone."""
    if not sealed:
        return None
    try:
        data = json.loads(protector.unseal(sealed))
    except ValueError:
        log.warning("a screening state could not be decrypted (key changed?); starting afresh")
        return None
    try:
        return ScreeningState.read(data)
    except StateVersionError:
        raise
    except StateError as error:
        log.error("a screening state could not be read (%s); starting afresh", error)
        return None
