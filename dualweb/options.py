"""Command-line and config-file options, defined by the modules that use them.

Any module may declare the options it needs, next to the code that reads
them::

    from dualweb.options import define, options

    define("port", default=8888, help="port to listen on")
    define("mysql_host", default="127.0.0.1:3306", group="database")

and the program's entry point parses them once::

    from dualweb.options import options, parse_command_line

    parse_command_line()            # --port=80 --mysql_host=db:3306
    app.listen(options.port)

Options are read as attributes of the global :data:`options` (or with
``options["port"]``). Names may be written with ``_`` or ``-``
interchangeably. :func:`parse_config_file` reads the same options from a
Python file of assignments (``port = 80``).

The logging options of :func:`dualweb.log.define_logging_options`
(``--logging``, ``--log_file_prefix``, ``--log_to_stderr``,
``--log_rotate_mode``, ...) are defined on :data:`options` at import time,
and parsing them (with ``final=True``, the default) configures logging
through :func:`dualweb.log.enable_pretty_logging`. ``--help`` prints every
option, grouped by the file (or ``group``) that defined it, and exits.
"""

from __future__ import annotations

import datetime
import numbers
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from dualweb.log import define_logging_options

__all__ = [
    "Error",
    "OptionParser",
    "add_parse_callback",
    "define",
    "options",
    "parse_command_line",
    "parse_config_file",
    "print_help",
]


class Error(Exception):
    """An option was defined twice, is unknown, or got a value of the wrong type."""


def _dashed(name: str) -> str:
    return name.replace("_", "-")


_DATETIME_FORMATS = (
    "%a %b %d %H:%M:%S %Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y%m%d %H:%M:%S",
    "%Y%m%d %H:%M",
    "%Y-%m-%d",
    "%Y%m%d",
    "%H:%M:%S",
    "%H:%M",
)
_TIME_UNITS = {
    "": "seconds",
    "s": "seconds",
    "sec": "seconds",
    "second": "seconds",
    "seconds": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
}
_DURATION_PART = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*")
_FALSE_WORDS = frozenset(("false", "0", "f", "no", "n", "off"))


def _parse_datetime(text: str) -> datetime.datetime:
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"unrecognized date/time {text!r}")


def _parse_timedelta(text: str) -> datetime.timedelta:
    total = datetime.timedelta()
    position = 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"unrecognized duration {text!r} (e.g. '90s', '1h 30m', '2.5')")
        number, unit = match.groups()
        field = _TIME_UNITS.get(unit.lower())
        if field is None:
            raise ValueError(f"unknown time unit {unit!r} in {text!r}")
        total += datetime.timedelta(**{field: float(number)})
        position = match.end()
    return total


def _parse_bool(text: str) -> bool:
    return text.strip().lower() not in _FALSE_WORDS


_PARSERS: dict[type, Callable[[str], Any]] = {
    datetime.datetime: _parse_datetime,
    datetime.timedelta: _parse_timedelta,
    bool: _parse_bool,
    str: str,
}


class _Option:
    """One defined option: its declaration and its current value."""

    __slots__ = (
        "_value",
        "callback",
        "default",
        "file_name",
        "group_name",
        "help",
        "metavar",
        "multiple",
        "name",
        "type",
        "value_set",
    )

    def __init__(
        self,
        name: str,
        default: Any,
        type: type,
        help: str | None,
        metavar: str | None,
        multiple: bool,
        file_name: str,
        group_name: str,
        callback: Callable[[Any], None] | None,
    ) -> None:
        if default is None and multiple:
            default = []
        self.name = name
        self.default = default
        self.type = type
        self.help = help
        self.metavar = metavar
        self.multiple = multiple
        self.file_name = file_name
        self.group_name = group_name
        self.callback = callback
        self.value_set = False
        self._value: Any = None

    def value(self) -> Any:
        return self._value if self.value_set else self.default

    def parse(self, text: str) -> Any:
        """Set the value from its text form (``multiple``: comma-separated, int ranges ``a:b``)."""
        convert = _PARSERS.get(self.type, self.type)
        try:
            if not self.multiple:
                value = convert(text)
            else:
                value = []
                for part in text.split(","):
                    if issubclass(self.type, numbers.Integral) and ":" in part:
                        low, _, high = part.partition(":")
                        value.extend(range(convert(low), convert(high) + 1))
                    else:
                        value.append(convert(part))
        except (ValueError, TypeError) as exc:
            raise Error(
                f"Option {self.name!r} requires {self._describe_type()}, got {text!r}: {exc}"
            ) from None
        self._store(value)
        return self.value()

    def set(self, value: Any) -> None:
        """Set the value from a Python object of the option's type."""
        if self.multiple:
            if not isinstance(value, list) or not all(
                item is None or isinstance(item, self.type) for item in value
            ):
                raise Error(f"Option {self.name!r} must be {self._describe_type()}, got {value!r}")
        elif value is not None and not isinstance(value, self.type):
            raise Error(
                f"Option {self.name!r} must be {self._describe_type()}, "
                f"got {type(value).__name__} {value!r}"
            )
        self._store(value)

    def _store(self, value: Any) -> None:
        self._value = value
        self.value_set = True
        if self.callback is not None:
            self.callback(value)

    def _describe_type(self) -> str:
        name = self.type.__name__
        if self.multiple:
            return f"a list of {name} (comma-separated)"
        return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def _defining_file() -> str:
    """The file that defined an option; ``""`` for this module's own options."""
    frame = sys._getframe(2)  # the caller of OptionParser.define
    code = frame.f_code
    if code.co_filename == __file__ and code.co_name == "define" and frame.f_back is not None:
        frame = frame.f_back  # through the module-level define()
    file_name = frame.f_code.co_filename
    return "" if file_name == __file__ else file_name


class OptionParser:
    """A collection of options; :data:`options` is the global instance.

    Options are attributes (``parser.port``) and items (``parser["port"]``);
    setting one checks its type. Iterating yields the option names.
    A new parser already has ``--help``.
    """

    def __init__(self) -> None:
        # Through __dict__: __setattr__ is reserved for option values.
        self.__dict__["_options"] = {}
        self.__dict__["_parse_callbacks"] = []
        self.define(
            "help", type=bool, help="show this help information", callback=self._help_callback
        )

    _options: dict[str, _Option]
    _parse_callbacks: list[Callable[[], None]]

    # -- access ---------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        option = self.__dict__["_options"].get(_dashed(name))
        if option is None:
            raise AttributeError(f"Unrecognized option {name!r}: define() it first")
        return option.value()

    def __setattr__(self, name: str, value: Any) -> None:
        option = self._options.get(_dashed(name))
        if option is None:
            raise AttributeError(f"Unrecognized option {name!r}: define() it first")
        option.set(value)

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self.__setattr__(name, value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _dashed(name) in self._options

    def __iter__(self) -> Iterator[str]:
        return (option.name for option in self._options.values())

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` of every option."""
        return [(option.name, option.value()) for option in self._options.values()]

    def groups(self) -> set[str]:
        """The group names (the ``group`` given to :meth:`define`, else the defining file)."""
        return {option.group_name for option in self._options.values()}

    def group_dict(self, group: str) -> dict[str, Any]:
        """``{name: value}`` of the options in ``group`` (all options for an empty group).

        Handy for passing a group of options as application settings::

            define("debug", default=False, group="application")
            app = Application(handlers, **options.group_dict("application"))
        """
        return {
            option.name: option.value()
            for option in self._options.values()
            if not group or option.group_name == group
        }

    def as_dict(self) -> dict[str, Any]:
        """``{name: value}`` of every option."""
        return {option.name: option.value() for option in self._options.values()}

    # -- definition -------------------------------------------------------------

    def define(
        self,
        name: str,
        default: Any = None,
        type: type | None = None,
        help: str | None = None,
        metavar: str | None = None,
        multiple: bool = False,
        group: str | None = None,
        callback: Callable[[Any], None] | None = None,
    ) -> None:
        """Declare the option ``name``.

        Args:
            name: the option name (``--name`` on the command line; ``_`` and
                ``-`` are interchangeable).
            default: the value until one is parsed or set.
            type: ``str``, ``int``, ``float``, ``bool``, ``datetime.datetime``,
                ``datetime.timedelta`` or any callable taking the text;
                defaults to the type of ``default`` (``str`` when there is none).
            help: the description shown by ``--help``.
            metavar: the placeholder for the value in ``--help`` (``--port=PORT``).
            multiple: the value is a list, given comma-separated
                (``--ports=80,8000:8002`` for integers, ranges inclusive).
            group: the heading in ``--help`` and the name for
                :meth:`group_dict`; defaults to the defining file's path.
            callback: called with the new value whenever it is parsed or set.

        Raises:
            Error: an option with this name already exists.
        """
        key = _dashed(name)
        existing = self._options.get(key)
        if existing is not None:
            where = existing.file_name or "dualweb.options"
            raise Error(f"Option {key!r} already defined in {where}")
        file_name = _defining_file()
        if type is None:
            type = default.__class__ if default is not None and not multiple else str
        self._options[key] = _Option(
            name,
            default=default,
            type=type,
            help=help,
            metavar=metavar,
            multiple=multiple,
            file_name=file_name,
            group_name=group or file_name,
            callback=callback,
        )

    # -- parsing ---------------------------------------------------------------

    def parse_command_line(self, args: list[str] | None = None, final: bool = True) -> list[str]:
        """Parse ``--name=value`` options from ``args`` (default ``sys.argv``; ``args[0]`` skipped).

        Parsing stops at the first argument that does not start with ``-``,
        or after ``--``; those remaining arguments are returned. A ``bool``
        option may be given without a value (``--debug``).

        Args:
            args: the command line, program name first.
            final: run the parse callbacks (logging set-up) afterwards; pass
                ``False`` when a config file is parsed next.

        Raises:
            Error: an unknown option (after printing help), a missing value,
                or a value that does not convert to the option's type.
        """
        if args is None:
            args = sys.argv
        remaining: list[str] = []
        for index in range(1, len(args)):
            arg = args[index]
            if arg == "--":
                remaining = args[index + 1 :]
                break
            if not arg.startswith("-"):
                remaining = args[index:]
                break
            name, equals, value = arg.lstrip("-").partition("=")
            option = self._options.get(_dashed(name))
            if option is None:
                self.print_help()
                raise Error(f"Unrecognized command line option: {_dashed(name)!r}")
            if not equals:
                if option.type is not bool:
                    raise Error(f"Option {_dashed(name)!r} requires a value (--{name}=...)")
                value = "true"
            option.parse(value)
        if final:
            self.run_parse_callbacks()
        return remaining

    def parse_config_file(self, path: str, final: bool = True) -> None:
        """Read options from the Python file ``path`` (top-level assignments like ``port = 80``).

        The file runs as Python code with ``__file__`` set; names that are
        not options are ignored. Strings are parsed like command-line values
        when the option is not a plain ``str`` (so ``ports = "80,81"`` works);
        other values must have the option's type.

        Raises:
            Error: a value has the wrong type.
            OSError: the file cannot be read; SyntaxError: it is not valid Python.
        """
        namespace: dict[str, Any] = {"__file__": os.path.abspath(path)}
        with open(path, "rb") as file:
            code = compile(file.read(), path, "exec")
        exec(code, namespace, namespace)
        for name, value in namespace.items():
            option = self._options.get(_dashed(name))
            if option is None:
                continue
            if option.multiple and not isinstance(value, (list, str)):
                raise Error(
                    f"Option {option.name!r} in {path} must be a list or a comma-separated "
                    f"string of {option.type.__name__}, got {value!r}"
                )
            if isinstance(value, str) and (option.type is not str or option.multiple):
                option.parse(value)
            else:
                option.set(value)
        if final:
            self.run_parse_callbacks()

    def print_help(self, file: TextIO | None = None) -> None:
        """Write the usage and every option, grouped, to ``file`` (default stderr)."""
        out = file if file is not None else sys.stderr
        print(f"Usage: {sys.argv[0]} [OPTIONS]", file=out)
        print("\nOptions:\n", file=out)
        groups: dict[str, list[_Option]] = {}
        for option in self._options.values():
            groups.setdefault(option.group_name, []).append(option)
        for group_name, members in sorted(groups.items()):
            if group_name:
                print(f"\n{os.path.normpath(group_name)} options:\n", file=out)
            for option in sorted(members, key=lambda o: o.name):
                print(_help_lines(option), file=out)
        print(file=out)

    def _help_callback(self, value: bool) -> None:
        if value:
            self.print_help()
            sys.exit(0)

    def add_parse_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after each final parse (command line or config file)."""
        self._parse_callbacks.append(callback)

    def run_parse_callbacks(self) -> None:
        """Run the callbacks registered with :meth:`add_parse_callback`, in order."""
        for callback in self._parse_callbacks:
            callback()

    def mockable(self) -> _Mockable:
        """An adapter for ``unittest.mock.patch.object`` (which needs plain attribute access)::

            with mock.patch.object(options.mockable(), "port", 9000):
                ...
        """
        return _Mockable(self)


def _help_lines(option: _Option) -> str:
    flag = _dashed(option.name)
    if option.metavar:
        flag += "=" + option.metavar
    text = option.help or ""
    if option.default is not None and option.default != "":
        text += f" (default {option.default})"
    lines = textwrap.wrap(text.strip(), 44) or [""]
    if len(flag) > 30:
        lines.insert(0, "")
    out = [f"  --{flag:<30} {lines[0]}".rstrip()]
    out.extend(" " * 35 + line for line in lines[1:])
    return "\n".join(out)


class _Mockable:
    """Attribute access to an :class:`OptionParser` that ``mock.patch`` can set and restore."""

    def __init__(self, parser: OptionParser) -> None:
        self.__dict__["_parser"] = parser
        self.__dict__["_originals"] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._originals:
            self._originals[name] = getattr(self._parser, name)
        setattr(self._parser, name, value)

    def __delattr__(self, name: str) -> None:
        setattr(self._parser, name, self._originals.pop(name))


#: The global :class:`OptionParser` that :func:`define` and the parse functions use.
options = OptionParser()


def define(
    name: str,
    default: Any = None,
    type: type | None = None,
    help: str | None = None,
    metavar: str | None = None,
    multiple: bool = False,
    group: str | None = None,
    callback: Callable[[Any], None] | None = None,
) -> None:
    """Declare an option on the global :data:`options` (see :meth:`OptionParser.define`)."""
    options.define(name, default, type, help, metavar, multiple, group, callback)


def parse_command_line(args: list[str] | None = None, final: bool = True) -> list[str]:
    """Parse the command line into :data:`options` (see :meth:`OptionParser.parse_command_line`)."""
    return options.parse_command_line(args, final=final)


def parse_config_file(path: str, final: bool = True) -> None:
    """Read a config file into :data:`options` (see :meth:`OptionParser.parse_config_file`)."""
    options.parse_config_file(path, final=final)


def print_help(file: TextIO | None = None) -> None:
    """Print the help of the global :data:`options` (see :meth:`OptionParser.print_help`)."""
    options.print_help(file)


def add_parse_callback(callback: Callable[[], None]) -> None:
    """Call ``callback()`` after the global options are parsed (final parses only)."""
    options.add_parse_callback(callback)


define_logging_options(options)
