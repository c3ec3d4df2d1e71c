"""Logs never carry ID numbers or phone numbers."""
import logging

from bot.logs import ScrubbingFormatter, ScrubPersonalData


def test_log_lines_are_scrubbed():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "resident %s id %s",
                               ("13970712468", "360732197909152130"), None)
    ScrubPersonalData().filter(record)
    line = ScrubbingFormatter("%(message)s").format(record)
    assert "13970712468" not in line and "360732197909152130" not in line
    assert line.startswith("resident ")


def test_traceback_text_is_scrubbed_too():
    try:
        raise ValueError("bad id 360732197909152130")
    except ValueError:
        import sys
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "360732197909152130" not in ScrubbingFormatter("%(message)s").format(record)


def test_a_logged_request_line_keeps_no_openid_nor_signature():
    """`jiuzhu serve` (werkzeug) logs the whole URL of each request."""
    line = ('127.0.0.1 - - [29/Nov/2026 00:34:55] "POST /wechat?signature=621bb8be2d25&timestamp=1764376495'
            '&nonce=1001&openid=oJZ_resident_7&encrypt_type=aes&msg_signature=45f96e7db0 HTTP/1.1" 200 -')
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, "%s", (line,), None)
    ScrubPersonalData().filter(record)
    out = ScrubbingFormatter("%(message)s").format(record)
    for secret in ("oJZ_resident_7", "621bb8be2d25", "45f96e7db0", "1764376495", "nonce=1001"):
        assert secret not in out
    assert '"POST /wechat?signature=…&timestamp=…&nonce=…&openid=…&encrypt_type=aes&msg_signature=… HTTP/1.1" 200' in out
