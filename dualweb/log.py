"""dualweb's loggers and a compact, optionally coloured log formatter.

Three loggers, as in Tornado:

* ``access_log`` (``"dualweb.access"``): one line per completed request;
* ``app_log`` (``"dualweb.application"``): errors from application code,
  such as uncaught exceptions in handlers;
* ``gen_log`` (``"dualweb.general"``): everything else dualweb reports
  (malformed requests, bodies it could not parse, connection problems).

:func:`enable_pretty_logging` installs :class:`LogFormatter` on the root
logger (or a logger you pass), which is what ``dualweb.options`` does when
``--logging`` is set.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Mapping
from typing import Any

__all__ = [
    "LogFormatter",
    "access_log",
    "app_log",
    "define_logging_options",
    "enable_pretty_logging",
    "gen_log",
]

access_log = logging.getLogger("dualweb.access")
app_log = logging.getLogger("dualweb.application")
gen_log = logging.getLogger("dualweb.general")

# ANSI SGR codes; using raw escapes avoids a curses dependency and works on
# every terminal that a Python 3.10+ program is likely to meet.
_RESET = "\033[0m"


def _ansi_color(code: int) -> str:
    return f"\033[2;3{code}m"


def _stderr_supports_color() -> bool:
    """Whether stderr is a terminal that will render ANSI colours."""
    stream = sys.stderr
    try:
        if not (hasattr(stream, "isatty") and stream.isatty()):
            return False
    except ValueError:  # a closed stream
        return False
    if sys.platform == "win32":
        # Windows 10+ terminals handle ANSI when the console mode allows it;
        # without a reliable probe we stay plain.
        return False
    return True


def _safe_unicode(value: Any) -> str:
    """Render ``value`` as text for a log line, never raising."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return repr(value)
    try:
        return str(value)
    except Exception:  # pragma: no cover - a broken __str__
        return repr(value)


class LogFormatter(logging.Formatter):
    """A log formatter giving lines like ``[I 240101 12:00:00 web:2041] 200 GET / 0.5ms``.

    The prefix in brackets holds the level initial, the date and time, and the
    module and line that logged. When ``color`` is true and the output is a
    terminal, the prefix is coloured by level. Multi-line messages and
    tracebacks are indented under the first line.

    Args:
        fmt: the format string; ``%(color)s`` and ``%(end_color)s`` mark the
            coloured part.
        datefmt: the ``time.strftime`` format of ``%(asctime)s``.
        style: must be ``"%"``.
        color: colour the prefix when stderr is a terminal.
        colors: level number → ANSI colour number (0-7).
    """

    DEFAULT_FORMAT = (
        "%(color)s[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d]%(end_color)s %(message)s"
    )
    DEFAULT_DATE_FORMAT = "%y%m%d %H:%M:%S"
    DEFAULT_COLORS: Mapping[int, int] = {
        logging.DEBUG: 4,  # blue
        logging.INFO: 2,  # green
        logging.WARNING: 3,  # yellow
        logging.ERROR: 1,  # red
        logging.CRITICAL: 5,  # magenta
    }

    def __init__(
        self,
        fmt: str = DEFAULT_FORMAT,
        datefmt: str = DEFAULT_DATE_FORMAT,
        style: str = "%",
        color: bool = True,
        colors: Mapping[int, int] = DEFAULT_COLORS,
    ) -> None:
        if style != "%":
            raise ValueError(f"LogFormatter supports only style='%', got {style!r}")
        super().__init__(datefmt=datefmt)
        self._line_format = fmt
        self._colors: dict[int, str] = {}
        self._normal = ""
        if color and _stderr_supports_color():
            self._colors = {level: _ansi_color(code) for level, code in colors.items()}
            self._normal = _RESET

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as one line (plus indented continuation lines)."""
        message = _safe_unicode(record.getMessage())
        record.message = message
        record.asctime = self.formatTime(record, self.datefmt)
        if record.levelno in self._colors:
            record.color = self._colors[record.levelno]
            record.end_color = self._normal
        else:
            record.color = record.end_color = ""
        formatted = self._line_format % record.__dict__
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        parts = [formatted.rstrip()]
        if record.exc_text:
            parts.append(_safe_unicode(record.exc_text))
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        text = "\n".join(parts)
        return text.replace("\n", "\n    ")


def _global_options() -> Any:
    # Imported late: dualweb.options imports this module.
    return importlib.import_module("dualweb.options").options


def enable_pretty_logging(options: Any = None, logger: logging.Logger | None = None) -> None:
    """Send log output through :class:`LogFormatter` according to ``options``.

    Args:
        options: an object with the logging options defined by
            :func:`define_logging_options` (``logging``, ``log_file_prefix``,
            ``log_to_stderr``, ...); defaults to ``dualweb.options.options``.
        logger: the logger to configure; defaults to the root logger.

    Does nothing when ``options.logging`` is ``None`` or ``"none"``.

    Raises:
        ValueError: ``options.logging`` is not a level name, or
            ``options.log_rotate_mode`` is neither ``"size"`` nor ``"time"``.
    """
    if options is None:
        options = _global_options()
    level = getattr(options, "logging", "info")
    if level is None or str(level).lower() == "none":
        return
    number = logging.getLevelName(str(level).upper())
    if not isinstance(number, int):
        raise ValueError(
            f"--logging must be debug, info, warning, error, critical or none, got {level!r}"
        )
    if logger is None:
        logger = logging.getLogger()
    logger.setLevel(number)
    prefix = getattr(options, "log_file_prefix", None)
    if prefix:
        _add_file_handler(options, logger, prefix)
    to_stderr = getattr(options, "log_to_stderr", None)
    if to_stderr or (to_stderr is None and not logger.handlers):
        channel = logging.StreamHandler()
        channel.setFormatter(LogFormatter())
        logger.addHandler(channel)


def _add_file_handler(options: Any, logger: logging.Logger, prefix: str) -> None:
    # Only for --log_file_prefix; logging.handlers brings socket, pickle and queue.
    import logging.handlers

    rotate_mode = getattr(options, "log_rotate_mode", "size")
    handler: logging.Handler
    if rotate_mode == "size":
        handler = logging.handlers.RotatingFileHandler(
            filename=prefix,
            maxBytes=getattr(options, "log_file_max_size", 100 * 1000 * 1000),
            backupCount=getattr(options, "log_file_num_backups", 10),
            encoding="utf-8",
        )
    elif rotate_mode == "time":
        handler = logging.handlers.TimedRotatingFileHandler(
            filename=prefix,
            when=getattr(options, "log_rotate_when", "midnight"),
            interval=getattr(options, "log_rotate_interval", 1),
            backupCount=getattr(options, "log_file_num_backups", 10),
            encoding="utf-8",
        )
    else:
        raise ValueError(
            f"log_rotate_mode must be 'size' or 'time', got {rotate_mode!r}; "
            "fix the --log_rotate_mode option"
        )
    handler.setFormatter(LogFormatter(color=False))
    logger.addHandler(handler)


def define_logging_options(options: Any = None) -> None:
    """Define the logging command-line options on ``options`` (default: the global options).

    Defines ``logging``, ``log_to_stderr``, ``log_file_prefix``,
    ``log_file_max_size``, ``log_file_num_backups``, ``log_rotate_when``,
    ``log_rotate_interval`` and ``log_rotate_mode``, and arranges for
    :func:`enable_pretty_logging` to run after the options are parsed.
    """
    if options is None:
        options = _global_options()
    options.define(
        "logging",
        default="info",
        help="Log level for the root logger; 'none' leaves logging configuration alone.",
        metavar="debug|info|warning|error|none",
    )
    options.define(
        "log_to_stderr",
        type=bool,
        default=None,
        help="Write log lines to stderr (coloured on a terminal). Unset: only when "
        "no log file is configured and the logger has no handler yet.",
    )
    options.define(
        "log_file_prefix",
        type=str,
        default=None,
        metavar="PATH",
        help="Write log lines to this file (rotated); give each process its own path.",
    )
    options.define(
        "log_file_max_size",
        type=int,
        default=100 * 1000 * 1000,
        help="Rotate the log file when it reaches this many bytes (rotate mode 'size').",
    )
    options.define(
        "log_file_num_backups",
        type=int,
        default=10,
        help="How many rotated log files to keep.",
    )
    options.define(
        "log_rotate_when",
        type=str,
        default="midnight",
        help="Rotation unit for rotate mode 'time': S, M, H, D, W0-W6 or midnight.",
    )
    options.define(
        "log_rotate_interval",
        type=int,
        default=1,
        help="Rotate every this many units of --log_rotate_when (rotate mode 'time').",
    )
    options.define(
        "log_rotate_mode",
        type=str,
        default="size",
        help="Rotate log files by 'size' or by 'time'.",
    )
    options.add_parse_callback(lambda: enable_pretty_logging(options))
