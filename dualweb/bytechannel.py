"""The native :class:`~dualweb.connection.ByteChannel`: a detached connection's bytes.

:meth:`dualweb.http1connection.HTTP1RequestConnection.upgrade` detaches the
transport from HTTP and wraps it in a :class:`TransportChannel`, which
becomes the transport's protocol. Whoever takes over the connection (a
WebSocket layer) reads and writes bytes with back-pressure in both
directions and never touches the asyncio transport itself.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import Protocol

from dualweb.connection import ByteChannel
from dualweb.iostream import StreamClosedError

__all__ = ["ChannelReceiver", "TransportChannel"]

# Received bytes held before reading from the socket pauses.
_READ_HIGH_WATER = 256 * 1024


class ChannelReceiver(Protocol):
    """Who :meth:`TransportChannel.start` pushes received bytes to (a WebSocket session)."""

    def bytes_received(self, data: bytes) -> None:
        """Bytes arrived from the peer."""

    def eof_received(self) -> None:
        """The peer closed its sending side."""

    def channel_closed(self) -> None:
        """The connection is gone (closed by either side or lost); called once."""


class TransportChannel(ByteChannel, asyncio.Protocol):
    """A :class:`~dualweb.connection.ByteChannel` over an asyncio transport.

    Besides the pull API (:meth:`read`), it offers a push mode for
    protocols that parse bytes as they arrive (WebSockets): after
    :meth:`start`, received bytes go straight to a :class:`ChannelReceiver`
    without a task or a future per read, and :meth:`pause_reading` /
    :meth:`resume_reading` give the receiver the read-side back-pressure.

    Args:
        transport: the transport, detached from its previous protocol.
        initial: bytes already received past the HTTP request.
    """

    def __init__(self, transport: asyncio.Transport, initial: bytes = b"") -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._buffer: deque[bytes] = deque([initial] if initial else [])
        self._buffered = len(initial)
        self._eof = False
        self._closed = False
        self._reader: asyncio.Future[None] | None = None
        self._writers: list[asyncio.Future[None]] = []
        self._write_paused = False
        self._read_paused = False
        self._receiver: ChannelReceiver | None = None
        done: asyncio.Future[None] = self._loop.create_future()
        done.set_result(None)
        self._done = done
        # The previous protocol may have been told to pause writing already.
        _low, high = transport.get_write_buffer_limits()
        self._write_paused = transport.get_write_buffer_size() > high
        transport.set_protocol(self)

    # -- ByteChannel -----------------------------------------------------------

    async def read(self) -> bytes:
        """Return the next received bytes, or ``b""`` once the peer has closed."""
        while not self._buffer:
            if self._eof or self._closed:
                return b""
            self._reader = self._loop.create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        data = self._buffer.popleft()
        self._buffered -= len(data)
        if self._read_paused and self._buffered < _READ_HIGH_WATER and not self._closed:
            self._read_paused = False
            self._transport.resume_reading()
        return data

    def write(self, data: bytes) -> asyncio.Future[None]:
        """Send ``data``; the future completes once the transport can take more."""
        if self._closed or self._transport.is_closing():
            failed: asyncio.Future[None] = self._loop.create_future()
            failed.set_exception(StreamClosedError())
            failed.exception()  # nobody is obliged to await it
            return failed
        self._transport.write(data)
        if self._write_paused:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._writers.append(waiter)
            return waiter
        # One completed future shared by every unblocked write: the echo fast
        # path creates no object per message.
        return self._done

    def close(self) -> None:
        """Close after sending what was written."""
        if not self._transport.is_closing():
            self._transport.close()

    def closed(self) -> bool:
        """True once either side closed the channel."""
        return self._closed or self._transport.is_closing()

    # -- push mode ---------------------------------------------------------------

    def start(self, receiver: ChannelReceiver) -> None:
        """Push buffered and future bytes to ``receiver`` instead of queueing them for read()."""
        self._receiver = receiver
        buffer, self._buffer = self._buffer, deque()
        self._buffered = 0
        if self._read_paused and not self._closed:
            self._read_paused = False
            self._transport.resume_reading()
        for data in buffer:
            if self._receiver is None:
                return
            receiver.bytes_received(data)
        if self._eof and self._receiver is not None:
            receiver.eof_received()
        if self._closed:
            self._receiver = None
            receiver.channel_closed()

    def pause_reading(self) -> None:
        """Stop reading from the socket (push mode's back-pressure)."""
        if not self._closed and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        if not self._closed and self._read_paused:
            self._read_paused = False
            self._transport.resume_reading()

    def abort(self) -> None:
        """Close at once, dropping unsent data."""
        self._transport.abort()

    def set_nodelay(self, value: bool) -> None:
        """Set ``TCP_NODELAY`` on the socket (ignored for non-TCP sockets)."""
        sock = self._transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0)
            except OSError:
                pass  # the connection may be going away; nothing to tune then

    # -- asyncio.Protocol --------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Buffer received bytes (or push them); pause reading past the high-water mark."""
        receiver = self._receiver
        if receiver is not None:
            receiver.bytes_received(data)
            return
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= _READ_HIGH_WATER and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        """The peer closed its side: readers get ``b""`` after the buffered bytes."""
        self._eof = True
        receiver = self._receiver
        if receiver is not None:
            receiver.eof_received()
        self._wake()
        return False

    def pause_writing(self) -> None:
        """The transport's buffer is full: writes wait."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The peer caught up: release waiting writers."""
        self._write_paused = False
        writers, self._writers = self._writers, []
        for future in writers:
            if not future.done():
                future.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: wake the reader, fail waiting writers, tell the receiver."""
        if self._closed:
            return
        self._closed = True
        self._wake()
        writers, self._writers = self._writers, []
        for future in writers:
            if not future.done():
                future.set_exception(StreamClosedError())
                future.exception()
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.channel_closed()

    def _wake(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)
