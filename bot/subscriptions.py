"""Who receives what: one table of subscriptions, and every opt-in and opt-out kept as proof of consent.

A row is (channel, recipient, topic, township) → subscribed or unsubscribed, with
the consent behind its last change; subscription_changes keeps every change,
append-only. Topics:

    all       the channel itself: SMS STOP/START, WeChat follow/unfollow. Unsubscribed,
              the recipient receives nothing from the outbox (the worker cancels, saying why).
              No row: a resident who never said STOP nor unfollowed, who may be written to.
    notices   the general policy notices (订阅 / 退订), only ever by the resident's own word
    <topic>   a topic id of knowledge/topics.yaml, optionally for one township (broadcasts)

A recipient is looked up by a keyed hash, never in the clear: an SMS number by
bot.phones.phone_key (every spelling of a number gives one key), a WeChat openid by
the conversation's user key. One module serves the SMS keywords, WeChat follow
events, the 订阅/退订 command and the outbox worker, so they cannot disagree.
"""
from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.phones import phone_key, to_e164
from bot.privacy import scrub_personal_data
from bot.storage.models import Subscription, SubscriptionChange, utcnow

ALL, NOTICES = "all", "notices"
SUBSCRIBED, UNSUBSCRIBED = "subscribed", "unsubscribed"
_UNIQUE = ("channel", "recipient_key", "topic")  # + coalesce(township, ''): uq_subscriptions_recipient_topic


def recipient_key(protector, channel: str, recipient: str) -> str:
    """The keyed hash a recipient's subscriptions are found by."""
    if channel == "sms":
        return phone_key(protector, recipient)
    return protector.blind_index(f"user:{channel}", recipient)  # = the conversation's user key


def change(session: Session, runtime, channel: str, recipient: str, topic: str, status: str, *,
           wording: str | None, source: str, township: str | None = None) -> bool:
    """Set one subscription's status in the caller's unit of work; True when it changed (or is new).

    A change is written to subscription_changes with the wording, channel and time; setting the
    status it already has writes nothing.
    """
    if status not in (SUBSCRIBED, UNSUBSCRIBED):
        raise ValueError(f"unknown subscription status {status!r}")
    protector, now = runtime.protector, utcnow()
    address = to_e164(recipient) if channel == "sms" else recipient
    key = recipient_key(protector, channel, address)
    said = scrub_personal_data(wording)[:200] if wording else None
    consent = {"status": status, "consent_wording": said, "consent_channel": channel, "consent_at": now,
               "updated_at": now}
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    upsert = insert(Subscription).values(channel=channel, recipient_key=key, topic=topic, township=township,
                                         recipient_ref=protector.encrypt(address), created_at=now, **consent)
    # ON CONFLICT … WHERE: an unchanged status returns no row, so nothing is logged for it
    changed = session.execute(upsert.on_conflict_do_update(
        index_elements=[*_UNIQUE, text("coalesce(township, '')")], set_=consent,
        where=Subscription.status != status).returning(Subscription.id)).scalar()
    if changed is None:
        return False
    session.add(SubscriptionChange(subscription_id=changed, channel=channel, recipient_key=key, topic=topic,
                                   township=township, status=status, wording=said, source=source, at=now))
    runtime.insight.record(session, f"subscription.{status}", channel, topic, township=township)
    return True


def stop_everything(session: Session, runtime, channel: str, recipient: str, *, wording: str | None,
                    source: str) -> bool:
    """STOP, or an unfollow: the channel and every topic unsubscribed; True when the channel changed."""
    key = recipient_key(runtime.protector, channel, to_e164(recipient) if channel == "sms" else recipient)
    topics = session.execute(select(Subscription.topic, Subscription.township).where(
        Subscription.channel == channel, Subscription.recipient_key == key, Subscription.topic != ALL,
        Subscription.status == SUBSCRIBED)).all()
    for topic, township in topics:
        change(session, runtime, channel, recipient, topic, UNSUBSCRIBED, wording=wording, source=source,
               township=township)
    return change(session, runtime, channel, recipient, ALL, UNSUBSCRIBED, wording=wording, source=source)


def status_of(session: Session, runtime, channel: str, recipient: str, topic: str = ALL,
              township: str | None = None) -> str | None:
    """subscribed, unsubscribed, or None when the recipient never said either."""
    key = recipient_key(runtime.protector, channel, to_e164(recipient) if channel == "sms" else recipient)
    query = select(Subscription.status).where(Subscription.channel == channel, Subscription.recipient_key == key,
                                              Subscription.topic == topic)
    query = query.where(Subscription.township.is_(None) if township is None else Subscription.township == township)
    return session.execute(query).scalar_one_or_none()


def status_by_key(session: Session, channel: str, key: str, topic: str, township: str | None) -> str | None:
    """status_of for a recipient known only by its key (a recheck snapshot keeps no address)."""
    query = select(Subscription.status).where(Subscription.channel == channel, Subscription.recipient_key == key,
                                              Subscription.topic == topic)
    query = query.where(Subscription.township.is_(None) if township is None else Subscription.township == township)
    return session.execute(query).scalar_one_or_none()


def recipient_of(session: Session, runtime, channel: str, key: str, topic: str, township: str | None) -> str:
    """The address behind a subscription, decrypted only to queue a message to it."""
    query = select(Subscription.recipient_ref).where(Subscription.channel == channel,
                                                     Subscription.recipient_key == key, Subscription.topic == topic)
    query = query.where(Subscription.township.is_(None) if township is None else Subscription.township == township)
    return runtime.protector.decrypt(session.execute(query).scalar_one())


def refusal(session: Session, runtime, channel: str, recipient: str, topic: str | None = None) -> str | None:
    """Why this recipient must not get a message now (None: they may): the outbox's check.

    Anything is refused after STOP or an unfollow; a message about a topic (a broadcast)
    also needs that topic's explicit opt-in.
    """
    key = recipient_key(runtime.protector, channel, to_e164(recipient) if channel == "sms" else recipient)
    stopped = session.execute(select(Subscription.consent_at).where(
        Subscription.channel == channel, Subscription.recipient_key == key, Subscription.topic == ALL,
        Subscription.status == UNSUBSCRIBED)).scalar_one_or_none()
    if stopped is not None:
        how = "the number opted out (STOP/退订)" if channel == "sms" else "the WeChat account unfollowed"
        return f"{how} on {stopped:%Y-%m-%d}"
    if topic is not None and topic != ALL and status_of(session, runtime, channel, recipient, topic) != SUBSCRIBED:
        return f"not subscribed to {topic}"
    return None


def outbox_refusal(runtime):
    """The worker's check before each send: `refusal` in a unit of work of its own."""
    def refuse(channel: str, recipient: str) -> str | None:
        with runtime.db.unit_of_work() as session:
            return refusal(session, runtime, channel, recipient)
    return refuse


def is_stopped(runtime, channel: str, recipient: str) -> bool:
    """True after STOP (SMS) or an unfollow (WeChat), until START or a new follow."""
    with runtime.db.unit_of_work() as session:
        return status_of(session, runtime, channel, recipient) == UNSUBSCRIBED


def set_notices(runtime, channel: str, recipient: str, on: bool, wording: str, source: str = "command") -> bool:
    """订阅 / 退订 of the general policy notices (the resident's own words); True when it changed."""
    with runtime.db.unit_of_work() as session:
        return change(session, runtime, channel, recipient, NOTICES, SUBSCRIBED if on else UNSUBSCRIBED,
                      wording=wording, source=source)



def follow(runtime, channel: str, recipient: str, event: str) -> None:
    """A WeChat follow (`event`: subscribe, or subscribe_scan for a QR code): the channel is open again."""
    with runtime.db.unit_of_work() as session:
        change(session, runtime, channel, recipient, ALL, SUBSCRIBED, wording=event, source="wechat_event")


def unfollow(runtime, channel: str, recipient: str) -> None:
    """A WeChat unfollow: nothing more to this account, from any topic."""
    with runtime.db.unit_of_work() as session:
        stop_everything(session, runtime, channel, recipient, wording="unsubscribe", source="wechat_event")
