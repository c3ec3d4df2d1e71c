"""Faults on loopback for tests and bench/: a TCP proxy that can be cut, and a private PostgreSQL
server that can be restarted without touching the shared one other processes use."""
from __future__ import annotations

import os
import pwd
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. `cut()` drops every connection and refuses new ones
    (as a dead server or a pulled cable looks to a client); `restore()` forwards again."""

    def __init__(self, target_port: int, target_host: str = HOST):
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.1)
                if not ready:
                    continue
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                _reset(client)  # refused, at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        a, b = pair
        try:
            while not self._cut.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._pairs.discard(pair)
            for sock in pair:
                _reset(sock)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until restore()."""
        self._cut.set()
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def restore(self) -> None:
        """Forward new connections again."""
        self._cut.clear()

    def close(self) -> None:
        """Stop listening and drop everything."""
        self.cut()
        self._closed.set()
        self._listener.close()


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, no FIN
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


PG_BIN = Path(os.environ.get("JIUZHU_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free loopback port (initdb in a temporary directory),
    so a test can restart or stop *a* PostgreSQL without disturbing the shared server.

    Runs as the `postgres` system user when started as root (initdb refuses root).
    `available()` says whether this machine can (the binaries, and a user to run them)."""

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory or tempfile.mkdtemp(prefix="jiuzhu-pg-"))
        self.data = self.directory / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@{HOST}:{self.port}/postgres"
        self._user = "postgres" if os.geteuid() == 0 else None

    @staticmethod
    def available() -> str | None:
        """None when a private cluster can run here, else why not."""
        if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
            return f"no initdb/pg_ctl in {PG_BIN} (set JIUZHU_PG_BIN)"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no postgres user to run initdb as"
        return None

    def _run(self, *command: str, timeout: float = 120) -> None:
        argv = [str(c) for c in command]
        if self._user:
            argv = ["runuser", "-u", self._user, "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=timeout)

    def start(self) -> PrivatePostgres:
        """initdb (trust, loopback only) and start."""
        if self._user:
            shutil.chown(self.directory, self._user)
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")
        conf = ("listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
                f"port = {self.port}\n")
        with (self.data / "postgresql.conf").open("a") as fh:
            fh.write(conf)
        self._pg_ctl("start", "-w", "-t", "60")
        return self

    def _pg_ctl(self, action: str, *extra: str) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.directory / "server.log", action, *extra)

    def restart(self, mode: str = "fast") -> None:
        """Stop (every connection is dropped) and start again; "immediate" is a crash, no shutdown checkpoint."""
        self._pg_ctl("restart", "-m", mode, "-w", "-t", "60")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (start() again with `start_again`)."""
        self._pg_ctl("stop", "-m", mode, "-w", "-t", "60")

    def start_again(self) -> None:
        """Start a stopped server."""
        self._pg_ctl("start", "-w", "-t", "60")

    def destroy(self) -> None:
        """Stop and delete the cluster."""
        try:
            self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30, every: float = 0.05) -> bool:
    """Poll until the predicate is true (True) or the time is up (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())
