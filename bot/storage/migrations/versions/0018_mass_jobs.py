"""WeChat 群发 jobs of broadcasts: the msg_id WeChat accepted each call under, and the counts of
its MASSSENDJOBFINISH event.

Revision ID: 0018
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mass_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("msg_id", sa.String(32), nullable=False),
        sa.Column("msg_data_id", sa.String(32)),
        sa.Column("recipients", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("job_status", sa.String(64)),
        sa.Column("total_count", sa.Integer),
        sa.Column("filter_count", sa.Integer),
        sa.Column("sent_count", sa.Integer),
        sa.Column("error_count", sa.Integer),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("msg_id", name="uq_mass_jobs_msg_id"),
    )
    op.create_index("ix_mass_jobs_campaign_id", "mass_jobs", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_mass_jobs_campaign_id", table_name="mass_jobs")
    op.drop_table("mass_jobs")
