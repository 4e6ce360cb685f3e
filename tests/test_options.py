"""dualweb.options: define, the command line, config files, --help."""

from __future__ import annotations

import datetime
import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from dualweb import options as options_module
from dualweb.options import Error, OptionParser

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def parser() -> OptionParser:
    p = OptionParser()
    p.define("port", default=8888, help="port to listen on", metavar="PORT")
    p.define("host", default="localhost", group="server")
    p.define("debug", default=False, group="server")
    p.define("ratio", type=float, default=0.5)
    p.define("ids", type=int, multiple=True)
    p.define("names", multiple=True)
    p.define("when", type=datetime.datetime)
    p.define("timeout", type=datetime.timedelta)
    return p


# -- command line -------------------------------------------------------------


def test_defaults(parser: OptionParser) -> None:
    assert parser.port == 8888
    assert parser["host"] == "localhost"
    assert parser.debug is False
    assert parser.ids == []
    assert parser.when is None


def test_parse_command_line_types(parser: OptionParser) -> None:
    rest = parser.parse_command_line(
        [
            "prog",
            "--port=80",
            "--host=example.test",
            "--debug",
            "--ratio=2.5",
            "--ids=1,5:7,10",
            "--names=a,b",
            "--when=2024-03-01 12:30",
            "--timeout=1h 30m 5s",
            "serve",
            "--not-an-option",
        ]
    )
    assert rest == ["serve", "--not-an-option"]
    assert parser.port == 80
    assert parser.host == "example.test"
    assert parser.debug is True
    assert parser.ratio == 2.5
    assert parser.ids == [1, 5, 6, 7, 10]
    assert parser.names == ["a", "b"]
    assert parser.when == datetime.datetime(2024, 3, 1, 12, 30)
    assert parser.timeout == datetime.timedelta(hours=1, minutes=30, seconds=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45", datetime.timedelta(seconds=45)),
        ("2.5", datetime.timedelta(seconds=2.5)),
        ("150ms", datetime.timedelta(milliseconds=150)),
        ("2d", datetime.timedelta(days=2)),
        ("1w", datetime.timedelta(weeks=1)),
        ("10min", datetime.timedelta(minutes=10)),
    ],
)
def test_timedelta_forms(parser: OptionParser, text: str, expected: datetime.timedelta) -> None:
    parser.parse_command_line(["prog", f"--timeout={text}"])
    assert parser.timeout == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20240301", datetime.datetime(2024, 3, 1)),
        ("2024-03-01T08:15", datetime.datetime(2024, 3, 1, 8, 15)),
        ("Fri Mar 01 08:15:00 2024", datetime.datetime(2024, 3, 1, 8, 15)),
    ],
)
def test_datetime_forms(parser: OptionParser, text: str, expected: datetime.datetime) -> None:
    parser.parse_command_line(["prog", f"--when={text}"])
    assert parser.when == expected


@pytest.mark.parametrize("value", ["false", "0", "f", "False", "no"])
def test_bool_false_words(parser: OptionParser, value: str) -> None:
    parser.parse_command_line(["prog", "--debug", f"--debug={value}"])
    assert parser.debug is False


def test_dashes_and_underscores_are_the_same(parser: OptionParser) -> None:
    parser.define("max_body_size", default=10)
    parser.parse_command_line(["prog", "--max-body-size=20"])
    assert parser.max_body_size == 20
    parser.parse_command_line(["prog", "--max_body_size=30"])
    assert parser["max-body-size"] == 30
    assert "max_body_size" in parser and "max-body-size" in parser


def test_double_dash_ends_options(parser: OptionParser) -> None:
    assert parser.parse_command_line(["prog", "--port=1", "--", "--port=2"]) == ["--port=2"]
    assert parser.port == 1


def test_unknown_option_prints_help_and_raises(
    parser: OptionParser, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(Error, match="Unrecognized command line option: 'prot'"):
        parser.parse_command_line(["prog", "--prot=80"])
    assert "--port=PORT" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("--port", "requires a value"),
        ("--port=eighty", "Option 'port' requires an int, got 'eighty'"),
        ("--ids=1,x", "requires a list of int"),
        ("--when=tomorrow", "unrecognized date/time"),
        ("--timeout=5 parsecs", "unknown time unit"),
    ],
)
def test_bad_values(parser: OptionParser, arg: str, message: str) -> None:
    with pytest.raises(Error, match=message):
        parser.parse_command_line(["prog", arg])


def test_define_twice(parser: OptionParser) -> None:
    with pytest.raises(Error, match=r"Option 'port' already defined in .*test_options\.py"):
        parser.define("port")


def test_set_checks_type(parser: OptionParser) -> None:
    parser.port = 9000
    assert parser.port == 9000
    with pytest.raises(Error, match="must be an int"):
        parser.port = "9000"
    with pytest.raises(Error, match="must be a list of int"):
        parser.ids = [1, "2"]
    with pytest.raises(AttributeError, match="Unrecognized option 'nope'"):
        parser.nope = 1
    with pytest.raises(AttributeError, match="Unrecognized option 'nope'"):
        parser.nope  # noqa: B018


def test_callbacks(parser: OptionParser) -> None:
    seen: list[Any] = []
    parser.define("level", default="info", callback=seen.append)
    parser.add_parse_callback(lambda: seen.append("parsed"))
    parser.parse_command_line(["prog", "--level=debug"], final=False)
    assert seen == ["debug"]
    parser.parse_command_line(["prog", "--level=warning"])
    assert seen == ["debug", "warning", "parsed"]
    parser.level = "error"
    assert seen[-1] == "error"


def test_introspection(parser: OptionParser) -> None:
    assert parser.groups() >= {"server", "", __file__}
    assert parser.group_dict("server") == {"host": "localhost", "debug": False}
    assert set(parser.group_dict("")) == set(parser)
    assert parser.as_dict()["port"] == 8888
    assert ("port", 8888) in parser.items()
    assert "help" in list(parser)


def test_mockable(parser: OptionParser) -> None:
    with mock.patch.object(parser.mockable(), "port", 1234):
        assert parser.port == 1234
    assert parser.port == 8888


def test_print_help(parser: OptionParser) -> None:
    out = io.StringIO()
    parser.print_help(out)
    text = out.getvalue()
    assert text.startswith("Usage: ")
    assert "  --port=PORT" in text and "port to listen on (default 8888)" in text
    assert "\nserver options:\n" in text
    assert text.index("--debug") < text.index("--host")  # sorted within the group


# -- config file ----------------------------------------------------------------


def test_parse_config_file(parser: OptionParser, tmp_path: Path) -> None:
    config = tmp_path / "app.conf"
    config.write_text(
        textwrap.dedent(
            """\
            import os
            port = 8000 + 80
            host = os.path.basename(__file__)
            debug = True
            ids = "1:3"
            names = ["x", "y"]
            timeout = "90s"
            unrelated = "ignored"
            """
        )
    )
    parser.parse_config_file(str(config))
    assert parser.port == 8080
    assert parser.host == "app.conf"
    assert parser.debug is True
    assert parser.ids == [1, 2, 3]
    assert parser.names == ["x", "y"]
    assert parser.timeout == datetime.timedelta(seconds=90)


@pytest.mark.parametrize(
    ("line", "message"), [("port = 8.5", "must be an int"), ("ids = 5", "must be a list")]
)
def test_config_file_type_errors(
    parser: OptionParser, tmp_path: Path, line: str, message: str
) -> None:
    config = tmp_path / "bad.conf"
    config.write_text(line + "\n")
    with pytest.raises(Error, match=message):
        parser.parse_config_file(str(config))


def test_config_file_then_command_line(parser: OptionParser, tmp_path: Path) -> None:
    config = tmp_path / "app.conf"
    config.write_text("port = '1'\nhost = 'from-file'\n")
    seen: list[str] = []
    parser.add_parse_callback(lambda: seen.append("parsed"))
    parser.parse_config_file(str(config), final=False)
    parser.parse_command_line(["prog", "--port=2"])
    assert (parser.port, parser.host) == (2, "from-file")
    assert seen == ["parsed"]


# -- the global options and the module functions --------------------------------

SCRIPT = """\
import sys
from dualweb.options import define, options, parse_command_line
define("port", default=8888, help="port to listen on")
rest = parse_command_line()
print("port", options.port, "rest", rest)
import logging
logging.getLogger("demo").info("ready")
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_script_parses_and_logs(tmp_path: Path) -> None:
    result = _run(tmp_path, "--port=81", "extra")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "port 81 rest ['extra']\n"
    # parse_command_line set up pretty logging at the default level, info.
    assert "] ready" in result.stderr and result.stderr.startswith("[I ")


def test_help_exits(tmp_path: Path) -> None:
    result = _run(tmp_path, "--help")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "--port" in result.stderr and "port to listen on (default 8888)" in result.stderr
    assert "--log-file-prefix=PATH" in result.stderr


def test_module_functions_use_global_options(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = OptionParser()
    monkeypatch.setattr(options_module, "options", fresh)
    options_module.define("answer", default=41)
    assert options_module.parse_command_line(["prog", "--answer=42"], final=False) == []
    assert fresh.answer == 42
    assert fresh.group_dict(__file__) == {"answer": 42}
    out = io.StringIO()
    options_module.print_help(out)
    assert "--answer" in out.getvalue()
    called: list[bool] = []
    options_module.add_parse_callback(lambda: called.append(True))
    fresh.run_parse_callbacks()
    assert called == [True]


def test_global_options_have_logging_options() -> None:
    names = set(options_module.options)
    assert {
        "help",
        "logging",
        "log_to_stderr",
        "log_file_prefix",
        "log_file_max_size",
        "log_file_num_backups",
        "log_rotate_when",
        "log_rotate_interval",
        "log_rotate_mode",
    } <= names
