"""One resident, two channels: continue an unfinished screening on the other channel.

The phone number a screening collected is the link. On WeChat the resident
proves the number is theirs with a one-time code sent to it by SMS; on SMS the
sender's number already proves it. Only then does the screening state (with
its personal data) move to the new conversation.
"""
from __future__ import annotations

import secrets

from sqlalchemy import select, update

from bot.dialogue.choices import LINK_OFFER
from bot.dialogue.state import ConversationState, Expiring
from bot.phones import legacy_phone_key, mainland_mobile, phone_key, to_e164
from bot.screening.state import Awaiting, Link, ScreeningState, unseal_screening
from bot.storage.models import Conversation, utcnow

CODE_MINUTES = 10
CODE_TRIES = 3


def _sealed_screening(row: Conversation | None) -> str | None:
    """The sealed screening a conversation row keeps, if any."""
    return ConversationState.from_json(row.state).screening if row is not None else None


class ScreeningLinker:
    """Finds, proves and moves a resident's unfinished screening between channels."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.db = runtime.db
        self.protector = runtime.protector

    def phone_key(self, number: str) -> str | None:
        """The keyed hash a conversation is indexed by (mainland mobile numbers only)."""
        return phone_key(self.protector, number) if mainland_mobile(number) else None

    def remember(self, conversation_id: int, number: str | None) -> None:
        """Index (or, with None, un-index) a conversation by the phone its screening gave."""
        key = self.phone_key(number) if number else None
        with self.db.session() as s:
            s.execute(update(Conversation).where(Conversation.id == conversation_id).values(phone_key=key))

    def unfinished_elsewhere(self, number: str, channel: str) -> int | None:
        """Id of a conversation on another channel with an unfinished screening for this phone."""
        key = self.phone_key(number)
        if not key:
            return None
        keys = [key, legacy_phone_key(self.protector, number)]  # rows indexed before phone_key
        with self.db.session() as s:
            rows = s.execute(select(Conversation).where(Conversation.phone_key.in_(keys),
                                                        Conversation.channel != channel)).scalars()
            for row in rows:
                if _sealed_screening(row):
                    return row.id
        return None

    def send_code(self, number: str, conversation_id: int, source_id: int) -> Link:
        """Text a one-time code to the number; returns what the asking conversation must keep."""
        from bot.outbox import enqueue

        code = f"{secrets.randbelow(10**6):06d}"
        text = self.runtime.screener.texts.get("link_code_sms", code=code, minutes=CODE_MINUTES)
        enqueue(self.runtime, "sms", to_e164(number), text,
                idempotency_key=f"link:{conversation_id}:{source_id}:{secrets.token_hex(4)}")
        hashed = self.protector.blind_index("otp", f"{conversation_id}:{code}")
        return Link(source=source_id, code=Expiring.lasting(hashed, CODE_MINUTES))

    def code_matches(self, link: Link, conversation_id: int, text: str) -> bool:
        """Whether the resident typed the code we sent (and it is still valid)."""
        digits = "".join(c for c in text if c.isdigit())
        expected = link.code.current() if link.code else None
        if expected is None or len(digits) != 6:
            return False
        return secrets.compare_digest(self.protector.blind_index("otp", f"{conversation_id}:{digits}"), expected)

    def take_over(self, source_id: int) -> str | None:
        """Move the sealed screening out of the other conversation (it continues here)."""
        with self.db.session() as s:
            row = s.get(Conversation, source_id, with_for_update=True)
            state = ConversationState.from_json(row.state) if row is not None else None
            if state is None or not state.screening:
                return None
            sealed, state.screening = state.screening, None
            row.state = state.to_json()
            row.phone_key = None
            row.version += 1
            return sealed


class Handover:
    """The conversation around a link: offer, code, take-over — for the engine to call."""

    def __init__(self, runtime, linker: ScreeningLinker):
        self.runtime = runtime
        self.linker = linker

    @property
    def texts(self):
        """The screening's sentences."""
        return self.runtime.screener.texts

    def conversation_id(self, ctx) -> int | None:
        """This resident's own conversation row on this channel."""
        with self.runtime.db.session() as s:
            return s.execute(select(Conversation.id).where(Conversation.channel == ctx.channel,
                                                           Conversation.user_key == ctx.user_key)).scalar()

    def offer_on_sms(self, sc: ScreeningState, ctx, reply) -> bool:
        """On SMS, the sender's number proves it is theirs: offer to continue a WeChat screening."""
        source = self.linker.unfinished_elsewhere(ctx.user_id, ctx.channel)
        if source is None:
            return False
        sc.awaiting, sc.link = Awaiting.LINK_OFFER, Link(source=source)
        reply.messages[:] = [self.texts.menu(LINK_OFFER, label=self._label_of(source))]
        reply.expecting = None
        return True

    def offer_code(self, sc: ScreeningState, ctx, reply) -> None:
        """On WeChat, a phone with an unfinished SMS screening: text a code to prove the number."""
        phone = sc.values.get("phone")
        source = self.linker.unfinished_elsewhere(phone, ctx.channel) if phone else None
        own = self.conversation_id(ctx)
        if source is None or own is None:
            return
        from bot.privacy import mask_phone

        sc.link = self.linker.send_code(phone, own, source)
        sc.awaiting = Awaiting.LINK_CODE
        reply.messages[:] = [self.texts.get("link_found_wechat", label=self._label_of(source),
                                            phone=mask_phone(phone))]
        reply.expecting = None

    def answer(self, sc: ScreeningState, text: str, ctx, reply) -> ScreeningState:
        """The resident's reply to our offer; returns the screening state to continue with."""
        screener = self.runtime.screener
        link = sc.link
        if link is None:  # (a link offer always keeps its link; without one there is nothing to join)
            return self._decline(sc, ctx, reply, screener)
        if sc.awaiting is Awaiting.LINK_OFFER:
            if LINK_OFFER.picked(text) == "join":
                return self._join(sc, link.source, ctx, reply)
            return self._decline(sc, ctx, reply, screener)
        if "".join(c for c in text if c.isdigit()) == "0":
            return self._decline(sc, ctx, reply, screener)
        own = self.conversation_id(ctx)
        if own is not None and self.linker.code_matches(link, own, text):
            return self._join(sc, link.source, ctx, reply)
        link.tries += 1
        if link.tries >= CODE_TRIES:
            return self._decline(sc, ctx, reply, screener)
        reply.add(self.texts.get("link_code_wrong", left=CODE_TRIES - link.tries))
        return sc

    def _join(self, sc: ScreeningState, source: int, ctx, reply) -> ScreeningState:
        sealed = self.linker.take_over(source)
        other = unseal_screening(self.runtime.protector, sealed)
        if other is None:
            return self._decline(sc, ctx, reply, self.runtime.screener)
        other.updated = utcnow()
        reply.add(self.texts.get("link_joined"))
        inner = self.runtime.screener.resume(other, ctx)
        reply.messages.extend(inner.messages)
        reply.expecting = inner.expecting
        return other

    def _decline(self, sc: ScreeningState, ctx, reply, screener) -> ScreeningState:
        sc.awaiting = None
        sc.link = None
        reply.add(self.texts.get("link_declined"))
        inner = screener.resume(sc, ctx)
        reply.messages.extend(inner.messages)
        reply.expecting = inner.expecting
        return sc

    def _label_of(self, source: int) -> str:
        with self.runtime.db.session() as s:
            sealed = _sealed_screening(s.get(Conversation, source))
        other = unseal_screening(self.runtime.protector, sealed)
        return self.texts.label(other.asked or "consent") if other else ""
