"""Seal a lead's answers at rest: fields, the programmes' reasons, the documents checklist and the
documents received become sealed text (AES-256-GCM under JIUZHU_DATA_KEY, bot/storage/sealing.py);
the clear `programs` column keeps only the programme ids ([{"program": id}, …]), so the queue's
filter and migration 0011's partial indexes work as before.

Existing rows are sealed here: `jiuzhu db upgrade` hands the migration the deployment's data
protector (the same JIUZHU_DATA_KEY and mode as the servers). A database with leads is refused
without it, and with a key that does not open the leads' personal data.

Revision ID: 0013
Revises: 0011
"""
import json

import sqlalchemy as sa
from alembic import context, op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# clear JSON column → sealed text column (frozen here: later renames need their own migration)
SEALED = {"fields": "sealed_fields", "programs": "sealed_programs", "documents": "sealed_documents",
          "documents_received": "sealed_documents_received"}
EMPTY = {"fields": {}, "programs": [], "documents": [], "documents_received": []}
BATCH = 1000


def _protector(bind):
    """The protector `jiuzhu db upgrade` passed (config attributes), checked against one lead."""
    count = bind.execute(sa.text("SELECT count(*) FROM leads")).scalar()
    if not count:
        return None
    given = context.config.attributes.get("protector")
    protector = given() if callable(given) else given
    if protector is None:
        raise RuntimeError("migration 0013 seals the answers of existing leads: run it with `jiuzhu db upgrade` "
                           "and the deployment's JIUZHU_DATA_KEY (and JIUZHU_MODE)")
    personal = bind.execute(sa.text("SELECT personal FROM leads ORDER BY id LIMIT 1")).scalar()
    try:
        protector.decrypt(personal)
    except ValueError:
        raise RuntimeError("migration 0013: JIUZHU_DATA_KEY does not open the existing leads' personal data; "
                           "set the key they were written with") from None
    return protector


def _rewrite(bind, read: sa.Table, write: sa.Table, convert) -> None:
    """Every lead, in batches of ids: `convert(row) -> values` written back."""
    last = 0
    while True:
        rows = bind.execute(sa.select(read).where(read.c.id > last).order_by(read.c.id).limit(BATCH)).mappings().all()
        if not rows:
            return
        for row in rows:
            bind.execute(sa.update(write).where(write.c.id == row["id"]).values(**convert(row)))
        last = rows[-1]["id"]


def _decoded(value, empty):
    """A JSON column's value as Python (SQLite hands some drivers the text)."""
    if value is None:
        return empty
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    bind = op.get_bind()
    protector = _protector(bind)  # before any change: SQLite runs DDL outside the transaction
    with op.batch_alter_table("leads") as batch:
        for column in SEALED.values():
            batch.add_column(sa.Column(column, sa.Text))
    if protector is not None:
        clear = sa.table("leads", sa.column("id", sa.Integer), *(sa.column(c, sa.JSON) for c in SEALED))
        target = sa.table("leads", sa.column("id", sa.Integer), sa.column("programs", sa.JSON),
                          *(sa.column(c, sa.Text) for c in SEALED.values()))

        def seal(row):
            values = {SEALED[c]: protector.seal(json.dumps(_decoded(row[c], EMPTY[c]), ensure_ascii=False,
                                                           separators=(",", ":"))) for c in SEALED}
            programs = _decoded(row["programs"], [])
            values["programs"] = [{"program": p.get("program")} for p in programs
                                  if isinstance(p, dict) and p.get("program")]
            return values

        _rewrite(bind, clear, target, seal)
    with op.batch_alter_table("leads") as batch:
        for column in ("fields", "documents", "documents_received"):
            batch.drop_column(column)
        for column in SEALED.values():  # every row has them now
            batch.alter_column(column, existing_type=sa.Text, nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    protector = _protector(bind)
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("fields", sa.JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("documents", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("documents_received", sa.JSON, nullable=False, server_default="[]"))
    if protector is not None:
        sealed = sa.table("leads", sa.column("id", sa.Integer), *(sa.column(c, sa.Text) for c in SEALED.values()))
        target = sa.table("leads", sa.column("id", sa.Integer), *(sa.column(c, sa.JSON) for c in SEALED))

        def unseal(row):
            return {c: json.loads(protector.unseal(row[s])) if row[s] else EMPTY[c] for c, s in SEALED.items()}

        _rewrite(bind, sealed, target, unseal)
    with op.batch_alter_table("leads") as batch:
        for column in SEALED.values():
            batch.drop_column(column)
