"""The pieces a command or a web worker needs, built lazily and once.

Commands that never touch the database (`jiuzhu ask`) never pay for it, and
nothing is loaded at import time.
"""
from __future__ import annotations

from functools import cached_property

from bot.config import Config, load_config


class Runtime:
    """Config, knowledge base, matcher and database for one process.

    A piece passed to the constructor is used instead of building it: tests share
    one knowledge base and matcher, or give a protector with another key.
    """

    # An empty database is created at first use (the CLI contract, tests, scripts/dev);
    # server roles (deploy/wsgi.py, `jiuzhu worker`) set this False: they only check the
    # revision, and migrations are `jiuzhu db upgrade`'s job at deploy time.
    create_empty_schema = True
    # The knowledge version kb and matcher were built at (bot/curation/live.py): 0 for a knowledge
    # base given to the constructor or read from the files alone, None when the database could not
    # be read at start-up; `knowledge_loaded` says which published changes are in it.
    knowledge_version: int | None = 0
    knowledge_loaded = None

    def __init__(self, config: Config, *, kb=None, matcher=None, db=None, protector=None,
                 rate_limiter=None):
        self.config = config
        given = {"kb": kb, "matcher": matcher, "db": db, "protector": protector, "rate_limiter": rate_limiter}
        for name, piece in given.items():
            if piece is not None:
                setattr(self, name, piece)  # a cached_property is not built once its value is set
        if db is not None:
            self._seal_with_protector(db)

    @classmethod
    def from_path(cls, path: str | None = None, **overrides) -> Runtime:
        """Load config.toml (or the given file) and wrap it."""
        return cls(load_config(path, overrides=overrides or None))

    @cached_property
    def kb(self):
        """The validated knowledge base with the changes published in the workbench (raises
        KnowledgeError for the files' own problems)."""
        from bot.curation.live import load_at_start

        loaded = load_at_start(self.config, self.__dict__.get("db"))
        self.knowledge_version, self.knowledge_loaded = loaded.version, loaded
        return loaded.kb

    @cached_property
    def knowledge(self):
        """Keeps kb and matcher at the published knowledge version (a thread per process)."""
        from bot.curation.live import KnowledgeWatcher

        return KnowledgeWatcher(self, self.config.curation.refresh_seconds)

    def install_knowledge(self, loaded, matcher) -> None:
        """Answer from now on with this knowledge base and its matcher (a change was published)."""
        self.matcher, self.kb = matcher, loaded.kb
        engine = self.__dict__.get("engine")
        if engine is not None:  # (the engine keeps its own references)
            engine.matcher, engine.kb = matcher, loaded.kb
        self.knowledge_version, self.knowledge_loaded = loaded.version, loaded

    @cached_property
    def matcher(self):
        """The FAQ matcher (built or loaded from the cache)."""
        from bot.matching.matcher import Matcher

        return Matcher.load(self.kb, self.config.matching)

    @cached_property
    def db(self):
        """The database, its schema checked against the migrations' head (SchemaError if not)."""
        from bot.storage.db import Database

        wait = self.config.database_wait_seconds
        database = Database(self.config.database_url, wait_seconds=wait)
        try:
            if self.create_empty_schema:
                database.ensure_schema()
            else:
                database.check_schema()
        except BaseException:
            database.dispose()  # (refused: no connection left open behind the error)
            raise
        self._seal_with_protector(database)
        return database

    def _seal_with_protector(self, database) -> None:
        """The database's sealed columns (a lead's answers) use this runtime's protector, built on
        first use: a command that never reads them never needs the key."""
        from bot.storage.sealing import bind

        bind(database, lambda: self.protector)

    @cached_property
    def protector(self):
        """Encryption and keyed hashing of personal data (needs JIUZHU_DATA_KEY in production)."""
        from bot.privacy import DataProtector

        return DataProtector.from_secrets(self.config.secrets["data_key"],
                                          development=self.config.mode == "development")

    @cached_property
    def engine(self):
        """The conversation engine (database-backed)."""
        from bot.engine import Engine

        return Engine(self)

    @cached_property
    def turns(self):
        """The one turn pipeline every channel's messages go through (exactly once, leased claims)."""
        from bot.dialogue.turns import TurnPipeline

        from bot.dialogue.resends import ApologisedMessages

        lease = self.config.claim_lease_seconds
        limiter = self.rate_limiter  # its Redis client and outage record serve the apology notes too
        return TurnPipeline(self.db, self.engine.store.user_key, self.protector.encrypt,
                            lambda channel: self.kb.message("generic_apology", channel), lease_seconds=lease,
                            fingerprint=lambda text: self.protector.blind_index("resend", text.strip())[:16],
                            apologised=ApologisedMessages(limiter.client, limiter.redis))

    @cached_property
    def leads(self):
        """Draft applications (encrypted personal data, audited reveals)."""
        from bot.screening.leads import LeadStore

        return LeadStore(self.db, self.protector)

    @cached_property
    def screener(self):
        """The guided pre-screening: flow, answer parsers and eligibility rules, validated."""
        from bot.screening.flow import load_flow
        from bot.screening.parsers import AnswerParsers
        from bot.screening.rules import EligibilityRules
        from bot.screening.session import Screener
        from bot.screening.texts import ScreeningTexts

        return Screener(self, load_flow(), ScreeningTexts.load(),
                        AnswerParsers.from_knowledge(self.config.county.townships),
                        EligibilityRules.from_knowledge(self.config), self.leads)

    @cached_property
    def insight(self):
        """Records insight events (bot/insight/): with the turn, or in a caller's unit of work."""
        from bot.insight.events import Insight

        return Insight(self)

    @cached_property
    def rate_limiter(self):
        """Per-resident message limit (Redis-backed when configured)."""
        from bot.ratelimit import RateLimiter

        return RateLimiter(self.config.rate_limit_per_minute, self.config.redis_url)

    def start_conversations(self):
        """Load and validate everything a conversation needs now, so a bad key, config or
        flow stops start-up with a clear error instead of failing a resident later."""
        self.protector, self.db, self.kb, self.matcher, self.screener  # noqa: B018 — touching loads them
        if self.matcher.semantic is not None:
            self.matcher.semantic.encoder.warm()  # before a server forks: its workers share the model
        return self.engine

    def answer(self, question: str, channel: str = "wechat"):
        """Answer one question statelessly (what `jiuzhu ask` prints)."""
        from bot.answers import compose_answer

        text = question[: self.config.matching.max_question_chars]
        return compose_answer(self.kb, self.matcher.match(text), channel)
