"""Tornado's public HTTP/1 connection classes, over :class:`~dualweb.iostream.IOStream`.

dualweb's own server and client drive the sans-io codec
(:mod:`dualweb.http1codec`) from ``asyncio.Protocol`` objects; code written
for Tornado sometimes drives HTTP/1 over a stream it already has (a
``TCPServer.handle_stream`` that serves HTTP, a client over a ``TCPClient``
stream).  These classes give it Tornado's names on the same codec:

* :class:`HTTP1Connection` — one HTTP/1 connection, client or server side:
  ``write_headers``/``write``/``finish`` send a message, ``read_response``
  feeds the other side's message to an
  :class:`~dualweb.connection.HTTPMessageDelegate`;
* :class:`HTTP1ServerConnection` — serves requests on a stream to an
  :class:`~dualweb.connection.HTTPServerConnectionDelegate` (an
  ``Application``), one after the other, keep-alive included;
* :class:`HTTP1ConnectionParameters` (from :mod:`dualweb.http1params`).

All three are importable from :mod:`dualweb.http1connection`, where Tornado
code looks for them.

Example::

    class HTTPOverStream(TCPServer):
        async def handle_stream(self, stream, address):
            conn = HTTP1ServerConnection(stream)
            conn.start_serving(app)
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from dualweb.connection import (
    ConnectionContext,
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from dualweb.http1codec import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    Data,
    HTTP1ClientCodec,
    HTTP1ServerCodec,
    ProtocolError,
    Request,
    Response,
)
from dualweb.http1params import HTTP1ConnectionParameters
from dualweb.httputil import HTTPHeaders, HTTPInputError
from dualweb.iostream import IOStream, SSLIOStream, StreamClosedError
from dualweb.log import gen_log
from dualweb.util import GzipDecompressor

__all__ = [
    "HTTP1Connection",
    "HTTP1ConnectionParameters",
    "HTTP1ServerConnection",
    "stream_context",
]

_READ_SIZE = 65536


async def _settle(result: Awaitable[None] | None) -> None:
    if result is not None and inspect.isawaitable(result):
        await result


class _GunzipDelegate(HTTPMessageDelegate):
    """Decompresses a ``Content-Encoding: gzip`` body on its way to the real delegate."""

    def __init__(self, delegate: HTTPMessageDelegate) -> None:
        self._delegate = delegate
        self._decompressor: GzipDecompressor | None = None

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        if headers.get("Content-Encoding", "").lower() == "gzip":
            self._decompressor = GzipDecompressor()
            # Tornado's convention: the body the delegate sees is no longer encoded.
            headers["X-Consumed-Content-Encoding"] = headers["Content-Encoding"]
            del headers["Content-Encoding"]
        return self._delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._decompressor is not None:
            chunk = self._decompressor.decompress(chunk)
            if not chunk:
                return None
        return self._delegate.data_received(chunk)

    def finish(self) -> Awaitable[None] | None:
        if self._decompressor is not None:
            tail = self._decompressor.flush()
            if tail:
                # finish() must follow the last chunk, so this one cannot be awaited
                # separately by the caller: chain them.
                return _chain(self._delegate.data_received(tail), self._delegate.finish)
        return self._delegate.finish()

    def on_connection_close(self) -> None:
        self._delegate.on_connection_close()


async def _chain(first: Awaitable[None] | None, then: Callable[[], Awaitable[None] | None]) -> None:
    await _settle(first)
    await _settle(then())


def stream_context(stream: IOStream) -> ConnectionContext:
    """The :class:`~dualweb.connection.ConnectionContext` of a connected ``stream``.

    ``remote_ip`` is the peer's address for TCP (``0.0.0.0`` for a Unix socket,
    as the native server reports it) and ``protocol`` is ``"https"`` for an
    :class:`~dualweb.iostream.SSLIOStream`.
    """
    try:
        address = stream.socket.getpeername() if stream.socket is not None else None
    except OSError:  # already disconnected
        address = None
    remote_ip = address[0] if isinstance(address, tuple) else "0.0.0.0"
    protocol = "https" if isinstance(stream, SSLIOStream) else "http"
    return ConnectionContext(remote_ip, protocol, address)


class HTTP1Connection(HTTPConnection):
    """One HTTP/1 connection over ``stream``, the client side (``is_client``) or the server's.

    Send a message with :meth:`write_headers`, :meth:`write` and
    :meth:`finish`; receive the peer's with :meth:`read_response` (a
    response on a client, a request on a server). ``params`` is an
    :class:`HTTP1ConnectionParameters`; ``context`` is kept as
    :attr:`context` for the delegate (``remote_ip``, ``protocol``).
    """

    def __init__(
        self,
        stream: IOStream,
        is_client: bool,
        params: HTTP1ConnectionParameters | None = None,
        context: ConnectionContext | None = None,
    ) -> None:
        self.stream = stream
        self.is_client = is_client
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self.context = context if context is not None else stream_context(stream)
        self._codec: HTTP1ClientCodec | HTTP1ServerCodec
        if is_client:
            self._codec = HTTP1ClientCodec(self.params.max_header_size, self.params.chunk_size)
        else:
            self._codec = HTTP1ServerCodec(
                self.params.max_header_size,
                self.params.max_body_size,
                self.params.chunk_size,
                self.params.no_keep_alive,
            )
        self._close_callback: Callable[[], None] | None = None
        self._body_timeout = self.params.body_timeout
        self._response_done: asyncio.Future[None] | None = None
        self._keep_alive = False
        self._detached = False
        stream.set_close_callback(self._on_close)

    # -- sending

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        """Send the start line and headers (and a first chunk); the future completes when written.

        A client passes a :class:`~dualweb.connection.RequestStartLine`, a
        server a :class:`~dualweb.connection.ResponseStartLine`. Raises
        :class:`ValueError` for CR/LF in a header.
        """
        if isinstance(self._codec, HTTP1ClientCodec):
            assert isinstance(start_line, RequestStartLine)
            data = self._codec.send_request(start_line, headers, chunk)
        else:
            assert isinstance(start_line, ResponseStartLine)
            data = self._codec.send_response(start_line, headers, chunk)
        return self.stream.write(data)

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Send a body chunk; the future completes when it has been written."""
        return self.stream.write(self._codec.send_data(chunk))

    def finish(self) -> None:
        """End the message; a server closes the stream afterwards unless it stays keep-alive."""
        tail = self._codec.send_end()
        if tail:
            self.stream.write(tail)
        if isinstance(self._codec, HTTP1ServerCodec):
            if self._codec.must_close or not self._keep_alive:
                self._keep_alive = False
                self._close_after_write()
            done = self._response_done
            if done is not None and not done.done():
                done.set_result(None)

    def _close_after_write(self) -> None:
        self.stream.write(b"").add_done_callback(lambda _: self.stream.close())

    # -- receiving

    async def read_response(self, delegate: HTTPMessageDelegate) -> bool:
        """Read one message from the peer into ``delegate``.

        Returns whether the connection may carry another message (False
        after an error, a closed stream or a ``Connection: close``). On a
        server, returns only once the response was finished. A malformed
        request is answered with its 4xx and the stream closed.
        """
        if self.params.decompress:
            delegate = _GunzipDelegate(delegate)
        try:
            return await self._read_message(delegate)
        except HTTPInputError as e:
            gen_log.info("Malformed HTTP message from %s: %s", self.context, e)
            self.close()
            return False

    async def _read_message(self, delegate: HTTPMessageDelegate) -> bool:
        codec = self._codec
        loop = asyncio.get_running_loop()
        eof = False
        while True:
            event = codec.next_event()
            if event is NEED_DATA or event is PAUSED:
                if eof:
                    # The codec has nothing more to say about a closed stream.
                    delegate.on_connection_close()
                    return False
                eof = not await self._read_more()
                continue
            kind = type(event)
            if kind is Data:
                await _settle(delegate.data_received(event.data))  # type: ignore[union-attr]
            elif kind is Request or kind is Response:
                self._keep_alive = event.keep_alive  # type: ignore[union-attr]
                if kind is Request:
                    self._response_done = loop.create_future()
                await _settle(
                    delegate.headers_received(event.start_line, event.headers)  # type: ignore[union-attr]
                )
            elif event is END_OF_MESSAGE:
                await _settle(delegate.finish())
                break
            elif kind is ProtocolError:
                if isinstance(codec, HTTP1ServerCodec):
                    error = codec.send_error(event.status_code, event.message)  # type: ignore[union-attr]
                    if error:
                        self.stream.write(error)
                    self._close_after_write()
                    return False
                delegate.on_connection_close()
                raise HTTPInputError(event.message)  # type: ignore[union-attr]
            elif event is CONNECTION_CLOSED:
                delegate.on_connection_close()
                return False
        if self._response_done is not None:
            await self._response_done
            self._response_done = None
        return self._keep_alive and not self.stream.closed()

    async def _read_more(self) -> bool:
        read = self.stream.read_bytes(_READ_SIZE, partial=True)
        try:
            if self._body_timeout is not None:
                data = await asyncio.wait_for(read, self._body_timeout)
            else:
                data = await read
        except (StreamClosedError, asyncio.TimeoutError):
            data = b""
        self._codec.receive_data(data)
        return bool(data)

    # -- control

    def set_body_timeout(self, timeout: float) -> None:
        """Limit the time to read each remaining chunk of the body (seconds)."""
        self._body_timeout = timeout

    def set_max_body_size(self, max_body_size: int) -> None:
        """Change the largest request body accepted (server side; 413 beyond)."""
        if isinstance(self._codec, HTTP1ServerCodec):
            self._codec.set_max_body_size(max_body_size)

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` once if the stream closes."""
        self._close_callback = callback

    def _on_close(self) -> None:
        callback, self._close_callback = self._close_callback, None
        if callback is not None:
            callback()
        done = self._response_done
        if done is not None and not done.done():
            done.set_result(None)

    def detach(self) -> IOStream:
        """Take the stream away from HTTP (e.g. after a protocol upgrade) and return it."""
        self._detached = True
        self.stream.set_close_callback(None)
        return self.stream

    def close(self) -> None:
        """Close the stream."""
        self.stream.close()


class HTTP1ServerConnection:
    """Serves the HTTP/1 requests arriving on ``stream`` to a delegate, one after the other."""

    def __init__(
        self,
        stream: IOStream,
        params: HTTP1ConnectionParameters | None = None,
        context: ConnectionContext | None = None,
    ) -> None:
        self.stream = stream
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self.context = context if context is not None else stream_context(stream)
        self._serving: asyncio.Future[None] | None = None

    def start_serving(self, delegate: HTTPServerConnectionDelegate) -> None:
        """Start serving requests to ``delegate`` (an ``Application`` or a router)."""
        self._serving = asyncio.ensure_future(self._server_request_loop(delegate))

    async def close(self) -> None:
        """Close the stream and wait until serving has stopped."""
        self.stream.close()
        if self._serving is not None:
            try:
                await self._serving
            except Exception:
                pass

    async def _server_request_loop(self, delegate: HTTPServerConnectionDelegate) -> None:
        conn = HTTP1Connection(self.stream, False, self.params, self.context)
        try:
            while not self.stream.closed():
                request_delegate = delegate.start_request(self, conn)
                try:
                    keep_going = await conn.read_response(request_delegate)
                except Exception:
                    gen_log.error("Uncaught exception serving %s", self.context, exc_info=True)
                    conn.close()
                    return
                if not keep_going or conn._detached:
                    return
        finally:
            delegate.on_close(self)
