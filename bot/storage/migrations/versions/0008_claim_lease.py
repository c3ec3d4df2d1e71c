"""A webhook message's claim carries an owner and a lease: a claim whose worker died is taken over.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_messages") as batch:
        batch.add_column(sa.Column("owner", sa.String(32)))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("processed_messages") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
