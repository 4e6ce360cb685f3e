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

import datetime
import http
import re
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dualweb._lazy import lazy_exports
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
from dualweb.headers import (
    HTTP_WHITESPACE,
    HTTPHeaders,
    HTTPInputError,
    is_valid_token,
)

if TYPE_CHECKING:
    import http.cookies

    from dualweb._formdata import (
        HTTPFile,
        ParseBodyConfig,
        ParseMultipartConfig,
        ParseUrlEncodedConfig,
        parse_body_arguments,
        parse_multipart_form_data,
        set_parse_body_config,
    )

# Form-body parsing (multipart, its limits, HTTPFile) loads with the first request
# that has a body; a request without one never needs it.
__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    dict.fromkeys(
        (
            "HTTPFile",
            "ParseBodyConfig",
            "ParseMultipartConfig",
            "ParseUrlEncodedConfig",
            "parse_body_arguments",
            "parse_multipart_form_data",
            "set_parse_body_config",
        ),
        "dualweb._formdata",
    ),
)

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
# The same table as http.client.responses, without importing http.client (and ssl).
responses: dict[int, str] = {status.value: status.phrase for status in http.HTTPStatus}

class HTTPOutputError(Exception):
    """The application produced an invalid HTTP response (e.g. a body on a 204)."""


# --------------------------------------------------------------------------- requests

_time = time.time
_new_object = object.__new__


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
        "_start_time",
        "body",
        "connection",
        "headers",
        "method",
        "path",
        "query",
        "server_connection",
        "uri",
        "version",
    )

    # What most requests never read is computed on first use (the properties
    # below) and kept in these class-level defaults until then, so __init__
    # stays a dozen stores. (Not __getattr__: a class with one loses the
    # interpreter's fast attribute reads for every attribute.)
    _host: str | None = None
    _peer: tuple[str | None, str] | None = None
    _files: dict[str, list[HTTPFile]] | None = None
    _arguments: dict[str, list[bytes]] | None = None
    _query_arguments: dict[str, list[bytes]] | None = None
    _body_arguments: dict[str, list[bytes]] | None = None
    _host_name: str | None = None
    _cookies: dict[str, http.cookies.Morsel[str]] | None = None
    _finish_time: float | None = None
    _body_parsed = False

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
        if host:
            self._host = host
        if files:
            self._files = files
        self.connection = connection
        self.server_connection = server_connection
        self._start_time = _time()
        self.path, _, self.query = uri.partition("?")

    @classmethod
    def from_start_line(
        cls,
        start_line: RequestStartLine,
        headers: HTTPHeaders,
        connection: HTTPConnection | None = None,
        server_connection: object | None = None,
    ) -> HTTPServerRequest:
        """The request whose head a server received; its body (if any) is still to come.

        The same request as ``HTTPServerRequest(headers=headers,
        connection=connection, start_line=start_line,
        server_connection=server_connection)``, made without the
        constructor's call and defaults (~1k interpreter instructions less):
        drivers and intakes build one per request.
        """
        request: HTTPServerRequest = _new_object(cls)
        method, uri, request.version = start_line
        request.method = method or "GET"
        uri = request.uri = uri or "/"
        request.headers = headers
        request.body = b""
        request.connection = connection
        request.server_connection = server_connection
        request._start_time = _time()
        request.path, _, request.query = uri.partition("?")
        return request

    @property
    def host(self) -> str:
        """The ``Host`` header (``"127.0.0.1"`` without one), or the host given when built."""
        host = self._host
        if host is None:
            host = self._host = self.headers.get("Host") or "127.0.0.1"
        return host

    @host.setter
    def host(self, value: str) -> None:
        self._host = value

    def _resolved_peer(self) -> tuple[str | None, str]:
        peer = self._peer
        if peer is None:
            connection = self.connection
            if connection is None:
                peer = (None, "http")
            else:
                context = connection.context
                peer = (context.remote_ip, context.protocol or "http")
            self._peer = peer
        return peer

    @property
    def remote_ip(self) -> str | None:
        """The client's address (from the connection's context; ``None`` if unknown)."""
        return self._resolved_peer()[0]

    @remote_ip.setter
    def remote_ip(self, value: str | None) -> None:
        self._peer = (value, self._resolved_peer()[1])

    @property
    def protocol(self) -> str:
        """``"http"`` or ``"https"`` (from the connection's context)."""
        return self._resolved_peer()[1]

    @protocol.setter
    def protocol(self, value: str) -> None:
        self._peer = (self._resolved_peer()[0], value)

    @property
    def query_arguments(self) -> dict[str, list[bytes]]:
        """Arguments from the query string only, ``{name: [bytes, ...]}``."""
        parsed = self._query_arguments
        if parsed is None:
            query = self.query
            # The common case (no query string) costs no parsing.
            parsed = self._query_arguments = _parse_query(query) if query else {}
        return parsed

    @query_arguments.setter
    def query_arguments(self, value: dict[str, list[bytes]]) -> None:
        self._query_arguments = value

    @property
    def arguments(self) -> dict[str, list[bytes]]:
        """Query and body arguments, ``{name: [bytes, ...]}``."""
        arguments = self._arguments
        if arguments is None:
            query = self.query
            parsed = _parse_query(query) if query else {}
            arguments = self._arguments = {key: list(values) for key, values in parsed.items()}
        return arguments

    @arguments.setter
    def arguments(self, value: dict[str, list[bytes]]) -> None:
        self._arguments = value

    @property
    def body_arguments(self) -> dict[str, list[bytes]]:
        """Arguments from a form body only, ``{name: [bytes, ...]}``."""
        arguments = self._body_arguments
        if arguments is None:
            arguments = self._body_arguments = {}
        return arguments

    @body_arguments.setter
    def body_arguments(self, value: dict[str, list[bytes]]) -> None:
        self._body_arguments = value

    @property
    def files(self) -> dict[str, list[HTTPFile]]:
        """Uploaded files, ``{field name: [HTTPFile, ...]}``."""
        files = self._files
        if files is None:
            files = self._files = {}
        return files

    @files.setter
    def files(self, value: dict[str, list[HTTPFile]]) -> None:
        self._files = value

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
            import http.cookies  # with the first request that reads its cookies

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
        connection = self.connection
        ssl_object = None if connection is None else connection.context.ssl_object
        if ssl_object is None:
            return None
        try:
            return ssl_object.getpeercert(binary_form=binary_form)
        except ValueError:  # the handshake has not completed
            return None

    def parse_body(self) -> None:
        """Fill ``body_arguments`` and ``files`` from ``body`` and merge them into ``arguments``.

        Runs once per request (later calls do nothing): the core calls it when
        the body is complete, and a second run would duplicate the arguments.

        Raises:
            HTTPInputError: the form body is malformed.
        """
        if self._body_parsed:
            return
        self._body_parsed = True
        from dualweb._formdata import parse_body_arguments  # see lazy_exports at the top

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

    # Tornado's private name, kept for code written against Tornado.
    _parse_body = parse_body

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
    if not is_valid_token(method):
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
        return _imf_fixdate(ts)
    import calendar  # only for these rarer argument types (it imports locale)

    if isinstance(ts, (tuple, time.struct_time)):
        return _imf_fixdate(calendar.timegm(ts))
    if isinstance(ts, datetime.datetime):
        return _imf_fixdate(calendar.timegm(ts.utctimetuple()))
    raise TypeError(f"format_timestamp() cannot format {type(ts).__name__} {ts!r}")


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _imf_fixdate(seconds: float) -> str:
    # What email.utils.formatdate(seconds, usegmt=True) returns; email.utils
    # (with socket and random) is not worth importing for one format string.
    t = time.gmtime(seconds)
    return (
        f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


# (start, end, formatted) of the second of the last Date computed. A tuple is
# replaced in one assignment, so threads (WSGI workers) never see a half-updated
# one. Floats are compared as they come from time.time(): int() of a float
# costs more than the rest of the check.
_date_cache: tuple[float, float, str] = (0.0, 0.0, "")


def http_date_now() -> str:
    """The current time formatted for a ``Date`` header, computed at most once per second."""
    global _date_cache
    now = _time()
    cached = _date_cache
    if cached[0] <= now < cached[1]:
        return cached[2]
    second = int(now)
    text = _imf_fixdate(second)
    _date_cache = (float(second), float(second + 1), text)
    return text


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
