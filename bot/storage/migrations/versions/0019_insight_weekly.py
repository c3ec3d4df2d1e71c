"""insight_weekly: each week's insight counts by the few dimensions a dashboard view reads
(bot/insight/weekly.py), filled from the insight_daily rows already folded; and an index that
covers the dashboard's first-contact medians (township, created_at → first_contacted_at).

Revision ID: 0019
Revises: 0014
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# The grains as this revision wrote them (bot/insight/weekly.py GRAINS): name, dimensions, kinds' prefix.
GRAINS = (("subject", ("subject",), ""), ("township", ("township",), ""),
          ("subject_township", ("subject", "township"), ""),
          ("funnel", ("subject", "channel", "age_band"), "screening."),
          ("funnel_township", ("subject", "channel", "age_band", "township"), "screening."))


def upgrade() -> None:
    weekly = op.create_table(
        "insight_weekly",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("grain", sa.String(24), nullable=False),
        sa.Column("week", sa.Date, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        *(sa.Column(name, sa.String(size), nullable=False, server_default="")
          for name, size in (("subject", 64), ("channel", 16), ("township", 32), ("age_band", 8))),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("uq_insight_weekly", "insight_weekly", ["grain", "township", "kind", "week", "subject",
                                                            "channel", "age_band"], unique=True,
                    postgresql_include=["count"])  # index-only scans for the dashboard
    op.create_index("ix_insight_weekly_week", "insight_weekly", ["week"])
    _fill_from_daily(weekly)
    # Declared here only, like 0011's queue indexes: a year of leads read from the index alone
    # instead of one heap page per lead (bench/README.md, bench_dashboard.py)
    op.create_index("ix_leads_first_contact", "leads", ["township", "created_at"],
                    postgresql_include=["first_contacted_at"])


def _fill_from_daily(weekly) -> None:
    """Every week with folded days, counted per grain from insight_daily (as rollup.fold_day does)."""
    daily = sa.table("insight_daily", sa.column("day", sa.Date), sa.column("kind"), sa.column("subject"),
                     sa.column("channel"), sa.column("township"), sa.column("age_band"),
                     sa.column("count", sa.BigInteger))
    bind = op.get_bind()
    days = bind.execute(sa.select(daily.c.day).distinct()).scalars().all()
    for week in sorted({day - dt.timedelta(days=day.weekday()) for day in days}):
        for name, dimensions, prefix in GRAINS:
            dims = [daily.c[d] for d in dimensions]
            rows = (sa.select(sa.literal(name, sa.String), sa.literal(week, sa.Date), daily.c.kind, *dims,
                              sa.func.sum(daily.c.count))
                    .where(daily.c.day >= week, daily.c.day <= week + dt.timedelta(days=6))
                    .group_by(daily.c.kind, *dims))
            if prefix:
                rows = rows.where(daily.c.kind.like(prefix + "%"))
            bind.execute(weekly.insert().from_select(["grain", "week", "kind", *dimensions, "count"], rows))


def downgrade() -> None:
    op.drop_index("ix_leads_first_contact", "leads")
    op.drop_table("insight_weekly")
