"""Subscriptions in one table (with the append-only log of changes), insight events and their daily
rollup, and the outbox's message kind and campaign.

Data moved: every sms_subscriptions row becomes the SMS channel's "all" subscription (its
key is already bot/phones.phone_key), and every conversation's "policy_notices" flag the
"notices" subscription of that resident, each with a subscription_changes row saying it was
migrated (the wording of those opt-ins was never kept). The flag leaves the conversation
JSON; sms_subscriptions is dropped. An SMS resident's key is the keyed hash of their number,
which only the data key can compute from the encrypted number: `jiuzhu db upgrade` hands the
protector in (`protector` attribute); without it a database with such flags is refused.

Revision ID: 0012
Revises: 0011
"""
import datetime as dt
import json

import sqlalchemy as sa
from alembic import context, op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MIGRATED = "migration 0012"


def upgrade() -> None:
    conversations = op.get_bind().execute(sa.text("SELECT id, channel, user_key, user_ref, state, updated_at "
                                                  "FROM conversations")).all()
    flagged = [c for c in conversations if "policy_notices" in _state(c.state)]
    protector = _protector() if any(c.channel == "sms" for c in flagged) else None  # before any change
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient_key", sa.String(64), nullable=False),
        sa.Column("recipient_ref", sa.LargeBinary),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("township", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("consent_wording", sa.String(200)),
        sa.Column("consent_channel", sa.String(16), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("uq_subscriptions_recipient_topic", "subscriptions",
                    ["channel", "recipient_key", "topic", sa.text("coalesce(township, '')")], unique=True)
    op.create_index("ix_subscriptions_audience", "subscriptions", ["topic", "status", "township"])
    op.create_table(
        "subscription_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subscription_id", sa.Integer, sa.ForeignKey("subscriptions.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient_key", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("township", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("wording", sa.String(200)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_subscription_changes_subscription_id", "subscription_changes", ["subscription_id"])
    op.create_index("ix_subscription_changes_recipient_key", "subscription_changes", ["recipient_key"])
    op.create_table(
        "insight_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("township", sa.String(32)),
        sa.Column("programme", sa.String(16)),
        sa.Column("age_band", sa.String(8)),
        sa.Column("campaign", sa.String(64)),
    )
    op.create_index("ix_insight_events_day", "insight_events", ["day"])
    op.create_table(
        "insight_daily",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        *(sa.Column(name, sa.String(size), nullable=False, server_default="")
          for name, size in (("subject", 64), ("channel", 16), ("township", 32), ("programme", 16),
                             ("age_band", 8), ("campaign", 64))),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("uq_insight_daily", "insight_daily", ["kind", "day", "subject", "channel", "township",
                                                          "programme", "age_band", "campaign"], unique=True,
                    postgresql_include=["count"])  # index-only scans for the dashboard
    op.create_index("ix_insight_daily_day", "insight_daily", ["day"])
    op.create_table(
        "insight_folds",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("through_id", sa.BigInteger, nullable=False),
        sa.Column("folded_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("kind", sa.String(24), nullable=False, server_default="message"))
        batch.add_column(sa.Column("campaign_id", sa.String(64)))
    op.create_index("ix_outbox_campaign_id", "outbox", ["campaign_id"])
    _move_subscriptions(op.get_bind(), flagged, protector)
    op.drop_table("sms_subscriptions")


def _state(value) -> dict:
    return json.loads(value) if isinstance(value, (str, bytes)) else (value or {})


def _move_subscriptions(conn, flagged, protector) -> None:
    subscriptions, changes = SUBSCRIPTIONS, CHANGES
    moved = []  # (channel, key, ref, topic, subscribed, at)
    for key, ref, subscribed, at in conn.execute(sa.text(
            "SELECT phone_key, phone_ref, subscribed, updated_at FROM sms_subscriptions")):
        moved.append(("sms", key, ref, "all", bool(subscribed), at))
    from bot.phones import phone_key

    for cid, channel, user_key, user_ref, state, at in flagged:
        state = _state(state)
        key = user_key
        if channel == "sms":  # an SMS resident's key is the phone key of their (encrypted) number
            key = phone_key(protector, protector.decrypt(user_ref))
        moved.append((channel, key, user_ref, "notices", bool(state.pop("policy_notices")), at))
        conn.execute(sa.text("UPDATE conversations SET state = :state, version = version + 1 WHERE id = :id")
                     .bindparams(sa.bindparam("state", type_=sa.JSON)), {"state": state, "id": cid})
    now = dt.datetime.now(dt.timezone.utc)
    for channel, key, ref, topic, subscribed, at in moved:
        status = "subscribed" if subscribed else "unsubscribed"
        at = at or now
        new_id = conn.execute(subscriptions.insert().values(
            channel=channel, recipient_key=key, recipient_ref=ref, topic=topic, township=None, status=status,
            consent_wording=None, consent_channel=channel, consent_at=at, created_at=at, updated_at=now)
            .returning(subscriptions.c.id)).scalar_one()
        conn.execute(changes.insert().values(subscription_id=new_id, channel=channel, recipient_key=key,
                                             topic=topic, township=None, status=status, wording=None,
                                             source=MIGRATED, at=at))


def _protector():
    protector = context.config.attributes.get("protector")
    if protector is None:
        raise RuntimeError("migration 0012 moves SMS residents' policy-notice flags, which needs the data "
                           "key: run it with `jiuzhu db upgrade` (JIUZHU_DATA_KEY set as for the servers)")
    return protector


SUBSCRIPTIONS = sa.table(  # as this migration creates them (the models may move on)
    "subscriptions", *(sa.column(n) for n in ("channel", "recipient_key", "recipient_ref", "topic", "township",
                                             "status", "consent_wording", "consent_channel", "consent_at",
                                             "created_at", "updated_at")), sa.column("id", sa.Integer))
CHANGES = sa.table("subscription_changes", *(sa.column(n) for n in (
    "subscription_id", "channel", "recipient_key", "topic", "township", "status", "wording", "source", "at")))


def downgrade() -> None:
    op.create_table(
        "sms_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("phone_key", sa.String(64), nullable=False, unique=True),
        sa.Column("phone_ref", sa.LargeBinary, nullable=False),
        sa.Column("subscribed", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("""INSERT INTO sms_subscriptions (phone_key, phone_ref, subscribed, updated_at)
                  SELECT recipient_key, recipient_ref, status = 'subscribed', updated_at FROM subscriptions
                  WHERE channel = 'sms' AND topic = 'all' AND recipient_ref IS NOT NULL""")
    op.drop_index("ix_outbox_campaign_id", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("campaign_id")
        batch.drop_column("kind")
    for name in ("insight_folds", "insight_daily", "insight_events", "subscription_changes", "subscriptions"):
        op.drop_table(name)
