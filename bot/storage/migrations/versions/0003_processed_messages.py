"""Processed webhook messages, for exactly-once handling across processes.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processed_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("reply", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("channel", "message_id", name="uq_processed_message"),
    )
    op.create_index("ix_processed_messages_created_at", "processed_messages", ["created_at"])


def downgrade() -> None:
    op.drop_table("processed_messages")
