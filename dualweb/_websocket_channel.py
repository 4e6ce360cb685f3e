"""The byte channel a WebSocket runs on, and how a server handler's connection becomes one.

The WebSocket layer (:mod:`dualweb.websocket`) never touches a socket or an
``asyncio.Transport`` itself: it talks to a :class:`ByteChannel` (write with
back-pressure, pause/resume reading, close) and is told about incoming bytes,
EOF and the end of the connection through a
:class:`~dualweb.bytechannel.ChannelReceiver`. The server side gets its
channel from the connection seam's upgrade capability
(:meth:`dualweb.connection.HTTPConnection.upgrade`, in
:func:`detach_handler_channel`), so any driver that offers upgrades carries
WebSockets: the native channel (:class:`dualweb.bytechannel.TransportChannel`,
also what the client connects with) pushes bytes by itself; a channel that
only offers ``read()`` goes through :class:`PullChannelAdapter`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from dualweb.bytechannel import ChannelReceiver
from dualweb.bytechannel import TransportChannel as NativeChannel
from dualweb.connection import ByteChannel as SeamByteChannel

__all__ = ["ByteChannel", "ChannelReceiver", "PullChannelAdapter", "detach_handler_channel"]


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
