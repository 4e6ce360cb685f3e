"""The byte channel a WebSocket runs on, and its one adapter over an asyncio transport.

The WebSocket layer (:mod:`dualweb.websocket`) never touches a socket or an
``asyncio.Transport`` itself: it talks to a :class:`ByteChannel` (write with
back-pressure, pause/resume reading, close) and is told about incoming bytes,
EOF and the end of the connection through a :class:`ChannelReceiver`.  That
keeps WebSockets independent of the driver that accepted the connection, so
another driver (the connection seam's upgrade capability, an ASGI driver)
only has to provide one more channel.

:class:`TransportChannel` is today's only channel: an ``asyncio.Protocol``
that adopts the transport the native HTTP/1 connection hands over after a
``101 Switching Protocols`` response (:func:`detach_handler_channel`), or
that the client opens itself.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Protocol

from dualweb.bytechannel import ChannelReceiver
from dualweb.bytechannel import TransportChannel as NativeChannel
from dualweb.connection import ByteChannel as SeamByteChannel
from dualweb.iostream import StreamClosedError

__all__ = [
    "ByteChannel",
    "ChannelReceiver",
    "PullChannelAdapter",
    "TransportChannel",
    "detach_handler_channel",
]


class ByteChannel(Protocol):
    """A transport-neutral, bidirectional byte stream with back-pressure."""

    def start(self, receiver: ChannelReceiver) -> None:
        """Begin delivering bytes (including any already buffered) to ``receiver``."""

    def write(self, data: bytes) -> asyncio.Future[None]:
        """Queue ``data``; the future completes once the peer is keeping up.

        It fails with :class:`~dualweb.iostream.StreamClosedError` when the
        connection is closed.
        """

    def pause_reading(self) -> None:
        """Stop delivering bytes until :meth:`resume_reading`."""

    def resume_reading(self) -> None:
        """Deliver bytes again."""

    def close(self) -> None:
        """Close after sending what is queued."""

    def abort(self) -> None:
        """Close at once, dropping unsent data."""

    def closed(self) -> bool:
        """True once the connection is closing or closed."""

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``) or on, where the channel has such a thing."""


class TransportChannel(asyncio.Protocol):
    """A :class:`ByteChannel` over an ``asyncio.Transport`` (native server and client).

    Created either around a transport that is already connected
    (:meth:`adopt`, after an HTTP upgrade) or as the protocol of a new
    client connection (``loop.create_connection(TransportChannel, ...)``).
    Bytes that arrive before :meth:`start` are kept and delivered then.
    """

    __slots__ = (
        "_closed",
        "_done",
        "_loop",
        "_pending",
        "_receiver",
        "_transport",
        "_waiters",
        "_write_paused",
    )

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._receiver: ChannelReceiver | None = None
        self._pending: list[bytes | None] = []  # None marks EOF
        self._closed = False
        self._write_paused = False
        self._waiters: list[asyncio.Future[None]] = []
        done: asyncio.Future[None] = self._loop.create_future()
        done.set_result(None)
        self._done = done

    @classmethod
    def adopt(cls, transport: asyncio.Transport, leftover: bytes) -> TransportChannel:
        """Take over ``transport`` (already connected); ``leftover`` bytes are delivered first."""
        channel = cls()
        channel._transport = transport
        if leftover:
            channel._pending.append(leftover)
        # The previous protocol may have been told to pause writing already.
        _low, high = transport.get_write_buffer_limits()
        channel._write_paused = transport.get_write_buffer_size() > high
        transport.set_protocol(channel)
        # Each message is written as whole frames in one write: waiting for
        # more bytes to coalesce (Nagle) only adds a round trip of latency.
        channel.set_nodelay(True)
        return channel

    # -- ByteChannel

    def start(self, receiver: ChannelReceiver) -> None:
        """Deliver buffered and future bytes to ``receiver``."""
        self._receiver = receiver
        pending, self._pending = self._pending, []
        for data in pending:
            if self._receiver is None:
                break
            if data is None:
                receiver.eof_received()
            else:
                receiver.bytes_received(data)
        if self._closed:
            receiver.channel_closed()

    def write(self, data: bytes) -> asyncio.Future[None]:
        """Write ``data``; see :meth:`ByteChannel.write`."""
        transport = self._transport
        if self._closed or transport is None or transport.is_closing():
            return self._failed()
        transport.write(data)
        if self._write_paused:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(waiter)
            return waiter
        return self._done

    def pause_reading(self) -> None:
        """Stop reading from the socket."""
        if self._transport is not None and not self._closed:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        if self._transport is not None and not self._closed:
            self._transport.resume_reading()

    def close(self) -> None:
        """Close once the queued bytes are sent."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def abort(self) -> None:
        """Close now."""
        if self._transport is not None:
            self._transport.abort()

    def closed(self) -> bool:
        """True once closing."""
        return self._closed or self._transport is None or self._transport.is_closing()

    def set_nodelay(self, value: bool) -> None:
        """Set ``TCP_NODELAY`` on the socket (ignored for non-TCP sockets)."""
        if self._transport is None:
            return
        sock = self._transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0)
            except OSError:
                pass  # the connection may be going away; nothing to tune then

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A client connection is established."""
        self._transport = transport  # type: ignore[assignment]
        self.set_nodelay(True)

    def data_received(self, data: bytes) -> None:
        """Forward ``data`` to the receiver (or keep it until :meth:`start`)."""
        receiver = self._receiver
        if receiver is None:
            self._pending.append(data)
        else:
            receiver.bytes_received(data)

    def eof_received(self) -> bool:
        """Tell the receiver; the transport then closes (returning False)."""
        receiver = self._receiver
        if receiver is None:
            self._pending.append(None)
        else:
            receiver.eof_received()
        return False

    def pause_writing(self) -> None:
        """The peer is not keeping up: writes return pending futures."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The peer caught up."""
        self._write_paused = False
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail pending writes and tell the receiver once."""
        if self._closed:
            return
        self._closed = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(StreamClosedError())
                waiter.exception()
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.channel_closed()

    def _failed(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        future.set_exception(StreamClosedError())
        future.exception()  # nobody is obliged to await it
        return future


class PullChannelAdapter:
    """A :class:`ByteChannel` over any seam :class:`dualweb.connection.ByteChannel` (pull API).

    For drivers whose upgrade channel only offers ``read()``: one task reads
    and pushes to the receiver. The native channel pushes by itself and needs
    no adapter. A pull channel cannot report a half-close, so ``b""`` from
    ``read()`` counts as the end of the connection.
    """

    def __init__(self, inner: SeamByteChannel) -> None:
        self._inner = inner
        self._loop = asyncio.get_running_loop()
        self._receiver: ChannelReceiver | None = None
        self._resume: asyncio.Future[None] | None = None
        self._paused = False
        self._task: asyncio.Task[None] | None = None

    def start(self, receiver: ChannelReceiver) -> None:
        """Start the reading task."""
        self._receiver = receiver
        self._task = self._loop.create_task(self._pump(receiver))

    async def _pump(self, receiver: ChannelReceiver) -> None:
        while self._receiver is not None:
            while self._paused:
                self._resume = self._loop.create_future()
                await self._resume
            data = await self._inner.read()
            if not data:
                receiver.eof_received()
                break
            receiver.bytes_received(data)
        self._ended()

    def write(self, data: bytes) -> asyncio.Future[None]:
        """Write through the wrapped channel."""
        return asyncio.ensure_future(self._inner.write(data))

    def pause_reading(self) -> None:
        """Stop pushing bytes until :meth:`resume_reading`."""
        self._paused = True

    def resume_reading(self) -> None:
        """Push bytes again."""
        self._paused = False
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)

    def close(self) -> None:
        """Close the wrapped channel; the receiver hears of it on the next loop turn."""
        self._inner.close()
        self._loop.call_soon(self._ended)

    def abort(self) -> None:
        """Close (a pull channel has no abort)."""
        self.close()

    def closed(self) -> bool:
        """True once the wrapped channel is closed."""
        return self._inner.closed()

    def set_nodelay(self, value: bool) -> None:
        """Nothing to tune on a generic channel."""

    def _ended(self) -> None:
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            self.resume_reading()
            receiver.channel_closed()


def detach_handler_channel(handler: Any) -> ByteChannel:
    """Take the connection of ``handler`` (a finished ``101`` response) as a :class:`ByteChannel`.

    Goes through the connection seam's upgrade capability
    (:meth:`dualweb.connection.HTTPConnection.upgrade`), so any driver that
    offers upgrades carries WebSockets. The native channel already pushes
    bytes (:meth:`dualweb.bytechannel.TransportChannel.start`) and is used
    as is; any other channel is read by a :class:`PullChannelAdapter`.

    Raises:
        AsyncUnavailableError: the driver cannot hand its connection over.
    """
    channel = handler.request.connection.upgrade()
    if isinstance(channel, NativeChannel):
        # Each message is written as whole frames in one write: waiting for
        # more bytes to coalesce (Nagle) only adds a round trip of latency.
        channel.set_nodelay(True)
        return channel
    return PullChannelAdapter(channel)
