"""Short scripted conversations checked step by step (tests/tools/probe_driver.py through `jiuzhu simulate`):
consent, confirmation, leaving, starting, corrections — the dev probes and our own, in other words."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "tools" / "probe_driver.py"


@pytest.mark.parametrize("probes", ["dev-probes.json", "probes-extra.json"])
def test_probes_pass(probes):
    jiuzhu = Path(sys.executable).with_name("jiuzhu")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIUZHU_")}
    proc = subprocess.run([sys.executable, str(DRIVER), str(ROOT / "tests" / "data" / probes), "--cmd", str(jiuzhu)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 failed" in proc.stdout and "FAIL" not in proc.stdout
