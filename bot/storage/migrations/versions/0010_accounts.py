"""Workbench accounts and township memberships; lead assignment, first contact, documents received and
transcript; reveal purpose and notes in the audit log; answers to residents' 留言.

Revision ID: 0010
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "user_townships",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("township", sa.String(32), primary_key=True),
    )
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("assigned_to", sa.Integer, sa.ForeignKey("users.id", name="fk_leads_assigned_to")))
        batch.add_column(sa.Column("first_contacted_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("documents_received", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("transcript", sa.LargeBinary))
    op.create_index("ix_leads_assigned_to", "leads", ["assigned_to"])
    op.create_index("ix_leads_queue", "leads", ["township", "status", "urgency", "created_at"])
    op.create_index("ix_leads_status_queue", "leads", ["status", "urgency", "created_at"])
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("field", sa.String(32)))
        batch.add_column(sa.Column("purpose", sa.String(200)))
        batch.add_column(sa.Column("note", sa.LargeBinary))
    op.create_table(
        "message_replies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("question_id", sa.Integer, sa.ForeignKey("unanswered_questions.id"), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16)),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("outbox_id", sa.Integer),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_message_replies_question_id", "message_replies", ["question_id"])


def downgrade() -> None:
    op.drop_index("ix_message_replies_question_id", "message_replies")
    op.drop_table("message_replies")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("note")
        batch.drop_column("purpose")
        batch.drop_column("field")
    op.drop_index("ix_leads_status_queue", "leads")
    op.drop_index("ix_leads_queue", "leads")
    op.drop_index("ix_leads_assigned_to", "leads")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("transcript")
        batch.drop_column("documents_received")
        batch.drop_column("first_contacted_at")
        batch.drop_column("assigned_to")
    op.drop_table("user_townships")
    op.drop_table("users")
