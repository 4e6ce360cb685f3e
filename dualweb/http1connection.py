"""The native server's HTTP/1 connection: an ``asyncio.Protocol`` driving the sans-io codec.

:class:`HTTP1ServerProtocol` is the hot path of ``dualweb``'s own server.  One
instance serves one TCP (or TLS) connection: bytes from the transport go into
an :class:`~dualweb.http1codec.HTTP1ServerCodec`, events come out and are
handed to the :class:`~dualweb.connection.HTTPMessageDelegate` that the server
delegate (usually the :class:`~dualweb.web.Application`) returns for each
request.  The response goes back through an :class:`HTTP1RequestConnection`,
the per-request :class:`~dualweb.connection.HTTPConnection`.

Flow of one request, and why it is built this way:

* A plain ``def`` handler runs to completion inside ``data_received``; the
  response bytes are collected ("corked") and written with one
  ``transport.write`` when the batch of received bytes has been processed, so
  100 pipelined requests in one packet cost one write.
* When a delegate method returns an awaitable (a coroutine handler), it runs as
  a task and nothing else is read from the codec until it completes; the next
  pipelined request also waits for its predecessor's response to finish
  (the codec enforces the order).
* While events wait in the codec, reading from the socket is paused
  (back-pressure).  It is *not* paused for an idle in-flight request, so a
  long-polling handler still learns that its client went away.
* Timeouts use one ``loop.call_at`` handle per connection that is moved only
  when a shorter deadline appears; when it fires it re-reads the current
  deadline, so keeping a connection alive costs a float assignment per request.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from dualweb import http1codec as codec_mod
from dualweb._filechunks import file_descriptor
from dualweb._filesend import (
    FileShrankError,
    log_short_file,
    sendfile_rest,
    sendfile_socket,
    sendfile_some,
)
from dualweb.bytechannel import TransportChannel
from dualweb.connection import (
    ConnectionContext,
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestBodyError,
    ResponseStartLine,
)
from dualweb.http1codec import END_OF_MESSAGE, HTTP1ServerCodec, LocalProtocolError
from dualweb.http1context import HTTPConnectionContext
from dualweb.http1params import HTTP1ConnectionParameters
from dualweb.http1stream import HTTP1Connection, HTTP1ServerConnection
from dualweb.intake import request_context, request_starter
from dualweb.iostream import StreamClosedError
from dualweb.log import app_log, gen_log

if TYPE_CHECKING:
    from dualweb.httputil import HTTPHeaders

__all__ = [
    "HTTP1Connection",
    "HTTP1ConnectionParameters",
    "HTTP1RequestConnection",
    "HTTP1ServerConnection",
    "HTTP1ServerProtocol",
    "HTTPConnectionContext",
]


_Request = codec_mod.Request
_Data = codec_mod.Data
_ProtocolError = codec_mod.ProtocolError
_NEED_DATA = codec_mod.NEED_DATA
_PAUSED = codec_mod.PAUSED

_DEFAULT_IDLE_TIMEOUT = 3600.0
# Parsed events (each at most chunk_size bytes) queued before reading pauses.
_BACKLOG_EVENTS = 16
# Seconds a request's coroutine may run on after its client went away.
_ABANDONED_TASK_GRACE = 1.0
# Builds an object without running its __init__ (see _start_request).
_new_object = object.__new__
# Transport classes known to carry no TLS (see connection_made); a handful at most.
_PLAIN_TRANSPORTS: Final[set[type]] = set()


def _cancel_if_pending(task: asyncio.Future[Any]) -> None:
    if not task.done():
        task.cancel()


# How late a new connection's first timer may start (see _FirstTimers).
_FIRST_TIMER_DELAY: Final = 0.05


class _FirstTimers:
    """Arms the first timeout timer of a loop's new connections together, a moment later.

    A client that sends ``Connection: close`` is usually gone by then, so its
    connection never creates and cancels a timer handle of its own (on uvloop
    that pair costs several µs, a noticeable part of such a connection's
    cost). The deadline itself is set in ``connection_made``; the timer that
    enforces it starts at most ``_FIRST_TIMER_DELAY`` late, which only shows
    for timeouts shorter than that.
    """

    __slots__ = ("done", "loop", "protocols", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # The loop's one completed future that writes return when the
        # transport takes the bytes at once (see write_bytes): a done future
        # cannot change, so its connections share it instead of making one each.
        self.done: asyncio.Future[None] = loop.create_future()
        self.done.set_result(None)
        # A dict as an ordered set: a connection that ends before the batch
        # is armed leaves it at once (connection_lost), so it is freed then.
        self.protocols: dict[HTTP1ServerProtocol, None] = {}
        self.scheduled = False

    def add(self, protocol: HTTP1ServerProtocol) -> None:
        """Arm ``protocol``'s first timer with the next batch."""
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_later(_FIRST_TIMER_DELAY, self.arm)
        self.protocols[protocol] = None

    def arm(self) -> None:
        """Arm the timer of every connection of the batch that still has none."""
        protocols, self.protocols = self.protocols, {}
        self.scheduled = False
        for protocol in protocols:
            protocol._batch = None
            # A timer armed since connection_made already watches the
            # connection (_on_timer re-reads the current deadline).
            if protocol._timer is None and not protocol._detached:
                protocol._arm(protocol._idle_deadline)


# One batch per loop; a loop closed with a batch pending leaves its entry,
# so the table is purged of closed loops when it grows.
_FIRST_TIMERS: Final[dict[asyncio.AbstractEventLoop, _FirstTimers]] = {}


def _first_timers(loop: asyncio.AbstractEventLoop) -> _FirstTimers:
    if len(_FIRST_TIMERS) >= 16:
        # (list() copies the keys in one step: other threads run other loops.)
        for old in list(_FIRST_TIMERS):
            if old.is_closed():
                _FIRST_TIMERS.pop(old, None)
    batch = _FIRST_TIMERS[loop] = _FirstTimers(loop)
    return batch


# What a protocol reports as its context before connection_made (never mutated:
# xheaders are only applied to requests, which need a connection).
_UNCONNECTED: Final = HTTPConnectionContext(None, None, "http")


def _closed_future(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    future: asyncio.Future[None] = loop.create_future()
    future.set_exception(StreamClosedError())
    future.exception()  # marks it retrieved: nobody is obliged to await it
    return future


class HTTP1RequestConnection(HTTPConnection):
    """The :class:`~dualweb.connection.HTTPConnection` for one request on a native connection.

    A new one is made for each request, so a handler that keeps a reference
    after its response cannot write into the next request's response.
    Besides the base interface it offers Tornado's ``set_max_body_size`` and
    ``set_body_timeout`` (for ``@stream_request_body`` handlers, in
    ``prepare``) and :meth:`detach` for protocol upgrades.
    """

    __slots__ = ("_close_callback", "_proto", "_state", "context")

    # States: accepting writes; finished (also after detach()); or the
    # response can no longer be sent (the client is gone, or the codec
    # refused the head and the connection was answered 500 and closed):
    # writes then fail quietly with StreamClosedError futures, as on a closed stream.
    _OPEN = 0
    _FINISHED = 1
    _GONE = 2

    def __init__(self, proto: HTTP1ServerProtocol, context: ConnectionContext) -> None:
        self._proto = proto
        # The connection's HTTPConnectionContext or, with xheaders=True, a
        # copy with remote_ip and protocol taken from the proxy headers.
        self.context = context
        self._state = self._OPEN
        self._close_callback: Callable[[], None] | None = None

    def write_headers(
        self,
        start_line: ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Awaitable[None]:
        """Send the status line, headers and optional first chunk (one buffer).

        Returns a future that is already done unless the transport's buffer
        is full, in which case it completes when the client has caught up; it
        fails with :class:`~dualweb.iostream.StreamClosedError` if the client
        is gone.  Raises :class:`ValueError` for CR/LF in a header.
        """
        if self._state:
            return self._not_open("write_headers")
        proto = self._proto
        try:
            data = proto.codec.send_response(start_line, headers, chunk)
        except (LocalProtocolError, ValueError) as exc:
            # The handler produced a head HTTP/1 cannot carry (CR/LF or a
            # non-token name in a header, a bad Content-Length, ...): answer
            # 500 and close now rather than leave the client waiting.
            self._state = self._GONE
            proto.refuse_response(exc)
            raise
        return proto.write_bytes(data)

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Send a body chunk (chunk-encoded when the response has no ``Content-Length``)."""
        if self._state:
            return self._not_open("write")
        proto = self._proto
        return proto.write_bytes(proto.codec.send_data(chunk))

    def finish(self) -> None:
        """Complete the response; the next pipelined request may then start.

        A response cut short because the connection went away ends quietly,
        however much of its ``Content-Length`` is missing.
        """
        if self._state:
            if self._state == self._GONE:
                return
            self._not_open("finish")
        proto = self._proto
        transport = proto._transport
        # proto.closed(), inlined: this runs once per request.
        if proto._closed or transport is None or transport.is_closing():
            # Closing, with connection_lost() still queued (the client's reset was
            # read during this loop iteration, or the handler closed the stream):
            # the body is incomplete because nobody can receive it, not by mistake.
            self._state = self._GONE
            self._close_callback = None
            return
        self._state = self._FINISHED
        self._close_callback = None
        proto.finish_response()

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` once if the client disconnects before :meth:`finish`."""
        self._close_callback = callback

    @property
    def stream(self) -> HTTP1ServerProtocol:
        """The connection, for Tornado code that checks ``request.connection.stream.closed()``."""
        return self._proto

    def set_max_body_size(self, max_body_size: int) -> None:
        """Change ``max_body_size`` for this request (call before the body is read)."""
        self._proto.codec.set_max_body_size(max_body_size)

    def set_body_timeout(self, timeout: float) -> None:
        """Change ``body_timeout`` (seconds) for this request."""
        self._proto.set_body_timeout(timeout)

    def detach(self) -> tuple[asyncio.Transport, bytes]:
        """Take the raw transport away from HTTP (after a ``101 Switching Protocols``).

        Returns the transport and any bytes the client already sent past the
        request.  The HTTP protocol stops touching the transport: call
        ``transport.set_protocol(new_protocol)`` and feed it those bytes.
        """
        self._state = self._FINISHED
        return self._proto.detach()

    def upgrade(self) -> TransportChannel:
        """Take the connection away from HTTP as a :class:`~dualweb.connection.ByteChannel`.

        For a protocol that continues on this connection after a ``101
        Switching Protocols`` response (WebSockets): the channel yields the
        bytes the client already sent past the request first.

        Raises:
            StreamClosedError: the client is already gone.
        """
        transport, leftover = self.detach()
        return TransportChannel(transport, leftover)

    def _not_open(self, what: str) -> Awaitable[None]:
        if self._state == self._GONE:
            return _closed_future(self._proto._loop)
        raise RuntimeError(
            f"HTTPConnection.{what}() called after finish(): a handler kept writing to "
            "a request that is complete; stop writing once finish() has been called"
        )

    def _on_connection_lost(self) -> None:
        callback, self._close_callback = self._close_callback, None
        was_open = self._state == self._OPEN
        if was_open:
            self._state = self._GONE
        if callback is not None and was_open:
            try:
                callback()
            except Exception:
                app_log.exception("Exception in connection close callback %r", callback)

    def send_file(self, file: BinaryIO, offset: int, count: int) -> Awaitable[None]:
        """Send ``count`` bytes of ``file`` from ``offset``, with ``os.sendfile`` over plain TCP.

        What was written before (the response head) goes out first. The
        file's bytes then go from the page cache straight into the socket
        whenever the transport has nothing buffered; when the socket is full
        the rest continues in a task (see :func:`dualweb._filesend.sendfile_rest`).
        Under TLS, for chunked or ``HEAD`` responses and for files without a
        descriptor, the file is copied in chunks (the seam's default).

        Returns a future that completes once every byte is in the kernel; it
        fails with :class:`~dualweb.iostream.StreamClosedError` when the
        client goes away. The file is closed in every case.
        """
        proto = self._proto
        transport = proto._transport
        if self._state or proto._closed or transport is None or transport.is_closing():
            file.close()
            if not self._state:
                return _closed_future(proto._loop)
            return self._not_open("send_file")
        file_fd = file_descriptor(file)
        sock_fd = sendfile_socket(transport) if file_fd is not None else None
        try:
            raw = file_fd is not None and sock_fd is not None and proto.codec.send_raw_body(count)
        except LocalProtocolError:
            file.close()
            raise
        if not raw:
            return super().send_file(file, offset, count)
        assert file_fd is not None and sock_fd is not None
        out = proto._out
        if out:
            # Corked while a batch of requests is processed: the head goes first.
            transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
        try:
            sent = 0 if transport.get_write_buffer_size() else sendfile_some(
                sock_fd, file_fd, offset, count
            )
        except (StreamClosedError, FileShrankError) as exc:
            file.close()
            self._sendfile_failed(exc)
            return _closed_future(proto._loop)
        if sent == count:
            file.close()
            return proto.write_bytes(b"")
        return proto._loop.create_task(
            self._send_file_rest(file, file_fd, sock_fd, offset + sent, count - sent)
        )

    async def _send_file_rest(
        self, file: BinaryIO, file_fd: int, sock_fd: int, offset: int, count: int
    ) -> None:
        proto = self._proto
        transport = proto._transport
        try:
            if transport is None:
                raise StreamClosedError()
            await sendfile_rest(transport, proto.write_bytes, file_fd, sock_fd, offset, count)
        except (StreamClosedError, FileShrankError) as exc:
            self._sendfile_failed(exc)
            raise StreamClosedError(real_error=exc) from exc
        finally:
            file.close()

    def _sendfile_failed(self, error: OSError) -> None:
        # The response can no longer complete: close, so the client sees a cut body.
        transport = self._proto._transport
        if isinstance(error, FileShrankError):
            log_short_file(error)
            self._proto.close()
        elif transport is not None and not transport.is_closing():
            transport.abort()


class HTTP1ServerProtocol(asyncio.Protocol):
    """Serves HTTP/1.x on one connection; see the module docstring for the flow.

    ``delegate`` gets ``start_request(self, request_conn)`` for each request
    (``start_request``, when given, is called instead: the server passes its
    request callback's method to skip a forwarding call) and ``on_close(self)``
    when the connection ends.  ``on_made`` and ``on_lost`` (used by
    :class:`~dualweb.httpserver.HTTPServer` to track open connections) are
    called with the protocol once the connection is established (after the
    TLS handshake) and after it ended.
    """

    __slots__ = (
        "_batch",
        "_body_deadline",
        "_body_timeout",
        "_busy",
        "_closed",
        "_closed_waiter",
        "_delegate",
        "_detached",
        "_done_future",
        "_head_deadline",
        "_header_timeout",
        "_idle_deadline",
        "_idle_timeout",
        "_loop",
        "_on_lost",
        "_on_made",
        "_out",
        "_pending_continue",
        "_processing",
        "_reading_paused",
        "_request_conn",
        "_server_delegate",
        "_start",
        "_task",
        "_timer",
        "_timer_at",
        "_transport",
        "_write_paused",
        "_write_waiters",
        "codec",
        "connected_at",
        "context",
        "fresh",
        "params",
    )

    def __init__(
        self,
        delegate: HTTPServerConnectionDelegate,
        params: HTTP1ConnectionParameters | None = None,
        on_lost: Callable[[HTTP1ServerProtocol], None] | None = None,
        start_request: Callable[[object, HTTPConnection], HTTPMessageDelegate] | None = None,
        on_made: Callable[[HTTP1ServerProtocol], None] | None = None,
    ) -> None:
        self.params = params = params or HTTP1ConnectionParameters()
        self._server_delegate = delegate
        self._on_made = on_made
        # The server may hand over its request callback's start_request so
        # each request skips its own pass-through method. (request_starter
        # returns it unchanged unless requests are decompressed: not asked
        # for that once per connection.)
        start = start_request or delegate.start_request
        settings = params.settings
        self._start = request_starter(start, settings) if settings.decompress_request else start
        self._header_timeout = params.request_header_timeout
        idle = params.header_timeout
        self._idle_timeout = _DEFAULT_IDLE_TIMEOUT if idle is None else idle
        self._on_lost = on_lost
        self.codec = HTTP1ServerCodec(
            params.max_header_size, params.max_body_size, params.chunk_size, params.no_keep_alive
        )
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        # The real context is built in connection_made, once the peer is known.
        self.context = _UNCONNECTED
        self._delegate: HTTPMessageDelegate | None = None
        self._request_conn: HTTP1RequestConnection | None = None
        #: The loop time the connection was made, and whether no request on it
        #: has finished yet (HTTPServer.drain spares such a connection briefly:
        #: its first request is most likely on its way).
        self.connected_at = 0.0
        self.fresh = True
        self._task: asyncio.Future[Any] | None = None
        self._busy = False
        self._processing = False
        self._closed = False
        self._detached = False
        self._pending_continue = False
        self._reading_paused = False
        self._write_paused = False
        # Created on the first write that finds the transport paused.
        self._write_waiters: list[asyncio.Future[None]] | None = None
        self._out: list[bytes] | None = None
        self._done_future: asyncio.Future[None] | None = None
        self._closed_waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # The _FirstTimers batch this connection waits in, until it is armed or lost.
        self._batch: _FirstTimers | None = None
        self._timer_at = 0.0
        self._idle_deadline = 0.0
        self._head_deadline = 0.0
        self._body_deadline = 0.0
        self._body_timeout = params.body_timeout

    # ----------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Record the transport and who the peer is; start the idle timer."""
        self._transport = transport  # type: ignore[assignment]
        params = self.params
        address = transport.get_extra_info("peername")
        # The family follows from the address's shape; asking for the socket
        # would build a wrapper object per connection on uvloop.
        family: int | None = None
        if isinstance(address, tuple):
            family = socket.AF_INET6 if len(address) == 4 else socket.AF_INET
        # Asking a plain transport for its TLS object costs about as much as
        # asking for the peer on uvloop, once per connection: transport types
        # that answered None once (TCP, Unix) are not asked again. TLS
        # transports are types of their own and always have the object here
        # (connection_made comes after the handshake).
        ssl_object = None
        kind = type(transport)
        if kind not in _PLAIN_TRANSPORTS:
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is None and len(_PLAIN_TRANSPORTS) < 16:
                _PLAIN_TRANSPORTS.add(kind)
        protocol = params.protocol
        if protocol is None:
            protocol = "https" if ssl_object is not None else "http"
        # HTTPConnectionContext(address, family, protocol, settings, ssl_object)
        # without its __init__ frame (one per connection): the same six fields.
        context: HTTPConnectionContext = _new_object(HTTPConnectionContext)
        context.remote_ip = address[0] if family is not None else "0.0.0.0"
        context.protocol = protocol
        context.address = address
        context.settings = params.settings
        context.ssl_object = ssl_object
        context.address_family = family
        self.context = context
        # The idle deadline starts now; the timer enforcing it is armed a
        # moment later with those of other new connections (see _FirstTimers).
        loop = self._loop
        self.connected_at = now = loop.time()
        self._idle_deadline = now + self._idle_timeout
        batch = _FIRST_TIMERS.get(loop)
        if batch is None:
            batch = _first_timers(loop)
        batch.add(self)
        self._batch = batch
        self._done_future = batch.done
        if self._on_made is not None:
            # Only now (after any TLS handshake): a connection whose handshake
            # fails never gets here, nor to connection_lost.
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        """Parse ``data`` and serve every request it completes."""
        codec = self.codec
        if self._header_timeout is not None and not codec.in_request and not self._head_deadline:
            self._head_deadline = self._loop.time() + self._header_timeout
            self._arm(self._head_deadline)
        codec.receive_data(data)
        self._process()

    def eof_received(self) -> bool:
        """The client closed its side: treat it as gone (as Tornado does) and close."""
        return False

    def pause_writing(self) -> None:
        """The transport buffer is full: writes now return pending futures."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The client caught up: complete the pending write futures."""
        self._write_paused = False
        waiters, self._write_waiters = self._write_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the in-flight request, fail pending writes, release everything."""
        if self._closed:
            return
        self._closed = True
        self._cancel_timer()
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.protocols.pop(self, None)
        request_conn, self._request_conn = self._request_conn, None
        delegate, self._delegate = self._delegate, None
        if request_conn is not None:
            request_conn._on_connection_lost()
        if delegate is not None and not self.codec.request_complete and self.codec.in_request:
            try:
                delegate.on_connection_close()
            except Exception:
                app_log.exception("Exception in %r.on_connection_close", delegate)
        task, self._task = self._task, None
        if task is not None and not task.done():
            # The handler was told (on_connection_close). Code that watches
            # stream.closed() gets a moment to wind down; a coroutine still
            # waiting after that (a long poll nobody will complete) is
            # cancelled rather than left pending until it is garbage-collected
            # ("Task was destroyed but it is pending!").
            self._loop.call_later(_ABANDONED_TASK_GRACE, _cancel_if_pending, task)
        waiters, self._write_waiters = self._write_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_exception(StreamClosedError())
                waiter.exception()
        if self._closed_waiter is not None and not self._closed_waiter.done():
            self._closed_waiter.set_result(None)
        try:
            self._server_delegate.on_close(self)
        except Exception:
            app_log.exception("Exception in %r.on_close", self._server_delegate)
        if self._on_lost is not None:
            self._on_lost(self)
        self._transport = None

    # ----------------------------------------------------------------- processing events

    def _process(self) -> None:
        """Take events from the codec and dispatch them until it must wait."""
        if self._processing or self._closed or self._detached:
            return
        if self._busy:
            # A handler is still working: only decide whether to stop reading.
            self._flow_control()
            return
        self._processing = True
        out: list[bytes] = []
        self._out = out
        codec = self.codec
        next_event = codec.next_event
        try:
            while not self._busy and not self._closed:
                event = next_event()
                kind = type(event)
                if self._pending_continue:
                    # After the handler saw the headers, unless it refused the body.
                    self._pending_continue = False
                    if kind is not _ProtocolError:
                        self._send_continue()
                if kind is _Request:
                    # (No typing.cast here: it is a real call, once per request.)
                    self._start_request(event)  # type: ignore[arg-type]
                    if self._busy or self._closed or not codec.take_end_of_message():
                        continue
                    # A request without a body: finish it without another
                    # trip through next_event (same steps as below).
                    self._body_deadline = 0.0
                    self._pending_continue = False
                    delegate = self._delegate
                    assert delegate is not None
                    result = delegate.finish()
                    if result is not None:
                        self._dispatch(result)
                    elif not codec.in_request and not codec.events:
                        break  # answered, and nothing more received: NEED_DATA
                elif event is END_OF_MESSAGE:
                    self._body_deadline = 0.0
                    self._pending_continue = False
                    delegate = self._delegate
                    assert delegate is not None
                    result = delegate.finish()
                    if result is not None:
                        self._dispatch(result)
                elif kind is _Data:
                    delegate = self._delegate
                    assert delegate is not None
                    result = delegate.data_received(event.data)  # type: ignore[union-attr]
                    if result is not None:
                        self._dispatch(result)
                elif kind is _ProtocolError:
                    self._bad_request(event)  # type: ignore[arg-type]
                else:  # NEED_DATA, PAUSED (CONNECTION_CLOSED is not fed by this driver)
                    break
        except RequestBodyError as exc:
            self._bad_request(codec_mod.ProtocolError(exc.status_code, exc.message))
        except Exception:
            app_log.exception("Uncaught exception in HTTP request delegate %r", self._delegate)
            self._fail_request(500)
        finally:
            self._processing = False
            self._out = None
            if out and not self._closed and not self._detached:
                transport = self._transport
                if transport is not None:
                    transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self._reading_paused or codec.upgraded or codec.events:
            self._flow_control()

    def _start_request(self, request: codec_mod.Request) -> None:
        self._head_deadline = 0.0
        if self._body_timeout is not None and not self.codec.request_complete:
            self._body_deadline = self._loop.time() + self._body_timeout
            self._arm(self._body_deadline)
        context: ConnectionContext = self.context
        if context.settings.xheaders:
            context = request_context(context, request.headers)
        # HTTP1RequestConnection(self, context) without the __init__ frame
        # (one per request); the same four fields as its __init__ sets.
        request_conn: HTTP1RequestConnection = _new_object(HTTP1RequestConnection)
        request_conn._proto = self
        request_conn.context = context
        request_conn._state = HTTP1RequestConnection._OPEN
        request_conn._close_callback = None
        self._request_conn = request_conn
        # The one entry into the core (see dualweb.connection).
        delegate = self._delegate = self._start(self, request_conn)
        self._pending_continue = request.expect_continue
        result = delegate.headers_received(request.start_line, request.headers)
        if result is not None:
            self._dispatch(result)

    def _send_continue(self) -> None:
        codec = self.codec
        if codec.in_request and not codec.response_started and not codec.request_complete:
            self.write_bytes(codec.send_continue())

    def _dispatch(self, result: Awaitable[Any]) -> None:
        """Run a delegate's awaitable as a task; nothing more is read until it completes."""
        self._busy = True
        task = asyncio.ensure_future(result)
        self._task = task
        task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Future[Any]) -> None:
        self._task = None
        self._busy = False
        if not task.cancelled():
            exc = task.exception()
            if isinstance(exc, RequestBodyError):
                self._bad_request(codec_mod.ProtocolError(exc.status_code, exc.message))
            elif exc is not None:
                app_log.error(
                    "Uncaught exception in HTTP request delegate %r",
                    self._delegate,
                    exc_info=(type(exc), exc, exc.__traceback__),
                )
                self._fail_request(500)
        if not self._closed:
            self._process()
            self._maybe_idle()

    def _bad_request(self, error: codec_mod.ProtocolError) -> None:
        gen_log.info("Malformed HTTP message from %s: %s", self.context, error.message)
        self._fail_request(error.status_code)

    def refuse_response(self, error: Exception) -> None:
        """The codec refused the response head a handler produced: answer 500 and close."""
        app_log.error(
            "Response head refused for the request from %s (%s); answered 500 and closed",
            self.context,
            error,
        )
        self._fail_request(500)

    def _fail_request(self, status_code: int) -> None:
        """Answer with an error status if nothing was sent yet, then close.

        A 500 is only sent while a request is waiting for its response: an
        error after the response went out must not produce a stray one.
        """
        if status_code != 500 or self.codec.in_request:
            data = self.codec.send_error(status_code)
            if data:
                self.write_bytes(data)
        self.close()

    # ----------------------------------------------------------------- output

    def write_bytes(self, data: bytes) -> Awaitable[None]:
        """Queue ``data`` for the client; returns a future for back-pressure (see write_headers)."""
        transport = self._transport
        if self._closed or transport is None or transport.is_closing():
            return _closed_future(self._loop)
        if data:
            out = self._out
            if out is not None:
                out.append(data)
            else:
                transport.write(data)
        if self._write_paused:
            waiter: asyncio.Future[None] = self._loop.create_future()
            if self._write_waiters is None:
                self._write_waiters = []
            self._write_waiters.append(waiter)
            return waiter
        done = self._done_future
        if done is None:
            done = self._done_future = self._loop.create_future()
            done.set_result(None)
        return done

    def _flush_out(self) -> None:
        out, self._out = self._out, None
        if out:
            # Emptied, so _process's own reference to the list writes nothing twice.
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            if self._transport is not None and not self._closed:
                self._transport.write(data)

    def finish_response(self) -> None:
        """Called by the request connection's ``finish()``."""
        codec = self.codec
        if codec.upgraded:
            # 101 sent: the handler detaches the transport next; read nothing.
            self._pause_reading()
            return
        try:
            tail = codec.send_end()
        except LocalProtocolError:
            self._end_request()
            self.close()
            raise
        if tail:
            self.write_bytes(tail)
        if codec.must_close:
            self._end_request()
            self.close()
            return
        # _end_request() for the usual case: the codec is ready for the next request.
        self._request_conn = None
        self._delegate = None
        self.fresh = False
        # Idle from now: the timer handle moves only if this deadline is
        # earlier than the one it is set for (see _arm), so on a busy
        # connection this is a clock read and a float store.
        deadline = self._idle_deadline = self._loop.time() + self._idle_timeout
        self._head_deadline = 0.0
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)
        if not self._processing:
            self._process()

    def _end_request(self) -> None:
        self._request_conn = None
        codec = self.codec
        if codec.request_complete or not codec.in_request:
            self._delegate = None

    def closed(self) -> bool:
        """True once the client has gone or the connection was closed (IOStream's name)."""
        transport = self._transport
        return self._closed or transport is None or transport.is_closing()

    def close(self) -> None:
        """Close the connection after writing what is already queued."""
        self._flush_out()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()

    async def close_and_wait(self) -> None:
        """Close now (dropping unsent data) and wait until the connection is gone."""
        if self._closed or self._transport is None:
            return
        if self._closed_waiter is None:
            self._closed_waiter = self._loop.create_future()
        waiter = self._closed_waiter
        self._transport.abort()
        await waiter

    def detach(self) -> tuple[asyncio.Transport, bytes]:
        """Hand the transport over to another protocol (see HTTP1RequestConnection.detach)."""
        transport = self._transport
        if transport is None or self._closed:
            raise StreamClosedError()
        self._flush_out()
        self._detached = True
        self._cancel_timer()
        self._delegate = None
        self._request_conn = None
        if self._on_lost is not None:
            self._on_lost(self)
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        return transport, self.codec.trailing_data

    # ----------------------------------------------------------------- flow control and timeouts

    def _flow_control(self) -> None:
        if self._closed or self._detached or self._transport is None:
            return
        # Reading goes on while only a few events wait (a pipelined request
        # behind a slow one): a client that closes is then noticed at once
        # (EOF -> connection_lost -> on_connection_close). Past the bound,
        # reading stops so a flood of pipelined requests cannot grow memory.
        if len(self.codec.events) > _BACKLOG_EVENTS or self.codec.upgraded:
            self._pause_reading()
        elif self._reading_paused:
            self._reading_paused = False
            self._transport.resume_reading()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def set_body_timeout(self, timeout: float) -> None:
        """Use ``timeout`` seconds for the body of the current request."""
        self._body_timeout = timeout
        if self.codec.in_request and not self.codec.request_complete:
            self._body_deadline = self._loop.time() + timeout
            self._arm(self._body_deadline)

    def _enter_idle(self) -> None:
        self.fresh = False
        self._idle_deadline = self._loop.time() + self._idle_timeout
        self._head_deadline = 0.0
        self._arm(self._idle_deadline)

    def _maybe_idle(self) -> None:
        if not self._closed and not self.codec.in_request and not self._busy:
            self._enter_idle()

    def _arm(self, deadline: float) -> None:
        # Only move the handle when the new deadline is earlier; a later one
        # is picked up when the current handle fires (see _on_timer).
        if self._timer is not None:
            if deadline >= self._timer_at:
                return
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _current_deadline(self) -> float:
        codec = self.codec
        if self._busy:
            return 0.0
        if not codec.in_request:
            if codec.has_backlog:
                return 0.0  # requests are waiting for us, not the other way round
            deadline = self._idle_deadline
            if self._head_deadline and self._head_deadline < deadline:
                deadline = self._head_deadline
            return deadline
        if not codec.request_complete and self._body_deadline:
            return self._body_deadline
        return 0.0

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed or self._detached:
            return
        deadline = self._current_deadline()
        if not deadline:
            return
        if self._loop.time() >= deadline:
            if self.codec.in_request:
                gen_log.info("Timeout reading body from %s", self.context)
            self.close()
            return
        self._arm(deadline)
