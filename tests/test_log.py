"""dualweb.log: the three loggers, LogFormatter and enable_pretty_logging."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dualweb import log
from dualweb.log import LogFormatter, access_log, app_log, enable_pretty_logging, gen_log


def _record(
    msg: object, *args: object, level: int = logging.INFO, exc: bool = False
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("dualweb.test", level, "/x/web.py", 42, msg, args, exc_info)


def test_logger_names() -> None:
    assert access_log.name == "dualweb.access"
    assert app_log.name == "dualweb.application"
    assert gen_log.name == "dualweb.general"


def test_format_line() -> None:
    line = LogFormatter(color=False).format(_record("%d %s", 200, "GET /"))
    assert re.fullmatch(r"\[I \d{6} \d\d:\d\d:\d\d web:42\] 200 GET /", line), line


def test_format_multiline_and_traceback_are_indented() -> None:
    line = LogFormatter(color=False).format(_record("one\ntwo", level=logging.ERROR, exc=True))
    lines = line.split("\n")
    assert lines[0].startswith("[E ") and lines[0].endswith("] one")
    assert lines[1] == "    two"
    assert lines[2] == "    Traceback (most recent call last):"
    assert lines[-1] == "    ValueError: boom"


def test_format_non_string_message() -> None:
    # A message that is not a string is rendered with str(), as logging does.
    assert LogFormatter(color=False).format(_record(12345)).endswith("] 12345")


def test_color_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under pytest stderr is not a terminal: colour is off even when requested.
    assert "\033[" not in LogFormatter(color=True).format(_record("x"))
    monkeypatch.setattr(log, "_stderr_supports_color", lambda: True)
    colored = LogFormatter(color=True).format(_record("x", level=logging.WARNING))
    assert colored.startswith("\033[2;33m[W ")
    assert "]\033[0m x" in colored


def test_only_percent_style() -> None:
    with pytest.raises(ValueError, match="style"):
        LogFormatter(style="{")


def _fresh_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.propagate = False
    return logger


def test_enable_pretty_logging_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    logger = _fresh_logger("dualweb.test.pretty")
    options = SimpleNamespace(logging="warning", log_file_prefix=None, log_to_stderr=None)
    enable_pretty_logging(options, logger)
    assert logger.level == logging.WARNING
    assert len(logger.handlers) == 1
    assert isinstance(logger.handlers[0].formatter, LogFormatter)
    logger.info("hidden")
    logger.warning("shown %s", 1)
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert re.search(r"\[W \d{6} \d\d:\d\d:\d\d test_log:\d+\] shown 1", err)


def test_enable_pretty_logging_none_leaves_logging_alone() -> None:
    logger = _fresh_logger("dualweb.test.none")
    enable_pretty_logging(SimpleNamespace(logging="none"), logger)
    enable_pretty_logging(SimpleNamespace(logging=None), logger)
    assert logger.handlers == []
    assert logger.level == logging.NOTSET


def test_enable_pretty_logging_to_file(tmp_path: Path) -> None:
    logger = _fresh_logger("dualweb.test.file")
    path = tmp_path / "app.log"
    options = SimpleNamespace(
        logging="info",
        log_file_prefix=str(path),
        log_to_stderr=None,
        log_rotate_mode="size",
        log_file_max_size=1000,
        log_file_num_backups=2,
    )
    enable_pretty_logging(options, logger)
    try:
        logger.info("to the file")
        assert len(logger.handlers) == 1  # a log file means no stderr by default
        for handler in logger.handlers:
            handler.flush()
        assert re.search(r"\[I .*\] to the file", path.read_text())
    finally:
        for handler in logger.handlers:
            handler.close()
        logger.handlers.clear()


def test_enable_pretty_logging_bad_rotate_mode(tmp_path: Path) -> None:
    logger = _fresh_logger("dualweb.test.badmode")
    options = SimpleNamespace(
        logging="info", log_file_prefix=str(tmp_path / "x.log"), log_rotate_mode="weekly"
    )
    with pytest.raises(ValueError, match="log_rotate_mode"):
        enable_pretty_logging(options, logger)
