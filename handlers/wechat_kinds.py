"""What each kind of WeChat message gets: a registry, one handler per message type or event.

A handler returns a fixed reply ("" for none), Ask(text): the text goes to
the conversation engine as if the resident had typed it, or Act(text, change): a
fixed reply with a change (a follow, an unfollow) made inside the turn pipeline. Kinds not registered
get an empty "success" (handlers/wechat.py), never an error.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot import subscriptions
from handlers.wechat_wire import CHANNEL, Settings, raw_field


@dataclass(frozen=True)
class Ask:
    """What a kind handler returns when the conversation engine answers: the resident's text."""

    text: str


@dataclass(frozen=True)
class Act:
    """A fixed reply with a change to make first, inside the turn pipeline (a follow, an unfollow):
    claimed once with the reply, and not made while the database is unreachable (WeChat retries)."""

    text: str
    change: Callable[[], None]


Handler = Callable[[object, object, Settings], "str | Ask | Act"]  # a fixed reply ("" = none), Ask or Act
MESSAGE_KINDS: dict[str, Handler] = {}
EVENT_KINDS: dict[str, Handler] = {}


def _kind(registry: dict[str, Handler], *names: str):
    def register(fn: Handler) -> Handler:
        for name in names:
            registry[name] = fn
        return fn
    return register


@_kind(MESSAGE_KINDS, "text")
def _on_text(message, runtime, settings) -> str | Ask:
    """A typed message goes to the conversation engine."""
    return Ask(message.content or "")


@_kind(MESSAGE_KINDS, "voice")
def _on_voice(message, runtime, settings) -> str | Ask:
    """WeChat's speech recognition, when it produced text; otherwise ask to type or call."""
    recognition = (message.recognition or "").strip()
    if recognition:
        return Ask(recognition)
    return runtime.kb.message("voice_unrecognised", CHANNEL)


@_kind(MESSAGE_KINDS, "image", "location", "video", "shortvideo", "link")
def _on_media(message, runtime, settings) -> str | Ask:
    """What we cannot read: say politely what the bot can do."""
    return runtime.kb.message("media_not_supported", CHANNEL)


@_kind(EVENT_KINDS, "subscribe", "subscribe_scan")
def _on_subscribe(message, runtime, settings) -> str | Ask | Act:
    """A new follower gets the welcome and the menu of what the bot does; the follow is recorded."""
    event = getattr(message, "event", "subscribe")
    return Act("\n\n".join((runtime.kb.message("welcome", CHANNEL), greeting(runtime))),
               lambda: subscriptions.follow(runtime, CHANNEL, message.source, event))


@_kind(EVENT_KINDS, "unsubscribe")
def _on_unsubscribe(message, runtime, settings) -> str | Ask | Act:
    """An unfollow: nothing more from the outbox to this account (nobody reads a reply to it)."""
    return Act("", lambda: subscriptions.unfollow(runtime, CHANNEL, message.source))


@_kind(EVENT_KINDS, "click")
def _on_click(message, runtime, settings) -> str | Ask:
    """A menu click is answered as if the resident had typed the button's text."""
    text = settings.click_texts.get(message.key or "")
    return Ask(text) if text else greeting(runtime)


@_kind(EVENT_KINDS, "masssendjobfinish")
def _on_mass_job_finish(message, runtime, settings) -> str | Ask | Act:
    """WeChat's report on a 群发 job: its counts recorded against the broadcast; no reply."""
    from handlers.wechat_mass import record_job_finish  # the worker's module: only loaded when needed

    counts = [_number(message, name) for name in ("TotalCount", "FilterCount", "SentCount", "ErrorCount")]
    return Act("", lambda: record_job_finish(runtime, raw_field(message, "MsgID") or "",
                                             raw_field(message, "Status") or "", *counts))


def _number(message, name: str) -> int:
    """A count as WeChat sent it (0 when missing or odd: wechatpy's typed fields would raise)."""
    value = (raw_field(message, name) or "").strip()
    return int(value) if value.isdigit() else 0


def greeting(runtime) -> str:
    """The welcome menu: what the bot does (the meta.greeting entry)."""
    entry = next(e for e in runtime.kb.entries if e.topic == "meta.greeting")
    return entry.answer_for(CHANNEL)


def handler_of(message) -> Handler | None:
    """The handler registered for a message's kind or event, None for anything unknown."""
    if message.type == "event":
        return EVENT_KINDS.get(getattr(message, "event", ""))
    return MESSAGE_KINDS.get(message.type)
