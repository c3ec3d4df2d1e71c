"""Conversations remember the phone number a screening gave (as a keyed hash), so a resident
can continue an unfinished screening on the other channel.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("phone_key", sa.String(64)))
        batch.create_index("ix_conversations_phone_key", ["phone_key"])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_phone_key")
        batch.drop_column("phone_key")
