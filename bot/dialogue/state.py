"""What one resident's conversation remembers between messages: typed, versioned, JSON in the row.

The turn pipeline (bot/dialogue/turns.py) loads a `ConversationState` from the
conversation row and saves its JSON form back. Every key a conversation may
hold is a field here; the engine, the SMS adapter and the screening read
fields, never string keys.

Versions. `STATE_VERSION` is written into every saved state as
"state_version". Version 1 is what conversations held before this module: the
same keys without a version (and still how rows written then read). A newer
version than this code knows — a row written by a newer release during a
rolling deploy — is refused with StateVersionError: the resident gets an
apology and the row stays as it is for the newer release, rather than being
read wrongly and overwritten. A value this version cannot read (an unknown
waiting mode, a malformed offer) is an error too: logged, and the
conversation goes on without it.
"""
from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
STATE_VERSION = 2
T = TypeVar("T")


class StateError(ValueError):
    """A stored state this code cannot read."""


class StateVersionError(StateError):
    """A state written by a newer release (its version is above STATE_VERSION)."""


def now() -> dt.datetime:
    """The conversation clock (UTC)."""
    return dt.datetime.now(dt.timezone.utc)


def stored_version(data: Mapping, what: str) -> int:
    """The version a stored state says it has (1 when it says none); StateVersionError if newer."""
    version = data.get("state_version", 1)
    if not isinstance(version, int) or version < 1:
        raise StateError(f"{what}: state_version {version!r} is not a version")
    if version > STATE_VERSION:
        raise StateVersionError(f"{what}: state_version {version} is newer than {STATE_VERSION}")
    return version


@dataclass(frozen=True)
class Expiring(Generic[T]):
    """A value that holds until a moment (an offer of choices, the topic just answered, a code)."""

    value: T
    expires: dt.datetime

    @classmethod
    def lasting(cls, value: T, minutes: float) -> Expiring[T]:
        """The value, valid for `minutes` from now."""
        return cls(value, now() + dt.timedelta(minutes=minutes))

    def current(self) -> T | None:
        """The value while it holds, else None."""
        return self.value if self.expires >= now() else None

    def to_json(self, key: str) -> dict:
        """{key: value, "expires": ISO time}: the shape conversations have always stored."""
        return {key: self.value, "expires": self.expires.isoformat()}

    @classmethod
    def from_json(cls, data: Any, key: str, read: Callable[[Any], T]) -> Expiring[T]:
        """The value under `key` read by `read`, and its expiry; StateError if malformed."""
        if not isinstance(data, Mapping) or key not in data or not isinstance(data.get("expires"), str):
            raise StateError(f"expected {{{key!r}: …, 'expires': …}}, got {type(data).__name__}")
        try:
            expires = dt.datetime.fromisoformat(data["expires"])
        except ValueError:
            raise StateError(f"expires {data['expires']!r} is no time") from None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.timezone.utc)
        return cls(read(data[key]), expires)


class ConversationMode(enum.Enum):
    """What the conversation waits for, outside a screening."""

    LEAVING_MESSAGE = "awaiting_message"   # after 留言: the next message is the question to leave
    RECHECK_CONSENT = "recheck_consent"    # after a filed screening: may we write again if standards change


def _entry_ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise StateError("offered entries must be a list of entry ids")
    return tuple(value)


def _topic(value: Any) -> str:
    if not isinstance(value, str):
        raise StateError("a topic must be a string")
    return value


@dataclass(frozen=True)
class LastChange:
    """The message that last changed a conversation: its id and a keyed fingerprint of its text
    (a resend of it after an outage apology is known by them: bot/dialogue/resends.py)."""

    message: str
    text: str

    def to_json(self) -> dict:
        return {"message": self.message, "text": self.text}

    @classmethod
    def from_json(cls, value: Any) -> LastChange:
        if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in ("message", "text")):
            raise ValueError("last_change must be {message, text}")
        return cls(value["message"], value["text"])


@dataclass
class ConversationState:
    """One resident's conversation on one channel, between two messages."""

    screening: str | None = None                    # the ScreeningState, sealed (it holds names, ID numbers)
    mode: ConversationMode | None = None
    offer: Expiring[tuple[str, ...]] | None = None  # FAQ entries offered as numbered choices
    last_topic: Expiring[str] | None = None         # the programme just answered frames a follow-up
    offer_screening: bool = False                   # the last reply offered the screening: 好 / 继续 starts it
    sms_pages: str | None = None                    # the rest of a long SMS reply, sealed, for 'M'
    subscribe: dict | None = None                   # where 订阅 / 我的订阅 is (bot/publicity/subscribe.py)
    last_change: LastChange | None = None           # the message that last changed it (bot/dialogue/resends.py)

    def to_json(self) -> dict:
        """The JSON stored in the conversation row: fields at their default are left out, and a
        state of nothing but defaults is {} (what a new conversation is created with)."""
        data: dict[str, Any] = {}
        if self.screening is not None:
            data["screening"] = self.screening
        if self.mode is not None:
            data["mode"] = self.mode.value
        if self.offer is not None:
            data["offer"] = {**self.offer.to_json("entries"), "entries": list(self.offer.value)}
        if self.last_topic is not None:
            data["last_topic"] = self.last_topic.to_json("topic")
        if self.offer_screening:
            data["offer_screening"] = True
        if self.sms_pages is not None:
            data["sms_pages"] = self.sms_pages
        if self.subscribe is not None:
            data["subscribe"] = self.subscribe
        if self.last_change is not None:
            data["last_change"] = self.last_change.to_json()
        return {"state_version": STATE_VERSION, **data} if data else {}

    @classmethod
    def from_json(cls, data: Mapping | None) -> ConversationState:
        """The state stored in a conversation row (version 1 or 2); StateVersionError if newer.

        A key or value this version cannot read is logged as an error and left out.
        """
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            log.error("conversation state is a %s, not an object; starting afresh", type(data).__name__)
            return cls()
        stored_version(data, "conversation state")
        state = cls()
        for key, value in data.items():
            reader = _READERS.get(key)
            if reader is None:
                if key != "state_version":
                    log.error("conversation state: unknown key %r left out", key)
                continue
            try:
                reader(state, value)
            except (StateError, ValueError, TypeError) as error:
                log.error("conversation state: %s %s; left out", key, error)
        return state


def _read_str(name: str) -> Callable[[ConversationState, Any], None]:
    def read(state: ConversationState, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            raise StateError("must be a string")
        setattr(state, name, value)
    return read


def _read_bool(name: str, optional: bool = False) -> Callable[[ConversationState, Any], None]:
    def read(state: ConversationState, value: Any) -> None:
        if not isinstance(value, bool) and not (optional and value is None):
            raise StateError("must be true or false")
        setattr(state, name, value)
    return read


def _read_mode(state: ConversationState, value: Any) -> None:
    if value is not None:
        try:
            state.mode = ConversationMode(value)
        except ValueError:
            raise StateError(f"{value!r} is no mode this version knows") from None


def _read_subscribe(state: ConversationState, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise StateError("subscribe must be an object")
    state.subscribe = dict(value)


def _read_last_change(state: ConversationState, value: Any) -> None:
    state.last_change = LastChange.from_json(value)


def _read_offer(state: ConversationState, value: Any) -> None:
    state.offer = Expiring.from_json(value, "entries", _entry_ids)


def _read_last_topic(state: ConversationState, value: Any) -> None:
    state.last_topic = Expiring.from_json(value, "topic", _topic)


_READERS: dict[str, Callable[[ConversationState, Any], None]] = {
    "screening": _read_str("screening"),
    "mode": _read_mode,
    "offer": _read_offer,
    "last_topic": _read_last_topic,
    "offer_screening": _read_bool("offer_screening"),
    "sms_pages": _read_str("sms_pages"),
    "subscribe": _read_subscribe,
    "last_change": _read_last_change,
}
