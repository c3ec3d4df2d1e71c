"""The persona driver (tests/tools/persona_driver.py) plays the dev residents through `jiuzhu simulate` and checks `jiuzhu leads`."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "tools" / "persona_driver.py"
PERSONAS = ROOT / "tests" / "data" / "dev-personas.json"


@pytest.mark.parametrize("personas", [PERSONAS, ROOT / "tests" / "data" / "personas-extra.json"],
                         ids=["dev", "extra"])
def test_personas_end_with_the_right_application(tmp_path, personas):
    jiuzhu = Path(sys.executable).with_name("jiuzhu")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIUZHU_")}
    env["JIUZHU_DATABASE_URL"] = f"sqlite:///{tmp_path / 'personas.sqlite3'}"
    proc = subprocess.run([sys.executable, str(DRIVER), str(personas), "--cmd", str(jiuzhu), "--reveal"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failed" in proc.stdout
    # no SMS longer than the driver's limit
    assert not re.search(r"[1-9]\d* of \d+ over", proc.stderr), proc.stderr
    assert_events_hold_no_personal_data(tmp_path / "personas.sqlite3", personas)


def assert_events_hold_no_personal_data(database: Path, personas: Path) -> None:
    """Every column of every insight event the personas caused is from its closed vocabulary:
    no name, ID number, phone, village or anything else a persona typed reaches the table."""
    import json
    import sqlite3

    from bot.config import load_config
    from bot.domain import CHANNELS
    from bot.insight.events import AGE_BANDS, KINDS, PROGRAMME_VALUES
    from bot.knowledge import load_knowledge
    from bot.screening.flow import CONTRACT_SLOTS

    config = load_config(ROOT / "config.toml")
    topics = set(load_knowledge(config).topics)
    said = set()

    def collect(value):
        if isinstance(value, str):
            said.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)
    for persona in json.loads(personas.read_text("utf-8")):  # what each persona types
        collect([persona.get(key) for key in ("opening", "answers", "corrections", "digressions")])
    allowed = {"kind": KINDS, "channel": set(CHANNELS), "township": set(config.county.townships),
               "programme": PROGRAMME_VALUES, "age_band": set(AGE_BANDS),
               "subject": topics | set(CONTRACT_SLOTS) | {"all", "notices"}, "campaign": set()}
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM insight_events")]
    assert {r["kind"] for r in rows} >= {"screening.started", "screening.submitted", "screening.answered"}
    assert set(rows[0]) == {"id", "day", *allowed}  # a new column must be added to this check
    for row in rows:
        for column, value in row.items():
            if column in ("id", "day") or value is None:
                continue
            assert value in allowed[column], (column, value)
            # what a resident typed appears only where it is a name of a closed list (崇贤乡, dibao)
            assert value not in said or column in ("township", "programme"), (column, value)
            assert not re.search(r"\d{4,}", value), (column, value)
