"""gunicorn's own log lines through the personal-data scrubber (`logger_class` in gunicorn.conf.py).

The app's lines are scrubbed by bot.logs, but gunicorn writes some of its own with the
request's full URL: "Error handling request POST /wechat?signature=…&openid=…" when a
worker is killed for a timeout or a request fails below the app, and "Invalid request
from ip=…: Invalid HTTP request line: '…'" for a malformed one. WeChat's query string
holds the resident's openid and the signature, timestamp and nonce; Twilio's requests
can carry a phone number. So every handler of gunicorn's error and access logs gets a
filter that drops query strings and scrubs ID- and phone-like numbers, whatever the
handler (stderr, a file, syslog) and after every reload (setup runs again on SIGHUP).
"""
from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

from bot.logs import scrub_log_line

# A URL's query string: from the "?" after a path to the next space or quote.
_QUERY = re.compile(r"(?<=[\w/.~%-])\?[^\s'\"<>]*")


def scrub_server_line(text: str) -> str:
    """A server log line without query strings, ID-, phone- and account-like numbers."""
    return scrub_log_line(_QUERY.sub("?…", text))


class _ScrubRecord(logging.Filter):
    """Render the record's message once, scrubbed (the traceback is scrubbed by the formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_server_line(record.getMessage())
        record.args = None
        return True


class _ScrubbedFormatter(logging.Formatter):
    """gunicorn's formatter, then the whole line (traceback included) scrubbed."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return scrub_server_line(self.inner.format(record))


class ScrubbingLogger(Logger):
    """gunicorn's logger with every handler of the error and access logs scrubbed."""

    def setup(self, cfg) -> None:
        """gunicorn's set-up (handlers from errorlog, accesslog, syslog…), then scrub each handler."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(f, _ScrubRecord) for f in handler.filters):
                    handler.addFilter(_ScrubRecord())
                if not isinstance(handler.formatter, _ScrubbedFormatter):
                    handler.setFormatter(_ScrubbedFormatter(handler.formatter))
