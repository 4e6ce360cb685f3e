"""HTTP data structures and helpers shared by the server, the client and the core.

The names are those of ``tornado.httputil``:

* :class:`HTTPHeaders`: case-insensitive, multi-valued header mapping;
* :class:`HTTPServerRequest`: one request as handlers see it
  (``method``, ``uri``, ``path``, ``query``, ``headers``, ``body``,
  ``arguments``, ``files``, ``cookies``, ``remote_ip``, ...);
* :class:`HTTPFile` and :func:`parse_body_arguments` /
  :func:`parse_multipart_form_data` for form bodies;
* :func:`url_concat`, :func:`format_timestamp`, :func:`parse_cookie`,
  :func:`split_host_and_port`, the start-line parsers and ``responses``;
* the core/driver seam (:class:`HTTPConnection`, :class:`HTTPMessageDelegate`,
  :class:`HTTPServerConnectionDelegate`, :class:`RequestStartLine`,
  :class:`ResponseStartLine`), defined in :mod:`dualweb.connection` and
  re-exported here where Tornado users look for them.
"""

from __future__ import annotations

import calendar
import datetime
import email.utils
import http.client
import http.cookies
import re
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from dualweb._formdata import (
    HTTPFile,
    HTTPInputError,
    ParseBodyConfig,
    ParseMultipartConfig,
    ParseUrlEncodedConfig,
    parse_body_arguments,
    parse_multipart_form_data,
    set_parse_body_config,
)
from dualweb.connection import (
    COMPLETED,
    AsyncUnavailableError,
    CompletedAwaitable,
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from dualweb.escape import native_str, parse_qs_bytes, utf8

__all__ = [
    "COMPLETED",
    "HTTP_WHITESPACE",
    "AsyncUnavailableError",
    "CompletedAwaitable",
    "HTTPConnection",
    "HTTPFile",
    "HTTPHeaders",
    "HTTPInputError",
    "HTTPMessageDelegate",
    "HTTPOutputError",
    "HTTPServerConnectionDelegate",
    "HTTPServerRequest",
    "ParseBodyConfig",
    "ParseMultipartConfig",
    "ParseUrlEncodedConfig",
    "RequestStartLine",
    "ResponseStartLine",
    "encode_username_password",
    "format_timestamp",
    "http_date_now",
    "parse_body_arguments",
    "parse_cookie",
    "parse_multipart_form_data",
    "parse_request_start_line",
    "parse_response_start_line",
    "qs_to_qsl",
    "responses",
    "set_parse_body_config",
    "split_host_and_port",
    "url_concat",
]

#: Status code → standard reason phrase (``responses[404] == "Not Found"``).
responses: dict[int, str] = http.client.responses

#: The whitespace HTTP allows around header values.
HTTP_WHITESPACE = " \t"


class HTTPOutputError(Exception):
    """The application produced an invalid HTTP response (e.g. a body on a 204)."""


# --------------------------------------------------------------------------- headers

# Header names seen on the wire are few and repeat on every request, so their
# Http-Header-Case form is computed once. The cache is bounded because names
# come from clients; past the bound, new names are normalized each time.
_NORMALIZED_NAMES: dict[str, str] = {}
_NORMALIZED_NAMES_LIMIT = 1000

# RFC 9110 "token" (header names) and the characters a header value may not contain.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_VALUE_CHARS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _normalize_name(name: str) -> str:
    """``content-TYPE`` → ``Content-Type`` (cached)."""
    normalized = _NORMALIZED_NAMES.get(name)
    if normalized is None:
        normalized = "-".join([word.capitalize() for word in name.split("-")])
        if len(_NORMALIZED_NAMES) < _NORMALIZED_NAMES_LIMIT:
            _NORMALIZED_NAMES[name] = normalized
    return normalized


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
                    cache.get(name) or _normalize_name(name): value
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

    def add(self, name: str, value: str) -> None:
        """Add a value for ``name``, keeping the values already there."""
        norm = _NORMALIZED_NAMES.get(name) or _normalize_name(name)
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
        norm = _normalize_name(name)
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

    def parse_line(self, line: str) -> None:
        """Add one header line such as ``"Content-Type: text/html"`` (a trailing CRLF is ignored).

        A line starting with a space or tab continues the previous header's
        value (obsolete line folding); it is joined with a single space.

        Raises:
            HTTPInputError: if the line has no colon, the name is not a valid
                token, the value contains control characters, or a continuation
                line comes first.
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
    def parse(cls, headers: str) -> HTTPHeaders:
        """Build headers from a raw header block (lines separated by CRLF or LF).

        Raises:
            HTTPInputError: on a malformed line (see :meth:`parse_line`).
        """
        result = cls()
        for line in headers.split("\n"):
            if line.endswith("\r"):
                line = line[:-1]
            if line:
                result.parse_line(line)
        return result

    # -- mapping protocol ---------------------------------------------------

    def __setitem__(self, name: str, value: str) -> None:
        norm = _NORMALIZED_NAMES.get(name) or _normalize_name(name)
        self._dict[norm] = value
        if self._multi is not None:
            self._multi.pop(norm, None)

    def __getitem__(self, name: str) -> str:
        return self._dict[_NORMALIZED_NAMES.get(name) or _normalize_name(name)]

    def __delitem__(self, name: str) -> None:
        norm = _normalize_name(name)
        del self._dict[norm]
        if self._multi is not None:
            self._multi.pop(norm, None)

    def __contains__(self, name: object) -> bool:
        if type(name) is str:
            return (_NORMALIZED_NAMES.get(name) or _normalize_name(name)) in self._dict
        return isinstance(name, str) and _normalize_name(name) in self._dict

    def get(self, name: str, default: Any = None) -> Any:
        """Return the (comma-joined) value of ``name``, or ``default`` when absent."""
        return self._dict.get(_NORMALIZED_NAMES.get(name) or _normalize_name(name), default)

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


_new_object = object.__new__


def _wrap_normalized(fields: dict[str, str]) -> HTTPHeaders:
    """Wrap ``fields`` (names already in Http-Header-Case, one value each) without copying.

    For the core's own header sets, whose names are constants: skips the
    constructor and the per-name normalization. The dict is taken over, not copied.
    """
    headers: HTTPHeaders = _new_object(HTTPHeaders)
    headers._dict = fields
    headers._multi = None
    headers._last_key = None
    return headers


# --------------------------------------------------------------------------- requests

_time = time.time


class HTTPServerRequest:
    """A single HTTP request received by a server, as handlers see it.

    Attributes:
        method: the request method (``"GET"``, ``"POST"``, ...).
        uri: the request target as sent (path plus query string).
        path: the part of ``uri`` before ``?``.
        query: the part of ``uri`` after ``?`` (``""`` if none).
        version: the HTTP version, e.g. ``"HTTP/1.1"``.
        headers: an :class:`HTTPHeaders`.
        body: the request body as ``bytes``.
        remote_ip: the client's address (from the connection; ``None`` if unknown).
        protocol: ``"http"`` or ``"https"``.
        host: the ``Host`` header, or ``"127.0.0.1"`` without one.
        host_name: ``host`` lower-cased and without its port.
        arguments: query and body arguments, ``{name: [bytes, ...]}``.
        query_arguments: arguments from the query string only.
        body_arguments: arguments from a form body only.
        files: uploaded files, ``{field name: [HTTPFile, ...]}``.
        connection: the :class:`HTTPConnection` the response is written to.
        server_connection: the server-side connection object, if any.
    """

    # __dict__ stays available: Tornado applications (and parts of the core)
    # attach their own attributes to the request.
    __slots__ = (
        "__dict__",
        "_body_parsed",
        "_cookies",
        "_finish_time",
        "_host_name",
        "_start_time",
        "arguments",
        "body",
        "body_arguments",
        "connection",
        "files",
        "headers",
        "host",
        "method",
        "path",
        "protocol",
        "query",
        "query_arguments",
        "remote_ip",
        "server_connection",
        "uri",
        "version",
    )

    def __init__(
        self,
        method: str | None = None,
        uri: str | None = None,
        version: str = "HTTP/1.0",
        headers: HTTPHeaders | None = None,
        body: bytes | None = None,
        host: str | None = None,
        files: dict[str, list[HTTPFile]] | None = None,
        connection: HTTPConnection | None = None,
        start_line: RequestStartLine | None = None,
        server_connection: object | None = None,
    ) -> None:
        if start_line is not None:
            method, uri, version = start_line
        self.method: str = method or "GET"
        uri = self.uri = uri or "/"
        self.version: str = version
        if headers is None:
            headers = HTTPHeaders()
        self.headers: HTTPHeaders = headers
        self.body: bytes = body or b""

        context = getattr(connection, "context", None)
        if context is None:
            self.remote_ip: str | None = None
            self.protocol: str = "http"
        else:
            self.remote_ip = getattr(context, "remote_ip", None)
            self.protocol = getattr(context, "protocol", None) or "http"

        if not host:
            # Straight to the dict for our own HTTPHeaders (the usual case);
            # anything else with a get() still works.
            fields = headers._dict if type(headers) is HTTPHeaders else headers
            host = fields.get("Host") or "127.0.0.1"
        self.host: str = host
        # Derived from host on first use: most requests never route by host.
        self._host_name: str | None = None
        self.files: dict[str, list[HTTPFile]] = files or {}
        self.connection = connection
        self.server_connection = server_connection
        self._start_time = _time()
        self._finish_time: float | None = None
        self._cookies: dict[str, http.cookies.Morsel[str]] | None = None
        self._body_parsed = False

        self.path, _, query = uri.partition("?")
        self.query: str = query
        self.body_arguments: dict[str, list[bytes]] = {}
        if query:
            self.query_arguments: dict[str, list[bytes]] = _parse_query(query)
            self.arguments: dict[str, list[bytes]] = {
                name: list(values) for name, values in self.query_arguments.items()
            }
        else:
            # The common case costs no parsing and no copies.
            self.query_arguments = {}
            self.arguments = {}

    @property
    def host_name(self) -> str:
        """``host`` lower-cased and without its port (e.g. ``"example.com"``)."""
        name = self._host_name
        if name is None:
            name = self._host_name = split_host_and_port(self.host.lower())[0]
        return name

    @host_name.setter
    def host_name(self, value: str) -> None:
        self._host_name = value

    @property
    def cookies(self) -> dict[str, http.cookies.Morsel[str]]:
        """The cookies sent in the ``Cookie`` header, as ``{name: Morsel}``.

        Parsing is lenient: malformed cookies and names that are not valid
        cookie names are skipped, never raising.
        """
        if self._cookies is None:
            jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            header = self.headers.get("Cookie")
            if header:
                for name, value in parse_cookie(header).items():
                    try:
                        jar[name] = value
                    except http.cookies.CookieError:
                        # The stdlib rejects some names (e.g. "expires"); skip them.
                        continue
            self._cookies = jar
        return self._cookies

    def full_url(self) -> str:
        """Return the reconstructed full URL, e.g. ``"https://example.com:8443/a?b=1"``."""
        return f"{self.protocol}://{self.host}{self.uri}"

    def request_time(self) -> float:
        """Seconds since the request started (or its total duration, once finished)."""
        if self._finish_time is None:
            return time.time() - self._start_time
        return self._finish_time - self._start_time

    def get_ssl_certificate(self, binary_form: bool = False) -> Any:
        """Return the client's TLS certificate, or ``None``.

        Only available when the server requested client certificates (an
        ``ssl.SSLContext`` with ``verify_mode`` set). With ``binary_form`` the
        DER bytes are returned, otherwise the dict from ``SSLSocket.getpeercert``.
        Always ``None`` under WSGI and for plain-HTTP connections.
        """
        getter = getattr(self.connection, "get_ssl_certificate", None)
        if getter is not None:
            return getter(binary_form)
        ssl_object = getattr(getattr(self.connection, "context", None), "ssl_object", None)
        if ssl_object is None:
            return None
        try:
            return ssl_object.getpeercert(binary_form=binary_form)
        except ValueError:  # the handshake has not completed
            return None

    def _parse_body(self) -> None:
        """Fill ``body_arguments`` and ``files`` from the body and merge into ``arguments``.

        Runs once: both a driver and the handler may call it, and a second run
        would duplicate the arguments (and any warning about a bad body).
        """
        if self._body_parsed:
            return
        self._body_parsed = True
        parse_body_arguments(
            self.headers.get("Content-Type", ""),
            self.body,
            self.body_arguments,
            self.files,
            self.headers,
        )
        arguments = self.arguments
        for name, values in self.body_arguments.items():
            arguments.setdefault(name, []).extend(values)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(protocol={self.protocol!r}, host={self.host!r}, "
            f"method={self.method!r}, uri={self.uri!r}, version={self.version!r}, "
            f"remote_ip={self.remote_ip!r})"
        )


def _parse_query(query: str) -> dict[str, list[bytes]]:
    """Parse a query string leniently: blank values kept, malformed input never raises."""
    try:
        return parse_qs_bytes(query, keep_blank_values=True)
    except ValueError:
        # Only a hand-built str with unencodable surrogates gets here.
        return {}


# --------------------------------------------------------------------------- URLs


def url_concat(
    url: str,
    args: Mapping[str, str] | Sequence[tuple[str, str]] | None,
) -> str:
    """Append query arguments to ``url``, keeping any query it already has.

    ``args`` is a dict, or a list/tuple of ``(name, value)`` pairs (which
    allows repeated names); ``None`` returns ``url`` unchanged::

        url_concat("http://example.com/foo?a=b", {"c": "d"})
        # 'http://example.com/foo?a=b&c=d'

    Raises:
        TypeError: if ``args`` is of another type.
    """
    if args is None:
        return url
    if isinstance(args, dict):
        extra: Iterable[tuple[str, str]] = args.items()
    elif isinstance(args, (list, tuple)):
        extra = args
    else:
        raise TypeError(
            f"url_concat() args must be a dict, a list or tuple of pairs, or None, "
            f"not {type(args).__name__}"
        )
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query.extend(extra)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def qs_to_qsl(qs: Mapping[str, Sequence[Any]]) -> Iterator[tuple[str, Any]]:
    """Turn ``{name: [v1, v2]}`` (as from ``parse_qs``) into ``(name, v1), (name, v2)`` pairs."""
    for name, values in qs.items():
        for value in values:
            yield name, value


def split_host_and_port(netloc: str) -> tuple[str, int | None]:
    """Split ``"host:port"`` into ``("host", port)``; ``port`` is ``None`` when absent.

    ``"[::1]:8080"`` gives ``("[::1]", 8080)``; anything after the last colon
    that is not all digits is kept as part of the host.
    """
    # Runs for every request (host_name), so string methods rather than a regex.
    host, colon, port = netloc.rpartition(":")
    if colon and host and port.isascii() and port.isdigit():
        return host, int(port)
    return netloc, None


def encode_username_password(username: str | bytes, password: str | bytes) -> bytes:
    """Return ``b"username:password"`` for HTTP Basic authentication (before base64)."""
    return utf8(username) + b":" + utf8(password)


# --------------------------------------------------------------------------- start lines

_HTTP_VERSION_RE = re.compile(r"HTTP/1\.[0-9]")
# The reason phrase may be empty or missing; control characters are refused.
_RESPONSE_LINE_RE = re.compile(r"(HTTP/1\.[0-9]) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")


def parse_request_start_line(line: str) -> RequestStartLine:
    """Parse ``"GET /path HTTP/1.1"`` into a :class:`RequestStartLine`.

    Raises:
        HTTPInputError: if the line is not ``method target version``.
    """
    try:
        method, path, version = line.split(" ")
    except ValueError:
        raise HTTPInputError(f"Malformed HTTP request line {line[:200]!r}") from None
    if not _HTTP_VERSION_RE.fullmatch(version):
        raise HTTPInputError(f"Malformed HTTP version in HTTP Request-Line: {version[:50]!r}")
    if not _TOKEN_RE.fullmatch(method):
        raise HTTPInputError(f"Malformed HTTP method {method[:50]!r}")
    return RequestStartLine(method, path, version)


def parse_response_start_line(line: str) -> ResponseStartLine:
    """Parse ``"HTTP/1.1 200 OK"`` into a :class:`ResponseStartLine`.

    Raises:
        HTTPInputError: if the line is not ``version code [reason]``.
    """
    match = _RESPONSE_LINE_RE.fullmatch(native_str(line).rstrip("\r\n"))
    if not match:
        raise HTTPInputError(f"Error parsing response start line {line[:200]!r}")
    return ResponseStartLine(match.group(1), int(match.group(2)), match.group(3) or "")


# --------------------------------------------------------------------------- dates


def format_timestamp(
    ts: int | float | tuple[int, ...] | time.struct_time | datetime.datetime,
) -> str:
    """Format a time for HTTP headers: ``"Sun, 06 Nov 1994 08:49:37 GMT"`` (IMF-fixdate).

    Accepts a POSIX timestamp, a UTC ``time.struct_time`` or 9-tuple (as from
    ``time.gmtime``), or a ``datetime`` (a naive one is taken as UTC).

    Raises:
        TypeError: for any other type.
    """
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        seconds: float = ts
    elif isinstance(ts, (tuple, time.struct_time)):
        seconds = calendar.timegm(ts)
    elif isinstance(ts, datetime.datetime):
        seconds = calendar.timegm(ts.utctimetuple())
    else:
        raise TypeError(f"format_timestamp() cannot format {type(ts).__name__} {ts!r}")
    return email.utils.formatdate(seconds, usegmt=True)


# (second, formatted) of the last Date computed. A tuple is replaced in one
# assignment, so threads (WSGI workers) never see a half-updated pair.
_date_cache: tuple[int, str] = (0, "")


def http_date_now() -> str:
    """The current time formatted for a ``Date`` header, computed at most once per second."""
    global _date_cache
    now = int(time.time())
    cached = _date_cache
    if cached[0] == now:
        return cached[1]
    text = email.utils.formatdate(now, usegmt=True)
    _date_cache = (now, text)
    return text


def _response_headers(server: str, content_type: str) -> HTTPHeaders:
    """New response headers ``Server``, ``Content-Type`` and ``Date`` (now), not normalized again.

    What every response starts with (``RequestHandler.clear``), built in one
    call: the Date check of :func:`http_date_now` is inlined.
    """
    now = int(_time())
    cached = _date_cache
    date = cached[1] if cached[0] == now else http_date_now()
    headers: HTTPHeaders = _new_object(HTTPHeaders)
    headers._dict = {"Server": server, "Content-Type": content_type, "Date": date}
    headers._multi = None
    headers._last_key = None
    return headers


# --------------------------------------------------------------------------- cookies

_QUOTED_ESCAPE_RE = re.compile(r"((?:\\[0-3][0-7][0-7])+)|\\(.)", re.DOTALL)


def _unescape_quoted(m: re.Match[str]) -> str:
    octals, char = m.groups()
    if not octals:
        return str(char)
    # A run of octal escapes is bytes: UTF-8 from werkzeug's dump_cookie (what
    # set_cookie uses), or single latin-1 characters from http.cookies.
    data = bytes(int(octals[i + 1 : i + 4], 8) for i in range(0, len(octals), 4))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _unquote_cookie_value(value: str) -> str:
    """Remove the double quotes around a cookie value and resolve its backslash escapes."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _QUOTED_ESCAPE_RE.sub(_unescape_quoted, value[1:-1])


def parse_cookie(cookie: str) -> dict[str, str]:
    """Parse a ``Cookie`` header into ``{name: value}`` the way browsers send it.

    Lenient on purpose: pieces are split on ``;``, a piece without ``=`` is
    stored under the empty name, quoted values are unquoted, and nothing in
    the header can make it raise. A later cookie replaces an earlier one of
    the same name.
    """
    result: dict[str, str] = {}
    for piece in cookie.split(";"):
        name, eq, value = piece.partition("=")
        if not eq:
            # A value with no name, as some browsers send.
            name, value = "", name
        name = name.strip()
        value = value.strip()
        if name or value:
            result[name] = _unquote_cookie_value(value)
    return result
