"""Leads carry a submission key, so one screening can never produce two leads.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("submission_key", sa.String(64)))
        batch.create_index("ix_leads_submission_key", ["submission_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_index("ix_leads_submission_key")
        batch.drop_column("submission_key")
