"""The default :class:`~dualweb.httpclient.AsyncHTTPClient`: HTTP/1.1 with a keep-alive pool.

Theory of operation
-------------------

Each fetch runs as one task (:meth:`SimpleAsyncHTTPClient._run`): it waits for
a slot (at most ``max_clients`` fetches run at once; the rest queue), then
sends the request on a connection and follows redirects.

Connections are :class:`_ClientProtocol` objects (plain ``asyncio.Protocol``,
no streams) kept in a pool per (scheme, host, port, proxy, TLS settings).  A
connection carries one exchange at a time: the request is serialized by a
fresh :class:`~dualweb.http1codec.HTTP1ClientCodec`, the server's bytes go
through the same codec, and the events reach a :class:`_ResponseReader` that
runs the callbacks, decompresses and buffers the body.  When the response is
complete and both sides allow it (:func:`_reusable`), the connection goes back
to the pool; otherwise it is closed.

A pooled connection may have been closed by the server while idle.  If it
fails before a single response byte arrived, an idempotent request is retried
once on a new connection (a server may legitimately close an idle connection
at any moment, RFC 9112 section 9.3.1).

Failures reach the caller as exceptions from ``fetch()``: ``OSError`` for
refused/reset/DNS (as Tornado's client), :class:`HTTPTimeoutError` (599) for
timeouts, :class:`HTTPStreamClosedError` (599) for a connection closed before
the response, and :class:`~dualweb.httpclient.HTTPClientError` (599) for a
malformed response (bad framing, oversized headers, truncated body).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import socket
import ssl
import time
import urllib.parse
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from io import BytesIO
from typing import Any, Final, NamedTuple, cast

from dualweb.connection import RequestStartLine
from dualweb.http1codec import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    Data,
    HTTP1ClientCodec,
    ProtocolError,
    Response,
)
from dualweb.httpclient import (
    AsyncHTTPClient,
    HTTPClientError,
    HTTPRequest,
    HTTPResponse,
)
from dualweb.httputil import HTTPHeaders, encode_username_password
from dualweb.log import gen_log
from dualweb.netutil import OverrideResolver, Resolver, ssl_options_to_context

__all__ = ["HTTPStreamClosedError", "HTTPTimeoutError", "SimpleAsyncHTTPClient"]

_USER_AGENT: Final = "dualweb/0.1.0"
_REDIRECT_CODES: Final = frozenset((301, 302, 303, 307, 308))
# RFC 9110 section 9.2.2; only these may be sent twice.
_IDEMPOTENT: Final = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
_CONTENT_HEADERS: Final = (
    "Content-Length",
    "Content-Type",
    "Content-Encoding",
    "Transfer-Encoding",
)
# A connection idle longer than this is not reused (servers close idle ones anyway).
_MAX_IDLE: Final = 60.0
# How long to wait for "100 Continue" before sending the body anyway (as curl does).
_CONTINUE_WAIT: Final = 1.0


class HTTPTimeoutError(HTTPClientError):
    """A connect, queue or request timeout; ``code`` is 599 as in Tornado."""

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Timeout"


class HTTPStreamClosedError(HTTPClientError):
    """The connection closed before a response arrived; ``code`` is 599 as in Tornado."""

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Stream closed"


class _Stale(Exception):
    """A connection failed before any response byte arrived (maybe closed while pooled)."""

    def __init__(self, real_error: BaseException | None) -> None:
        super().__init__(real_error)
        self.real_error = real_error


def _reusable(keep_alive: bool, complete: bool) -> bool:
    """May the connection carry another request after this exchange?

    ``keep_alive`` is the codec's verdict on the response (version,
    ``Connection`` header, framing), ``complete`` whether the whole response
    was read and the whole request sent.  This is the single place to switch
    to the reworked codec's own reuse indicator.
    """
    return keep_alive and complete


# --------------------------------------------------------------------------- the target


class _Target(NamedTuple):
    scheme: str
    host: str
    port: int
    netloc: str
    path: str
    username: str | None
    password: str | None


def _parse_url(url: str) -> _Target:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"Unsupported url scheme: {url!r} (only http and https)")
    host = parts.hostname
    if not host:
        raise ValueError(f"No host in url {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    netloc = parts.netloc.rpartition("@")[2]
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(scheme, host, port, netloc, path, parts.username, parts.password)


def _basic_auth(username: str, password: str | None) -> str:
    token = base64.b64encode(encode_username_password(username, password or ""))
    return "Basic " + token.decode("ascii")


# --------------------------------------------------------------------------- one response


class _ResponseReader:
    """Consumes one response's events: callbacks, decoding, buffering, limits."""

    __slots__ = (
        "chunks",
        "code",
        "decompressor",
        "discard",
        "follow",
        "header_callback",
        "headers",
        "keep_alive",
        "max_body_size",
        "reason",
        "size",
        "streaming_callback",
    )

    def __init__(self, request: HTTPRequest, max_body_size: int) -> None:
        self.streaming_callback = request.streaming_callback
        self.header_callback = request.header_callback
        self.follow = bool(request.follow_redirects) and (request.max_redirects or 0) > 0
        self.decompressor: Any = None
        self.discard = False
        self.max_body_size = max_body_size
        self.chunks: list[bytes] = []
        self.size = 0
        self.code = 0
        self.reason = ""
        self.headers = HTTPHeaders()
        self.keep_alive = False

    def start(self, event: Response, decompress: bool) -> None:
        start_line = event.start_line
        self.code = start_line.code
        self.reason = start_line.reason
        self.headers = headers = event.headers
        self.keep_alive = event.keep_alive
        callback = self.header_callback
        if callback is not None:
            callback(f"{start_line.version} {start_line.code} {start_line.reason}\r\n")
            for name, value in headers.get_all():
                callback(f"{name}: {value}\r\n")
            callback("\r\n")
        # A redirect's body is never shown to the caller.
        self.discard = self.follow and self.code in _REDIRECT_CODES and "Location" in headers
        encoding = headers.get("Content-Encoding")
        if decompress and encoding is not None:
            coding = encoding.strip().lower()
            if coding in ("gzip", "x-gzip"):
                self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif coding == "deflate":
                self.decompressor = _DeflateDecoder()
            if self.decompressor is not None:
                # Tornado's convention: the body no longer has that encoding.
                headers["X-Consumed-Content-Encoding"] = encoding
                del headers["Content-Encoding"]

    def data(self, chunk: bytes) -> None:
        if self.decompressor is not None:
            try:
                chunk = self.decompressor.decompress(chunk)
            except zlib.error as e:
                raise HTTPClientError(599, f"Could not decode the response body: {e}") from None
        self._keep(chunk)

    def end(self) -> None:
        if self.decompressor is not None:
            self._keep(self.decompressor.flush())

    def _keep(self, chunk: bytes) -> None:
        if not chunk or self.discard:
            return
        self.size += len(chunk)
        if self.size > self.max_body_size:
            raise HTTPClientError(
                599, f"Response body larger than max_body_size ({self.max_body_size} bytes)"
            )
        if self.streaming_callback is not None:
            self.streaming_callback(chunk)
        else:
            self.chunks.append(chunk)


class _DeflateDecoder:
    """``Content-Encoding: deflate`` is zlib-wrapped per RFC 9110, raw in some servers."""

    __slots__ = ("_decoder", "_started")

    def __init__(self) -> None:
        self._decoder = zlib.decompressobj()
        self._started = False

    def decompress(self, chunk: bytes) -> bytes:
        if not self._started:
            self._started = True
            try:
                return self._decoder.decompress(chunk)
            except zlib.error:
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._decoder.decompress(chunk)

    def flush(self) -> bytes:
        return self._decoder.flush()


# --------------------------------------------------------------------------- one connection


class _ClientProtocol(asyncio.Protocol):
    """One client connection; carries one exchange at a time (see the theory of operation)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_header_size: int | None) -> None:
        self.loop = loop
        self.max_header_size = max_header_size
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_list: list[_ClientProtocol] | None = None
        self.idle_since = 0.0
        self.codec: HTTP1ClientCodec | None = None
        self.reader: _ResponseReader | None = None
        self.decompress = False
        self.waiter: asyncio.Future[None] | None = None
        self.continue_waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.got_bytes = False
        self.complete = False
        self.error: BaseException | None = None
        self.raw: bytearray | None = None

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.raw is not None:
            self._raw_received(data)
            return
        codec = self.codec
        if codec is None or self.waiter is None or self.waiter.done():
            # Bytes while idle (a late 408, garbage): this connection is unusable.
            self.close()
            return
        self.got_bytes = True
        waiter = self.continue_waiter
        if waiter is not None and not waiter.done() and data[9:12] == b"100":
            waiter.set_result(None)
        codec.receive_data(data)
        self._process()

    def eof_received(self) -> bool:
        if self.codec is not None and self.waiter is not None and not self.waiter.done():
            self.codec.receive_data(b"")
            self._process()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.idle_list is not None:
            try:
                self.idle_list.remove(self)
            except ValueError:
                pass
            self.idle_list = None
        if self.codec is not None and self.waiter is not None and not self.waiter.done():
            self.codec.receive_data(b"")
            self._process()
        self._fail(exc)
        drain = self.drain_waiter
        if drain is not None and not drain.done():
            drain.set_exception(self.error or HTTPStreamClosedError("Stream closed"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drain = self.drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- the exchange

    def _process(self) -> None:
        codec = self.codec
        reader = self.reader
        assert codec is not None and reader is not None
        try:
            while True:
                event = codec.next_event()
                if event is NEED_DATA:
                    return
                kind = type(event)
                if kind is Data:
                    reader.data(event.data)  # type: ignore[union-attr]
                elif kind is Response:
                    reader.start(event, self.decompress)  # type: ignore[arg-type]
                    waiter = self.continue_waiter
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                elif event is END_OF_MESSAGE:
                    reader.end()
                    self.complete = True
                    self._succeed()
                    return
                elif kind is ProtocolError:
                    raise HTTPClientError(599, f"Malformed HTTP response: {event.message}")  # type: ignore[union-attr]
                elif event is CONNECTION_CLOSED:
                    self._fail(None)
                    return
        except Exception as e:
            # A malformed response, a failing callback or a limit: this
            # connection's framing is no longer trustworthy.
            self._fail(e)
            self.close()

    def _succeed(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException | None) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.error is not None:
            exc = self.error
        elif not self.got_bytes:
            exc = _Stale(exc)
        elif exc is None:
            exc = HTTPStreamClosedError("Connection closed before the response was complete")
        self.error = exc
        waiter.set_exception(exc)

    def time_out(self) -> None:
        """Fail the current exchange with a timeout and drop the connection."""
        self.error = error = HTTPTimeoutError("Timeout during request")
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()

    async def exchange(
        self,
        start_line: RequestStartLine,
        headers: HTTPHeaders,
        body: bytes | None,
        producer: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]] | None,
        reader: _ResponseReader,
        decompress: bool,
        expect_continue: bool,
    ) -> None:
        """Send one request and wait for its whole response (given to ``reader``).

        Raises :class:`_Stale` when the connection failed before any response byte.
        """
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise _Stale(None)
        self.codec = codec = HTTP1ClientCodec(self.max_header_size)
        self.reader = reader
        self.decompress = decompress
        self.got_bytes = self.complete = False
        self.error = None
        self.waiter = waiter = self.loop.create_future()
        if expect_continue and (body or producer is not None):
            transport.write(codec.send_request(start_line, headers))
            if not await self._await_continue(waiter):
                await waiter
                self.complete = False  # the body was never sent
                return
            transport.write(codec.send_data(body) if body else b"")
        else:
            transport.write(codec.send_request(start_line, headers, body))
        if producer is not None:
            await self._produce(producer)
        end = codec.send_end()
        if end:
            transport.write(end)
        await waiter

    async def _await_continue(self, waiter: asyncio.Future[None]) -> bool:
        """Wait for 100 Continue (or a short delay); False if a final response came first."""
        self.continue_waiter = go = self.loop.create_future()
        try:
            await asyncio.wait((go, waiter), timeout=_CONTINUE_WAIT)
        finally:
            self.continue_waiter = None
        # A final answer before "100 Continue" means: don't send the body.
        return not waiter.done() and not (self.reader is not None and self.reader.code)

    async def _produce(
        self, producer: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]]
    ) -> None:
        codec = self.codec
        assert codec is not None

        def write(chunk: bytes) -> asyncio.Future[None]:
            if self.closed or self.transport is None:
                raise self.error or HTTPStreamClosedError("Stream closed while sending the body")
            self.transport.write(codec.send_data(chunk))
            if self.paused:
                self.drain_waiter = self.loop.create_future()
                return self.drain_waiter
            done = self.loop.create_future()
            done.set_result(None)
            return done

        try:
            await producer(write)
        except Exception:
            if self.error is not None:
                raise self.error from None
            raise

    # -- CONNECT through a proxy

    def _raw_received(self, data: bytes) -> None:
        raw = self.raw
        assert raw is not None
        raw += data
        waiter = self.waiter
        if b"\r\n\r\n" in raw and waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def tunnel(self, target: _Target, proxy_auth: str | None) -> None:
        """Ask an HTTP proxy for a tunnel to ``target`` (``CONNECT host:port``).

        Raises :class:`HTTPClientError` with the proxy's status when it refuses.
        """
        assert self.transport is not None
        self.raw = bytearray()
        self.waiter = waiter = self.loop.create_future()
        host = f"[{target.host}]" if ":" in target.host else target.host
        authority = f"{host}:{target.port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if proxy_auth:
            lines.append(f"Proxy-Authorization: {proxy_auth}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            await waiter
        except _Stale:
            raise HTTPStreamClosedError("The proxy closed the connection during CONNECT") from None
        head = bytes(self.raw).split(b"\r\n", 1)[0].decode("latin-1")
        self.raw = None
        parts = head.split(" ", 2)
        code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if not 200 <= code < 300:
            self.close()
            raise HTTPClientError(code or 599, f"The proxy refused the tunnel: {head!r}")

    # -- lifecycle

    def usable(self, now: float) -> bool:
        transport = self.transport
        return (
            not self.closed
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since < _MAX_IDLE
        )

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()


# --------------------------------------------------------------------------- the client


class SimpleAsyncHTTPClient(AsyncHTTPClient):
    """dualweb's HTTP/1.1 client (the default :class:`~dualweb.httpclient.AsyncHTTPClient`).

    Keyword arguments (through ``AsyncHTTPClient.configure`` or
    ``force_instance=True``): ``max_clients`` (10; more fetches queue),
    ``hostname_mapping`` (``{"name": "address"}`` overrides DNS),
    ``max_buffer_size`` (100 MB: the largest body kept in memory),
    ``resolver`` (a :class:`~dualweb.netutil.Resolver`), ``defaults``,
    ``max_header_size`` (64 KiB) and ``max_body_size`` (``max_buffer_size``).
    Unlike Tornado's client, connections are kept alive and reused.
    """

    def initialize(  # type: ignore[override]
        self,
        max_clients: int = 10,
        hostname_mapping: dict[str, str] | None = None,
        max_buffer_size: int = 104857600,
        resolver: Resolver | None = None,
        defaults: dict[str, Any] | None = None,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
    ) -> None:
        """See the class documentation."""
        super().initialize(defaults=defaults)
        self.max_clients = max_clients
        self.queue: deque[asyncio.Future[None]] = deque()
        self.active = 0
        self.max_buffer_size = max_buffer_size
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size if max_body_size is not None else max_buffer_size
        self._own_resolver = resolver is None
        self.resolver: Resolver = resolver if resolver is not None else Resolver()
        if hostname_mapping is not None:
            self.resolver = OverrideResolver(resolver=self.resolver, mapping=hostname_mapping)
        self._pool: dict[tuple[Any, ...], list[_ClientProtocol]] = {}
        self._ssl_contexts: dict[tuple[Any, ...], ssl.SSLContext] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def close(self) -> None:
        """Close pooled connections and the resolver this client created."""
        if self._closed:
            return
        super().close()
        for connections in self._pool.values():
            for conn in list(connections):
                conn.close()
        self._pool.clear()
        if self._own_resolver:
            self.resolver.close()

    def fetch_impl(self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]) -> None:
        """Start a task that fetches ``request`` and calls ``callback`` with the response."""
        task = asyncio.ensure_future(self._run(request, callback))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]) -> None:
        loop = asyncio.get_running_loop()
        start_time = time.time()
        start = loop.time()
        try:
            await self._acquire(request)
            try:
                response = await self._fetch_following_redirects(request, start_time, start)
            finally:
                self._release()
        except Exception as e:
            response = HTTPResponse(
                request,
                599,
                error=e,
                request_time=loop.time() - start,
                start_time=start_time,
            )
        callback(response)

    # -- max_clients

    async def _acquire(self, request: HTTPRequest) -> None:
        if self.active < self.max_clients:
            self.active += 1
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self.queue.append(waiter)
        gen_log.debug(
            "max_clients limit reached, request queued. %d active, %d queued requests.",
            self.active,
            len(self.queue),
        )
        timeout = min(
            (t for t in (request.connect_timeout, request.request_timeout) if t), default=None
        )
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            raise HTTPTimeoutError("Timeout in request queue") from None
        finally:
            if not waiter.done():
                waiter.cancel()
            try:
                self.queue.remove(waiter)
            except ValueError:
                pass

    def _release(self) -> None:
        # Hand the slot to the next waiter rather than freeing it.
        while self.queue:
            waiter = self.queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1

    # -- redirects

    async def _fetch_following_redirects(
        self, request: HTTPRequest, start_time: float, start: float
    ) -> HTTPResponse:
        current = request
        while True:
            reader = await self._fetch_once(current)
            location = reader.headers.get("Location") if reader.discard else None
            if location is None:
                break
            current = _redirected(current, reader.code, location)
        buffer = None if reader.streaming_callback is not None else BytesIO(b"".join(reader.chunks))
        return HTTPResponse(
            request,
            reader.code,
            reason=reader.reason,
            headers=reader.headers,
            buffer=buffer,
            effective_url=current.url,
            request_time=asyncio.get_running_loop().time() - start,
            start_time=start_time,
        )

    # -- one request on one connection

    async def _fetch_once(self, request: HTTPRequest) -> _ResponseReader:
        target = _parse_url(request.url)
        _check_body(request)
        key, tls = self._route(request, target)
        start_line, headers = self._request_head(request, target)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (request.request_timeout or 1e9)
        conn = self._take_idle(key, loop.time())
        reused = conn is not None
        if conn is None:
            conn = await self._connect(request, target, tls)
        replayable = request.body_producer is None and request.method in _IDEMPOTENT
        while True:
            reader = _ResponseReader(request, self.max_body_size)
            try:
                await self._exchange(conn, request, start_line, headers, reader, deadline)
            except _Stale as stale:
                conn.close()
                if reused and replayable:
                    reused = False
                    conn = await self._connect(request, target, tls)
                    continue
                if stale.real_error is not None:
                    raise stale.real_error from None
                raise HTTPStreamClosedError("Stream closed") from None
            except BaseException:
                conn.close()
                raise
            break
        if _reusable(reader.keep_alive, conn.complete) and not self._closed:
            self._put_idle(key, conn, loop.time())
        else:
            conn.close()
        return reader

    async def _exchange(
        self,
        conn: _ClientProtocol,
        request: HTTPRequest,
        start_line: RequestStartLine,
        headers: HTTPHeaders,
        reader: _ResponseReader,
        deadline: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        timer = loop.call_at(deadline, conn.time_out)
        try:
            await conn.exchange(
                start_line,
                headers,
                request.body,
                request.body_producer,
                reader,
                bool(request.decompress_response),
                request.expect_100_continue,
            )
        finally:
            timer.cancel()

    def _route(self, request: HTTPRequest, target: _Target) -> tuple[tuple[Any, ...], Any]:
        """The pool key and the TLS context (or None) for ``target``."""
        tls = self._tls_context(request) if target.scheme == "https" else None
        proxy = (request.proxy_host, request.proxy_port) if request.proxy_host else None
        key = (target.scheme, target.host, target.port, proxy, id(tls), request.network_interface)
        return key, tls

    def _tls_context(self, request: HTTPRequest) -> ssl.SSLContext:
        if request.ssl_options is not None:
            return ssl_options_to_context(request.ssl_options, server_side=False)
        settings = (
            bool(request.validate_cert),
            request.ca_certs,
            request.client_cert,
            request.client_key,
        )
        context = self._ssl_contexts.get(settings)
        if context is None:
            context = ssl.create_default_context(cafile=request.ca_certs)
            if not request.validate_cert:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if request.client_cert is not None:
                context.load_cert_chain(request.client_cert, request.client_key)
            self._ssl_contexts[settings] = context
        return context

    def _request_head(
        self, request: HTTPRequest, target: _Target
    ) -> tuple[RequestStartLine, HTTPHeaders]:
        headers = request.headers
        if "Host" not in headers:
            headers["Host"] = target.netloc
        username = request.auth_username or target.username
        if username is not None:
            mode = request.auth_mode or "basic"
            if mode != "basic":
                raise ValueError(f"unsupported auth_mode {mode!r} (only 'basic')")
            headers["Authorization"] = _basic_auth(
                username, request.auth_password or target.password
            )
        if request.user_agent:
            headers["User-Agent"] = request.user_agent
        elif "User-Agent" not in headers:
            headers["User-Agent"] = _USER_AGENT
        if request.decompress_response and "Accept-Encoding" not in headers:
            headers["Accept-Encoding"] = "gzip, deflate"
        body = request.body
        if body is not None:
            headers["Content-Length"] = str(len(body))
            if request.method == "POST" and "Content-Type" not in headers:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        if request.expect_100_continue:
            headers["Expect"] = "100-continue"
        path = target.path
        if request.proxy_host and target.scheme == "http":
            # Absolute form (RFC 9112 section 3.2.2) tells the proxy where to go.
            path = f"http://{target.netloc}{target.path}"
            if request.proxy_username:
                headers["Proxy-Authorization"] = _basic_auth(
                    request.proxy_username, request.proxy_password
                )
        return RequestStartLine(request.method, path, "HTTP/1.1"), headers

    # -- the pool

    def _take_idle(self, key: tuple[Any, ...], now: float) -> _ClientProtocol | None:
        idle = self._pool.get(key)
        while idle:
            conn = idle.pop()
            conn.idle_list = None
            if conn.usable(now):
                return conn
            conn.close()
        return None

    def _put_idle(self, key: tuple[Any, ...], conn: _ClientProtocol, now: float) -> None:
        idle = self._pool.get(key)
        if idle is None:
            idle = self._pool[key] = []
        conn.idle_since = now
        conn.idle_list = idle
        conn.codec = None
        conn.reader = None
        conn.waiter = None
        idle.append(conn)
        if len(idle) > self.max_clients:
            oldest = idle.pop(0)
            oldest.idle_list = None
            oldest.close()

    async def _connect(
        self, request: HTTPRequest, target: _Target, tls: ssl.SSLContext | None
    ) -> _ClientProtocol:
        timeout = min(
            (t for t in (request.connect_timeout, request.request_timeout) if t), default=None
        )
        try:
            return await asyncio.wait_for(self._open(request, target, tls), timeout)
        except asyncio.TimeoutError:
            raise HTTPTimeoutError("Timeout while connecting") from None

    async def _open(
        self, request: HTTPRequest, target: _Target, tls: ssl.SSLContext | None
    ) -> _ClientProtocol:
        loop = asyncio.get_running_loop()
        via_proxy = bool(request.proxy_host)
        host = request.proxy_host if via_proxy else target.host
        port = (request.proxy_port or 80) if via_proxy else target.port
        assert host is not None
        family = socket.AF_UNSPEC if request.allow_ipv6 is not False else socket.AF_INET
        try:
            addresses = await self.resolver.resolve(host, port, family)
        except socket.gaierror as e:
            raise socket.gaierror(e.errno, f"{e.strerror} (resolving {host!r})") from None
        local = (request.network_interface, 0) if request.network_interface else None
        direct_tls = tls if not via_proxy else None
        error: OSError | None = None
        for _family, address in addresses:
            try:
                _, conn = await loop.create_connection(
                    lambda: _ClientProtocol(loop, self.max_header_size),
                    address[0],
                    address[1],
                    ssl=direct_tls,
                    server_hostname=target.host if direct_tls is not None else None,
                    local_addr=local,
                )
                break
            except OSError as e:
                error = e
        else:
            raise error or OSError(f"No addresses for {host!r}")
        if via_proxy and tls is not None:
            await self._start_tunnel(conn, request, target, tls)
        return conn

    async def _start_tunnel(
        self, conn: _ClientProtocol, request: HTTPRequest, target: _Target, tls: ssl.SSLContext
    ) -> None:
        auth = None
        if request.proxy_username:
            auth = _basic_auth(request.proxy_username, request.proxy_password)
        try:
            await conn.tunnel(target, auth)
            assert conn.transport is not None
            transport = await asyncio.get_running_loop().start_tls(
                conn.transport, conn, tls, server_hostname=target.host
            )
        except BaseException:
            conn.close()
            raise
        conn.transport = transport


def _check_body(request: HTTPRequest) -> None:
    if request.allow_nonstandard_methods:
        return
    expected = request.method in ("POST", "PATCH", "PUT")
    present = request.body is not None or request.body_producer is not None
    if expected != present:
        raise ValueError(
            f"Body must {'not ' if expected else ''}be None for method {request.method} "
            "(unless allow_nonstandard_methods is true)"
        )


def _redirected(request: HTTPRequest, code: int, location: str) -> HTTPRequest:
    """The request to send for a redirect, following RFC 9110 section 15.4."""
    original: Any = getattr(request, "request", request)
    new = copy.copy(original)
    new.url = urllib.parse.urljoin(request.url, location)
    new.max_redirects = (request.max_redirects or 0) - 1
    new.headers = HTTPHeaders(request.headers)
    del new.headers["Host"]
    if (code == 303 and request.method != "HEAD") or (
        code in (301, 302) and request.method == "POST"
    ):
        new.method = "GET"
        new.body = None
        new.body_producer = None
        for name in _CONTENT_HEADERS:
            if name in new.headers:
                del new.headers[name]
    if _parse_url(new.url)[:3] != _parse_url(request.url)[:3]:
        # Credentials are for the origin that asked for them.
        new.auth_username = new.auth_password = None
        if "Authorization" in new.headers:
            del new.headers["Authorization"]
    if original is request:
        return cast(HTTPRequest, new)
    # The same view of the client's defaults, over the new request.
    proxy = copy.copy(request)
    proxy.request = new  # type: ignore[attr-defined]
    return proxy
