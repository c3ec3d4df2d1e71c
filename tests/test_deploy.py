"""The production entry point (deploy/wsgi.py), as gunicorn loads it."""
import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_the_wsgi_entry_builds_the_app_and_freezes_what_it_loaded(tmp_path):
    """Loaded once in gunicorn's master: the collector must not walk (and unshare) it in each worker."""
    script = ("import gc, json, deploy.wsgi as w; "
              "print(json.dumps({'app': type(w.app).__name__, 'frozen': gc.get_freeze_count(), "
              "'tracked': len(gc.get_objects())}))")
    env = {**os.environ, "JIUZHU_DATABASE_URL": f"sqlite:///{tmp_path / 'jiuzhu.sqlite3'}"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert found["app"] == "Flask"
    assert found["frozen"] > 100_000 and found["tracked"] < found["frozen"] / 100
