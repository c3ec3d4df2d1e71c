"""`jiuzhu worker` (the real console script) sending SMS to a fake Twilio while it is killed with
-9 mid-send and its PostgreSQL connection is cut: no resident gets a message twice, none is
lost, and the ones whose outcome is unknown (the worker died after handing them over) are listed
by `jiuzhu outbox failed` for a person to check, never resent."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import outbox
from bot.config import load_config
from bot.privacy import generate_key
from bot.runtime import Runtime
from bot.storage.models import OutboxMessage
from tests.conftest import ROOT
from tests.deploy.gunicorn_run import jiuzhu
from tests.handlers.test_senders import ACCOUNT_SID, AUTH_TOKEN, FROM, PUBLIC_URL, FakeTwilioApi
from tests.tools.faults import TcpProxy, wait_until

MESSAGES = 40


@pytest.fixture
def fake_api():
    fake = FakeTwilioApi()
    fake.delay = 0.05  # a send takes a moment: a kill lands in the middle of one
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


DATA_KEY = generate_key()


def _env(url: str, config: Path) -> dict:
    return {"JIUZHU_MODE": "production", "JIUZHU_DATA_KEY": DATA_KEY, "JIUZHU_DATABASE_URL": url, "JIUZHU_CONFIG": str(config), "JIUZHU_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "JIUZHU_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "JIUZHU_TWILIO_FROM": FROM, "JIUZHU_PUBLIC_URL": PUBLIC_URL}


def _start_worker(env: dict, log: Path) -> subprocess.Popen:
    """`jiuzhu worker --config …` (the CLI takes the config file as an option, not from the environment)."""
    exe = Path(sys.executable).with_name("jiuzhu")
    with log.open("ab") as out:
        return subprocess.Popen([str(exe), "worker", "--config", env["JIUZHU_CONFIG"]], cwd=ROOT, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def test_the_worker_killed_and_cut_off_sends_nothing_twice_and_loses_nothing(postgres_url, fake_api, tmp_path):
    config = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('api_base = "https://api.twilio.com"', f'api_base = "{fake_api.url}"', 1)
    config.write_text(text.replace("poll_seconds = 2 ", "poll_seconds = 1 ", 1), encoding="utf-8")
    assert jiuzhu("db", "upgrade", "--config", str(config), env=_env(postgres_url, config)).returncode == 0
    runtime = Runtime(load_config(config, environ=_env(postgres_url, config)))
    phones = [f"+86138{i:08d}" for i in range(MESSAGES)]
    for i, phone in enumerate(phones):
        outbox.enqueue(runtime, "sms", phone, f"您的申请已收到（{i}）", f"load:{i}")

    port = int(postgres_url.split("@127.0.0.1:")[1].split("/")[0])
    proxy = TcpProxy(port)
    proxied = _env(postgres_url.replace(f":{port}/", f":{proxy.port}/", 1), config)
    log = tmp_path / "worker.log"
    worker = _start_worker(proxied, log)
    try:
        assert wait_until(lambda: len(fake_api.posts) >= 8, timeout=60), log.read_text()
        fake_api.started.clear()
        assert wait_until(fake_api.started.is_set, timeout=10)  # a send is in flight right now
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        worker = _start_worker(proxied, log)
        assert wait_until(lambda: len(fake_api.posts) >= 20, timeout=60), log.read_text()
        proxy.cut()      # the database goes away while sends are in flight
        time.sleep(2)
        proxy.restore()
        assert wait_until(lambda: len(fake_api.posts) >= 28, timeout=60), log.read_text()
        fake_api.started.clear()
        assert wait_until(fake_api.started.is_set, timeout=10)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        worker = _start_worker(proxied, log)

        def settled() -> bool:
            with runtime.db.session() as s:
                return not s.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "queued")).all()
        assert wait_until(settled, timeout=90), log.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        proxy.close()

    # what the worker's housekeeping does after [worker].stuck_minutes, without waiting for it
    outbox.fail_stuck(runtime, dt.timedelta(0))
    received = Counter(post["To"] for post in fake_api.posts)
    assert [to for to, n in received.items() if n > 1] == [], "a resident got a message twice"
    with runtime.db.session() as s:
        rows = {runtime.protector.decrypt(r.recipient_ref): (r.id, r.status, r.last_error or "")
                for r in s.scalars(select(OutboxMessage))}
    sent = {phone for phone, (_, status, _) in rows.items() if status == "sent"}
    unknown = {rid for phone, (rid, status, error) in rows.items()
               if status == "failed" and "unknown" in error.lower()}
    assert sent <= set(received), "marked sent but Twilio never got it"
    assert {status for _, status, _ in rows.values()} <= {"sent", "failed"}, rows
    lost = [p for p, (rid, status, _) in rows.items() if p not in received and rid not in unknown]
    assert lost == [], "neither sent nor surfaced for a person"
    assert len(sent) + len(unknown) == MESSAGES
    listed = jiuzhu("outbox", "failed", "--config", str(config), env=_env(postgres_url, config))
    assert listed.returncode == 0, listed.stderr
    for rid in unknown:
        assert any(line.split()[0] == str(rid) for line in listed.stdout.splitlines() if line.strip()), \
            listed.stdout
    runtime.db.dispose()
    print(json.dumps({"sent": len(sent), "unknown_outcome": len(unknown), "posts": len(fake_api.posts)}))
