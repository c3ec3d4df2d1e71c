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
