"""The native :class:`~dualweb.connection.ByteChannel`: a detached connection's bytes.

:meth:`dualweb.http1connection.HTTP1RequestConnection.upgrade` detaches the
transport from HTTP and wraps it in a :class:`TransportChannel`, which
becomes the transport's protocol. Whoever takes over the connection (a
WebSocket layer) reads and writes bytes with back-pressure in both
directions and never touches the asyncio transport itself.
"""

from __future__ import annotations

import asyncio
from collections import deque

from dualweb.connection import ByteChannel
from dualweb.iostream import StreamClosedError

__all__ = ["TransportChannel"]

# Received bytes held before reading from the socket pauses.
_READ_HIGH_WATER = 256 * 1024


class TransportChannel(ByteChannel, asyncio.Protocol):
    """A :class:`~dualweb.connection.ByteChannel` over an asyncio transport.

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
        future: asyncio.Future[None] = self._loop.create_future()
        if self._closed or self._transport.is_closing():
            future.set_exception(StreamClosedError())
            return future
        self._transport.write(data)
        if self._write_paused:
            self._writers.append(future)
        else:
            future.set_result(None)
        return future

    def close(self) -> None:
        """Close after sending what was written."""
        if not self._transport.is_closing():
            self._transport.close()

    def closed(self) -> bool:
        """True once either side closed the channel."""
        return self._closed or self._transport.is_closing()

    # -- asyncio.Protocol --------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Buffer received bytes; pause reading past the high-water mark."""
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= _READ_HIGH_WATER and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        """The peer closed its side: readers get ``b""`` after the buffered bytes."""
        self._eof = True
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
        """The connection is gone: wake the reader, fail waiting writers."""
        self._closed = True
        self._wake()
        writers, self._writers = self._writers, []
        for future in writers:
            if not future.done():
                future.set_exception(StreamClosedError())
                future.exception()

    def _wake(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)
