"""Queue indexes for a county's worth of leads (bench/bench_workbench.py, 100,000 leads).

- (urgency, created_at, id): the queue's order itself, for a page without a status
  filter (全部) — without it PostgreSQL sorts every lead to show 50.
- on PostgreSQL, one partial index per programme over the leads whose likely
  programmes include it, in the queue's order with the status: the programme filter
  is a LIKE on the JSON column (bot/leads/queue.py), which no plain index serves, so
  each of its pages and its counts by status read the whole table. The WHERE clause
  is the filter's own text, so the planner matches it; a new programme in
  bot/domain.PROGRAMS needs its index in a new migration (the list is frozen here).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PROGRAMS = ("tekun", "dibao", "bianyuan", "yiliao", "linshi")


def upgrade() -> None:
    op.create_index("ix_leads_urgency_age", "leads", ["urgency", "created_at", "id"])
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite matches no partial index against a bound LIKE pattern
    for program in PROGRAMS:
        op.create_index(f"ix_leads_program_{program}", "leads", ["urgency", "created_at", "id", "status"],
                        postgresql_where=sa.text(f"""CAST(programs AS VARCHAR) LIKE '%"program": "{program}"%'"""))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for program in PROGRAMS:
            op.drop_index(f"ix_leads_program_{program}", "leads")
    op.drop_index("ix_leads_urgency_age", "leads")
