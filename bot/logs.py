"""Logging set-up: every line passes a filter that scrubs ID numbers and phone numbers."""
from __future__ import annotations

import logging
import os
import re

from bot.privacy import scrub_personal_data

# A request line in a server's own log (`jiuzhu serve`: werkzeug logs the whole URL) carries
# WeChat's query string: the resident's openid, and the signature, timestamp and nonce.
_QUERY_VALUES = re.compile(r"(?<![\w])(openid|signature|msg_signature|nonce|timestamp|echostr)=[^&\s\"']*")


def scrub_log_line(text: str) -> str:
    """scrub_personal_data, and the identifying or signing values of a logged URL."""
    return scrub_personal_data(_QUERY_VALUES.sub(r"\1=…", text))


class ScrubPersonalData(logging.Filter):
    """Replace ID-number-, phone- and account-like digit runs in the rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, scrubbed; tracebacks are scrubbed by the formatter."""
        record.msg = scrub_log_line(record.getMessage())
        record.args = None
        return True


class ScrubbingFormatter(logging.Formatter):
    """Scrub exception text too (a traceback may quote a value)."""

    def format(self, record: logging.LogRecord) -> str:
        """Format, then scrub the whole line."""
        return scrub_log_line(super().format(record))


def configure_logging(level: str | None = None) -> None:
    """Log to stderr at JIUZHU_LOG_LEVEL (default WARNING for commands, INFO for servers)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, ScrubbingFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ScrubPersonalData())
    root.addHandler(handler)
    root.setLevel(os.environ.get("JIUZHU_LOG_LEVEL") or level or "WARNING")
