"""WSGI support: run a dualweb application under any WSGI server, or host a WSGI app natively.

Two directions, as in Tornado:

* :class:`WSGIAdapter` turns a :class:`dualweb.web.Application` into a
  PEP 3333 callable, so ``gunicorn myapp:wsgi`` (or uWSGI, mod_wsgi,
  waitress, ``webtest``) drives the same request core that dualweb's native
  server drives. Each request runs synchronously from start to finish; the
  features that need an event loop (coroutine handlers, ``@asynchronous``,
  ``AsyncHTTPClient``, WebSockets, ...) raise :class:`AsyncUnavailableError`,
  which the client sees as a 500 and the log shows with the fix.
* :class:`WSGIContainer` goes the other way: it wraps a WSGI application
  (Flask, Django, ...) so dualweb's native ``HTTPServer`` can serve it.

Theory of operation for the adapter: the environ becomes an
:class:`~dualweb.httputil.HTTPServerRequest` whose connection is a private
``_WSGIConnection``. That connection does no I/O: it records the status
line, the headers and the body chunks the core writes, and reports
``supports_async = False`` so the core refuses async features up front.
When the core returns, the adapter checks the response really finished,
then hands status, headers and the joined body to ``start_response``.
"""

from __future__ import annotations

import asyncio
import http
import io
import re
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple
from urllib.parse import quote, unquote_to_bytes

from dualweb.connection import (
    COMPLETED,
    AsyncUnavailableError,
    HTTPConnection,
    ResponseStartLine,
)
from dualweb.escape import xhtml_escape
from dualweb.httputil import HTTPHeaders, HTTPServerRequest, _wrap_normalized
from dualweb.log import access_log, app_log, gen_log
from dualweb.netutil import is_valid_ip

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "AsyncRouteInfo",
    "AsyncRoutesWarning",
    "AsyncUnavailableError",
    "WSGIAdapter",
    "WSGIContainer",
]


class AsyncRoutesWarning(UserWarning):
    """Issued by :class:`WSGIAdapter` when some routes need dualweb's native server.

    The message lists every such route and why; those routes answer 500 under
    WSGI. Pass ``strict=True`` to the adapter to make this an error instead.
    """


class AsyncRouteInfo(NamedTuple):
    """One route that cannot run under WSGI, as returned by :meth:`WSGIAdapter.async_routes`.

    ``pattern`` is the route's path pattern (prefixed with its host pattern
    for host-specific routes), ``handler`` the handler class name and
    ``reasons`` the async features it uses.
    """

    pattern: str
    handler: str
    reasons: tuple[str, ...]


# Hop-by-hop headers belong to the WSGI server's connection (PEP 3333 forbids
# an application from sending them); a handler setting one must not break it.
_HOP_BY_HOP = frozenset(
    {
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Te",
        "Trailer",
        "Trailers",
        "Transfer-Encoding",
        "Upgrade",
    }
)  # in HTTPHeaders' normalized Http-Header-Case
# Characters RFC 3986 allows unescaped in a path; a path made only of these
# (the usual case) needs no re-quoting, which saves a quote() call per request.
_PATH_SAFE = "/:@!$&'()*+,;="
_is_plain_path = re.compile(r"[A-Za-z0-9_.~/:@!$&'()*+,;=-]*\Z").match
_HEADER_NAME_CACHE_LIMIT = 512
# Distinct environ key layouts remembered per adapter (a server sends the same
# keys in the same order for the same kind of client, so a few cover nearly all
# traffic; the bound keeps clients that invent header names from growing it).
_SHAPE_CACHE_LIMIT = 256
_NO_BODY_STATUS = frozenset({204, 304})
_READ_BLOCK = 65536
_BODYLESS_METHODS = frozenset({"GET", "HEAD"})
_DROP_UNDER_GUNICORN = _HOP_BY_HOP | {"Server", "Date"}

def _error_page(code: int, reason: str, detail: str | None = None) -> bytes:
    """The small HTML page the adapter sends when it must answer by itself."""
    extra = f"<pre>{xhtml_escape(detail)}</pre>" if detail else ""
    return (
        f"<html><title>{code}: {reason}</title><body>{code}: {reason}{extra}</body></html>"
    ).encode()


class _WSGIConnection(HTTPConnection):
    """Records what the core writes for one request; nothing touches a socket.

    It is also its own ``context`` (remote_ip, protocol, address), which the
    request reads at construction. Exposing it through a property rather than
    a ``self.context = self`` attribute avoids a reference cycle per request.
    """

    __slots__ = (
        "chunks",
        "close_callback",
        "finished",
        "headers",
        "protocol",
        "remote_ip",
        "start_line",
    )
    supports_async = False
    address: ClassVar[tuple[str, int] | None] = None

    def __init__(self, remote_ip: str, protocol: str) -> None:
        self.remote_ip = remote_ip
        self.protocol = protocol
        self.start_line: ResponseStartLine | None = None
        self.headers: HTTPHeaders | None = None
        self.chunks: list[bytes] = []
        self.finished = False
        self.close_callback: Callable[[], None] | None = None

    @property
    def context(self) -> _WSGIConnection:
        """The request context: ``remote_ip``, ``protocol`` and ``address``."""
        return self

    def write_headers(
        self,
        start_line: ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Awaitable[None]:
        """Record the status line and headers (and a first body chunk)."""
        self.start_line = start_line
        self.headers = headers
        if chunk:
            self.chunks.append(chunk)
        return COMPLETED

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Record a body chunk."""
        if chunk:
            self.chunks.append(chunk)
        return COMPLETED

    def finish(self) -> None:
        """Mark the response complete."""
        self.finished = True

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Remember ``callback``; it runs only if the adapter abandons the request."""
        self.close_callback = callback


class _BadRequest(Exception):
    """The environ describes a request the adapter cannot accept (answered with 400)."""


def _read_body(environ: WSGIEnvironment) -> bytes:
    """Read the request body as PEP 3333 allows: by CONTENT_LENGTH, or to EOF if terminated."""
    length_text = environ.get("CONTENT_LENGTH")
    if not length_text:
        stream = environ.get("wsgi.input")
        if stream is None or not environ.get("wsgi.input_terminated"):
            # Without a length, reading could block forever on servers that
            # hand over the raw socket, so PEP 3333 says: no body.
            return b""
        # read() without a size is not in PEP 3333 (wsgiref's validator
        # rejects it), so read to EOF in blocks.
        parts: list[bytes] = []
        try:
            while True:
                part = stream.read(_READ_BLOCK)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        except Exception as exc:
            raise _BadRequest(f"error reading the request body: {exc!r}") from exc
    if not (length_text.isascii() and length_text.isdigit()):
        raise _BadRequest(f"invalid Content-Length {length_text!r}")
    length = int(length_text)
    if length == 0:
        return b""
    stream = environ.get("wsgi.input")
    if stream is None:
        raise _BadRequest("Content-Length given but the server provided no wsgi.input")
    try:
        data = bytes(stream.read(length))
        # read(n) may legitimately return less; keep reading until EOF.
        while len(data) < length:
            more = stream.read(length - len(data))
            if not more:
                break
            data += more
    except Exception as exc:
        raise _BadRequest(f"error reading the request body: {exc!r}") from exc
    if len(data) < length:
        raise _BadRequest(f"body ended after {len(data)} of {length} bytes")
    return data


class WSGIAdapter:
    """Serve a :class:`dualweb.web.Application` from any WSGI server.

    ``wsgi = WSGIAdapter(make_app())`` is a PEP 3333 application: point
    gunicorn (``gunicorn mymodule:wsgi``), uWSGI, mod_wsgi or ``webtest`` at
    it. Plain ``def`` handlers work fully; features that need dualweb's
    native event loop fail loudly with :class:`AsyncUnavailableError`
    (a 500 for the client, the message and fix in the log).

    Args:
        application: the :class:`~dualweb.web.Application` (any callable
            taking an ``HTTPServerRequest`` also works).
        strict: if true, raise :class:`AsyncUnavailableError` at
            construction when any route needs async, instead of warning.
        xheaders: trust ``X-Real-Ip``/``X-Forwarded-For`` for
            ``request.remote_ip`` and ``X-Scheme``/``X-Forwarded-Proto`` for
            ``request.protocol``, as ``HTTPServer(xheaders=True)`` does. Only
            enable this behind a proxy that sets them.
        trusted_downstream: proxy addresses to skip when reading the
            ``X-Forwarded-For`` chain (with ``xheaders=True``).

    Raises:
        AsyncUnavailableError: with ``strict=True``, if a route's handler
            uses a feature that needs the native server.

    Construction warns once with :class:`AsyncRoutesWarning` (also logged on
    ``dualweb.general``) listing such routes; :meth:`async_routes` returns them.
    """

    def __init__(
        self,
        application: Any,
        strict: bool = False,
        xheaders: bool = False,
        trusted_downstream: Iterable[str] | None = None,
    ) -> None:
        self.application = application
        self.xheaders = xheaders
        self.trusted_downstream = frozenset(trusted_downstream or ())
        # Environ key -> header name ("" for keys that are not headers), and
        # environ key layout -> its (header name, environ key) pairs.
        self._header_names: dict[str, str] = {}
        self._shapes: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}
        self._find_handler: Callable[[HTTPServerRequest], Any] | None = getattr(
            application, "find_handler", None
        )
        settings = getattr(application, "settings", None) or {}
        self._serve_traceback = bool(
            settings.get("serve_traceback", settings.get("debug", False))
        )
        self._async_routes = _collect_async_routes(application)
        if self._async_routes:
            message = _async_routes_message(self._async_routes, strict)
            if strict:
                raise AsyncUnavailableError(message)
            gen_log.warning("%s", message)
            warnings.warn(message, AsyncRoutesWarning, stacklevel=2)

    def async_routes(self) -> list[AsyncRouteInfo]:
        """Every route whose handler needs dualweb's native server, with the reasons.

        Returns a list of :class:`AsyncRouteInfo` ``(pattern, handler, reasons)``
        tuples in routing order; empty when the whole application runs under WSGI.
        """
        return list(self._async_routes)

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Handle one WSGI request (PEP 3333)."""
        try:
            request, connection = self._build_request(environ)
        except _BadRequest as exc:
            gen_log.info("Malformed HTTP request from %s: %s", environ.get("REMOTE_ADDR"), exc)
            return self._plain_response(start_response, 400, "Bad Request", None)
        find_handler = self._find_handler
        try:
            if find_handler is not None:
                delegate = find_handler(request)
                if delegate is None:
                    return self._not_found(start_response)
                result = delegate.execute()
            else:
                delegate = None
                result = self.application(request)
        except Exception as exc:
            # The core turns handler errors into responses itself; reaching
            # here means the core or a custom application callable failed.
            app_log.error("Uncaught exception under WSGIAdapter: %r", request, exc_info=True)
            problem = f"{type(exc).__name__}: {exc}"
            return self._plain_response(start_response, 500, "Internal Server Error", problem)
        if result is not None or not connection.finished:
            problem = self._unfinished(request, connection, delegate, result)
            return self._plain_response(start_response, 500, "Internal Server Error", problem)
        start_line = connection.start_line
        headers = connection.headers
        if start_line is None or headers is None:
            # finish() without headers: nothing was written at all.
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        chunks = connection.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        code = start_line.code
        # PEP 3333's header list, one pass over the core's dict. Hop-by-hop
        # headers are the server's business. So are Server and Date under
        # gunicorn: it writes its own and discards the application's, after
        # validating each with two regular expressions (~1.5 µs a header).
        fields = headers._dict
        software = environ.get("SERVER_SOFTWARE")
        drop = (
            _DROP_UNDER_GUNICORN
            if software is not None and software.startswith("gunicorn")
            else _HOP_BY_HOP
        )
        if headers._multi is not None:
            header_list = [item for item in headers.get_all() if item[0] not in drop]
        elif drop.isdisjoint(fields):
            header_list = list(fields.items())
        else:
            header_list = [item for item in fields.items() if item[0] not in drop]
        if code >= 200 and code not in _NO_BODY_STATUS and "Content-Length" not in headers._dict:
            header_list.append(("Content-Length", str(len(body))))
        start_response(f"{code} {start_line.reason or _reason(code)}", header_list)
        if request.method == "HEAD":
            return [b""]
        return [body]

    # -- building the request -------------------------------------------------

    def _build_request(
        self, environ: WSGIEnvironment
    ) -> tuple[HTTPServerRequest, _WSGIConnection]:
        method = environ["REQUEST_METHOD"]
        raw_path = environ.get("PATH_INFO", "")
        script_name = environ.get("SCRIPT_NAME")
        if script_name:
            raw_path = script_name + raw_path
        if not _is_plain_path(raw_path):
            try:
                # PEP 3333: PATH_INFO holds the raw bytes decoded as latin-1, so
                # encoding back gives the client's bytes (UTF-8 for non-ASCII paths).
                raw_path = quote(raw_path.encode("latin-1"), safe=_PATH_SAFE)
            except UnicodeEncodeError as exc:
                raise _BadRequest("PATH_INFO is not a PEP 3333 latin-1 string") from exc
        query = environ.get("QUERY_STRING")
        uri = (raw_path or "/") + "?" + query if query else raw_path or "/"

        # A server sends the same environ keys in the same order request after
        # request, so the header names for a key layout are worked out once.
        # (A comprehension over the pairs beat dict(zip(names, itemgetter(...)))
        # both in a tight loop and, by more, with cold CPU caches.)
        pairs = self._shapes.get(tuple(environ))
        if pairs is not None:
            fields = {name: environ[key] for name, key in pairs}
        else:
            fields = self._learn_fields(environ)
        content_type = environ.get("CONTENT_TYPE")
        if content_type:
            fields["Content-Type"] = content_type
        content_length = environ.get("CONTENT_LENGTH")
        if content_length:
            fields["Content-Length"] = content_length
            body = _read_body(environ)
        elif method in _BODYLESS_METHODS and "HTTP_TRANSFER_ENCODING" not in environ:
            # The usual GET: no length and no chunking means no body (RFC 9112
            # 6.3), so no read call into the server on the hot path.
            body = b""
        else:
            body = _read_body(environ)

        connection = _WSGIConnection(
            environ.get("REMOTE_ADDR") or "", environ.get("wsgi.url_scheme", "http")
        )
        if self.xheaders:
            self._apply_xheaders(connection, environ)
        request = HTTPServerRequest(
            method,
            uri,
            environ.get("SERVER_PROTOCOL") or "HTTP/1.0",
            # The names come from our own key -> name map, already canonical.
            _wrap_normalized(fields),
            body,
            environ.get("HTTP_HOST") or _server_host(environ),
            None,
            connection,
        )
        if body:
            # Form bodies are parsed here so that a malformed one is a 400 from
            # the adapter whichever callable serves the request.
            try:
                request._parse_body()
            except Exception as exc:
                raise _BadRequest(f"malformed body: {exc}") from exc
        return request, connection

    def _learn_fields(self, environ: WSGIEnvironment) -> dict[str, str]:
        """The slow path of header extraction: name the keys, remember the layout (bounded)."""
        fields: dict[str, str] = {}
        header_names = self._header_names
        pairs: list[tuple[str, str]] = []
        for key, value in environ.items():
            name = header_names.get(key)
            if name is None:
                name = _header_name(key)
                # Bounded: header names come from clients.
                if len(header_names) < _HEADER_NAME_CACHE_LIMIT:
                    header_names[key] = name
            if name:
                fields[name] = value
                pairs.append((name, key))
        if len(self._shapes) < _SHAPE_CACHE_LIMIT:
            self._shapes[tuple(environ)] = tuple(pairs)
        return fields

    def _apply_xheaders(self, connection: _WSGIConnection, environ: WSGIEnvironment) -> None:
        """Take the client address and scheme from proxy headers, as HTTPServer(xheaders=True)."""
        ip = connection.remote_ip
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded_for:
            # The right-most address not belonging to a trusted proxy is the client.
            for candidate in reversed(forwarded_for.split(",")):
                ip = candidate.strip()
                if ip not in self.trusted_downstream:
                    break
        ip = environ.get("HTTP_X_REAL_IP", ip)
        if ip != connection.remote_ip and is_valid_ip(ip):
            connection.remote_ip = ip
        scheme = environ.get("HTTP_X_SCHEME") or environ.get("HTTP_X_FORWARDED_PROTO")
        if scheme:
            scheme = scheme.split(",")[-1].strip()
            if scheme in ("http", "https"):
                connection.protocol = scheme

    # -- when the core did not answer normally --------------------------------

    def _not_found(self, start_response: StartResponse) -> Iterable[bytes]:
        """A bare Router with no matching rule: an empty 404, as the native server sends."""
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    def _unfinished(
        self,
        request: HTTPServerRequest,
        connection: _WSGIConnection,
        delegate: Any,
        result: object,
    ) -> str:
        """Log why the core left the response unfinished; return the message for the 500."""
        where = _handler_name(getattr(delegate, "handler_class", None), request)
        if result is not None:
            _discard_awaitable(result)
            error = AsyncUnavailableError.for_feature(
                where,
                "returned an awaitable",
                "handlers that finish later",
                "Use plain def methods that finish the response before returning, "
                "or run natively.",
            )
        else:
            error = AsyncUnavailableError.for_feature(
                where,
                "returned without finishing the response",
                "responses finished after the handler returns (e.g. @asynchronous)",
                "Call self.finish() before returning (or drop @asynchronous), "
                "or run natively.",
            )
        app_log.error("%s (request: %r)", error, request)
        self._abandon(connection)
        return str(error)

    @staticmethod
    def _abandon(connection: _WSGIConnection) -> None:
        """Tell the handler its client is gone, as the native server would."""
        callback, connection.close_callback = connection.close_callback, None
        if callback is not None:
            try:
                callback()
            except Exception:
                app_log.error("Exception in on_connection_close under WSGIAdapter", exc_info=True)

    # -- answering ------------------------------------------------------------

    def _plain_response(
        self, start_response: StartResponse, code: int, reason: str, detail: str | None
    ) -> Iterable[bytes]:
        body = _error_page(code, reason, detail if self._serve_traceback else None)
        start_response(
            f"{code} {reason}",
            [("Content-Type", "text/html; charset=UTF-8"), ("Content-Length", str(len(body)))],
        )
        return [body]


def _header_name(key: str) -> str:
    """``HTTP_X_FORWARDED_FOR`` -> ``X-Forwarded-For``; ``""`` for non-header keys.

    ``HTTP_CONTENT_TYPE``/``HTTP_CONTENT_LENGTH`` (which some servers add) are
    dropped: ``CONTENT_TYPE``/``CONTENT_LENGTH`` are authoritative.
    """
    if key[:5] != "HTTP_" or key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
        return ""
    return "-".join(part.capitalize() for part in key[5:].split("_"))


def _reason(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _server_host(environ: WSGIEnvironment) -> str:
    """``SERVER_NAME[:SERVER_PORT]`` for requests without a Host header (HTTP/1.0)."""
    host = str(environ.get("SERVER_NAME") or "127.0.0.1")
    port = str(environ.get("SERVER_PORT") or "")
    default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    return f"{host}:{port}" if port and port != default else host


def _handler_name(handler_class: type | None, request: HTTPServerRequest) -> str:
    method = (request.method or "get").lower()
    if handler_class is None:
        return f"the handler for {request.method} {request.path}"
    return f"{handler_class.__name__}.{method}"


def _discard_awaitable(result: object) -> None:
    """Dispose of an awaitable nobody will run, without a 'never awaited' warning."""
    close = getattr(result, "close", None)
    if callable(close):
        close()
        return
    cancel = getattr(result, "cancel", None)
    if callable(cancel):
        try:
            cancel()
        except Exception:  # a future bound to a closed loop may refuse; it is dropped anyway
            pass


# -- inspecting routes ----------------------------------------------------------


def _collect_async_routes(application: Any) -> tuple[AsyncRouteInfo, ...]:
    """Walk every router of ``application`` and list handlers that need async."""
    found: list[AsyncRouteInfo] = []
    seen: set[tuple[str, str]] = set()
    root = getattr(application, "default_router", None) or getattr(
        application, "wildcard_router", None
    )
    if root is None:
        return ()
    for pattern, handler_class in _iter_routes(root, "", set()):
        reasons = _async_reasons(handler_class)
        key = (pattern, handler_class.__name__)
        if reasons and key not in seen:
            seen.add(key)
            found.append(AsyncRouteInfo(pattern, handler_class.__name__, reasons))
    return tuple(found)


def _iter_routes(router: Any, prefix: str, visited: set[int]) -> Iterator[tuple[str, type]]:
    """Yield ``(pattern, handler_class)`` for every rule, descending into nested routers."""
    if id(router) in visited:
        return
    visited.add(id(router))
    for rule in getattr(router, "rules", ()):
        matcher = getattr(rule, "matcher", None)
        target: Any = getattr(rule, "target", None)
        pattern = _combine(prefix, _describe_matcher(matcher))
        if isinstance(target, type):
            yield pattern, target
        elif hasattr(target, "rules"):
            yield from _iter_routes(target, pattern, visited)
        elif hasattr(target, "default_router"):
            # A whole Application mounted as a rule target.
            yield from _iter_routes(target.default_router, pattern, visited)


def _describe_matcher(matcher: Any) -> str:
    regex = getattr(matcher, "regex", None)
    if regex is not None:
        text = str(getattr(regex, "pattern", regex))
        return text[:-1] if text.endswith("$") else text
    host = getattr(matcher, "host_pattern", None)
    if host is not None:
        text = str(getattr(host, "pattern", host))
        return "host " + (text[:-1] if text.endswith("$") else text)
    return ""


def _combine(prefix: str, part: str) -> str:
    if not prefix:
        return part
    if not part:
        return prefix
    return f"{prefix} {part}"


def _async_reasons(handler_class: type) -> tuple[str, ...]:
    method = getattr(handler_class, "_async_feature_reasons", None)
    if method is None:
        return ()
    try:
        return tuple(str(reason) for reason in method())
    except Exception:
        gen_log.warning("Could not inspect %s for async features", handler_class, exc_info=True)
        return ()


def _async_routes_message(routes: tuple[AsyncRouteInfo, ...], strict: bool) -> str:
    lines = [
        f"{len(routes)} route(s) use features that need dualweb's native server "
        "(app.listen() or HTTPServer) and "
        + ("cannot run" if strict else "will answer 500")
        + " under WSGIAdapter:"
    ]
    for route in routes:
        lines.append(f"  {route.pattern or '(any)'} -> {route.handler}: {'; '.join(route.reasons)}")
    lines.append(
        "Make these handlers plain def (no coroutines or async features), or run natively."
    )
    return "\n".join(lines)


# -- hosting a WSGI application on the native server ----------------------------


class WSGIContainer:
    """Serve a WSGI application (Flask, Django, ...) with dualweb's native HTTP server.

    ``HTTPServer(WSGIContainer(flask_app)).listen(8888)``, or route part of an
    :class:`~dualweb.web.Application` to it with ``FallbackHandler``.

    Args:
        wsgi_application: the PEP 3333 callable to host.
        executor: a :class:`concurrent.futures.Executor` to run the WSGI
            application in. By default the application runs directly on the
            event loop thread, which blocks the server while it works (WSGI
            applications are synchronous); pass a thread pool to keep the loop
            responsive and serve several requests at once.
    """

    def __init__(
        self, wsgi_application: WSGIApplication, executor: Executor | None = None
    ) -> None:
        self.wsgi_application = wsgi_application
        self.executor = executor
        # Strong references: the event loop only keeps weak ones to tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, request: HTTPServerRequest) -> None:
        """Serve ``request`` by calling the WSGI application and writing its response."""
        if self.executor is None:
            self._write_response(request, *self._call_app(request))
            return
        task = asyncio.get_running_loop().create_task(self.handle_request(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle_request(self, request: HTTPServerRequest) -> None:
        """Run the WSGI application for ``request`` (in the executor, if any) and respond."""
        if self.executor is None:
            self._write_response(request, *self._call_app(request))
            return
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.executor, self._call_app, request)
        except Exception:
            app_log.error("Uncaught exception in WSGI application %r", request, exc_info=True)
            result = _container_error()
        self._write_response(request, *result)

    def environ(self, request: HTTPServerRequest) -> dict[str, Any]:
        """Build the PEP 3333 environ dictionary for ``request``."""
        host, port = _split_host(request.host, request.protocol)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(request.path).decode("latin-1"),
            "QUERY_STRING": request.query,
            "REMOTE_ADDR": request.remote_ip,
            "SERVER_NAME": host,
            "SERVER_PORT": port,
            "SERVER_PROTOCOL": request.version,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.protocol,
            "wsgi.input": io.BytesIO(request.body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.executor is not None,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if request.body:
            environ["CONTENT_LENGTH"] = str(len(request.body))
        for name, value in request.headers.get_all():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = value
                continue
            if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                # The body is already whole (a chunked one too): its length is known.
                continue
            key = "HTTP_" + key
            # Repeated headers are folded as a WSGI server would.
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _call_app(
        self, request: HTTPServerRequest
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Call the WSGI application; return its status, headers and whole body."""
        data: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            # Nothing is sent before the application returns, so a second call
            # (with exc_info, after an error) may always replace the response.
            data["status"] = status
            data["headers"] = headers
            return chunks.append

        try:
            app_response = self.wsgi_application(self.environ(request), start_response)
            try:
                for chunk in app_response:
                    if chunk:
                        chunks.append(chunk)
            finally:
                close = getattr(app_response, "close", None)
                if close is not None:
                    close()
        except Exception:
            app_log.error("Uncaught exception in WSGI application %r", request, exc_info=True)
            return _container_error()
        if "status" not in data:
            app_log.error("WSGI application did not call start_response (%r)", request)
            return _container_error()
        return data["status"], list(data["headers"]), b"".join(chunks)

    def _write_response(
        self,
        request: HTTPServerRequest,
        status: str,
        header_list: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        present = {name.lower() for name, _ in header_list}
        headers = HTTPHeaders()
        for name, value in header_list:
            headers.add(name, value)
        if code not in _NO_BODY_STATUS and code >= 200:
            if "content-length" not in present:
                headers["Content-Length"] = str(len(body))
            if "content-type" not in present:
                headers["Content-Type"] = "text/html; charset=UTF-8"
        if "server" not in present:
            headers["Server"] = "dualweb"
        connection = request.connection
        if connection is None:
            raise RuntimeError(
                "WSGIContainer needs a request with a connection; serve it with "
                "dualweb's HTTPServer (HTTPServer(WSGIContainer(app)))."
            )
        connection.write_headers(
            ResponseStartLine("HTTP/1.1", code, reason or _reason(code)), headers, chunk=body
        )
        connection.finish()
        self._log(code, request)

    def _log(self, status_code: int, request: HTTPServerRequest) -> None:
        if status_code < 400:
            log = access_log.info
        elif status_code < 500:
            log = access_log.warning
        else:
            log = access_log.error
        elapsed_ms = 1000.0 * request.request_time()
        log(
            "%d %s %s (%s) %.2fms",
            status_code,
            request.method,
            request.uri,
            request.remote_ip,
            elapsed_ms,
        )


def _split_host(host: str, protocol: str) -> tuple[str, str]:
    """``"example.com:8080"`` -> ``("example.com", "8080")``; IPv6 brackets removed."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    if not port.isdigit():
        port = "443" if protocol == "https" else "80"
    return name, port


def _container_error() -> tuple[str, list[tuple[str, str]], bytes]:
    body = _error_page(500, "Internal Server Error")
    return (
        "500 Internal Server Error",
        [("Content-Type", "text/html; charset=UTF-8")],
        body,
    )

