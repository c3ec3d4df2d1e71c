"""Load config.toml plus environment variables into a validated, frozen Config.

Nothing is read at import time; `load_config` is called by the app factory and
the CLI. Every problem is a ConfigError naming the key, so a wrong setting is a
clear start-up error instead of a surprise at 2 a.m.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
import urllib.parse
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_DIR / "config.toml"

ENV_DATABASE_URL = "JIUZHU_DATABASE_URL"
SECRET_VARIABLES = {
    "wechat_token": "JIUZHU_WECHAT_TOKEN",
    "wechat_app_id": "JIUZHU_WECHAT_APP_ID",
    "wechat_app_secret": "JIUZHU_WECHAT_APP_SECRET",
    "wechat_aes_key": "JIUZHU_WECHAT_AES_KEY",
    "twilio_account_sid": "JIUZHU_TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "JIUZHU_TWILIO_AUTH_TOKEN",
    "twilio_from": "JIUZHU_TWILIO_FROM",
    "twilio_shared_key": "JIUZHU_TWILIO_SHARED_KEY",
    "public_url": "JIUZHU_PUBLIC_URL",
    "secret_key": "JIUZHU_SECRET_KEY",
    "data_key": "JIUZHU_DATA_KEY",
}


@dataclass(frozen=True)
class Standards:
    """County assistance standards (元/人·月) and when they take effect."""

    effective: dt.date
    verified: bool
    dibao_urban: float
    dibao_rural: float
    tekun_multiplier: float
    bianyuan_multiplier: float


@dataclass(frozen=True)
class Hotlines:
    """Public phone numbers residents are pointed to."""

    government: str
    assistance: str
    bureau_phone: str
    bureau_verified: bool


@dataclass(frozen=True)
class County:
    """The county the bot serves."""

    name: str
    province: str
    prefecture: str
    area_code: str
    bureau: str
    townships: tuple[str, ...]
    standards: Standards
    hotlines: Hotlines
    service_centers: dict[str, str]
    service_centers_verified: bool


@dataclass(frozen=True)
class Matching:
    """Confidence bands of the FAQ matcher."""

    answer: float
    suggest: float
    max_question_chars: int
    semantic: bool = True  # the semantic second opinion, where the optional package is installed
    semantic_below: float = 0.85  # asked when the plain confidence is below this


# Bounds of a channel setting, in its field's metadata: at least `min`, or above `above`.
AT_LEAST_1, NOT_NEGATIVE, ABOVE_0 = {"min": 1}, {"min": 0}, {"above": 0}
MASS_MAX_OPENIDS = 10000  # WeChat: /cgi-bin/message/mass/send takes 2 to 10,000 openids


@dataclass(frozen=True)
class WeChatSettings:
    """`[wechat]`: the callback's checks, the passive-reply budget, pacing, the server API, the menu."""

    timestamp_window_seconds: int = field(default=300, metadata=AT_LEAST_1)
    max_body_bytes: int = field(default=65536, metadata=AT_LEAST_1)
    reply_budget_seconds: float = field(default=4.0, metadata=ABOVE_0)
    api_base: str = "https://api.weixin.qq.com"
    # [wechat.menu] as written; handlers.wechat_api.menu_of checks it against WeChat's limits
    menu: dict = field(default_factory=dict)
    # 群发 by OpenID list: WeChat takes 2 to 10,000 openids a call (handlers/wechat_mass.py)
    mass_batch_size: int = field(default=10000, metadata={"min": 2})
    # wait after WeChat says a quota is used up (45009, 45011, 45047, 45028) before trying again
    limit_retry_minutes: int = field(default=60, metadata=AT_LEAST_1)
    # 模板消息 for service notices outside the 48 h: "" = no template route
    notice_template_id: str = ""
    notice_template_title_key: str = "thing1"   # the template's keyword for the notice's title
    notice_template_date_key: str = "time2"     # … and for its date
    notice_template_url: str = ""               # where the template links to ("" = no link)

    def __post_init__(self):
        if self.mass_batch_size > MASS_MAX_OPENIDS:
            raise ConfigError("wechat.mass_batch_size", f"WeChat takes at most {MASS_MAX_OPENIDS} openids a call")


@dataclass(frozen=True)
class SmsSettings:
    """`[sms]`: reply paging, the webhook body limit, Twilio's API."""

    segment_chars: int = field(default=67, metadata=AT_LEAST_1)
    max_segments: int = field(default=2, metadata=AT_LEAST_1)
    # a 1600-character Body percent-encoded plus ~40 Twilio fields
    max_body_bytes: int = field(default=32768, metadata=AT_LEAST_1)
    api_base: str = "https://api.twilio.com"
    send_timeout_seconds: float = field(default=10.0, metadata=ABOVE_0)
    # a reply not ready within this is sent by `jiuzhu worker` (Twilio waits 15 s)
    reply_budget_seconds: float = field(default=10.0, metadata=ABOVE_0)


@dataclass(frozen=True)
class WorkerSettings:
    """`[worker]`: how `jiuzhu worker` polls, batches, retries and purges."""

    poll_seconds: int = field(default=2, metadata=AT_LEAST_1)
    batch_size: int = field(default=10, metadata=AT_LEAST_1)
    max_attempts: int = field(default=5, metadata=AT_LEAST_1)
    backoff_seconds: int = field(default=30, metadata=AT_LEAST_1)
    stuck_minutes: int = field(default=15, metadata=AT_LEAST_1)
    purge_every_minutes: int = field(default=60, metadata=AT_LEAST_1)


@dataclass(frozen=True)
class OutboxSettings:
    """`[outbox]`: how fast `jiuzhu worker` may send per channel, and what an SMS segment costs."""

    # Providers' limits (Twilio's per-number throughput, WeChat's per-second API limits):
    # the worker spaces its sends so that no second ever holds more than this many.
    sms_per_second: float = field(default=10.0, metadata=ABOVE_0)
    wechat_per_second: float = field(default=20.0, metadata=ABOVE_0)
    # the preview's cost estimate per billed SMS segment (yuan); not a bill
    sms_segment_yuan: float = field(default=0.05, metadata=NOT_NEGATIVE)


@dataclass(frozen=True)
class WorkbenchSettings:
    """`[workbench]`: the caseworker web UI (workbench/) and its lead service (bot/leads/)."""

    max_body_bytes: int = field(default=1_048_576, metadata=AT_LEAST_1)
    idle_minutes: int = field(default=30, metadata=AT_LEAST_1)        # a session ends after this idle
    overdue_days: int = field(default=3, metadata=AT_LEAST_1)         # a new lead not yet contacted
    reveal_minutes: int = field(default=5, metadata=AT_LEAST_1)       # a revealed field stays shown
    page_size: int = field(default=50, metadata=AT_LEAST_1)
    wechat_window_hours: int = field(default=48, metadata=AT_LEAST_1)  # WeChat customer-service rule
    timezone: str = "Asia/Shanghai"                                   # dates shown to caseworkers


@dataclass(frozen=True)
class RetentionSettings:
    """`[retention]`: how long words residents typed are kept (applications and the audit log stay)."""

    transcript_days: int = field(default=180, metadata=AT_LEAST_1)       # a lead's screening conversation
    unanswered_text_days: int = field(default=180, metadata=AT_LEAST_1)  # an unanswered question's text


@dataclass(frozen=True)
class CurationSettings:
    """`[curation]`: how the knowledge changes published in the workbench reach every process."""

    refresh_seconds: int = field(default=15, metadata=AT_LEAST_1)  # each process checks the version


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path
    mode: str  # development or production
    county: County
    database_url: str
    database_wait_seconds: float  # a statement's wait for a lock or a connection
    matching: Matching
    offer_minutes: int
    screening_expiry_days: int
    claim_lease_seconds: float    # a webhook message claimed by a dead worker is taken over after this
    resume_hours: int
    contact_days: int
    rate_limit_per_minute: int
    redis_url: str | None
    secrets: dict[str, str | None] = field(repr=False)
    wechat: WeChatSettings = field(default_factory=WeChatSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    workbench: WorkbenchSettings = field(default_factory=WorkbenchSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    curation: CurationSettings = field(default_factory=CurationSettings)
    # 政策找人 (bot/recheck.py): after a standard rises, households up to this much (元/人·月)
    # above the NEW line are listed too (their income may have been stated roughly)
    recheck_margin: float = 0.0


def resolve_config_path(path: str | os.PathLike | None = None) -> Path:
    """The --config path, else ./config.toml, else the project's default."""
    if path is not None:
        return Path(path)
    local = Path.cwd() / "config.toml"
    return local if local.is_file() else DEFAULT_CONFIG


def load_config(path: str | os.PathLike | None = None, overrides: dict | None = None,
                environ: dict[str, str] | None = None) -> Config:
    """Read, merge and validate the configuration; raise ConfigError on any problem."""
    cfg_path = resolve_config_path(path)
    try:
        return _load(cfg_path, overrides, environ)
    except ConfigError as error:
        if error.source or error.key.startswith("JIUZHU_") or error.key == str(cfg_path):
            raise
        raise ConfigError(error.key, error.problem, source=cfg_path.name) from None


def _load(cfg_path: Path, overrides: dict | None, environ: dict[str, str] | None) -> Config:
    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(cfg_path), "config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(cfg_path), f"not valid TOML ({exc})") from None
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)

    url = environ.get(ENV_DATABASE_URL) or _get(raw, "database.url", str)
    mode = environ.get("JIUZHU_MODE") or _get(raw, "app.mode", str)
    if mode not in ("development", "production"):
        raise ConfigError("app.mode", f"must be development or production, got {mode!r}")
    return Config(
        path=cfg_path,
        mode=mode,
        county=_read_county(raw),
        database_url=_absolute_sqlite_url(url, cfg_path.parent),
        database_wait_seconds=_seconds(raw, "database.wait_seconds", 3.0),
        matching=_read_matching(raw),
        offer_minutes=_get(raw, "conversation.offer_minutes", int, minimum=1),
        screening_expiry_days=_get(raw, "conversation.screening_expiry_days", int, minimum=1),
        claim_lease_seconds=_seconds(raw, "conversation.claim_lease_seconds", 4.5),
        resume_hours=_get(raw, "screening.resume_hours", int, minimum=1),
        contact_days=_get(raw, "screening.contact_within_working_days", int, minimum=1),
        rate_limit_per_minute=_get(raw, "rate_limit.messages_per_minute", int, minimum=1),
        redis_url=environ.get("JIUZHU_REDIS_URL") or (raw.get("redis") or {}).get("url") or None,
        secrets={name: environ.get(var) or None for name, var in SECRET_VARIABLES.items()},
        wechat=_api_base_checked(_read_section(raw, "wechat", WeChatSettings), "wechat"),
        sms=_api_base_checked(_read_section(raw, "sms", SmsSettings), "sms"),
        worker=_read_section(raw, "worker", WorkerSettings),
        outbox=_read_section(raw, "outbox", OutboxSettings),
        workbench=_read_section(raw, "workbench", WorkbenchSettings),
        retention=_read_section(raw, "retention", RetentionSettings),
        curation=_read_section(raw, "curation", CurationSettings),
        recheck_margin=float((raw.get("screening") or {}).get("recheck_margin", 0.0)),
    )


_KINDS = {"int": int, "float": float, "str": str, "dict": dict}


def _seconds(raw: dict, dotted: str, default: float) -> float:
    """An optional number of seconds above 0."""
    section, key = dotted.split(".")
    if key not in (raw.get(section) or {}):
        return default
    value = _get(raw, dotted, float)
    if not value > 0:
        raise ConfigError(dotted, f"must be more than 0 seconds, got {value}")
    return value


def _read_section(raw: dict, name: str, settings: type) -> Any:
    """A channel's table as its settings dataclass: each key optional, typed and bounded; no unknown key."""
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(name, "must be a table")
    known = {f.name: f for f in fields(settings)}
    for key in table:
        if key not in known:
            raise ConfigError(f"{name}.{key}", f"unknown setting (known: {', '.join(known)})")
    values = {}
    for key, spec in known.items():
        if key not in table:
            continue
        dotted = f"{name}.{key}"
        value = _get(raw, dotted, _KINDS[str(spec.type)], minimum=spec.metadata.get("min"))
        if "above" in spec.metadata and not value > spec.metadata["above"]:
            raise ConfigError(dotted, f"must be more than {spec.metadata['above']}, got {value}")
        values[key] = value
    return settings(**values)


def _api_base_checked(settings: Any, name: str) -> Any:
    """The section with its api_base checked: secrets travel only over https (http only to this machine)."""
    base = settings.api_base.rstrip("/")
    parts = urllib.parse.urlsplit(base)
    local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not (parts.scheme == "https" and parts.hostname) and not local:
        raise ConfigError(f"{name}.api_base", f"must be an https URL (http only to this machine), got {base!r}")
    return dataclasses.replace(settings, api_base=base)


def _read_county(raw: dict) -> County:
    townships = _get(raw, "county.townships", list)
    if not townships or not all(isinstance(t, str) and t.strip() for t in townships):
        raise ConfigError("county.townships", "must be a non-empty list of names")
    if len(set(townships)) != len(townships):
        raise ConfigError("county.townships", "lists a township twice")
    centers = dict(_get(raw, "county.service_centers", dict))
    centers_verified = centers.pop("verified", False)
    missing = [t for t in townships if not isinstance(centers.get(t), str) or not centers[t].strip()]
    if missing:
        raise ConfigError("county.service_centers", f"no address for {', '.join(missing)}")
    unknown = sorted(set(centers) - set(townships))
    if unknown:
        raise ConfigError("county.service_centers", f"not a township: {', '.join(unknown)}")
    effective = _get(raw, "county.standards.effective", dt.date)
    if isinstance(effective, dt.datetime):
        effective = effective.date()
    return County(
        name=_get(raw, "county.name", str),
        province=_get(raw, "county.province", str),
        prefecture=_get(raw, "county.prefecture", str),
        area_code=_check_area_code(_get(raw, "county.area_code", str)),
        bureau=_get(raw, "county.bureau", str),
        townships=tuple(townships),
        standards=Standards(
            effective=effective,
            verified=_get(raw, "county.standards.verified", bool),
            dibao_urban=_get(raw, "county.standards.dibao_urban", float, minimum=1),
            dibao_rural=_get(raw, "county.standards.dibao_rural", float, minimum=1),
            tekun_multiplier=_get(raw, "county.standards.tekun_multiplier", float, minimum=1),
            bianyuan_multiplier=_get(raw, "county.standards.bianyuan_multiplier", float, minimum=1),
        ),
        hotlines=Hotlines(
            government=_get(raw, "county.hotlines.government", str),
            assistance=_get(raw, "county.hotlines.assistance", str),
            bureau_phone=_get(raw, "county.hotlines.bureau_phone", str),
            bureau_verified=_get(raw, "county.hotlines.bureau_verified", bool),
        ),
        service_centers=centers,
        service_centers_verified=bool(centers_verified),
    )


def _read_matching(raw: dict) -> Matching:
    answer = _get(raw, "matching.answer", float, minimum=0)
    suggest = _get(raw, "matching.suggest", float, minimum=0)
    if not suggest < answer <= 1:
        raise ConfigError("matching", "need 0 <= suggest < answer <= 1")
    given = raw.get("matching", {})
    semantic = "semantic" not in given or _get(raw, "matching.semantic", bool)
    below = _get(raw, "matching.semantic_below", float, minimum=0) if "semantic_below" in given else 0.85
    if not answer <= below <= 1:
        raise ConfigError("matching.semantic_below", "need answer <= semantic_below <= 1")
    return Matching(answer=answer, suggest=suggest,
                    max_question_chars=_get(raw, "matching.max_question_chars", int, minimum=20),
                    semantic=semantic, semantic_below=below)


def _check_area_code(code: str) -> str:
    if not (len(code) == 6 and code.isdigit()):
        raise ConfigError("county.area_code", "must be the 6-digit administrative code")
    return code


def _get(raw: dict, dotted: str, kind: type, minimum: float | None = None) -> Any:
    """The value at a dotted key, checked against the expected type."""
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(dotted, "missing")
        node = node[part]
    if kind is float and isinstance(node, int) and not isinstance(node, bool):
        node = float(node)
    if kind is int and isinstance(node, bool) or not isinstance(node, kind):
        raise ConfigError(dotted, f"expected {kind.__name__}, got {type(node).__name__} {node!r}")
    if isinstance(node, str) and not node.strip():
        raise ConfigError(dotted, "is empty")
    if minimum is not None and node < minimum:
        raise ConfigError(dotted, f"must be at least {minimum}, got {node}")
    return node


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _absolute_sqlite_url(url: str, base: Path) -> str:
    """Resolve a relative SQLite path against the config file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        rest = url[len(prefix):]
        if rest and not rest.startswith(":"):
            return prefix + str((base / rest).resolve())
    return url
