"""Knowledge curation: groups of unanswered questions with a status, reviewed knowledge changes
(an overlay on knowledge/), the knowledge version log, and the county figures each entry was
last reviewed with.

Revision ID: 0014
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0017"  # merged after 0015 and 0017 (the numbers were given out in parallel)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "question_groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_by", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_question_groups_status", "question_groups", ["status"])
    with op.batch_alter_table("unanswered_questions") as batch:
        batch.add_column(sa.Column("group_id", sa.Integer,
                                   sa.ForeignKey("question_groups.id", name="fk_unanswered_questions_group_id")))
    op.create_index("ix_unanswered_questions_group_id", "unanswered_questions", ["group_id"])
    op.create_table(
        "knowledge_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("question_groups.id")),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("check_state", sa.String(16), nullable=False, server_default="none"),
        sa.Column("check_started_at", sa.DateTime(timezone=True)),
        sa.Column("check_result", sa.JSON),
        sa.Column("reviewer", sa.String(64)),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.Column("review_note", sa.Text, nullable=False, server_default=""),
        sa.Column("override_reason", sa.Text),
        sa.Column("published_version", sa.Integer),
        sa.Column("reverted_version", sa.Integer),
        sa.Column("reverted_by", sa.String(64)),
        sa.Column("reverted_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_knowledge_changes_status", "knowledge_changes", ["status"])
    op.create_index("ix_knowledge_changes_group_id", "knowledge_changes", ["group_id"])
    op.create_table(
        "knowledge_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("change_id", sa.Integer, sa.ForeignKey("knowledge_changes.id"), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "entry_figures",
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("figures", sa.JSON, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by", sa.String(64)),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("entry_figures")
    op.drop_table("knowledge_versions")
    op.drop_index("ix_knowledge_changes_group_id", "knowledge_changes")
    op.drop_index("ix_knowledge_changes_status", "knowledge_changes")
    op.drop_table("knowledge_changes")
    op.drop_index("ix_unanswered_questions_group_id", "unanswered_questions")
    with op.batch_alter_table("unanswered_questions") as batch:
        batch.drop_column("group_id")
    op.drop_index("ix_question_groups_status", "question_groups")
    op.drop_table("question_groups")
