"""An index for the dashboard's broadcasts table: a broadcast's recipients in some townships
(a caseworker's view) without reading a county notice's 100,000 rows.

Revision ID: 0020
Revises: 0019
"""
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_broadcast_recipients_township", "broadcast_recipients", ["broadcast_id", "township"])


def downgrade() -> None:
    op.drop_index("ix_broadcast_recipients_township", "broadcast_recipients")
