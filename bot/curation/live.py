"""The live knowledge: the files plus the published changes, and keeping every process on it.

The knowledge version is the newest row of knowledge_versions (one per publish or revert).
Each process keeps the version its knowledge base and matcher were built at; a background
thread (KnowledgeWatcher) reads the database's version every `[curation] refresh_seconds`
— one indexed query, never on a resident's request — and when it moved, loads the files
with the published changes, fits the matcher (or loads it from ~/.cache/jiuzhu: the check
before publishing fitted the same one) and swaps both in. No restart, no request waits.

A published change that no longer validates against the files (a developer renamed its
entry, a phrasing now clashes) is left out with a warning and shown on the curation page:
a curated change can never stop the bot from starting.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.curation.overlay import Change, Overlay
from bot.errors import KnowledgeError
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.storage.models import KnowledgeChange, KnowledgeVersion

log = logging.getLogger(__name__)
QUIET_FAILURES = 3  # transient failures logged at INFO; a longer outage as a warning


@dataclass
class Loaded:
    """A knowledge base built from the files and published changes, and what became of each change."""

    kb: KnowledgeBase
    version: int | None                      # None: the database could not be read (files only)
    kept: tuple[Change, ...] = ()
    outcome: dict[int, str] = field(default_factory=dict)       # applied, in_files, no_target
    problems: dict[int, list[str]] = field(default_factory=dict)  # left out: they no longer validate


def apply_changes(config, changes: list[Change] | tuple[Change, ...], version: int | None = None,
                  directory: Path | None = None) -> Loaded:
    """The files with `changes` applied; changes that break validation are left out, one by one.

    An error of the files themselves is raised as ever (the start-up error it always was).
    """
    overlay = Overlay(changes)
    try:
        kb = load_knowledge(config, directory, overlay)
        return Loaded(kb, version, tuple(changes), overlay.outcome)
    except KnowledgeError:
        if not changes:
            raise
    load_knowledge(config, directory)  # the files alone: their own problems stop start-up
    kept: list[Change] = []
    problems: dict[int, list[str]] = {}
    for change in changes:
        try:
            load_knowledge(config, directory, Overlay([*kept, change]))
            kept.append(change)
        except KnowledgeError as exc:
            problems[change.id] = list(exc.problems)
    log.warning("published knowledge change(s) %s no longer validate and are left out (see /workbench/curation)",
                ", ".join(f"#{i}" for i in problems))
    overlay = Overlay(kept)
    return Loaded(load_knowledge(config, directory, overlay), version, tuple(kept), overlay.outcome, problems)


def current_version(session: Session) -> int:
    """The knowledge version in the database (0: nothing ever published)."""
    return session.scalar(select(func.max(KnowledgeVersion.id))) or 0


def published_at(session: Session) -> tuple[int, list[Change]]:
    """The version and the changes live at it, in the order they were published.

    Read as "published at or before the version, not reverted by then", so the two queries
    agree even when a publish commits between them (PostgreSQL's READ COMMITTED).
    """
    version = current_version(session)
    rows = session.scalars(
        select(KnowledgeChange)
        .where(KnowledgeChange.published_version.is_not(None), KnowledgeChange.published_version <= version,
               or_(KnowledgeChange.reverted_version.is_(None), KnowledgeChange.reverted_version > version))
        .order_by(KnowledgeChange.published_version))
    return version, [Change(r.id, r.kind, dict(r.payload)) for r in rows]


def load_live(config, session: Session) -> Loaded:
    """The live knowledge as the database has it now."""
    version, changes = published_at(session)
    return apply_changes(config, changes, version)


def load_at_start(config, db=None) -> Loaded:
    """The knowledge base a process starts with: files and published changes.

    Never creates a database (`jiuzhu ask` on a fresh checkout has none) and never fails
    because of it: unreachable or without the tables, the files alone are loaded and the
    watcher catches up once the database answers.
    """
    owned = None
    try:
        if db is None:
            db = owned = _existing_database(config)
        if db is None:
            return Loaded(load_knowledge(config), 0)
        with db.unit_of_work() as session:
            return load_live(config, session)
    except KnowledgeError:
        raise
    except Exception as exc:  # noqa: BLE001 — the database is optional here
        log.info("published knowledge changes not read at start-up (%s); the files alone for now",
                 type(exc).__name__)
        return Loaded(load_knowledge(config), None)
    finally:
        if owned is not None:
            owned.dispose()


def _existing_database(config):
    """A Database on the configured URL when it exists (a SQLite file that is not there: None)."""
    from bot.storage.db import Database

    url = config.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1] if "///" in url else ""
        if not path or path == ":memory:" or not Path(path).exists():
            return None
    return Database(url, wait_seconds=config.database_wait_seconds)


def fit_matcher(kb: KnowledgeBase, config, previous=None):
    """The matcher for `kb`: one process on this machine fits it, the others load it from the cache.

    The sentence encoder of `previous` is kept (one model in memory, shared by forked workers).
    """
    from bot.matching.lexicon import cache_dir
    from bot.matching.matcher import Matcher

    with _machine_lock(cache_dir() / "refit.lock"):
        matcher = Matcher.load(kb, config.matching)
    old = getattr(previous, "semantic", None)
    if old is not None and matcher.semantic is not None:
        matcher.semantic.encoder = old.encoder
    return matcher


@contextlib.contextmanager
def _machine_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class KnowledgeWatcher:
    """Keeps one process's knowledge base and matcher at the database's knowledge version."""

    def __init__(self, runtime, interval: float):
        self.runtime = runtime
        self.interval = interval
        self.checked_at: float | None = None
        self._pid: int | None = None
        self._wake = threading.Event()
        self._refreshing = threading.Lock()
        self._figures_recorded = False
        self._failures = 0
        self._generation = 0  # a thread of an older generation ends (stop(): the pool is closing)

    @property
    def loaded(self) -> Loaded | None:
        """What the current knowledge base was built from (None: given to the runtime as is)."""
        return self.runtime.knowledge_loaded

    def ensure_running(self) -> None:
        """Start this process's watcher thread unless it runs (cheap: called before every request;
        a forked worker starts its own)."""
        if self._pid == os.getpid():
            return
        with self._refreshing:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._generation += 1
            self._wake = threading.Event()  # (an Event copied through fork is not to be trusted)
            self.runtime.db.when_disposed(self.stop)
            thread = threading.Thread(target=_watch, args=(weakref.ref(self), self._wake, self.interval,
                                                           self._generation),
                                      name="jiuzhu-knowledge-watcher", daemon=True)
            thread.start()

    def stop(self) -> None:
        """End the thread, after a check in progress (the database is being disposed: before a
        fork, at the end of a process or a test). The next request starts a new one."""
        with self._refreshing:
            self._pid = None
            self._generation += 1
            self._wake.set()

    def poke(self) -> None:
        """Check now (this process just published or reverted a change)."""
        self._wake.set()

    def refresh_now(self, generation: int | None = None) -> bool:
        """Read the version; when it moved, rebuild and swap in. True when the knowledge changed.

        `generation`: the watcher thread's; a thread stopped meanwhile does nothing."""
        with self._refreshing:
            if generation is not None and generation != self._generation:
                return False
            db, _ = self.runtime.db, self.runtime.kb  # (the start-up load sets the version it is at)
            with db.unit_of_work() as session:
                if not self._figures_recorded:
                    self._record_figures(session)
                version = current_version(session)
                self.checked_at = time.monotonic()
                if version == self.runtime.knowledge_version:
                    return False
                loaded = load_live(self.runtime.config, session)
            matcher = fit_matcher(loaded.kb, self.runtime.config, previous=self.runtime.matcher)
            self.runtime.install_knowledge(loaded, matcher)
            log.info("knowledge version %s in use (%d published change(s))", loaded.version, len(loaded.kept))
            with db.unit_of_work() as session:
                self._record_figures(session)  # entries new in this version
            return True

    def _record_figures(self, session: Session) -> None:
        """The figures each entry quotes, for entries seen for the first time (start-up, new entries)."""
        from bot.curation.figures import record_baselines

        record_baselines(session, self.runtime.kb, self.runtime.config)
        self._figures_recorded = True

    def _tick(self, generation: int) -> None:
        try:
            self.refresh_now(generation)
            self._failures = 0
        except Exception as exc:  # noqa: BLE001 — a database outage must not end the thread
            self._failures += 1
            level = logging.WARNING if self._failures > QUIET_FAILURES else logging.INFO
            log.log(level, "knowledge version check failed (%s: %s)", type(exc).__name__, str(exc)[:200])


def _watch(ref, wake: threading.Event, interval: float, generation: int) -> None:
    """The watcher thread: check, sleep, until the runtime is gone or the watcher stopped."""
    while True:
        watcher = ref()
        if watcher is None or watcher._generation != generation:
            return
        watcher._tick(generation)
        del watcher  # (no strong reference while asleep: a finished runtime can be collected)
        wake.wait(interval)
        wake.clear()
