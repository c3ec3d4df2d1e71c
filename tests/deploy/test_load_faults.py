"""Twenty residents screen at once through both webhooks against gunicorn on PostgreSQL while a
worker is killed with -9 and the database connection is cut: every message is answered (a
resident retries like WeChat does), nothing answers 5xx, and every screening files exactly one
application. The full run (200 residents, 4 workers) is bench/bench_faults.py."""
from __future__ import annotations

import pytest

from tests.conftest import PG_URL
from tests.tools.loadrig import Rig


@pytest.fixture
def rig(postgres_url, tmp_path):
    """gunicorn with 2 workers; postgres_url only proves PostgreSQL is there (the rig makes its own schema)."""
    with Rig(tmp_path, workers=2, pg_url=PG_URL) as rig:
        yield rig


def test_screenings_survive_a_killed_worker_and_a_dropped_database(rig):
    figures = rig.run(20, faults=[(3.0, "kill"), (6.0, "db:1.5")], deadline=90)
    summary = figures.summary()
    assert len(figures.faults) == 2, summary
    assert not figures.problems(), (figures.problems(), summary, rig.server.log()[-3000:])
    assert figures.leads == 20
