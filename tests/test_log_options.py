"""The logging command-line options (--logging, --log_file_prefix, --log_rotate_*, ...).

Each case runs a real program in a subprocess, since the options configure
the process's root logger.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dualweb.log import LogFormatter, define_logging_options
from dualweb.options import OptionParser

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """\
import logging, sys
from dualweb.log import app_log, gen_log
from dualweb.options import parse_command_line
parse_command_line()
logging.getLogger("demo").debug("debug line")
logging.getLogger("demo").info("info line")
app_log.warning("warning line")
gen_log.error("multi\\nline")
for handler in logging.getLogger().handlers:
    print(type(handler).__name__, getattr(handler, "maxBytes", ""),
          getattr(handler, "backupCount", ""), getattr(handler, "when", ""))
"""

LINE = re.compile(r"^\[([DIWE]) \d{6} \d\d:\d\d:\d\d \S+:\d+\] (.*)$")


def run(*args: str, stderr: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def levels_and_messages(text: str) -> list[tuple[str, str]]:
    return [m.groups() for line in text.splitlines() if (m := LINE.match(line))]  # type: ignore[misc]


def test_default_is_info_to_stderr() -> None:
    result = run()
    assert result.returncode == 0, result.stderr
    assert levels_and_messages(result.stderr) == [
        ("I", "info line"),
        ("W", "warning line"),
        ("E", "multi"),
    ]
    assert "\n    line" in result.stderr  # continuation lines are indented
    assert "\033[" not in result.stderr  # not a terminal: no colour
    assert result.stdout.split() == ["StreamHandler"]


@pytest.mark.parametrize(
    ("level", "expected"), [("debug", "DIWE"), ("warning", "WE"), ("error", "E")]
)
def test_logging_level(level: str, expected: str) -> None:
    result = run(f"--logging={level}")
    assert "".join(lvl for lvl, _ in levels_and_messages(result.stderr)) == expected


def test_logging_none_leaves_logging_alone() -> None:
    result = run("--logging=none")
    assert result.returncode == 0
    assert result.stdout == ""  # no handler installed
    assert levels_and_messages(result.stderr) == []
    # Python's last-resort handler still shows warnings, unformatted.
    assert "warning line" in result.stderr


def test_log_file_prefix_size_rotation(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    result = run(
        f"--log_file_prefix={log_file}", "--log_file_max_size=1000", "--log_file_num_backups=3"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["RotatingFileHandler", "1000", "3"]
    assert result.stderr == ""  # a log file and no --log_to_stderr: nothing on stderr
    assert [m for _, m in levels_and_messages(log_file.read_text())] == [
        "info line",
        "warning line",
        "multi",
    ]


def test_log_file_and_stderr(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    result = run(f"--log-file-prefix={log_file}", "--log-to-stderr", "--logging=warning")
    assert result.stdout.split() == ["RotatingFileHandler", "100000000", "10", "StreamHandler"]
    assert levels_and_messages(result.stderr) == levels_and_messages(log_file.read_text())
    assert len(levels_and_messages(result.stderr)) == 2


def test_time_rotation(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    result = run(
        f"--log_file_prefix={log_file}",
        "--log_rotate_mode=time",
        "--log_rotate_when=H",
        "--log_rotate_interval=2",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["TimedRotatingFileHandler", "10", "H"]
    assert "info line" in log_file.read_text()


def test_bad_rotate_mode_is_explained(tmp_path: Path) -> None:
    result = run(f"--log_file_prefix={tmp_path / 'x.log'}", "--log_rotate_mode=weekly")
    assert result.returncode != 0
    assert "log_rotate_mode must be 'size' or 'time', got 'weekly'" in result.stderr


def test_colour_on_a_terminal() -> None:
    main, secondary = pty.openpty()
    try:
        result = run("--logging=info", stderr=secondary)
        os.close(secondary)
        secondary = -1
        chunks = []
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO once the writer side is closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if secondary >= 0:
            os.close(secondary)
        os.close(main)
    output = b"".join(chunks).decode()
    assert result.returncode == 0
    assert "\033[2;32m[I " in output  # green info prefix
    assert "\033[2;31m[E " in output  # red error prefix
    assert "\033[0m info line" in output


def test_define_logging_options_on_another_parser() -> None:
    parser = OptionParser()
    define_logging_options(parser)
    logger = logging.getLogger("dualweb.test.logopts")
    logger.handlers.clear()
    logger.propagate = False
    parser.parse_command_line(["prog", "--logging=error"], final=False)
    from dualweb.log import enable_pretty_logging

    enable_pretty_logging(parser, logger)
    assert logger.level == logging.ERROR
    assert isinstance(logger.handlers[0].formatter, LogFormatter)
    logger.handlers.clear()


def test_bad_level_is_explained() -> None:
    result = run("--logging=verbose")
    assert result.returncode != 0
    assert "--logging must be debug, info, warning, error, critical or none, got 'verbose'" in (
        result.stderr
    )
