"""Checkpointing a SQLite write-ahead log in the background, not inside a resident's request.

In WAL mode SQLite copies the log back into the database file ("checkpoints") when
the log passes `wal_autocheckpoint` pages, inside whichever commit crosses the line —
and a checkpoint syncs both files: on the WeChat path the unlucky commit took
far longer than the others (figures: bench/README.md, "Figures behind choices in the code").

So request-path connections only checkpoint as a backstop (BACKSTOP_PAGES, should this
thread fall behind), and each process runs one daemon thread that checkpoints
(PASSIVE: it never blocks readers or writers) soon after the log has grown.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading

log = logging.getLogger(__name__)

BACKSTOP_PAGES = 10_000  # ~40 MB of log: a commit checkpoints only if the thread fell this far behind
INTERVAL_SECONDS = 1.0   # how stale the database file may get; the log is replayed on open anyway


class WalCheckpointer:
    """One background checkpointing thread per process for one SQLite database file.

    `ensure_running()` is cheap and called before each transaction: it starts the
    thread in the process that uses the database (after a fork, gunicorn's workers
    each start their own; several checkpointing at once is safe, a busy one skips).
    `stop()` ends this process's thread and waits for it — Database.dispose() calls
    it before gunicorn's master forks, so no thread is inside SQLite (holding one of
    its process-wide locks, which the child would inherit held) at the fork.
    """

    def __init__(self, path: str, interval: float = INTERVAL_SECONDS):
        self.path = path
        self.interval = interval
        self.enabled = True  # False: no thread at all (tests of what commits do alone)
        self._lock = threading.Lock()
        self._running_in: int | None = None  # the pid the thread runs in
        self._halt: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # completed, for tests and curiosity

    def ensure_running(self) -> None:
        if self._running_in == os.getpid() or not self.enabled:
            return
        with self._lock:
            if self._running_in == os.getpid():
                return
            self._running_in = os.getpid()
            self._halt = threading.Event()  # (a new one: an inherited one may be set)
            self._thread = threading.Thread(target=self._run, args=(self._halt,), daemon=True,
                                            name="jiuzhu-wal-checkpoint")
            self._thread.start()

    def stop(self) -> None:
        """End this process's thread, if it runs, and wait for it; a later transaction restarts it."""
        with self._lock:
            if self._running_in != os.getpid():
                return
            self._halt.set()
            self._thread.join(timeout=10)
            self._running_in = None

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One PASSIVE checkpoint now: (busy, frames in the log, frames copied), None on error."""
        try:
            connection = sqlite3.connect(self.path, timeout=0.1)
        except sqlite3.Error:
            return None
        try:
            busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
            return busy, frames, copied
        except sqlite3.Error as error:  # locked for a moment, or the file went away
            log.debug("wal checkpoint skipped: %s", error)
            return None
        finally:
            connection.close()

    def _run(self, halt: threading.Event) -> None:
        wal = self.path + "-wal"
        seen = None
        while not halt.wait(self.interval):
            try:
                stat = os.stat(wal)
            except FileNotFoundError:
                if not os.path.exists(self.path):
                    return  # the database is gone (a test's temporary file)
                continue
            except OSError:  # (unreadable for a moment): try again next time; commits are the backstop
                continue
            grown = (stat.st_size, stat.st_mtime_ns)
            if grown != seen and stat.st_size:
                self.checkpoint()
                seen = grown
