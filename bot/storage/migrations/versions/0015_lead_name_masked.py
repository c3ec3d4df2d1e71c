"""The applicant's name as the queue shows it (刘**), beside the encrypted personal data.

The queue, its exports and the 公示版 show only the masked name; keeping it in a
column of its own means listing leads decrypts nothing (the ID number and phone in
`personal` stay sealed). The masked name is what public posting shows anyway.
Leads stored before this revision have none: the queue masks their name from
`personal` (bot/leads/queue.py) until `jiuzhu leads backfill-names` fills it in.

Revision ID: 0015
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("name_masked", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("name_masked")
