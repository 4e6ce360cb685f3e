"""One WebSocket connection: websockets' sans-io protocol driven over a :class:`ByteChannel`.

Theory of operation
-------------------

The ``websockets`` library's ``ServerProtocol`` / ``ClientProtocol`` does the
protocol work: frame parsing and masking rules, reserved bits and opcodes,
control-frame limits, close codes, message size limits (1009) and
permessage-deflate.  It takes bytes (``receive_data``) and returns events
(``events_received``) and bytes to send (``data_to_send``, where ``b""``
means "close the connection now").  :class:`WebSocketSession` is the glue
around it, shared by the server handler and the client connection:

* bytes from the channel go into the protocol; what the protocol wants sent
  (pongs, close replies) is written at once;
* data frames are assembled into messages; text is decoded here (the
  sans-io layer leaves UTF-8 to its user), failing the connection with 1007;
* messages go to ``on_message`` strictly in order: when it returns an
  awaitable (a coroutine ``on_message``, or an ``open`` that is still
  running), later messages wait in a queue and reading from the channel
  pauses until it completes (back-pressure towards the peer);
* writes return the channel's awaitable, which is pending while the peer is
  not reading (back-pressure towards the application);
* a closing handshake that the peer does not complete, and pings that are
  not answered within ``ping_timeout``, end the connection on a timer.

Callbacks are plain callables so the session knows nothing about handlers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final, Union

from websockets.exceptions import InvalidState, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import Protocol, Side, State

from dualweb._websocket_channel import ByteChannel
from dualweb._websocket_fastpath import (
    frame_header,
    frame_size,
    masked_frame,
    simple_header,
    simple_payload,
)
from dualweb.iostream import StreamClosedError
from dualweb.log import app_log, gen_log

__all__ = [
    "CLOSE_TIMEOUT",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "PROTOCOL_LOG",
    "WebSocketClosedError",
    "WebSocketError",
    "WebSocketSession",
    "deflate_settings",
    "ping_payload",
]

#: Seconds to wait for the peer to complete a closing handshake before dropping it.
CLOSE_TIMEOUT: Final = 5.0

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_PING = Opcode.PING
_PONG = Opcode.PONG
_CLOSE = Opcode.CLOSE
_OPEN = State.OPEN
_CONNECTING = State.CONNECTING
# Close code 1005: the peer's close frame carried no code (Tornado reports None then).
_NO_STATUS = 1005
_INTERNAL_ERROR = 1011
_INVALID_DATA = 1007
# Largest simple frame the fast path collects across reads; larger ones
# stream through websockets' parser instead of being held twice.
_STASH_LIMIT = 1 << 20

Message = Union[str, bytes]  # noqa: UP007 - a runtime alias (3.10 has no `type`)


#: Tornado's default for ``max_message_size`` / ``websocket_max_message_size``: 10 MiB.
DEFAULT_MAX_MESSAGE_SIZE: Final = 10 * 1024 * 1024


class _ProtocolLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' logger for our protocols, without its per-connection INFO lines.

    "connection open" / "connection closed" would repeat dualweb's access
    log for every socket; warnings and errors still reach ``dualweb.general``.
    """

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        return None


#: websockets' logger argument for dualweb's protocols.
PROTOCOL_LOG: Final = _ProtocolLog(gen_log, {})


def deflate_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Map Tornado's compression options onto websockets' permessage-deflate factory arguments."""
    kwargs: dict[str, Any] = {}
    compress: dict[str, Any] = {}
    if "compression_level" in options:
        compress["level"] = options["compression_level"]
    if "mem_level" in options:
        compress["memLevel"] = options["mem_level"]
    if compress:
        kwargs["compress_settings"] = compress
    for name in (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    ):
        if name in options:
            kwargs[name] = options[name]
    return kwargs


def ping_payload(data: str | bytes) -> bytes:
    """``data`` as a ping payload; raises ValueError beyond the 125 bytes a control frame holds."""
    payload = data.encode() if isinstance(data, str) else bytes(data)
    if len(payload) > 125:
        raise ValueError(f"ping data is {len(payload)} bytes; a ping carries at most 125")
    return payload


class WebSocketError(Exception):
    """Base class for WebSocket errors (e.g. a failed client handshake)."""


class WebSocketClosedError(WebSocketError):
    """Raised when writing to (or pinging) a WebSocket that is closed or closing."""


WebSocketError.__module__ = WebSocketClosedError.__module__ = "dualweb.websocket"


class WebSocketSession:
    """Drives one WebSocket connection; see the module docstring.

    ``on_message(message)`` gets each complete message (``str`` for text,
    ``bytes`` for binary) and may return an awaitable; ``on_ping(data)`` and
    ``on_pong(data)`` get control frames; ``on_closed()`` is called once when
    the connection is gone; ``on_handshake(response)`` (client only) gets
    the server's handshake response. ``name`` labels log lines.
    """

    __slots__ = (
        "_busy",
        "_close_timer",
        "_closed",
        "_done",
        "_fragmented_text",
        "_fragments",
        "_head",
        "_last_ping",
        "_loop",
        "_paused",
        "_peer_masks",
        "_ping_sent_at",
        "_ping_timer",
        "_queue",
        "_remaining",
        "_replying",
        "_size_limit",
        "_tracking",
        "_want",
        "channel",
        "close_code",
        "close_reason",
        "name",
        "on_closed",
        "on_handshake",
        "on_message",
        "on_ping",
        "on_pong",
        "ping_interval",
        "ping_timeout",
        "protocol",
    )

    def __init__(
        self,
        protocol: Protocol,
        channel: ByteChannel,
        on_message: Callable[[Message], Awaitable[Any] | None],
        on_closed: Callable[[], None],
        *,
        on_ping: Callable[[bytes], None] | None = None,
        on_pong: Callable[[bytes], None] | None = None,
        on_handshake: Callable[[Response], None] | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        name: str = "WebSocket",
    ) -> None:
        self.protocol = protocol
        self.channel = channel
        self.on_message = on_message
        self.on_closed = on_closed
        self.on_ping = on_ping
        self.on_pong = on_pong
        self.on_handshake = on_handshake
        self.ping_interval = ping_interval or None
        self.ping_timeout = ping_timeout or None
        self.name = name
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = self._loop.create_future()
        done.set_result(None)
        self._done = done
        # What the fast path needs to know: who masks, and the size limit.
        self._peer_masks = protocol.side is Side.SERVER
        # (websockets < 15 has one ``max_size``; later versions split it in two.)
        limits: list[int] = [
            limit
            for name in ("max_message_size", "max_fragment_size", "max_size")
            if (limit := getattr(protocol, name, None))
        ]
        self._size_limit = min(limits) if limits else None
        self._fragments: list[bytes] | None = None
        # Frame-boundary tracking for the fast path (server side: the
        # protocol starts OPEN, so every byte is seen from a frame boundary).
        self._tracking = self._peer_masks and protocol.state is _OPEN
        self._remaining = 0
        self._head: bytearray | None = None
        self._want = 0
        self._fragmented_text = False
        self._last_ping = 0.0
        self._queue: deque[Message] | None = None
        self._busy = False
        self._replying = False
        self._paused = False
        self._closed = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_sent_at = 0.0

    # -- starting

    def start(self, opening: Awaitable[Any] | None = None) -> None:
        """Start reading; with ``opening`` (e.g. a coroutine ``open``), messages wait for it."""
        if opening is not None:
            self._wait(opening)
        self.flush()
        self.channel.start(self)
        if self.ping_interval and not self._closed:
            self._ping_timer = self._loop.call_later(self.ping_interval, self._ping_tick)

    # -- ChannelReceiver

    def bytes_received(self, data: bytes) -> None:
        """Feed ``data`` to the protocol and dispatch the events it produces."""
        if self._tracking:
            self._split(data)
        else:
            self._feed(data)

    def _split(self, data: bytes | bytearray) -> None:
        """Walk frame boundaries: simple frames take the fast path, others go whole to websockets.

        See dualweb._websocket_fastpath. ``_remaining`` is how much of the
        frame websockets is reading it still needs; ``_head`` collects a
        header that arrived incomplete, or a simple frame (up to
        ``_STASH_LIMIT`` bytes) until its ``_want`` bytes are there.
        """
        head = self._head
        if head is not None:
            head += data
            if len(head) < self._want:
                return  # the stashed frame is still incomplete
            data = head  # parsed in place: no copy of a large message
            self._head = None
        protocol = self.protocol
        pos = 0
        end_of_data = len(data)
        while pos < end_of_data:
            remaining = self._remaining
            if remaining:
                end = min(end_of_data, pos + remaining)
                self._remaining = remaining - (end - pos)
                self._feed(data[pos:end])
                pos = end
                continue
            size = frame_size(data, pos)
            if (
                protocol.state is not _OPEN
                or protocol.extensions
                or self._closed
                or (self._size_limit is not None and size > self._size_limit + 14)
            ):
                # Closing, compressed, or a frame websockets refuses from its
                # header (1009): websockets takes everything from here on.
                self._tracking = False
                self._feed(data[pos:])
                return
            if size < 0:
                self._head = bytearray(memoryview(data)[pos:])
                self._want = 0
                return
            if self._fragments is None:
                if size <= end_of_data - pos:
                    simple = simple_payload(data, pos, size, self._peer_masks, self._size_limit)
                    if simple is not None:
                        pos += size
                        if not self._message(*simple):
                            return
                        continue
                elif size <= _STASH_LIMIT and simple_header(data, pos, self._peer_masks):
                    # A simple frame split across reads (any large message):
                    # collect it here and take the fast path once it is whole.
                    self._head = bytearray(memoryview(data)[pos:])
                    self._want = size
                    return
            self._remaining = size

    def _feed(self, data: bytes | bytearray) -> None:
        """The general path: websockets parses ``data``; its events are dispatched in order."""
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        if protocol.state is _OPEN or not events:
            self.flush()
            self._dispatch(events)
            return
        # The data ended the connection (a close frame, or an error) and the
        # protocol has already queued its answer. Messages that came before
        # are still delivered, and replies written while handling them go
        # out before that answer, as if the frames had been read one by one.
        held = protocol.data_to_send()
        self._replying = True
        try:
            self._dispatch(events)
        finally:
            self._replying = False
        self._write_all(held)
        self.flush()

    def _dispatch(self, events: list[Any]) -> None:
        for event in events:
            if type(event) is Frame:
                if not self._frame(event):
                    break
            elif self.on_handshake is not None:
                self.on_handshake(event)

    def eof_received(self) -> None:
        """The peer stopped sending: let the protocol conclude, then close."""
        self.protocol.receive_eof()
        self.flush()
        self.channel.close()

    def channel_closed(self) -> None:
        """The connection is gone: stop the timers, report once."""
        if self._closed:
            return
        self._closed = True
        self._cancel_timers()
        protocol = self.protocol
        if self.close_code is None and protocol.close_rcvd is not None:
            self._record_close()
        try:
            self.on_closed()
        except Exception:
            app_log.exception("Exception in on_close of %s", self.name)

    # -- frames and messages

    def _frame(self, frame: Frame) -> bool:
        """Handle one frame; False when the connection failed and later frames must be dropped."""
        opcode = frame.opcode
        if opcode is _TEXT or opcode is _BINARY:
            if not frame.fin:
                self._fragments = [bytes(frame.data)]
                self._fragmented_text = opcode is _TEXT
                return True
            return self._message(bytes(frame.data), opcode is _TEXT)
        if opcode is _CONT:
            fragments = self._fragments
            assert fragments is not None  # the protocol rejects a stray continuation
            fragments.append(bytes(frame.data))
            if not frame.fin:
                return True
            self._fragments = None
            return self._message(b"".join(fragments), self._fragmented_text)
        if opcode is _PING:
            if self.on_ping is not None:
                self._callback(self.on_ping, bytes(frame.data))
        elif opcode is _PONG:
            self._ping_sent_at = 0.0
            if self.on_pong is not None:
                self._callback(self.on_pong, bytes(frame.data))
        elif opcode is _CLOSE:
            self._record_close()
        return True

    def _message(self, data: bytes, text: bool) -> bool:
        message: Message
        if text:
            try:
                message = data.decode()
            except UnicodeDecodeError as exc:
                self.fail(_INVALID_DATA, f"{exc.reason} at position {exc.start}")
                return False
        else:
            message = data
        if self._busy or self._queue:
            if self._queue is None:
                self._queue = deque()
            self._queue.append(message)
            if not self._paused:
                self._paused = True
                self.channel.pause_reading()
            return True
        return self._deliver(message)

    def _deliver(self, message: Message) -> bool:
        try:
            result = self.on_message(message)
        except Exception:
            self.callback_failed()
            return False
        if result is not None:
            self._wait(result)
        return True

    def _wait(self, awaitable: Awaitable[Any]) -> None:
        self._busy = True
        future = asyncio.ensure_future(awaitable)
        future.add_done_callback(self._resume)

    def _resume(self, future: asyncio.Future[Any]) -> None:
        self._busy = False
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.callback_failed(exc)
            return
        queue = self._queue
        while queue and not self._busy:
            if not self._deliver(queue.popleft()):
                return
        if not self._busy and self._paused:
            self._paused = False
            self.channel.resume_reading()

    def _callback(self, callback: Callable[[bytes], None], data: bytes) -> None:
        try:
            callback(data)
        except Exception:
            self.callback_failed()

    def callback_failed(self, exc: BaseException | None = None) -> None:
        """Log an exception from application code (the current one by default); fail with 1011."""
        exc_info: Any = True if exc is None else (type(exc), exc, exc.__traceback__)
        app_log.error("Uncaught exception in %s", self.name, exc_info=exc_info)
        if self._queue:
            self._queue.clear()
        self.fail(_INTERNAL_ERROR)

    def _record_close(self) -> None:
        close = self.protocol.close_rcvd
        if close is not None:
            self.close_code = None if close.code == _NO_STATUS else close.code
            self.close_reason = close.reason if self.close_code is not None else None

    # -- sending

    def flush(self) -> asyncio.Future[None]:
        """Write what the protocol has queued; returns the last write's future."""
        result = self._write_all(self.protocol.data_to_send())
        if self._close_timer is None and not self._closed and self.protocol.close_expected():
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self.channel.abort)
        if result is None:
            return self._done
        return result

    def _write_all(self, chunks: list[bytes]) -> asyncio.Future[None] | None:
        result: asyncio.Future[None] | None = None
        channel = self.channel
        for data in chunks:
            if data:
                result = channel.write(data)
            else:
                channel.close()  # websockets' SEND_EOF: end the connection now
        return result

    def is_open(self) -> bool:
        """True while messages can be sent."""
        return self.protocol.state is _OPEN and not self._closed

    def is_closing(self) -> bool:
        """True once closing has started or the connection is gone (Tornado's name)."""
        return self.protocol.state is not _OPEN or self._closed

    def send(self, message: Message, binary: bool) -> asyncio.Future[None]:
        """Send one message; raises :class:`WebSocketClosedError` when closed or closing."""
        protocol = self.protocol
        if isinstance(message, str):
            data = message.encode()
        else:
            data = message
        if protocol.state is not _OPEN or self._closed:
            if self._replying and not self._closed:
                # A reply to a message that preceded the peer's close (see bytes_received).
                reply = Frame(_BINARY if binary else _TEXT, data)
                client = protocol.side is Side.CLIENT
                return self.channel.write(
                    reply.serialize(mask=client, extensions=protocol.extensions)
                )
            raise WebSocketClosedError()
        if not protocol.extensions:
            # The fast path: one whole frame, built without websockets' Frame.
            if self._peer_masks:
                raw = frame_header(len(data), not binary, False) + data
            else:
                raw = masked_frame(data, not binary)
            result = self.channel.write(raw)
        else:
            if binary:
                protocol.send_binary(data)
            else:
                protocol.send_text(data)
            result = self.flush()
        if result.done() and result.exception() is None:
            return result
        # Rare (the peer is slow or gone): report a closed stream in WebSocket terms.
        translated: asyncio.Future[None] = self._loop.create_future()
        result.add_done_callback(lambda done: _translate(done, translated))
        return translated

    def ping(self, data: bytes) -> None:
        """Send a ping; raises :class:`WebSocketClosedError` when closed."""
        if self._closed or self.protocol.state is not _OPEN:
            raise WebSocketClosedError()
        self.protocol.send_ping(data)
        self.flush()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake (no-op when already closing)."""
        protocol = self.protocol
        if protocol.state is _CONNECTING:
            self.channel.abort()
            return
        if protocol.state is not _OPEN or self._closed:
            return
        if code is None and reason:
            code = 1000
        try:
            protocol.send_close(code, reason or "")
        except (ProtocolError, InvalidState) as exc:
            raise ValueError(f"cannot close the WebSocket with code {code!r}: {exc}") from exc
        self.flush()

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection with ``code`` (a close frame, then the connection ends)."""
        if self._closed:
            return
        self.protocol.fail(code, reason)
        self.flush()

    def abort(self) -> None:
        """Drop the connection without a closing handshake."""
        self.channel.abort()

    # -- keepalive

    def _ping_tick(self) -> None:
        """Send a ping every ``ping_interval``; close when one stays unanswered too long."""
        self._ping_timer = None
        if self._closed or self.protocol.state is not _OPEN:
            return
        interval = self.ping_interval or 0.0
        timeout = self.ping_timeout or max(3 * interval, 30.0)  # Tornado's default
        now = self._loop.time()
        sent = self._ping_sent_at
        if sent and now - sent >= timeout:
            app_log.info("%s: no pong within %.3g s, closing", self.name, timeout)
            self.close(_INTERNAL_ERROR, "ping timed out")
            return
        if now - self._last_ping >= interval:
            self._last_ping = now
            if not sent:
                sent = self._ping_sent_at = now
            self.protocol.send_ping(b"")
            self.flush()
        due = self._last_ping + interval
        if sent:
            due = min(due, sent + timeout)
        self._ping_timer = self._loop.call_later(max(due - now, 0.0), self._ping_tick)

    def _cancel_timers(self) -> None:
        for timer in (self._close_timer, self._ping_timer):
            if timer is not None:
                timer.cancel()
        self._close_timer = self._ping_timer = None


def _translate(done: asyncio.Future[None], target: asyncio.Future[None]) -> None:
    if target.done():
        return
    if done.cancelled():
        target.cancel()
    elif done.exception() is None:
        target.set_result(None)
    else:
        exc = done.exception()
        target.set_exception(
            WebSocketClosedError() if isinstance(exc, StreamClosedError) else exc  # type: ignore[arg-type]
        )
        # Writing to a peer that just went away is routine (a broadcast, say):
        # an unawaited future must not log "exception was never retrieved".
        target.exception()


