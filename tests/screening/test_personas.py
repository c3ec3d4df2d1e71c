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
