"""HTTP header fields: :class:`HTTPHeaders` and the header grammar helpers.

:class:`HTTPHeaders` is Tornado's case-insensitive, multi-valued header
mapping. It lives in its own small module (re-exported by
:mod:`dualweb.httputil`, where Tornado users import it) so that the seam
(:mod:`dualweb.connection`), the form parser and the codec can use it
without importing the request machinery of :mod:`dualweb.httputil`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping
from typing import Any

__all__ = [
    "HTTP_WHITESPACE",
    "SMALL_LENGTHS",
    "HTTPHeaders",
    "HTTPInputError",
    "is_valid_token",
    "normalize_header_name",
]

#: The whitespace HTTP allows around header values.
HTTP_WHITESPACE = " \t"

#: ``str(n)`` for ``n < len(SMALL_LENGTHS)``, made once: the ``Content-Length``
#: value of most responses (``str()`` of an int costs ~0.9k interpreter
#: instructions, indexing this almost nothing).
SMALL_LENGTHS: tuple[str, ...] = tuple(map(str, range(1024)))


class HTTPInputError(Exception):
    """The peer sent an HTTP message that cannot be parsed (a bad header line, start line, body...).

    Raised by the header parsers here, the request-line parser and the form-body
    parsers (:func:`dualweb.httputil.parse_body_arguments`); the request
    lifecycle answers it with ``400 Bad Request``. Re-exported by
    :mod:`dualweb.httputil`, where Tornado has it.
    """


# --------------------------------------------------------------------------- headers

# Header names seen on the wire are few and repeat on every request, so their
# Http-Header-Case form is computed once. The cache is bounded because names
# come from clients; past the bound, new names are normalized each time.
_NORMALIZED_NAMES: dict[str, str] = {}
_NORMALIZED_NAMES_LIMIT = 1000

# RFC 9110 "token" (header names) and the characters a header value may not contain.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_VALUE_CHARS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def normalize_header_name(name: str) -> str:
    """Return ``name`` in ``Http-Header-Case`` (``content-TYPE`` → ``Content-Type``).

    Results for the first thousand distinct names are cached, so the names
    that repeat on every request cost one dictionary lookup.
    """
    normalized = _NORMALIZED_NAMES.get(name)
    if normalized is None:
        normalized = "-".join([word.capitalize() for word in name.split("-")])
        if len(_NORMALIZED_NAMES) < _NORMALIZED_NAMES_LIMIT:
            _NORMALIZED_NAMES[name] = normalized
    return normalized


def is_valid_token(text: str) -> bool:
    """Whether ``text`` is an RFC 9110 token (what header names and methods must be)."""
    return _TOKEN_RE.fullmatch(text) is not None


_new_object = object.__new__


class HTTPHeaders(MutableMapping[str, str]):
    """A dictionary of HTTP headers with case-insensitive names and repeatable values.

    Names are stored in ``Http-Header-Case`` (``h["content-type"]`` and
    ``h["Content-Type"]`` are the same entry). A name can carry several values:
    :meth:`add` appends one, :meth:`get_list` returns them all, :meth:`get_all`
    yields every ``(name, value)`` pair, and ``h[name]`` returns them joined by
    commas. Assigning ``h[name] = value`` replaces all existing values.

    Construct it like a ``dict`` (from a mapping, pairs or keyword arguments),
    or from raw header text with :meth:`parse`::

        h = HTTPHeaders({"Content-Type": "text/html"})
        h.add("Set-Cookie", "a=1")
        h.add("Set-Cookie", "b=2")
        h.get_list("set-cookie")   # ['a=1', 'b=2']

    Values are stored as given: checking them for CR/LF is the job of the
    code that writes a response (``RequestHandler.set_header`` does).
    """

    __slots__ = ("_dict", "_last_key", "_multi")

    def __init__(self, *args: Any, **kwargs: str) -> None:
        # Joined value per name; a name with several values also has its
        # list in _multi (created on first need, as most headers are single).
        self._dict: dict[str, str] = {}
        self._multi: dict[str, list[str]] | None = None
        self._last_key: str | None = None
        if len(args) == 1 and not kwargs:
            source = args[0]
            # Exact type checks first: isinstance() against an ABC subclass
            # costs more than building a small header set.
            if type(source) is dict:
                cache = _NORMALIZED_NAMES
                self._dict = {
                    cache.get(name) or normalize_header_name(name): value
                    for name, value in source.items()
                }
                return
            if type(source) is HTTPHeaders or isinstance(source, HTTPHeaders):
                self._dict = source._dict.copy()
                if source._multi:
                    self._multi = {name: list(values) for name, values in source._multi.items()}
                return
        if args or kwargs:
            self.update(*args, **kwargs)

    # -- multi-value API ----------------------------------------------------

    def add(self, name: str, value: str, *, _chars_are_bytes: bool = True) -> None:
        """Add a value for ``name``, keeping the values already there.

        ``_chars_are_bytes`` is accepted for Tornado compatibility; values are
        stored as given (validation happens where a response is written).
        """
        norm = _NORMALIZED_NAMES.get(name) or normalize_header_name(name)
        self._last_key = norm
        existing = self._dict.get(norm)
        if existing is None:
            self._dict[norm] = value
            return
        multi = self._multi
        if multi is None:
            multi = self._multi = {}
        values = multi.get(norm)
        if values is None:
            multi[norm] = [existing, value]
        else:
            values.append(value)
        self._dict[norm] = existing + "," + value

    def get_list(self, name: str) -> list[str]:
        """Return every value of ``name`` as a new list (empty if the header is absent)."""
        norm = normalize_header_name(name)
        if self._multi is not None:
            values = self._multi.get(norm)
            if values is not None:
                return list(values)
        value = self._dict.get(norm)
        return [] if value is None else [value]

    def get_all(self) -> Iterator[tuple[str, str]]:
        """Yield ``(name, value)`` for every value, repeating names that have several."""
        multi = self._multi
        for name, value in self._dict.items():
            values = multi.get(name) if multi else None
            if values is None:
                yield name, value
            else:
                for item in values:
                    yield name, item

    def parse_line(self, line: str, *, _chars_are_bytes: bool = True) -> None:
        """Add one header line such as ``"Content-Type: text/html"`` (a trailing CRLF is ignored).

        A line starting with a space or tab continues the previous header's
        value (obsolete line folding); it is joined with a single space.
        ``_chars_are_bytes`` is Tornado's parameter, accepted for
        compatibility: values are kept as given either way.

        Raises:
            HTTPInputError: if the line has no colon, the name is not a valid
                token, the value contains control characters, or a
                continuation line comes first.
        """
        if line.endswith("\n"):
            line = line[:-2] if line.endswith("\r\n") else line[:-1]
        if not line:
            return
        if line[0] in HTTP_WHITESPACE:
            self._continue_line(line)
            return
        name, colon, value = line.partition(":")
        if not colon:
            raise HTTPInputError(f"no colon in header line {line[:80]!r}")
        if not _TOKEN_RE.fullmatch(name):
            raise HTTPInputError(f"invalid header name {name[:80]!r}")
        value = value.strip(HTTP_WHITESPACE)
        if _FORBIDDEN_VALUE_CHARS_RE.search(value):
            raise HTTPInputError(f"invalid character in the value of header {name!r}")
        self.add(name, value)

    def _continue_line(self, line: str) -> None:
        last = self._last_key
        if last is None:
            raise HTTPInputError("the first header line cannot start with whitespace")
        part = line.strip(HTTP_WHITESPACE)
        if _FORBIDDEN_VALUE_CHARS_RE.search(part):
            raise HTTPInputError(f"invalid character in the value of header {last!r}")
        extra = " " + part
        self._dict[last] += extra
        if self._multi is not None and last in self._multi:
            self._multi[last][-1] += extra

    @classmethod
    def parse(cls, headers: str, *, _chars_are_bytes: bool = True) -> HTTPHeaders:
        """Build headers from a raw header block (lines separated by CRLF or LF).

        ``_chars_are_bytes`` is passed on to :meth:`parse_line`.

        Raises:
            HTTPInputError: on a malformed line (see :meth:`parse_line`).
        """
        result = cls()
        for line in headers.split("\n"):
            if line.endswith("\r"):
                line = line[:-1]
            if line:
                result.parse_line(line, _chars_are_bytes=_chars_are_bytes)
        return result

    # -- for the core's hot paths -------------------------------------------

    @classmethod
    def from_normalized(cls, fields: dict[str, str]) -> HTTPHeaders:
        """Wrap ``fields`` as headers without copying or normalizing the names.

        For code that builds header sets whose names are already in
        ``Http-Header-Case`` with one value each (constants, or names that went
        through :func:`normalize_header_name`): it skips the constructor's
        per-name work. The dict is taken over: do not use it afterwards.
        """
        headers: HTTPHeaders = _new_object(cls)
        headers._dict = fields
        headers._multi = None
        headers._last_key = None
        return headers

    def single_values(self) -> dict[str, str] | None:
        """The live ``{name: value}`` dict when no name has several values, else ``None``.

        For fast passes over headers (serializers, the WSGI adapter, the
        handler completing its response): the names are in
        ``Http-Header-Case``. Reading it is always safe, and so is storing a
        value under a name that is absent (given in ``Http-Header-Case``);
        do not replace or delete entries through it. When ``None`` is
        returned, use the mapping methods or :meth:`get_all` instead.
        """
        return self._dict if not self._multi else None

    # -- mapping protocol ---------------------------------------------------

    def __setitem__(self, name: str, value: str) -> None:
        norm = _NORMALIZED_NAMES.get(name) or normalize_header_name(name)
        self._dict[norm] = value
        if self._multi is not None:
            self._multi.pop(norm, None)

    def __getitem__(self, name: str) -> str:
        return self._dict[_NORMALIZED_NAMES.get(name) or normalize_header_name(name)]

    def __delitem__(self, name: str) -> None:
        norm = normalize_header_name(name)
        del self._dict[norm]
        if self._multi is not None:
            self._multi.pop(norm, None)

    def __contains__(self, name: object) -> bool:
        if type(name) is str:
            return (_NORMALIZED_NAMES.get(name) or normalize_header_name(name)) in self._dict
        return isinstance(name, str) and normalize_header_name(name) in self._dict

    def get(self, name: str, default: Any = None) -> Any:
        """Return the (comma-joined) value of ``name``, or ``default`` when absent."""
        return self._dict.get(_NORMALIZED_NAMES.get(name) or normalize_header_name(name), default)

    def __len__(self) -> int:
        return len(self._dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HTTPHeaders):
            return self._dict == other._dict
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> HTTPHeaders:
        """Return an independent copy, including repeated values."""
        return HTTPHeaders(self)

    __copy__ = copy

    def __str__(self) -> str:
        return "".join([f"{name}: {value}\r\n" for name, value in self.get_all()])

    __unicode__ = __str__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.get_all())!r})"


