"""The core's message types: what a channel hands in and gets back."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IncomingMessage:
    """One message from a resident, already translated from the wire format."""

    channel: str                    # wechat, sms, terminal …
    user_id: str                    # the channel's id for the resident (openid, phone number)
    text: str = ""                  # a channel turns voice, clicks and media into text (or a fixed reply) first


@dataclass
class Reply:
    """What the resident receives, plus conversation facts for simulate/tests."""

    messages: list[str] = field(default_factory=list)
    expecting: str | None = None       # the screening slot just asked for
    done: bool = False                 # a screening was submitted or cancelled
    application_ref: str | None = None
    topic: str | None = None           # the FAQ topic answered, if any

    def expect_slot(self, state) -> Reply:
        """Mark the slot a screening (a ScreeningState) waits for: none while we await our own question."""
        self.expecting = None if state.awaiting or state.done else state.asked
        return self

    def add(self, text: str) -> Reply:
        """Append one message; returns self for chaining."""
        if text:
            self.messages.append(text)
        return self
