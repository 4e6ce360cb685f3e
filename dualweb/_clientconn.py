"""One client HTTP/1 connection and the reading of one response (private to the client).

:class:`ClientProtocol` is a plain ``asyncio.Protocol`` that carries one
exchange at a time: :meth:`ClientProtocol.exchange` serializes the request
with the connection's :class:`~dualweb.http1codec.HTTP1ClientCodec`, feeds
the server's bytes to it and hands the events to a :class:`ResponseReader`
(callbacks, decompression, buffering, limits).  Whether the connection may
carry another exchange is decided in one place, :func:`reusable`, which asks
the codec (:attr:`~dualweb.http1codec.HTTP1ClientCodec.reusable`).
:mod:`dualweb.simple_httpclient` owns the pool, redirects and timeouts.

Connecting is shared by every client: :func:`open_transport` (the resolver,
IPv6 choice, source address, TLS), :func:`within_connect_timeout` (the
connect timeout and its error) and :func:`tls_context` (an HTTPRequest's TLS
options). :func:`open_channel` uses them to hand a protocol that takes the
whole connection over (``websocket_connect``) a
:class:`~dualweb.bytechannel.TransportChannel`, so it connects exactly as
``AsyncHTTPClient`` does.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from dualweb.bytechannel import TransportChannel
from dualweb.connection import RequestStartLine
from dualweb.http1codec import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    Data,
    Event,
    HTTP1ClientCodec,
    InformationalResponse,
    ProtocolError,
    Response,
    Sentinel,
)
from dualweb.httpclient import HTTPClientError, HTTPRequest
from dualweb.httputil import HTTPHeaders, encode_username_password
from dualweb.netutil import Resolver, ssl_options_to_context

__all__ = [
    "ClientProtocol",
    "HTTPStreamClosedError",
    "HTTPTimeoutError",
    "ResponseReader",
    "Stale",
    "basic_auth",
    "open_channel",
    "open_transport",
    "reusable",
    "tls_context",
    "within_connect_timeout",
]

_T = TypeVar("_T")
_P = TypeVar("_P", bound=asyncio.BaseProtocol)

REDIRECT_CODES: Final = frozenset((301, 302, 303, 307, 308))
# A connection idle longer than this is not reused (servers close idle ones anyway).
MAX_IDLE: Final = 60.0
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


class Stale(Exception):
    """A connection failed before any response byte arrived (maybe closed while pooled)."""

    def __init__(self, real_error: BaseException | None) -> None:
        super().__init__(real_error)
        self.real_error = real_error


def reusable(conn: ClientProtocol) -> bool:
    """May ``conn`` carry another request after its exchange? If so, make it ready.

    The codec decides (:attr:`~dualweb.http1codec.HTTP1ClientCodec.reusable`:
    the whole request sent, the whole response read with nothing after it,
    both sides keeping the connection, no error); when it agrees, its next
    cycle starts here, so a pooled connection's codec is always IDLE.
    """
    codec = conn.codec
    if conn.closed or codec is None or not codec.reusable:
        return False
    codec.start_next_cycle()
    return True


# --------------------------------------------------------------------------- connecting


def basic_auth(username: str, password: str | None) -> str:
    """The ``Authorization`` header value for HTTP Basic authentication."""
    token = base64.b64encode(encode_username_password(username, password or ""))
    return "Basic " + token.decode("ascii")


def tls_context(request: HTTPRequest) -> ssl.SSLContext:
    """The client TLS context for ``request``'s options.

    ``ssl_options`` (a context or a dict of ``ssl.wrap_socket`` arguments)
    wins; otherwise a default context shaped by ``ca_certs``,
    ``validate_cert`` (only ``False`` turns validation off; ``None`` is
    the default, true) and ``client_cert`` / ``client_key``.
    """
    if request.ssl_options is not None:
        return ssl_options_to_context(request.ssl_options, server_side=False)
    context = ssl.create_default_context(cafile=request.ca_certs)
    if request.validate_cert is not None and not request.validate_cert:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if request.client_cert is not None:
        context.load_cert_chain(request.client_cert, request.client_key)
    return context


async def within_connect_timeout(request: HTTPRequest, opening: Awaitable[_T]) -> _T:
    """Await ``opening`` within the request's connect (and request) timeout.

    Raises:
        HTTPTimeoutError: ``Timeout while connecting`` (599), as Tornado's client.
    """
    timeout = min(
        (t for t in (request.connect_timeout, request.request_timeout) if t), default=None
    )
    try:
        return await asyncio.wait_for(opening, timeout)
    except asyncio.TimeoutError:
        raise HTTPTimeoutError("Timeout while connecting") from None


async def open_transport(
    request: HTTPRequest,
    host: str,
    port: int,
    resolver: Resolver,
    factory: Callable[[], _P],
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> tuple[asyncio.Transport, _P]:
    """Resolve ``host`` with ``resolver`` and connect to the first address that answers.

    ``request.allow_ipv6`` (``False``: IPv4 only) picks the address family
    and ``request.network_interface`` the source address; with ``tls`` the
    connection is TLS, checked against ``server_hostname``.

    Raises:
        socket.gaierror: the name does not resolve (the message names it).
        OSError: no address accepted the connection (the last error).
        ssl.SSLError: the TLS handshake failed (e.g. an unverified certificate).
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_UNSPEC if request.allow_ipv6 is not False else socket.AF_INET
    try:
        addresses = await resolver.resolve(host, port, family)
    except socket.gaierror as e:
        raise socket.gaierror(e.errno, f"{e.strerror} (resolving {host!r})") from None
    local = (request.network_interface, 0) if request.network_interface else None
    error: OSError | None = None
    for _family, address in addresses:
        try:
            transport, protocol = await loop.create_connection(
                factory,
                address[0],
                address[1],
                ssl=tls,
                server_hostname=server_hostname if tls is not None else None,
                local_addr=local,
            )
            return transport, protocol
        except OSError as e:
            error = e
    raise error or OSError(f"No addresses for {host!r}")


async def open_channel(
    request: HTTPRequest, host: str, port: int, resolver: Resolver, tls: ssl.SSLContext | None
) -> TransportChannel:
    """Connect as ``AsyncHTTPClient`` does and hand the connection over as a byte channel.

    For protocols that take the whole connection (``websocket_connect``):
    the same resolver, address choice, source address, TLS options, connect
    timeout and errors as an HTTP fetch (see :func:`open_transport` and
    :func:`within_connect_timeout`). ``TCP_NODELAY`` is on: such protocols
    write whole messages.

    Raises:
        HTTPTimeoutError: the connect timeout passed.
        OSError: resolving or connecting failed (``ssl.SSLError`` for TLS).
    """
    # A placeholder protocol until the channel takes the transport over: the
    # server says nothing before the client's first request, so nothing is missed.
    transport, _ = await within_connect_timeout(
        request, open_transport(request, host, port, resolver, asyncio.Protocol, tls, host)
    )
    channel = TransportChannel(transport)
    channel.set_nodelay(True)
    return channel


# --------------------------------------------------------------------------- one response


class ResponseReader:
    """Consumes one response's events: callbacks, decoding, buffering, limits."""

    __slots__ = (
        "chunks",
        "code",
        "decompressor",
        "discard",
        "follow",
        "header_callback",
        "headers",
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

    def start(self, event: Response, decompress: bool) -> None:
        start_line = event.start_line
        self.code = start_line.code
        self.reason = start_line.reason
        self.headers = headers = event.headers
        callback = self.header_callback
        if callback is not None:
            callback(f"{start_line.version} {start_line.code} {start_line.reason}\r\n")
            for name, value in headers.get_all():
                callback(f"{name}: {value}\r\n")
            callback("\r\n")
        # A redirect's body is never shown to the caller.
        self.discard = self.follow and self.code in REDIRECT_CODES and "Location" in headers
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


class ClientProtocol(asyncio.Protocol):
    """One client connection; carries one exchange at a time (see the theory of operation)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_header_size: int | None) -> None:
        self.loop = loop
        self.max_header_size = max_header_size
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_list: list[ClientProtocol] | None = None
        self.idle_since = 0.0
        self.codec: HTTP1ClientCodec | None = None
        self.reader: ResponseReader | None = None
        self.decompress = False
        self.waiter: asyncio.Future[None] | None = None
        self.continue_waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.got_bytes = False
        self.error: BaseException | None = None
        # While asking a proxy for a tunnel: its codec, and its answer once read.
        self.tunnel_codec: HTTP1ClientCodec | None = None
        self.tunnel_answer: Event | Sentinel = NEED_DATA

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.tunnel_codec is not None:
            self._tunnel_received(data)
            return
        codec = self.codec
        if codec is None or self.waiter is None or self.waiter.done():
            # Bytes while idle (a late 408, garbage): this connection is unusable.
            self.close()
            return
        self.got_bytes = True
        codec.receive_data(data)
        self._process()

    def eof_received(self) -> bool:
        if self.tunnel_codec is not None:
            self._tunnel_received(b"")
        elif self.codec is not None and self.waiter is not None and not self.waiter.done():
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
                elif kind is Response or (
                    kind is InformationalResponse
                    and event.start_line.code == 100  # type: ignore[union-attr]
                ):
                    if kind is Response:
                        reader.start(event, self.decompress)  # type: ignore[arg-type]
                    # "100 Continue" or a final answer ends the wait to send the body.
                    waiter = self.continue_waiter
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                elif event is END_OF_MESSAGE:
                    reader.end()
                    # Events left (a second, unrequested response) make the
                    # codec refuse reuse: see reusable().
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
            exc = Stale(exc)
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
        reader: ResponseReader,
        decompress: bool,
        expect_continue: bool,
    ) -> None:
        """Send one request and wait for its whole response (given to ``reader``).

        Raises :class:`Stale` when the connection failed before any response byte.
        """
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise Stale(None)
        codec = self.codec
        if codec is None:
            # One codec parses the connection's successive responses; reusable()
            # admitted this connection only if the previous exchange ended cleanly.
            self.codec = codec = HTTP1ClientCodec(self.max_header_size)
        self.reader = reader
        self.decompress = decompress
        self.got_bytes = False
        self.error = None
        self.waiter = waiter = self.loop.create_future()
        try:
            if not await self._send(start_line, headers, body, producer, expect_continue):
                # Answered before the body was sent: the codec's request
                # stays unfinished, so reusable() refuses the connection.
                await waiter
                return
        except BaseException:
            # Nobody will wait for this response; the caller drops the connection.
            self.waiter = None
            waiter.cancel()
            raise
        await waiter

    async def _send(
        self,
        start_line: RequestStartLine,
        headers: HTTPHeaders,
        body: bytes | None,
        producer: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]] | None,
        expect_continue: bool,
    ) -> bool:
        """Write the request; False if the server answered before the body was sent."""
        transport = self.transport
        codec = self.codec
        assert transport is not None and codec is not None and self.waiter is not None
        if expect_continue and (body or producer is not None):
            transport.write(codec.send_request(start_line, headers))
            if not await self._await_continue(self.waiter):
                return False
            transport.write(codec.send_data(body) if body else b"")
        else:
            transport.write(codec.send_request(start_line, headers, body))
        if producer is not None:
            await self._produce(producer)
        end = codec.send_end()
        if end:
            transport.write(end)
        return True

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

    def _tunnel_received(self, data: bytes) -> None:
        codec = self.tunnel_codec
        assert codec is not None
        codec.receive_data(data)
        event = codec.next_event()
        while type(event) is InformationalResponse:
            event = codec.next_event()
        waiter = self.waiter
        if event is not NEED_DATA and waiter is not None and not waiter.done():
            # The proxy's final answer (or its error, or its close).
            self.tunnel_answer = event
            waiter.set_result(None)

    async def tunnel(self, host: str, port: int, proxy_auth: str | None) -> None:
        """Ask an HTTP proxy for a tunnel to ``host``:``port`` (``CONNECT host:port``).

        Raises :class:`HTTPClientError` with the proxy's status when it refuses.
        """
        assert self.transport is not None
        self.tunnel_codec = codec = HTTP1ClientCodec(self.max_header_size)
        self.tunnel_answer = NEED_DATA
        self.waiter = waiter = self.loop.create_future()
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        headers = HTTPHeaders({"Host": authority})
        if proxy_auth:
            headers["Proxy-Authorization"] = proxy_auth
        self.transport.write(
            codec.send_request(RequestStartLine("CONNECT", authority, "HTTP/1.1"), headers)
        )
        try:
            await waiter
        except Stale:
            raise HTTPStreamClosedError("The proxy closed the connection during CONNECT") from None
        finally:
            self.tunnel_codec = None
        answer = self.tunnel_answer
        self.tunnel_answer = NEED_DATA
        if isinstance(answer, Response):
            start_line = answer.start_line
            if 200 <= start_line.code < 300:
                return  # the codec saw the tunnel open: the next bytes are TLS
            self.close()
            raise HTTPClientError(
                start_line.code,
                f"The proxy refused the tunnel: {start_line.code} {start_line.reason}",
            )
        self.close()
        if isinstance(answer, ProtocolError):
            raise HTTPClientError(599, f"Malformed answer to CONNECT: {answer.message}")
        raise HTTPStreamClosedError("The proxy closed the connection during CONNECT")

    # -- lifecycle

    def usable(self, now: float) -> bool:
        transport = self.transport
        return (
            not self.closed
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since < MAX_IDLE
        )

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()


