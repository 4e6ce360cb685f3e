"""How a request enters the core, written once for every driver.

Theory of operation
-------------------

Every driver (the native server, the WSGI adapter, later ASGI) calls
``start_request(server_conn, request_conn)`` on its server delegate and
feeds the delegate it gets ``headers_received`` → ``data_received`` (any number of times) →
``finish``. When the server delegate is a :class:`~dualweb.routing.Router`
(an ``Application`` among them) or a plain callable, that delegate is a
:class:`RequestIntake`, which does what used to be repeated per driver:

* builds the :class:`~dualweb.httputil.HTTPServerRequest` from plain values
  with :func:`build_request` (the drivers resolve proxy headers first, with
  :func:`request_context` and the pure :func:`resolve_proxy_headers`, so that
  every delegate, routed or not, sees the same ``remote_ip`` and ``protocol``);
* asks :meth:`RequestIntake.route` for the delegate that serves the request
  and forwards the body and the end of the message to it.

Drivers start each request with the function :func:`request_starter` gives
them (once per server), which also decodes a gzip request body when the
server's :class:`~dualweb.connection.RequestSettings` ask for it, with the
*decompressed* size held to ``max_body_size`` incrementally (a small gzip
bomb cannot grow into gigabytes: :class:`GzipBodyDecoder`) — for any
delegate, as Tornado's server does.

The 404 of a router without a matching rule (:class:`NotFoundDelegate`) and
the body buffering of plain callables (:class:`CallableDelegate`) live here
too, so no driver writes them. A refused body raises
:class:`~dualweb.connection.RequestBodyError`; each driver answers its status.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from dualweb.connection import (
    ConnectionContext,
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestBodyError,
    RequestSettings,
    RequestStartLine,
    ResponseStartLine,
)
from dualweb.headers import HTTPHeaders, HTTPInputError
from dualweb.httputil import HTTPServerRequest

__all__ = [
    "CallableDelegate",
    "CallableServerDelegate",
    "DecompressingDelegate",
    "GzipBodyDecoder",
    "NotFoundDelegate",
    "RequestIntake",
    "as_server_delegate",
    "build_request",
    "request_context",
    "request_starter",
    "resolve_proxy_headers",
]

_PROTOCOLS = frozenset(("http", "https"))


def resolve_proxy_headers(
    headers: HTTPHeaders,
    remote_ip: str | None,
    protocol: str,
    trusted_downstream: frozenset[str] = frozenset(),
) -> tuple[str | None, str]:
    """Return ``(remote_ip, protocol)`` as a reverse proxy reports them.

    The rules (Tornado's, for ``xheaders=True``):

    * a non-empty ``X-Real-Ip`` names the client; otherwise the right-most
      ``X-Forwarded-For`` entry that is not in ``trusted_downstream`` does
      (entries are skipped from the right while they are trusted proxies);
    * a non-empty ``X-Scheme`` gives the protocol; otherwise the last entry
      of ``X-Forwarded-Proto`` does;
    * a value that is not a valid IP address, or a scheme other than
      ``http``/``https``, is ignored and the connection's own value kept.

    Pure: reads ``headers`` only, so it is the same under every driver.
    """
    ip = headers.get("X-Real-Ip")
    if not ip:
        forwarded = headers.get("X-Forwarded-For")
        if forwarded:
            for candidate in reversed(forwarded.split(",")):
                ip = candidate.strip()
                if ip not in trusted_downstream:
                    break
    if ip:
        # netutil brings asyncio and ssl; only proxied applications (xheaders) get here.
        from dualweb.netutil import is_valid_ip

        ip = ip.strip()
        if is_valid_ip(ip):
            remote_ip = ip
    scheme = headers.get("X-Scheme")
    if not scheme:
        scheme = headers.get("X-Forwarded-Proto")
    if scheme:
        scheme = scheme.split(",")[-1].strip().lower()
        if scheme in _PROTOCOLS:
            protocol = scheme
    return remote_ip, protocol


def request_context(context: ConnectionContext, headers: HTTPHeaders) -> ConnectionContext:
    """The context one request is served with: ``context``, or a copy with proxy headers applied.

    Every driver calls this once per request before handing the request to
    its server delegate: with ``context.settings.xheaders`` off it returns
    ``context`` itself; with it on, a new :class:`ConnectionContext` whose
    ``remote_ip`` and ``protocol`` come from :func:`resolve_proxy_headers`.
    The connection's own context is never modified.
    """
    settings = context.settings
    if not settings.xheaders:
        return context
    remote_ip, protocol = resolve_proxy_headers(
        headers, context.remote_ip, context.protocol, settings.trusted_downstream
    )
    return ConnectionContext(remote_ip, protocol, context.address, settings, context.ssl_object)


def build_request(
    method: str,
    target: str,
    version: str,
    headers: HTTPHeaders,
    connection: HTTPConnection | None = None,
    server_connection: object | None = None,
    body: bytes | None = None,
) -> HTTPServerRequest:
    """Build the :class:`~dualweb.httputil.HTTPServerRequest` for a request, for any driver.

    Args:
        method: the request method.
        target: the request target as sent (path and query, still percent-encoded).
        version: ``"HTTP/1.1"``, ...
        headers: the request headers.
        connection: where the response goes; its ``context`` (already
            resolved by :func:`request_context`) gives ``remote_ip`` and ``protocol``.
        server_connection: the driver's connection object, if any.
        body: the whole body when already known; ``None`` while it is still
            to arrive (streamed through the delegate).
    """
    return HTTPServerRequest(
        method, target, version, headers, body, None, None, connection, None, server_connection
    )


class GzipBodyDecoder:
    """Decodes a gzip request body incrementally, holding the decoded size to ``limit`` bytes.

    Each call to :meth:`decode` inflates at most ``limit + 1`` bytes
    (``zlib``'s ``max_length``) and carries the rest of its input over to the
    next piece, so the memory used stays proportional to the limit, not to
    what the compressed data could expand to.

    Raises :class:`~dualweb.connection.RequestBodyError` (413) past the
    limit, (400) for data that is not gzip or ends early.
    """

    __slots__ = ("_decompressor", "_limit", "_piece", "_total")

    def __init__(self, limit: int, piece_size: int = 65536) -> None:
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._limit = limit
        self._piece = piece_size
        self._total = 0

    def decode(self, data: bytes) -> list[bytes]:
        """Inflate ``data``; return the decoded pieces (each at most ``piece_size`` bytes)."""
        pieces: list[bytes] = []
        decompressor = self._decompressor
        try:
            while data:
                piece = decompressor.decompress(data, self._piece)
                if piece:
                    self._count(len(piece))
                    pieces.append(piece)
                data = decompressor.unconsumed_tail
        except zlib.error as exc:
            raise RequestBodyError(400, f"invalid gzip request body: {exc}") from exc
        return pieces

    def finish(self) -> bytes:
        """Return what remains once the input is complete.

        Raises:
            RequestBodyError: the gzip stream is truncated or invalid (400).
        """
        try:
            tail = self._decompressor.flush()
        except zlib.error as exc:
            raise RequestBodyError(400, f"invalid gzip request body: {exc}") from exc
        if not self._decompressor.eof:
            raise RequestBodyError(400, "truncated gzip request body")
        self._count(len(tail))
        return tail

    def _count(self, size: int) -> None:
        self._total += size
        if self._total > self._limit:
            raise RequestBodyError(
                413, f"decompressed request body exceeds max_body_size ({self._limit} bytes)"
            )


class RequestIntake(HTTPMessageDelegate):
    """What a router's ``start_request`` returns: build the request, route it, forward the message.

    Subclasses implement :meth:`route`. The delegate it returns gets
    ``headers_received`` and then the body and ``finish``.
    """

    __slots__ = ("delegate", "request", "request_conn", "server_conn")

    def __init__(self, server_conn: object, request_conn: HTTPConnection) -> None:
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.request: HTTPServerRequest | None = None
        self.delegate: HTTPMessageDelegate | None = None

    def route(self, request: HTTPServerRequest) -> HTTPMessageDelegate:
        """Return the delegate that serves ``request`` (subclasses implement it)."""
        raise NotImplementedError()

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """Build the request, route it, and start the routed delegate."""
        if type(start_line) is not RequestStartLine:
            raise TypeError("a server delegate can only serve requests, got a response start line")
        request = self.request = build_request(
            start_line.method,
            start_line.path,
            start_line.version,
            headers,
            self.request_conn,
            self.server_conn,
        )
        delegate = self.delegate = self.route(request)
        return delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Pass a body chunk on."""
        delegate = self.delegate
        assert delegate is not None, "data_received() before headers_received()"
        return delegate.data_received(chunk)

    def finish(self) -> Awaitable[None] | None:
        """The body is complete."""
        delegate = self.delegate
        assert delegate is not None, "finish() before headers_received()"
        return delegate.finish()

    def on_connection_close(self) -> None:
        """The client went away before the request was complete: tell the routed delegate."""
        if self.delegate is not None:
            self.delegate.on_connection_close()


StartRequest = Callable[[object, HTTPConnection], HTTPMessageDelegate]


def request_starter(start_request: StartRequest, settings: RequestSettings) -> StartRequest:
    """How a driver starts each request on a server delegate, decided once per server.

    ``start_request`` is the server delegate's method. Every driver calls
    the function returned here, once per request, with ``(server_conn,
    request_conn)`` and feeds the delegate it gets. When ``settings`` ask
    for ``decompress_request``, that delegate is wrapped in a
    :class:`DecompressingDelegate`, so every delegate (routed or not) gets
    decoded bodies within ``max_body_size``; otherwise ``start_request``
    itself is returned and costs nothing extra per request.
    """
    if not settings.decompress_request:
        return start_request
    limit = settings.max_body_size

    def start_decompressing(
        server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        return DecompressingDelegate(start_request(server_conn, request_conn), limit)

    return start_decompressing


class DecompressingDelegate(HTTPMessageDelegate):
    """Decodes ``Content-Encoding: gzip`` request bodies for the delegate it wraps.

    Like Tornado, the wrapped delegate sees the decoded body: the
    ``Content-Encoding`` and ``Content-Length`` headers are removed and
    ``X-Consumed-Content-Encoding: gzip`` records what was undone. The
    decoded size is held to ``max_body_size`` as it is produced (see
    :class:`GzipBodyDecoder`).
    """

    __slots__ = ("_decoder", "_delegate", "_limit")

    def __init__(self, delegate: HTTPMessageDelegate, max_body_size: int) -> None:
        self._delegate = delegate
        self._limit = max_body_size
        self._decoder: GzipBodyDecoder | None = None

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """Set up decoding when the body is gzip, then pass the headers on."""
        if headers.get("Content-Encoding", "").lower() == "gzip":
            headers.add("X-Consumed-Content-Encoding", "gzip")
            del headers["Content-Encoding"]
            if "Content-Length" in headers:
                del headers["Content-Length"]
            self._decoder = GzipBodyDecoder(self._limit)
        return self._delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Decode a chunk and pass the pieces on."""
        if self._decoder is None:
            return self._delegate.data_received(chunk)
        return _feed(self._delegate, self._decoder.decode(chunk))

    def finish(self) -> Awaitable[None] | None:
        """Pass on the decoder's tail, then ``finish``."""
        delegate = self._delegate
        if self._decoder is not None:
            tail = self._decoder.finish()
            if tail:
                result = delegate.data_received(tail)
                if result is not None:
                    return _finish_after(delegate, result)
        return delegate.finish()

    def on_connection_close(self) -> None:
        """Pass it on."""
        self._delegate.on_connection_close()


def _feed(delegate: HTTPMessageDelegate, pieces: list[bytes]) -> Awaitable[None] | None:
    for index, piece in enumerate(pieces):
        result = delegate.data_received(piece)
        if result is not None:
            return _feed_rest(delegate, result, pieces[index + 1 :])
    return None


async def _feed_rest(
    delegate: HTTPMessageDelegate, first: Awaitable[None], rest: list[bytes]
) -> None:
    await first
    for piece in rest:
        result = delegate.data_received(piece)
        if result is not None:
            await result


async def _finish_after(delegate: HTTPMessageDelegate, pending: Awaitable[None]) -> None:
    await pending
    result = delegate.finish()
    if result is not None:
        await result


class NotFoundDelegate(HTTPMessageDelegate):
    """Answers ``404 Not Found`` with an empty body once the request is complete.

    What a :class:`~dualweb.routing.Router` with no matching rule answers,
    under every driver.
    """

    __slots__ = ("connection",)

    def __init__(self, connection: HTTPConnection) -> None:
        self.connection = connection

    def finish(self) -> None:
        """Send the 404."""
        self.connection.write_headers(
            ResponseStartLine("HTTP/1.1", 404, "Not Found"),
            # A Content-Type even for the empty body: WSGI (PEP 3333 validators) wants one.
            HTTPHeaders({"Content-Length": "0", "Content-Type": "text/plain; charset=UTF-8"}),
        )
        self.connection.finish()


class CallableDelegate(HTTPMessageDelegate):
    """Serves a request with a plain callable ``target(request, **params)``.

    The body is collected; when it is complete it is parsed into the
    request's arguments and the callable is called. If the callable returns
    an awaitable (an ``async def`` target), :meth:`finish` returns it, for the
    native driver to run (under WSGI that is an ``AsyncUnavailableError``).
    """

    __slots__ = ("_chunks", "params", "request", "target")

    def __init__(self, target: Any, request: HTTPServerRequest, params: dict[str, Any]) -> None:
        self.target = target
        self.request = request
        self.params = params
        self._chunks: list[bytes] = []

    def data_received(self, chunk: bytes) -> None:
        """Buffer a body chunk."""
        self._chunks.append(chunk)

    def finish(self) -> Awaitable[None] | None:
        """Parse the body and call the target.

        Raises:
            RequestBodyError: the form body is malformed (400).
        """
        request = self.request
        if self._chunks:
            request.body = b"".join(self._chunks)
        try:
            request.parse_body()
        except HTTPInputError as exc:
            raise RequestBodyError(400, f"malformed request body: {exc}") from exc
        result = self.target(request, **self.params)
        return result if isinstance(result, Awaitable) else None

    def on_connection_close(self) -> None:
        """Drop the buffered body."""
        self._chunks.clear()


class _CallableIntake(RequestIntake):
    __slots__ = ("callback",)

    def __init__(
        self,
        callback: Callable[[HTTPServerRequest], Any],
        server_conn: object,
        conn: HTTPConnection,
    ) -> None:
        super().__init__(server_conn, conn)
        self.callback = callback

    def route(self, request: HTTPServerRequest) -> HTTPMessageDelegate:
        return CallableDelegate(self.callback, request, {})


class CallableServerDelegate(HTTPServerConnectionDelegate):
    """Makes a plain ``callback(request)`` a server delegate, for every driver.

    ``HTTPServer(callback)`` and ``WSGIAdapter(callback)`` use it: the
    callback gets each complete :class:`~dualweb.httputil.HTTPServerRequest`
    (body parsed) and writes its response through ``request.connection``.
    """

    def __init__(self, callback: Callable[[HTTPServerRequest], Any]) -> None:
        self.callback = callback

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return the delegate that collects the request and calls the callback."""
        return _CallableIntake(self.callback, server_conn, request_conn)


def as_server_delegate(target: Any) -> HTTPServerConnectionDelegate:
    """``target`` itself if it is a server delegate, else a :class:`CallableServerDelegate`.

    Raises:
        TypeError: ``target`` is neither a server delegate nor callable.
    """
    if isinstance(target, HTTPServerConnectionDelegate):
        return target
    if callable(target):
        return CallableServerDelegate(target)
    raise TypeError(
        f"expected an HTTPServerConnectionDelegate (such as an Application) or a callable "
        f"taking a request, got {type(target).__name__}"
    )
