"""Run the real production server (gunicorn, deploy/gunicorn.conf.py, deploy.wsgi:app) in a test."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def jiuzhu(*args: str, env: dict) -> subprocess.CompletedProcess:
    """The real `jiuzhu` console script, this environment over the test's."""
    exe = Path(sys.executable).with_name("jiuzhu")
    return subprocess.run([str(exe), *args], env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=300)


class Gunicorn:
    """gunicorn as deployed, on a free loopback port, its output (error and access log) in a file."""

    def __init__(self, env: dict, log_path: Path, workers: int = 1, extra: tuple[str, ...] = (),
                 bind: str | None = None):
        self.port = free_port()
        self.log_path = log_path
        self.workers = workers
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                   "--no-control-socket", *extra, "deploy.wsgi:app"]
        full_env = {**os.environ, "JIUZHU_BIND": bind or f"{HOST}:{self.port}",
                    "JIUZHU_WORKERS": str(workers), **env}
        full_env.pop("JIUZHU_LOG_LEVEL", None)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def log(self) -> str:
        """Everything gunicorn and the app wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def exit_code(self, timeout: float = 90) -> int:
        """Wait for a server that should refuse to start; its exit status."""
        return self.process.wait(timeout=timeout)

    def wait_ready(self, timeout: float = 120) -> Gunicorn:
        """Until /healthz answers 200 and every worker has booted (AssertionError with the log if not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if self.get("/healthz")[0] == 200 and len(self.worker_pids()) == self.workers:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"gunicorn did not become ready:\n{self.log()[-4000:]}")

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        """GET a path: (status, body)."""
        return self.request("GET", path, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 10) -> tuple[int, bytes]:
        """One request on a new connection: (status, body)."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        """The master's children (its workers)."""
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        """SIGTERM the master; SIGKILL the whole group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> Gunicorn:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
