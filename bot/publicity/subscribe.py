"""A resident's topic subscriptions, in a few numbered steps: 订阅, 我的订阅, 退订.

    订阅        → which topics (numbers, several allowed) → which township (a name, or 0 for
                  the whole county) → WeChat: subscribed; SMS: "reply 确认" first, as an SMS
                  opt-in must be explicit and is never assumed
    我的订阅    → what they have now; 1 change topics, 2 change township, 3 leave everything
    退订        → every topic and the general notices unsubscribed (SMS: the carrier keyword
                  handler stops the whole number before the engine sees it)

The flow's place lives in the conversation state (ConversationState.subscribe); every change goes through
bot.subscriptions.change, so each opt-in and opt-out is kept with its wording (proof of consent).
A subscription is one row per (topic, township); a county-wide one has no township. The words
residents read are knowledge/publicity.yaml.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select

from bot import subscriptions
from bot.dialogue.state import ConversationState
from bot.messages import IncomingMessage, Reply
from bot.placeholders import base_values
from bot.storage.models import Subscription
from bot.textnorm import normalize_text
from knowledge import KNOWLEDGE_DIR

TOPIC_SOURCE = "subscribe"          # subscription_changes.source of this flow's changes
_NOISE = re.compile(r"[\s\W_]+")
_NUMBERS = re.compile(r"[0-9]+")
_QUESTION_CHARS = 6                 # a longer unparsable reply is a question: leave the flow for it


@dataclass(frozen=True)
class Words:
    """knowledge/publicity.yaml, read once."""

    topics: tuple[tuple[str, str], ...]       # (id, name) in menu order
    words: dict[str, frozenset[str]]
    texts: dict[str, dict[str, str]]           # key → channel → text
    broadcast: dict[str, str]                  # channel → how a broadcast reads (bot/publicity/broadcast.py)

    def name_of(self, topic: str) -> str:
        return dict(self.topics).get(topic, topic)


@functools.lru_cache(maxsize=4)
def load_words(path: Path = KNOWLEDGE_DIR / "publicity.yaml") -> Words:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    texts = {key: (value if isinstance(value, dict) else {"wechat": value}) for key, value in doc["texts"].items()}
    return Words(topics=tuple((t["id"], t["name"]) for t in doc["topics"]),
                 words={k: frozenset(_word(w) for w in v) for k, v in doc["words"].items()}, texts=texts,
                 broadcast=dict(doc["broadcast"]))


def topic_ids() -> tuple[str, ...]:
    """The topics a resident can subscribe to (what a broadcast can target)."""
    return tuple(t for t, _ in load_words().topics)


def is_subscribe_word(text: str) -> bool:
    """Whether a whole message is 订阅 (starts the topic menu)."""
    return _word(text) in load_words().words["subscribe"]


def _word(text: str) -> str:
    return _NOISE.sub("", normalize_text(str(text))).lower()


class SubscriptionFlow:
    """One message of the flow for one resident; `route` returns False when the message is not for it."""

    def __init__(self, runtime, message: IncomingMessage, state: ConversationState, reply: Reply):
        self.runtime, self.message, self.state, self.reply = runtime, message, state, reply
        self.channel, self.words = message.channel, load_words()

    # ---- entry points ----------------------------------------------------------------------
    def route(self) -> bool:
        word = _word(self.message.text or "")
        flow = self.state.subscribe
        if flow is None:
            return self.begin(word)
        if word in self.words.words["cancel"]:
            self.state.subscribe = None
            return self._say("cancelled")
        step = getattr(self, f"_step_{flow['step']}", None)
        if step is None:  # a state written by another version: start again
            self.state.subscribe = None
            return self.begin(word)
        return step(flow, word)

    def begin(self, word: str) -> bool:
        """A fresh 订阅 / 我的订阅 / 退订; False for any other message."""
        if word in self.words.words["subscribe"]:
            return self.ask_topics({"mode": "new"})
        if word in self.words.words["manage"]:
            return self.show()
        if word in self.words.words["leave"]:
            return self.leave()
        return False

    def ask_topics(self, flow: dict) -> bool:
        self.state.subscribe = {**flow, "step": "topics"}
        menu_sep = "\n" if self.channel != "sms" else " "
        menu = menu_sep.join(f"{i}{'. ' if self.channel != 'sms' else ''}{name}"
                             for i, (_, name) in enumerate(self.words.topics, 1))
        return self._say("choose_topics", menu=menu, all_number=len(self.words.topics) + 1)

    def show(self) -> bool:
        current = self.current()
        if not current:
            self.state.subscribe = None
            return self._say("none_yet")
        self.state.subscribe = {"step": "manage"}
        topics, township = _summary(current)
        return self._say("manage_menu", **self._described(topics, township))

    def leave(self) -> bool:
        """退订: every topic (any township) and the general notices, the channel itself untouched."""
        self.state.subscribe = None
        with self.runtime.db.unit_of_work() as session:
            for topic, township in self.current(session):
                self._change(session, topic, subscriptions.UNSUBSCRIBED, township)
            self._change(session, subscriptions.NOTICES, subscriptions.UNSUBSCRIBED, None)
        return self._say("left")

    # ---- steps -----------------------------------------------------------------------------
    def _step_topics(self, flow: dict, word: str) -> bool:
        chosen = self._topics_in(word)
        if not chosen:
            return self._not_understood("not_understood_topics", word)
        flow = {**flow, "topics": chosen}
        if flow.get("mode") == "topics":  # 我的订阅 → 1: the township stays as it was
            return self._finish(flow)
        return self._ask_township(flow)

    def _step_township(self, flow: dict, word: str) -> bool:
        township = self._township_in(word)
        if township is None:
            return self._not_understood("not_understood_township", word, said=(self.message.text or "")[:12])
        return self._finish({**flow, "township": township or None})

    def _step_confirm(self, flow: dict, word: str) -> bool:
        self.state.subscribe = None
        if word not in self.words.words["confirm"]:
            return self._say("not_confirmed_sms")
        return self._save(flow)

    def _step_manage(self, flow: dict, word: str) -> bool:
        choice = {"1": "topics", "2": "township", "3": "leave"}.get(word)
        if choice is None:
            return self._not_understood("not_understood_manage", word)
        if choice == "leave":
            return self.leave()
        topics, township = _summary(self.current())
        if choice == "topics":
            return self.ask_topics({"mode": "topics", "township": township})
        return self._ask_township({"mode": "township", "topics": topics})

    # ---- helpers ---------------------------------------------------------------------------
    def _ask_township(self, flow: dict) -> bool:
        self.state.subscribe = {**flow, "step": "township"}
        return self._say("choose_township")

    def _finish(self, flow: dict) -> bool:
        if self.channel == "sms":  # an SMS opt-in is the resident's explicit word, asked for once more
            self.state.subscribe = {**flow, "step": "confirm"}
            return self._say("confirm_sms", **self._described(flow["topics"], flow.get("township")))
        self.state.subscribe = None
        return self._save(flow)

    def _save(self, flow: dict) -> bool:
        """Make the subscriptions exactly these topics in this township; every difference is logged."""
        wanted = {(topic, flow.get("township")) for topic in flow["topics"]}
        with self.runtime.db.unit_of_work() as session:
            if self.channel == "sms":  # the confirmation is consent to the number itself too
                self._change(session, subscriptions.ALL, subscriptions.SUBSCRIBED, None)
            for topic, township in set(self.current(session)) - wanted:
                self._change(session, topic, subscriptions.UNSUBSCRIBED, township)
            for topic, township in sorted(wanted, key=lambda pair: self._order(pair[0])):
                self._change(session, topic, subscriptions.SUBSCRIBED, township)
            self._change(session, subscriptions.NOTICES, subscriptions.SUBSCRIBED, None)
        self.reply.topic = "service.subscribe"
        return self._say("subscribed", **self._described(flow["topics"], flow.get("township")))

    def _change(self, session, topic: str, status: str, township: str | None) -> None:
        subscriptions.change(session, self.runtime, self.channel, self.message.user_id, topic, status,
                             wording=self.message.text, source=TOPIC_SOURCE, township=township)

    def current(self, session=None) -> list[tuple[str, str | None]]:
        """The (topic, township) pairs this resident is subscribed to now, in menu order."""
        if session is None:
            with self.runtime.db.unit_of_work() as own:
                return self.current(own)
        key = subscriptions.recipient_key(self.runtime.protector, self.channel, self._address())
        rows = session.execute(select(Subscription.topic, Subscription.township).where(
            Subscription.channel == self.channel, Subscription.recipient_key == key,
            Subscription.status == subscriptions.SUBSCRIBED,
            Subscription.topic.in_(topic_ids()))).all()
        return sorted(((t, w) for t, w in rows), key=lambda pair: self._order(pair[0]))

    def _address(self) -> str:
        from bot.phones import to_e164

        return to_e164(self.message.user_id) if self.channel == "sms" else self.message.user_id

    def _order(self, topic: str) -> int:
        ids = topic_ids()
        return ids.index(topic) if topic in ids else len(ids)

    def _topics_in(self, word: str) -> list[str]:
        ids = topic_ids()
        if word in self.words.words["all"]:
            return list(ids)
        numbers = [int(n) for n in _NUMBERS.findall(normalize_text(self.message.text or ""))]
        names = {_word(name): topic for topic, name in self.words.topics}
        if not numbers:  # 低保、特困 typed as words
            picked = [topic for name, topic in names.items() if name in word]
            return sorted(set(picked), key=self._order)
        if len(ids) + 1 in numbers:
            return list(ids)
        if any(n < 1 or n > len(ids) for n in numbers):
            return []
        return sorted({ids[n - 1] for n in numbers}, key=self._order)

    def _township_in(self, word: str) -> str | None:
        """A township of config.toml ('' for the whole county), or None when not understood."""
        if word in self.words.words["whole_county"]:
            return ""
        for township in self.runtime.config.county.townships:
            short = township[:-1] if township[-1] in "镇乡" and len(township) > 2 else township
            if word in (_word(township), _word(short)):
                return township
        return None

    def _not_understood(self, key: str, word: str, **values) -> bool:
        if len(word) > _QUESTION_CHARS:  # a question, not an answer: let the engine answer it
            self.state.subscribe = None
            self.reply.add(self._text("left_flow"))
            return False
        return self._say(key, **values)

    def _described(self, topics: list[str], township: str | None) -> dict:
        names = "、".join(self.words.name_of(t) for t in topics)
        suffix = self._text("township_suffix", township=township) if township else self._text("county_suffix")
        return {"topics": names, "township": suffix}

    def _text(self, key: str, **values) -> str:
        texts = self.words.texts[key]
        template = texts.get(self.channel) or texts["wechat"]
        example = self.runtime.config.county.townships[0]
        return template.format(**{**base_values(self.runtime.config), "example": example, **values})

    def _say(self, key: str, **values) -> bool:
        self.reply.topic = self.reply.topic or "service.subscribe"
        self.reply.add(self._text(key, **values))
        return True


def _summary(current: list[tuple[str, str | None]]) -> tuple[list[str], str | None]:
    """Topics and the township of a resident's subscriptions (the first township, if several)."""
    topics = list(dict.fromkeys(t for t, _ in current))
    townships = [w for _, w in current if w]
    return topics, (townships[0] if townships else None)


def route(runtime, message: IncomingMessage, state: ConversationState, reply: Reply) -> bool:
    """The engine's hook: True when this message belonged to the subscription flow (reply filled)."""
    return SubscriptionFlow(runtime, message, state, reply).route()


def start(runtime, message: IncomingMessage, state: ConversationState, reply: Reply) -> Reply:
    """订阅 asked in a sentence (the matcher found service.subscribe): the topic menu."""
    SubscriptionFlow(runtime, message, state, reply).ask_topics({"mode": "new"})
    return reply
