"""The public development key is for a laptop only: a server refuses it anywhere else.

Without JIUZHU_DATA_KEY, development mode encrypts personal data with a key anyone can
derive from the source (bot.privacy.DEVELOPMENT_KEY). That is fine for a local SQLite
file served on 127.0.0.1 — and nowhere else: a shared PostgreSQL database or a server
reachable from the network means real residents may type real ID numbers into it. The
server entry points (deploy/wsgi.py, deploy/gunicorn.conf.py, `jiuzhu serve`,
`jiuzhu worker`) call `refuse_development_key` before they start.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from sqlalchemy.engine import make_url

from bot.config import Config
from bot.errors import ConfigError

ADVICE = ("set JIUZHU_DATA_KEY (`jiuzhu keygen` prints one) and JIUZHU_MODE=production; "
          "the development key is only for a local SQLite file served on 127.0.0.1")


def refuse_development_key(config: Config, binds: Iterable[str] = ()) -> None:
    """ConfigError when this process would run on the public development key while its database
    is not a local SQLite file, or it listens on an address other than loopback."""
    if config.secrets.get("data_key") or config.mode != "development":
        return  # a real key; production without one is refused by DataProtector.from_secrets
    reasons = []
    if not is_local_sqlite(config.database_url):
        reasons.append(f"the database is {_shown(config.database_url)}, not a local SQLite file")
    exposed = [bind for bind in binds if not is_loopback_bind(bind)]
    if exposed:
        reasons.append(f"it listens on {', '.join(exposed)}, not only on loopback")
    if reasons:
        raise ConfigError("JIUZHU_DATA_KEY", "not set, so personal data would be encrypted with the public "
                          f"development key, and {' and '.join(reasons)}: {ADVICE}")


def is_local_sqlite(url: str) -> bool:
    """A SQLite file (or memory) on this machine; every other backend is a server others may reach."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 — an unreadable URL is not a local file
        return False
    return parsed.get_backend_name() == "sqlite" and not parsed.host


def is_loopback_bind(bind: str) -> bool:
    """gunicorn's bind syntax (HOST:PORT, [V6]:PORT, unix:PATH, fd://N) or a bare host: loopback only?"""
    bind = bind.strip()
    if bind.startswith("unix:"):
        return True  # a socket file on this machine (nginx in front)
    if bind.startswith("fd://"):
        return False  # handed over by systemd: it may listen anywhere
    host = bind
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if not host:
        return False  # ":8000" listens on every interface
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)


def _shown(url: str) -> str:
    """The URL as an operator recognises it, without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(an unreadable URL)"
