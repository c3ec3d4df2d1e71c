"""Migration 0011: the queue's order index everywhere, the programme filter's partial indexes on PostgreSQL."""
from sqlalchemy import create_engine, inspect

from bot.domain import PROGRAMS
from bot.storage.db import Database


def indexes(url):
    db = Database(url)
    db.ensure_schema()
    engine = create_engine(url)
    try:
        return {ix["name"]: ix for ix in inspect(engine).get_indexes("leads")}
    finally:
        engine.dispose()
        db.dispose()


def test_the_queue_order_index_on_sqlite(sqlite_url):
    found = indexes(sqlite_url)
    assert found["ix_leads_urgency_age"]["column_names"] == ["urgency", "created_at", "id"]
    assert not [name for name in found if name.startswith("ix_leads_program_")]


def test_one_partial_index_per_programme_on_postgresql(postgres_url):
    found = indexes(postgres_url)
    for program in PROGRAMS:   # a programme added to the domain needs its index in a migration
        index = found[f"ix_leads_program_{program}"]
        assert index["column_names"] == ["urgency", "created_at", "id", "status"]
        where = index["dialect_options"]["postgresql_where"]
        assert f'"program": "{program}"' in where
