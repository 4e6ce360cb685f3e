"""The WSGI driver: :class:`WSGIAdapter` runs a dualweb application under any WSGI server.

Theory of operation
-------------------

The adapter drives the core exactly like the native server does, through
the one entry of :mod:`dualweb.connection`: for each environ it builds the
start line and the headers, calls ``start_request(None, connection)`` on the
application (through :func:`~dualweb.intake.request_starter`), then
``headers_received``, ``data_received`` for each block of the body read from
``wsgi.input``, and ``finish`` — synchronously. A delegate method that
returns an awaitable is an :class:`AsyncUnavailableError` (there is no loop
to run it on).

The connection (``_WSGIConnection``) does no I/O: it records the status
line, the headers and the body chunks the core writes, and reports
``supports_async = False`` so the core refuses async features up front. It
is also the request's :class:`~dualweb.connection.ConnectionContext`. When
the core returns, the adapter checks the response really finished and that
a ``Content-Length`` the handler set matches the body, then hands status,
headers and the joined body to ``start_response``. A file the core sent with
``send_file`` (static files) is returned as it is, through the server's
``wsgi.file_wrapper`` when it offers one (:mod:`dualweb.wsgi.filebody`).

While a request runs, ``__call__`` is on the stack, marked with
:func:`~dualweb.connection.sync_request_entry`, so ``IOLoop.add_callback``
and friends raise instead of queueing callbacks that would never run.

The per-request path is kept short on purpose (under gunicorn every
instruction here is paid per request, with cold caches): what can be worked
out once is, and remembered on the adapter. A server sends the same environ
keys in the same order request after request, so each key layout is studied
once (:class:`_EnvironLayout`: which keys are headers, and whether the layout
is *simple*: a raw request target, a ``Host``, no body keys). A bodyless
GET/HEAD with a simple layout (nearly all traffic) takes the fast path in
``__call__``; everything else goes through :meth:`WSGIAdapter._request_head`.
Both build the same start line and headers (``tests/test_wsgi_fastpath.py``
compares them). The peer's :class:`~dualweb.connection.ConnectionContext`
is shared by the requests from one address, the headers a server writes
itself are dropped by a rule chosen once per ``SERVER_SOFTWARE``, and the
response is answered from ``__call__`` itself (no frame per helper).
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from dualweb.connection import (
    COMPLETED,
    AsyncUnavailableError,
    ConnectionContext,
    HTTPConnection,
    HTTPMessageDelegate,
    RequestBodyError,
    RequestSettings,
    RequestStartLine,
    ResponseStartLine,
    discard_awaitable,
    sync_request_entry,
)
from dualweb.headers import SMALL_LENGTHS, HTTPHeaders
from dualweb.httputil import responses
from dualweb.intake import as_server_delegate, request_starter, resolve_proxy_headers
from dualweb.log import app_log, gen_log
from dualweb.web.application import Application
from dualweb.wsgi.filebody import SentFile, file_response, read_into_body
from dualweb.wsgi.pages import error_page
from dualweb.wsgi.routes import (
    AsyncRouteInfo,
    AsyncRoutesWarning,
    async_routes_message,
    collect_async_routes,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["WSGIAdapter"]


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
# Characters RFC 3986 allows unescaped in a path, plus the backslash: a path
# made only of these (the usual case) needs no re-quoting, which saves a
# quote() call per request. Clients send a backslash raw and the native server
# routes it raw, so it is kept as is: "/\evil" must not become "/%5Cevil" and
# reach a different route than natively.
_PATH_SAFE = "/:@!$&'()*+,;=\\"
_is_plain_path = re.compile(r"[A-Za-z0-9_.~/:@!$&'()*+,;=\\\\-]*\Z").match
_HEADER_NAME_CACHE_LIMIT = 512
# Distinct environ key layouts remembered per adapter (a server sends the same
# keys in the same order for the same kind of client, so a few cover nearly all
# traffic; the bound keeps clients that invent header names from growing it).
_SHAPE_CACHE_LIMIT = 256
# Peer addresses whose context is kept (the cache is emptied when full).
_CONTEXT_CACHE_LIMIT = 1024
_NO_BODY_STATUS = frozenset({204, 304})
_READ_BLOCK = 65536
_BODYLESS_METHODS = frozenset({"GET", "HEAD"})
_DROP_UNDER_GUNICORN = _HOP_BY_HOP | {"Server", "Date"}
_new_tuple = tuple.__new__
# Bound once: looking a class method up on the class makes a bound method per call.
_headers_from_normalized = HTTPHeaders.from_normalized
_SMALL_LENGTH = len(SMALL_LENGTHS)


class _WSGIConnection(HTTPConnection):
    """Records what the core writes for one request; nothing touches a socket.

    The first chunk (usually the whole body, written with the headers) is
    kept as ``body``; later ones go to ``chunks``, created on the first of them.
    """

    __slots__ = (
        "body", "chunks", "close_callback", "context", "finished", "headers", "sent_file",
        "start_line",
    )
    supports_async = False

    # Built by WSGIAdapter.__call__, which sets every slot (no __init__: one
    # Python call fewer per request; keep it that way).
    context: ConnectionContext
    start_line: ResponseStartLine | None
    headers: HTTPHeaders | None
    body: bytes
    chunks: list[bytes] | None
    finished: bool
    close_callback: Callable[[], None] | None
    sent_file: SentFile | None

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
            if self.body:  # (headers are written once: only a misuse gets here)
                self.write(chunk)
            else:
                self.body = chunk
        return COMPLETED

    def write_response(
        self, start_line: ResponseStartLine, headers: HTTPHeaders, body: bytes
    ) -> Awaitable[None]:
        """Record a whole response (status line, headers, body) and mark it complete."""
        # The core calls this only before anything else was written.
        self.start_line = start_line
        self.headers = headers
        self.body = body
        self.finished = True
        return COMPLETED

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Record a body chunk."""
        if chunk:
            if not self.body:
                self.body = chunk
            elif self.chunks is None:
                self.chunks = [chunk]
            else:
                self.chunks.append(chunk)
        return COMPLETED

    def finish(self) -> None:
        """Mark the response complete."""
        self.finished = True

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Remember ``callback``; it runs only if the adapter abandons the request."""
        self.close_callback = callback

    def response_body(self) -> bytes:
        """Everything written, joined."""
        chunks = self.chunks
        return self.body if chunks is None else b"".join([self.body, *chunks])

    def written_chunks(self) -> list[bytes]:
        """The body chunks written so far, in order (an empty first chunk left out)."""
        chunks = self.chunks
        if chunks is None:
            return [self.body] if self.body else []
        return [self.body, *chunks]

    def send_file(self, file: BinaryIO, offset: int, count: int) -> Awaitable[None]:
        """Record ``file`` as the next part of the body (see :mod:`dualweb.wsgi.filebody`).

        The adapter returns it through the server's ``wsgi.file_wrapper``
        when it offers one, else reads it block by block as the server
        iterates. A second file sent in the same response is read into the
        body at once.
        """
        if self.sent_file is not None:
            chunks = self.written_chunks()
            read_into_body(chunks, self.sent_file)
            self.body, self.chunks = b"".join(chunks), None
        self.sent_file = (file, offset, count, len(self.written_chunks()))
        return COMPLETED


class _EnvironLayout:
    """What the adapter works out once per environ key layout (see the module docstring).

    Attributes:
        keys: the environ's keys, in order (the layout's identity).
        headers: ``(header name, environ key)`` for every key that is a header.
        raw_target: the key holding the raw request target (``RAW_URI`` or
            ``REQUEST_URI``), or ``""``.
        simple: ``raw_target`` is given, ``HTTP_HOST`` too, and there is no
            ``CONTENT_TYPE``, ``CONTENT_LENGTH`` or ``HTTP_TRANSFER_ENCODING``:
            a GET or HEAD with this layout takes the fast path.
    """

    __slots__ = ("headers", "keys", "raw_target", "simple")

    def __init__(self, keys: tuple[str, ...], header_names: dict[str, str]) -> None:
        self.keys = keys
        pairs = []
        for key in keys:
            name = header_names.get(key)
            if name is None:
                name = _header_name(key)
                # Bounded: header names come from clients.
                if len(header_names) < _HEADER_NAME_CACHE_LIMIT:
                    header_names[key] = name
            if name:
                pairs.append((name, key))
        self.headers = tuple(pairs)
        present = frozenset(keys)
        self.raw_target = next((key for key in _RAW_TARGET_KEYS if key in present), "")
        self.simple = bool(
            self.raw_target and "HTTP_HOST" in present and not present & _BODY_KEYS
        )


_RAW_TARGET_KEYS = ("RAW_URI", "REQUEST_URI")
_BODY_KEYS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"})
# A layout no environ has: the starting point of the last-layout check.
_NO_LAYOUT = _EnvironLayout((), {})


class _BadRequest(Exception):
    """The environ describes a request the adapter cannot accept (answered with 400)."""


class _Refused(Exception):
    """The core did not produce a usable response; answered with a plain 500."""


class WSGIAdapter:
    """Serve a :class:`dualweb.web.Application` from any WSGI server.

    ``wsgi = WSGIAdapter(make_app())`` is a PEP 3333 application: point
    gunicorn (``gunicorn mymodule:wsgi``), uWSGI, mod_wsgi or ``webtest`` at
    it. Plain ``def`` handlers work fully; features that need dualweb's
    native event loop fail loudly with :class:`AsyncUnavailableError`
    (a 500 for the client, the message and fix in the log).

    Args:
        application: the :class:`~dualweb.web.Application`, or any
            :class:`~dualweb.connection.HTTPServerConnectionDelegate` (a
            ``Router``), or a callable taking a complete ``HTTPServerRequest``.
        strict: if true, raise :class:`AsyncUnavailableError` at
            construction when any route needs async, instead of warning.
        xheaders: trust ``X-Real-Ip``/``X-Forwarded-For`` for
            ``request.remote_ip`` and ``X-Scheme``/``X-Forwarded-Proto`` for
            ``request.protocol``, as ``HTTPServer(xheaders=True)`` does. Only
            enable this behind a proxy that sets them.
        trusted_downstream: proxy addresses to skip when reading the
            ``X-Forwarded-For`` chain (with ``xheaders=True``).
        max_body_size: the largest request body accepted (default 100 MiB,
            as natively); larger ones get 413, refused from ``CONTENT_LENGTH``
            before reading when it is given.
        decompress_request: gunzip ``Content-Encoding: gzip`` request bodies
            (the decoded size is held to ``max_body_size``).

    Raises:
        AsyncUnavailableError: with ``strict=True``, if a route's handler
            uses a feature that needs the native server.

    Construction warns once with :class:`AsyncRoutesWarning` listing such
    routes; :meth:`async_routes` returns them.
    """

    def __init__(
        self,
        application: Any,
        strict: bool = False,
        xheaders: bool = False,
        trusted_downstream: Iterable[str] | None = None,
        max_body_size: int | None = None,
        decompress_request: bool = False,
    ) -> None:
        self.application = application
        self.xheaders = xheaders
        self.trusted_downstream = frozenset(trusted_downstream or ())
        self.settings = RequestSettings(
            xheaders, self.trusted_downstream, max_body_size, decompress_request
        )
        self._start = request_starter(as_server_delegate(application).start_request, self.settings)
        # Environ key -> header name ("" for keys that are not headers), the
        # key layouts seen (and the last one), the peer contexts by address,
        # and the response header rule for the last SERVER_SOFTWARE seen.
        self._header_names: dict[str, str] = {}
        self._shapes: dict[tuple[str, ...], _EnvironLayout] = {}
        self._last_layout = _NO_LAYOUT
        self._contexts: dict[str, ConnectionContext] = {}
        self._drop_rule: tuple[str | None, frozenset[str]] = (None, _HOP_BY_HOP)
        settings = application.settings if isinstance(application, Application) else {}
        self._serve_traceback = bool(
            settings.get("serve_traceback", settings.get("debug", False))
        )
        self._async_routes = collect_async_routes(application)
        if self._async_routes:
            message = async_routes_message(self._async_routes, strict)
            if strict:
                raise AsyncUnavailableError(message)
            warnings.warn(message, AsyncRoutesWarning, stacklevel=2)

    def async_routes(self) -> list[AsyncRouteInfo]:
        """Every route whose handler needs dualweb's native server, with the reasons.

        Returns a list of :class:`AsyncRouteInfo` ``(pattern, handler, reasons)``
        tuples in routing order; empty when the whole application runs under WSGI.
        """
        return list(self._async_routes)

    @sync_request_entry("WSGIAdapter")
    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Handle one WSGI request (PEP 3333)."""
        keys = tuple(environ)
        layout = self._last_layout
        if layout.keys != keys:
            layout = self._layout(keys)
        method = environ["REQUEST_METHOD"]
        target = environ[layout.raw_target] if layout.simple else None
        if target and target[0] == "/" and method in _BODYLESS_METHODS:
            # The fast path (see the module docstring): what _request_head
            # would build for this environ, without its frame and its checks.
            fields: dict[str, str] = {}
            for name, key in layout.headers:
                fields[name] = environ[key]
            # (tuple.__new__: a NamedTuple's own constructor is a Python-level call.)
            start_line = _new_tuple(
                RequestStartLine, (method, target, environ.get("SERVER_PROTOCOL") or "HTTP/1.0")
            )
            headers = _headers_from_normalized(fields)
            length: int | None = 0
        else:
            try:
                start_line, headers, length = self._request_head(environ, layout)
            except (_BadRequest, RequestBodyError) as exc:
                return self._refuse(start_response, exc, environ.get("REMOTE_ADDR"))
        # The peer's context, shared by its requests (see _context), looked up inline.
        remote_ip = environ.get("REMOTE_ADDR") or ""
        protocol = environ.get("wsgi.url_scheme", "http")
        context = self._contexts.get(remote_ip)
        if context is None or context.protocol != protocol or self.xheaders:
            context = self._context(remote_ip, protocol, headers)
        # (No __init__ anywhere in its classes: calling the class is the quickest
        # way to a bare instance, quicker than object.__new__.)
        connection = _WSGIConnection()
        connection.context = context
        connection.start_line = connection.headers = connection.close_callback = None
        connection.body = b""
        connection.chunks = connection.sent_file = None
        connection.finished = False
        try:
            # The one entry (start_request → headers_received → data_received* →
            # finish), written out here rather than in a method: one frame fewer
            # per request on the hot path.
            delegate = self._start(None, connection)
            result = delegate.headers_received(start_line, headers)
            if result is not None:
                _refuse_awaitable(result, start_line, "headers_received")
            if length != 0:
                self._feed_body(delegate, start_line, environ, length)
            result = delegate.finish()
            if result is not None:
                _refuse_awaitable(result, start_line, "finish")
            if not connection.finished:
                raise _Refused(_unfinished_error(start_line, connection))
        except Exception as exc:
            return self._failed(start_response, exc, start_line, connection)
        return self._respond(environ, start_response, start_line, connection)

    def _layout(self, keys: tuple[str, ...]) -> _EnvironLayout:
        """The :class:`_EnvironLayout` of ``keys``: remembered (bounded), and made the last one."""
        layout = self._shapes.get(keys)
        if layout is None:
            layout = _EnvironLayout(keys, self._header_names)
            if len(self._shapes) < _SHAPE_CACHE_LIMIT:
                self._shapes[keys] = layout
        self._last_layout = layout
        return layout

    def _context(self, remote_ip: str, protocol: str, headers: HTTPHeaders) -> ConnectionContext:
        """The request's connection context: from proxy headers, or made for this peer.

        A context is never modified once made (proxy headers make a new one),
        so the requests from one address share it: ``__call__`` finds it in
        ``_contexts`` (bounded) and calls this only to make one.
        """
        settings = self.settings
        if settings.xheaders:
            client_ip, protocol = resolve_proxy_headers(
                headers, remote_ip, protocol, settings.trusted_downstream
            )
            return ConnectionContext(client_ip, protocol, None, settings)
        context = ConnectionContext(remote_ip, protocol, None, settings)
        if len(self._contexts) >= _CONTEXT_CACHE_LIMIT:
            self._contexts.clear()
        self._contexts[remote_ip] = context
        return context

    def _drop_for(self, software: str | None) -> frozenset[str]:
        """The response headers left to the server named ``software``; remembered as the last."""
        gunicorn = software is not None and software.startswith("gunicorn")
        drop = _DROP_UNDER_GUNICORN if gunicorn else _HOP_BY_HOP
        self._drop_rule = (software, drop)
        return drop

    def _refuse(
        self, start_response: StartResponse, exc: Exception, peer: str | None, what: str = "request"
    ) -> Iterable[bytes]:
        """Answer a request refused before (or while) reading it: 400, or the body error's 4xx."""
        if isinstance(exc, RequestBodyError):
            gen_log.info("Refused %s from %s: %s", what, peer, exc.message)
            return self._plain_response(start_response, exc.status_code, None)
        gen_log.info("Malformed HTTP request from %s: %s", peer, exc)
        return self._plain_response(start_response, 400, None)

    def _failed(
        self,
        start_response: StartResponse,
        exc: Exception,
        start_line: RequestStartLine,
        connection: _WSGIConnection,
    ) -> Iterable[bytes]:
        """Answer a request whose run through the core raised ``exc``."""
        if isinstance(exc, (RequestBodyError, _BadRequest)):
            return self._refuse(start_response, exc, connection.context.remote_ip, "request body")
        if not isinstance(exc, _Refused):
            # The core turns handler errors into responses itself; reaching
            # here means the core or a custom delegate failed.
            app_log.error(
                "Uncaught exception under WSGIAdapter: %s %s",
                start_line.method,
                start_line.path,
                exc_info=exc,
            )
        self._abandon(connection)
        detail = str(exc) if isinstance(exc, _Refused) else f"{type(exc).__name__}: {exc}"
        return self._plain_response(start_response, 500, detail)

    # -- driving the core -------------------------------------------------------

    def _feed_body(
        self,
        delegate: HTTPMessageDelegate,
        start_line: RequestStartLine,
        environ: WSGIEnvironment,
        length: int | None,
    ) -> None:
        """Pass the body from ``wsgi.input`` to ``delegate.data_received``, block by block."""
        for block in self._read_body(environ, length):
            result = delegate.data_received(block)
            if result is not None:
                _refuse_awaitable(result, start_line, "data_received")

    def _read_body(self, environ: WSGIEnvironment, length: int | None) -> Iterator[bytes]:
        """Read the body in blocks: ``length`` bytes, or (``None``) to EOF when terminated.

        Raises:
            RequestBodyError: more than ``max_body_size`` bytes (413).
            _BadRequest: the body ended early, or reading failed.
        """
        stream = environ.get("wsgi.input")
        if stream is None:
            if length:
                raise _BadRequest("Content-Length given but the server provided no wsgi.input")
            return
        limit = self.settings.max_body_size
        remaining = length
        total = 0
        while remaining is None or remaining > 0:
            size = _READ_BLOCK if remaining is None else min(_READ_BLOCK, remaining)
            try:
                block = bytes(stream.read(size))
            except Exception as exc:
                raise _BadRequest(f"error reading the request body: {exc!r}") from exc
            if not block:
                if remaining:
                    raise _BadRequest(f"body ended after {total} of {length} bytes")
                return
            total += len(block)
            if total > limit:
                raise RequestBodyError(413, f"request body exceeds max_body_size ({limit} bytes)")
            if remaining is not None:
                remaining -= len(block)
            yield block

    # -- building the request -------------------------------------------------

    def _request_head(
        self, environ: WSGIEnvironment, layout: _EnvironLayout
    ) -> tuple[RequestStartLine, HTTPHeaders, int | None]:
        """Start line, headers and body length (``None``: read to EOF) from the environ.

        The general path: any method, body or target form (``__call__`` has
        the fast path for the simple ones).
        """
        method = environ["REQUEST_METHOD"]
        # A server that passes the raw request target (gunicorn's RAW_URI,
        # uWSGI/Apache's REQUEST_URI) lets routing see exactly what it sees
        # natively: "/admin%2Fx" stays distinct from "/admin/x".
        target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not target or target[0] != "/":
            path = environ.get("PATH_INFO", "")
            if path and not environ.get("SCRIPT_NAME") and _is_plain_path(path):
                # The usual case, inline: nothing to re-quote.
                query = environ.get("QUERY_STRING")
                target = path + "?" + query if query else path
            else:
                target = _target_from_path_info(environ)
        fields = {name: environ[key] for name, key in layout.headers}
        content_type = environ.get("CONTENT_TYPE")
        if content_type:
            fields["Content-Type"] = content_type
        if "Host" not in fields:
            fields["Host"] = _server_host(environ)
        content_length = environ.get("CONTENT_LENGTH")
        length: int | None
        if content_length:
            fields["Content-Length"] = content_length
            if not (content_length.isascii() and content_length.isdigit()):
                raise _BadRequest(f"invalid Content-Length {content_length!r}")
            length = int(content_length)
            if length > self.settings.max_body_size:
                # Refused before reading a byte of it.
                raise RequestBodyError(
                    413, f"Content-Length {length} exceeds max_body_size"
                )
        elif (method in _BODYLESS_METHODS and "HTTP_TRANSFER_ENCODING" not in environ) or (
            not environ.get("wsgi.input_terminated")
        ):
            # The usual GET: no length and no chunking means no body (RFC 9112
            # 6.3). Without a length, reading could also block forever on
            # servers that hand over the raw socket, so PEP 3333 says: no body.
            length = 0
        else:
            length = None
        start_line = _new_tuple(
            RequestStartLine, (method, target, environ.get("SERVER_PROTOCOL") or "HTTP/1.0")
        )
        # The names come from our own key -> name map, already canonical.
        return start_line, _headers_from_normalized(fields), length

    # -- answering ------------------------------------------------------------

    def _respond(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        start_line: RequestStartLine,
        connection: _WSGIConnection,
    ) -> Iterable[bytes]:
        """Answer with what the core wrote: PEP 3333's status and header list, in one pass.

        The usual response (headers written, one value per name, no file) is
        answered here; anything else by :meth:`_respond_in_general`.
        """
        response_line = connection.start_line
        written = connection.headers.single_values() if connection.headers is not None else None
        if response_line is None or written is None or connection.sent_file is not None:
            return self._respond_in_general(environ, start_response, start_line, connection)
        body = connection.body if connection.chunks is None else connection.response_body()
        # Hop-by-hop headers are the server's business, and so are Server and
        # Date under gunicorn: it writes its own and discards the application's,
        # after validating each with two regular expressions (~1.5 µs a header).
        software = environ.get("SERVER_SOFTWARE")
        seen, drop = self._drop_rule
        if software is not seen:
            drop = self._drop_for(software)
        header_list = []
        for item in written.items():
            if item[0] not in drop:
                header_list.append(item)
        code = response_line.code
        declared = written.get("Content-Length")
        if declared is not None:
            length = len(body)
            actual = SMALL_LENGTHS[length] if length < _SMALL_LENGTH else str(length)
            if declared != actual and start_line.method != "HEAD":
                if code >= 200 and code not in _NO_BODY_STATUS:
                    return self._length_mismatch(start_response, declared, length, start_line)
        reason = response_line.reason
        if code == 200 and reason == "OK":
            start_response("200 OK", header_list)
        else:
            start_response(f"{code} {reason or responses.get(code, 'Unknown')}", header_list)
        return [body]

    def _respond_in_general(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        request_line: RequestStartLine,
        connection: _WSGIConnection,
    ) -> Iterable[bytes]:
        """The general way to answer: no headers, repeated header names, or a sent file."""
        start_line = connection.start_line
        headers = connection.headers
        if start_line is None or headers is None:
            # finish() without headers: nothing was written at all.
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        chunks = connection.written_chunks()
        body = b"".join(chunks)
        sent_file = connection.sent_file
        length = len(body) if sent_file is None else len(body) + sent_file[2]
        drop = self._drop_for(environ.get("SERVER_SOFTWARE"))
        header_list = [item for item in headers.get_all() if item[0] not in drop]
        declared = headers.get("Content-Length")
        code = start_line.code
        # The core writes Content-Length (RequestHandler.finish); a response
        # flushed before its length was known has none, and the WSGI server
        # frames it (chunked or close), as the codec does natively.
        if declared is not None and declared != str(length) and request_line.method != "HEAD":
            if code >= 200 and code not in _NO_BODY_STATUS:
                if sent_file is not None:
                    sent_file[0].close()
                return self._length_mismatch(start_response, declared, length, request_line)
        start_response(f"{code} {start_line.reason or responses.get(code, 'Unknown')}", header_list)
        if sent_file is not None:
            with_body = request_line.method != "HEAD" and code not in _NO_BODY_STATUS
            return file_response(environ, chunks, sent_file, with_body and code >= 200)
        return [body]

    def _length_mismatch(
        self,
        start_response: StartResponse,
        declared: str,
        length: int,
        request_line: RequestStartLine,
    ) -> Iterable[bytes]:
        """A handler's Content-Length disagrees with its body: log it, answer 500."""
        # Natively the codec refuses this and closes; here a wrong length
        # would put the server's next response out of step.
        app_log.error(
            "Content-Length %s does not match the %d-byte body of %s %s; answered 500 instead",
            declared,
            length,
            request_line.method,
            request_line.path,
        )
        return self._plain_response(start_response, 500, None)

    @staticmethod
    def _abandon(connection: _WSGIConnection) -> None:
        """Tell the handler its client is gone, as the native server would."""
        sent_file, connection.sent_file = connection.sent_file, None
        if sent_file is not None:
            sent_file[0].close()
        callback, connection.close_callback = connection.close_callback, None
        if callback is not None:
            try:
                callback()
            except Exception:
                app_log.error("Exception in on_connection_close under WSGIAdapter", exc_info=True)

    def _plain_response(
        self, start_response: StartResponse, code: int, detail: str | None
    ) -> Iterable[bytes]:
        reason = responses.get(code, "Unknown")
        body = error_page(code, reason, detail if self._serve_traceback else None)
        start_response(
            f"{code} {reason}",
            [("Content-Type", "text/html; charset=UTF-8"), ("Content-Length", str(len(body)))],
        )
        return [body]


def _refuse_awaitable(result: Awaitable[None], start_line: RequestStartLine, step: str) -> None:
    """A delegate step returned an awaitable: there is no loop to run it on."""
    discard_awaitable(result)
    where = f"the delegate serving {start_line.method} {start_line.path}"
    error = AsyncUnavailableError.for_feature(
        f"{where} ({step})",
        "returned an awaitable",
        "handlers that finish later",
        "Use plain def methods that finish the response before returning, or run natively.",
    )
    app_log.error("%s", error)
    raise _Refused(str(error))


def _unfinished_error(start_line: RequestStartLine, connection: _WSGIConnection) -> str:
    """Log why the core left the response unfinished; return the message for the 500."""
    # A handler registers one of its bound methods as the close callback: that
    # names the handler class in the message.
    callback = connection.close_callback
    where = (
        f"{type(callback.__self__).__name__}.{start_line.method.lower()}"
        if inspect.ismethod(callback)
        else f"the delegate serving {start_line.method} {start_line.path}"
    )
    error = AsyncUnavailableError.for_feature(
        where,
        "returned without finishing the response",
        "responses finished after the handler returns (e.g. @asynchronous)",
        "Call self.finish() before returning (or drop @asynchronous), or run natively.",
    )
    app_log.error("%s (request: %s %s)", error, start_line.method, start_line.path)
    return str(error)


def _target_from_path_info(environ: WSGIEnvironment) -> str:
    """The request target rebuilt from SCRIPT_NAME, PATH_INFO and QUERY_STRING."""
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
    return (raw_path or "/") + "?" + query if query else raw_path or "/"


def _header_name(key: str) -> str:
    """``HTTP_X_FORWARDED_FOR`` -> ``X-Forwarded-For``; ``""`` for non-header keys.

    ``HTTP_CONTENT_TYPE``/``HTTP_CONTENT_LENGTH`` (which some servers add) are
    dropped: ``CONTENT_TYPE``/``CONTENT_LENGTH`` are authoritative.
    """
    if key[:5] != "HTTP_" or key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
        return ""
    return "-".join(part.capitalize() for part in key[5:].split("_"))


def _server_host(environ: WSGIEnvironment) -> str:
    """``SERVER_NAME[:SERVER_PORT]`` for requests without a Host header (HTTP/1.0)."""
    host = str(environ.get("SERVER_NAME") or "127.0.0.1")
    port = str(environ.get("SERVER_PORT") or "")
    default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    return f"{host}:{port}" if port and port != default else host
