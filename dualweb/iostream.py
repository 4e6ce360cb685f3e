"""Buffered, non-blocking byte streams over sockets, TLS and pipes.

An :class:`IOStream` reads and writes a connection with awaitable calls::

    stream = await TCPClient().connect("example.com", 80)
    await stream.write(b"GET / HTTP/1.0\\r\\nHost: example.com\\r\\n\\r\\n")
    header = await stream.read_until(b"\\r\\n\\r\\n")
    body = await stream.read_until_close()

Theory of operation. Socket streams sit on an asyncio transport (so they
run on uvloop too): a small protocol object pushes received bytes into the
stream's read buffer, and each read call describes *what* it wants (a number
of bytes, a delimiter, a regex, everything until close). The buffer is
checked against the one pending read whenever data arrives. Reading pauses
while nobody asks for data and the buffer is large, which gives the peer
TCP back-pressure. Writes go straight to the transport; the future returned
by :meth:`BaseIOStream.write` completes once the transport's buffer has
drained into the kernel (the write-buffer high-water mark is zero, so
asyncio tells us exactly when that happens). Pipes use the same buffering
with ``add_reader``/``add_writer`` on the file descriptor.

Errors follow Tornado 6: once a stream is closed, reads that the buffer
cannot satisfy and all writes raise :class:`StreamClosedError`, whose
``real_error`` says why (a reset, :class:`UnsatisfiableReadError`,
:class:`StreamBufferFullError`, a TLS failure).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

from dualweb.log import app_log, gen_log
from dualweb.netutil import _current_loop, ssl_options_to_context

if TYPE_CHECKING:
    from dualweb.ioloop import IOLoop

__all__ = [
    "BaseIOStream",
    "IOStream",
    "PipeIOStream",
    "SSLIOStream",
    "StreamBufferFullError",
    "StreamClosedError",
    "UnsatisfiableReadError",
]

_ExcInfo: TypeAlias = (
    "bool | BaseException"
    " | tuple[type[BaseException] | None, BaseException | None, TracebackType | None] | None"
)
_IOStreamType = TypeVar("_IOStreamType", bound="IOStream")

_DEFAULT_MAX_BUFFER_SIZE = 100 * 1024 * 1024
_DEFAULT_READ_CHUNK_SIZE = 64 * 1024
# Without a pending read, stop reading from the peer once this much is buffered.
_IDLE_BUFFER_LIMIT = 256 * 1024

_FD_HOOKS_MESSAGE = (
    "dualweb streams do their I/O through asyncio transports and never call "
    "read_from_fd()/write_to_fd(); subclass IOStream and use its public read/write "
    "methods, or write an asyncio.Protocol"
)

# The kinds of pending read.
_R_BYTES, _R_UNTIL, _R_REGEX, _R_CLOSE, _R_INTO = range(1, 6)


class StreamClosedError(IOError):
    """The stream is closed, so the read or write cannot complete.

    ``real_error`` holds the exception that closed the stream (for example a
    :class:`ConnectionResetError`, an :class:`UnsatisfiableReadError` or an
    :class:`ssl.SSLError`), or ``None`` for an orderly close.
    """

    def __init__(self, real_error: BaseException | None = None) -> None:
        super().__init__("Stream is closed")
        self.real_error = real_error


class UnsatisfiableReadError(Exception):
    """A read could not complete within its limit (``max_bytes`` of ``read_until``).

    The stream is closed, and the read raises :class:`StreamClosedError` with
    this error as ``real_error``.
    """


class StreamBufferFullError(Exception):
    """More data was buffered than ``max_buffer_size`` or ``max_write_buffer_size`` allow."""


def _fail(future: asyncio.Future[Any], real_error: BaseException | None) -> None:
    """Fail ``future`` with StreamClosedError(real_error) unless it is already done."""
    if future.done():
        return
    future.set_exception(StreamClosedError(real_error=real_error))
    # Callers often fire-and-forget writes; a failure after close is expected and
    # must not be logged as "exception was never retrieved". Reading the exception
    # here marks it retrieved without the cost of a done-callback on every future.
    future.exception()


@functools.lru_cache(maxsize=1)
def _default_client_context() -> ssl.SSLContext:
    """Verifying client context with the system CAs, built once (loading CAs is slow)."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


class BaseIOStream:
    """The buffering and read/write logic shared by every stream.

    Arguments:

    * ``max_buffer_size``: the most incoming data buffered for a read that
      has not completed (default 100 MiB). A read that needs more closes the
      stream with :class:`StreamBufferFullError`.
    * ``read_chunk_size``: kept for compatibility; how much is read at a time
      is decided by the event loop.
    * ``max_write_buffer_size``: if set, :meth:`write` raises
      :class:`StreamBufferFullError` instead of buffering more than this.

    Every read method returns an awaitable and only one read may be pending
    at a time (a second one raises :class:`AssertionError`, as in Tornado).
    """

    __slots__ = (
        "_buf", "_close_callback", "_closed", "_idle_limit", "_loop", "_read_arg",
        "_read_future", "_read_kind", "_read_max", "_read_partial", "_scan_pos", "_signalled",
        "_write_futures", "error", "max_buffer_size", "max_write_buffer_size", "read_chunk_size",
    )

    def __init__(
        self,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
        max_write_buffer_size: int | None = None,
    ) -> None:
        self._loop = _current_loop()
        self.max_buffer_size = max_buffer_size or _DEFAULT_MAX_BUFFER_SIZE
        self.read_chunk_size = min(
            read_chunk_size or _DEFAULT_READ_CHUNK_SIZE, max(self.max_buffer_size // 2, 1)
        )
        self.max_write_buffer_size = max_write_buffer_size
        #: The exception that closed the stream, if any.
        self.error: BaseException | None = None
        self._idle_limit = min(self.max_buffer_size, _IDLE_BUFFER_LIMIT)
        self._buf = bytearray()
        self._read_future: asyncio.Future[Any] | None = None
        self._read_kind = 0
        self._read_arg: Any = None
        self._read_max: int | None = None
        self._read_partial = False
        self._scan_pos = 0
        self._write_futures: list[asyncio.Future[None]] = []
        self._close_callback: Callable[[], None] | None = None
        self._closed = False
        self._signalled = False

    # ------------------------------------------------------------------ I/O hooks
    # Subclasses connect the buffering above to real I/O: _io_write hands bytes
    # over, _io_write_size counts those not yet in the kernel, _io_want_read and
    # _io_pause_read start and stop reading, _io_close releases the file
    # (abort=True drops unsent data).

    def _io_write(self, data: bytes) -> None:
        raise NotImplementedError()

    def _io_write_size(self) -> int:
        raise NotImplementedError()

    def _io_want_read(self) -> None:
        raise NotImplementedError()

    def _io_pause_read(self) -> None:
        raise NotImplementedError()

    def _io_close(self, abort: bool) -> None:
        raise NotImplementedError()

    def fileno(self) -> int:
        """The file descriptor of the underlying socket or pipe."""
        raise NotImplementedError()

    def close_fd(self) -> None:
        """Close the underlying socket or pipe at once, dropping unsent data.

        Prefer :meth:`close`, which also fails pending operations and runs
        the close callback.
        """
        self._io_close(abort=True)

    def get_fd_error(self) -> Exception | None:
        """The pending error on the underlying file, if any (``SO_ERROR`` for sockets)."""
        return None

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        """Unused: dualweb streams read through asyncio. Raises :class:`NotImplementedError`."""
        raise NotImplementedError(_FD_HOOKS_MESSAGE)

    def write_to_fd(self, data: memoryview) -> int:
        """Unused: dualweb streams write through asyncio. Raises :class:`NotImplementedError`."""
        raise NotImplementedError(_FD_HOOKS_MESSAGE)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A Tornado-style subclass that does its own I/O in these hooks would
        # silently never be called here; say so when the class is defined.
        for hook in ("read_from_fd", "write_to_fd"):
            if hook in cls.__dict__:
                raise TypeError(f"{cls.__name__}.{hook}: {_FD_HOOKS_MESSAGE}")

    @property
    def io_loop(self) -> IOLoop:
        """The :class:`~dualweb.ioloop.IOLoop` this stream runs on."""
        from dualweb.ioloop import IOLoop

        return IOLoop._for_loop(self._loop)

    # ------------------------------------------------------------------ reading

    def read_until_regex(self, regex: bytes, max_bytes: int | None = None) -> Awaitable[bytes]:
        """Read until ``regex`` matches; the result includes the match.

        ``regex`` is a bytes pattern (or a compiled one). With ``max_bytes``,
        the stream is closed and the read fails with
        :class:`StreamClosedError` (``real_error`` an
        :class:`UnsatisfiableReadError`) if no match ends within that many bytes.
        """
        pattern = regex if isinstance(regex, re.Pattern) else re.compile(regex)
        return self._start_read(_R_REGEX, pattern, max_bytes)

    def read_until(self, delimiter: bytes, max_bytes: int | None = None) -> Awaitable[bytes]:
        """Read until ``delimiter`` is found; the result includes it.

        With ``max_bytes``, the stream is closed and the read fails with
        :class:`StreamClosedError` (``real_error`` an
        :class:`UnsatisfiableReadError`) if the delimiter does not end within
        that many bytes.
        """
        if not delimiter:
            raise ValueError("read_until() needs a non-empty delimiter")
        return self._start_read(_R_UNTIL, bytes(delimiter), max_bytes)

    def read_bytes(self, num_bytes: int, partial: bool = False) -> Awaitable[bytes]:
        """Read exactly ``num_bytes`` bytes.

        With ``partial=True``, complete as soon as at least one byte is
        available, returning at most ``num_bytes``.
        """
        if not isinstance(num_bytes, int) or num_bytes < 0:
            raise ValueError(f"read_bytes() needs a non-negative int, got {num_bytes!r}")
        return self._start_read(_R_BYTES, num_bytes, None, partial)

    def read_into(self, buf: bytearray, partial: bool = False) -> Awaitable[int]:
        """Fill ``buf`` (a bytearray or writable memoryview) with incoming data.

        Completes when ``buf`` is full, or with ``partial=True`` as soon as
        any data was copied; the result is the number of bytes written to ``buf``.
        """
        return cast("Awaitable[int]", self._start_read(_R_INTO, buf, None, partial))

    def read_until_close(self) -> Awaitable[bytes]:
        """Read everything until the peer closes the connection.

        Returns what is left in the buffer at once if the stream is already
        closed. Fails with :class:`StreamClosedError` (``real_error`` a
        :class:`StreamBufferFullError`) if more than ``max_buffer_size`` arrives.
        """
        return self._start_read(_R_CLOSE, None, None)

    def _start_read(
        self, kind: int, arg: Any, max_bytes: int | None, partial: bool = False
    ) -> asyncio.Future[Any]:
        current = self._read_future
        if current is not None and not current.done():
            raise AssertionError("Already reading")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._read_future = future
        self._read_kind = kind
        self._read_arg = arg
        self._read_max = max_bytes
        self._read_partial = partial
        self._scan_pos = 0
        if self._advance():
            return future
        if self._closed:
            # Reported through the future, like every other read failure.
            self._clear_read()
            _fail(future, self.error)
            return future
        self._io_want_read()
        return future

    def _advance(self) -> bool:
        """Try to complete the pending read, closing the stream if it breaks a limit.

        Returns False only while the read is still waiting for data.
        """
        try:
            if self._try_read():
                return True
        except UnsatisfiableReadError as exc:
            gen_log.info("Unsatisfiable read, closing connection: %s", exc)
            self.close(exc_info=exc)
            return True
        if len(self._buf) > self.max_buffer_size:
            # No read may need more than max_buffer_size bytes.
            gen_log.error("Reached maximum read buffer size")
            self.close(exc_info=StreamBufferFullError("Reached maximum read buffer size"))
            return True
        return False

    def _clear_read(self) -> None:
        self._read_future = None
        self._read_kind = 0
        self._read_arg = None

    def _read_size(self) -> int:
        """How many buffered bytes complete the pending read, or -1 if not enough yet."""
        buf = self._buf
        kind = self._read_kind
        if kind == _R_BYTES or kind == _R_INTO:
            want = self._read_arg if kind == _R_BYTES else len(self._read_arg)
            if len(buf) >= want:
                return int(want)
            if self._read_partial and buf:
                return min(len(buf), self.max_buffer_size)
            return -1
        if kind == _R_UNTIL:
            delimiter: bytes = self._read_arg
            pos = buf.find(delimiter, self._scan_pos)
            if pos >= 0:
                return self._check_max(pos + len(delimiter))
            # Resume the next search where a delimiter could still begin.
            self._scan_pos = max(0, len(buf) - len(delimiter) + 1)
            self._check_max(len(buf))
            return -1
        if kind == _R_REGEX:
            match = self._read_arg.search(buf)
            if match is not None:
                return self._check_max(match.end())
            self._check_max(len(buf))
            return -1
        return len(buf) if self._closed else -1

    def _check_max(self, size: int) -> int:
        if self._read_max is not None and size > self._read_max:
            what = self._read_arg.pattern if self._read_kind == _R_REGEX else self._read_arg
            raise UnsatisfiableReadError(
                f"delimiter {what!r} not found within {self._read_max} bytes"
            )
        return size

    def _try_read(self) -> bool:
        """Complete the pending read from the buffer if possible; True when nothing is pending."""
        future = self._read_future
        if future is None:
            return True
        if future.done():
            # Cancelled by the caller (e.g. a timeout): leave the data for the next read.
            self._clear_read()
            return True
        size = self._read_size()
        if size < 0 or size > self.max_buffer_size:
            return False
        buf = self._buf
        result: Any
        if self._read_kind == _R_INTO:
            target = self._read_arg
            target[:size] = buf[:size]
            result = size
        elif size == len(buf):
            result = bytes(buf)
        else:
            result = bytes(buf[:size])
        del buf[:size]
        self._clear_read()
        future.set_result(result)
        return True

    def _on_data(self, data: bytes) -> None:
        """Called by the I/O layer with received bytes."""
        self._buf += data
        if self._read_future is not None and not self._advance():
            return
        if not self._closed and len(self._buf) >= self._idle_limit:
            self._io_pause_read()

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes | memoryview) -> asyncio.Future[None]:
        """Send ``data``; returns a future that completes once it has been flushed.

        Writes are queued in order, so the result need not be awaited before
        writing more; awaiting it gives back-pressure. Raises
        :class:`StreamClosedError` if the stream is closed and
        :class:`StreamBufferFullError` if ``max_write_buffer_size`` would be
        exceeded. The future fails with :class:`StreamClosedError` if the
        stream closes before the data is flushed.
        """
        self._check_closed()
        if data:
            if (
                self.max_write_buffer_size is not None
                and self._io_write_size() + len(data) > self.max_write_buffer_size
            ):
                raise StreamBufferFullError("Reached maximum write buffer size")
            # A caller may reuse a bytearray/memoryview after write() returns.
            self._io_write(data if type(data) is bytes else bytes(data))
        future: asyncio.Future[None] = self._loop.create_future()
        if self._closed:
            _fail(future, self.error)
        elif self.writing():
            self._write_futures.append(future)
        else:
            future.set_result(None)
        return future

    def _on_drained(self) -> None:
        """Called by the I/O layer when every written byte has reached the kernel."""
        futures, self._write_futures = self._write_futures, []
        for future in futures:
            if not future.done():
                future.set_result(None)

    # ------------------------------------------------------------------ closing

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` once the stream is closed (by either side).

        Runs on the next event-loop iteration after the close, or soon if the
        stream is already closed. Replaces any earlier callback; ``None`` removes it.
        """
        self._close_callback = callback
        if callback is not None and self._closed and self._signalled:
            self._signalled = False
            self._loop.call_soon(self._run_close_callback)

    def close(self, exc_info: _ExcInfo = False) -> None:
        """Close the stream; safe to call more than once.

        ``exc_info`` records why: an exception, an ``exc_info`` tuple, or
        ``True`` for the exception being handled. It becomes :attr:`error`
        and the ``real_error`` of :class:`StreamClosedError`. Data already
        buffered for writing is still sent unless the close is due to an error.
        A pending :meth:`read_until_close` completes with the buffered data;
        other pending reads and unflushed writes fail.
        """
        if self._closed:
            return
        if exc_info:
            if isinstance(exc_info, tuple):
                error = exc_info[1]
            elif isinstance(exc_info, BaseException):
                error = exc_info
            else:
                error = sys.exc_info()[1]
            if error is not None:
                self.error = error
        self._closed = True
        self._io_close(abort=self.error is not None)
        self._fail_pending()
        self._loop.call_soon(self._run_close_callback)

    def _fail_pending(self) -> None:
        if self._read_future is not None:
            try:
                satisfied = self._try_read()
            except UnsatisfiableReadError:
                satisfied = False
            if not satisfied:
                future = self._read_future
                self._clear_read()
                _fail(future, self.error)
        futures, self._write_futures = self._write_futures, []
        for future in futures:
            _fail(future, self.error)

    def _run_close_callback(self) -> None:
        self._signalled = True
        callback, self._close_callback = self._close_callback, None
        if callback is not None:
            try:
                callback()
            except Exception:
                app_log.exception("Exception in close callback of %s", type(self).__name__)

    def _on_lost(self, exc: BaseException | None) -> None:
        """Called by the I/O layer when the connection is gone."""
        if exc is not None and self.error is None:
            self.error = exc
        if not self._closed:
            self.close()
        else:
            self._fail_pending()

    def closed(self) -> bool:
        """True once the stream is closed."""
        return self._closed

    def _check_closed(self) -> None:
        if self._closed:
            raise StreamClosedError(real_error=self.error)

    def reading(self) -> bool:
        """True while a read is pending."""
        return self._read_future is not None and not self._read_future.done()

    def writing(self) -> bool:
        """True while written data has not yet been flushed to the kernel."""
        return self._io_write_size() > 0

    def set_nodelay(self, value: bool) -> None:
        """Ask for ``TCP_NODELAY`` (send small writes at once); a no-op on non-TCP streams."""


class _StreamProtocol(asyncio.Protocol):
    """Forwards transport events to its :class:`IOStream`."""

    __slots__ = ("stream",)

    def __init__(self, stream: IOStream) -> None:
        self.stream = stream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.stream._attach(cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        self.stream._on_data(data)

    def eof_received(self) -> bool:
        # Half-closed connections are treated as closed, as in Tornado.
        self.stream.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.stream._on_lost(exc)

    def pause_writing(self) -> None:
        self.stream._write_paused = True

    def resume_writing(self) -> None:
        self.stream._write_paused = False
        self.stream._on_drained()


class _ServerStreamProtocol(_StreamProtocol):
    """A listening server's protocol: a stream per connection, handed to ``on_stream``.

    ``on_stream(stream, address)`` is called once the connection is made (the
    default :class:`~dualweb.tcpserver.TCPServer` protocol passes its
    ``handle_stream`` caller); the sizes are passed to each stream. Taking a
    callback keeps this module below ``tcpserver`` in the layering.
    """

    __slots__ = ("_max_buffer_size", "_on_stream", "_read_chunk_size")

    def __init__(
        self,
        on_stream: Callable[[IOStream, Any], None],
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
    ) -> None:
        self._on_stream = on_stream
        self._max_buffer_size = max_buffer_size
        self._read_chunk_size = read_chunk_size

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cls = SSLIOStream if transport.get_extra_info("sslcontext") is not None else IOStream
        stream = cls(_NO_SOCKET, max_buffer_size=self._max_buffer_size,
                     read_chunk_size=self._read_chunk_size)
        stream.socket = transport.get_extra_info("socket")
        stream._protocol = self
        self.stream = stream
        stream._attach(cast(asyncio.Transport, transport))
        self._on_stream(stream, transport.get_extra_info("peername"))


# Internal constructions whose socket comes from a transport afterwards.
_NO_SOCKET = cast(socket.socket, None)


def _is_connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


class IOStream(BaseIOStream):
    """A stream over a TCP (or Unix) socket.

    ``socket`` may be connected already (for example one returned by
    ``accept()``), or not yet, in which case call :meth:`connect`::

        stream = IOStream(socket.socket())
        await stream.connect(("example.com", 80))

    Other arguments as for :class:`BaseIOStream`. The stream owns the socket
    and closes it on :meth:`close`.
    """

    __slots__ = ("_attach_task", "_protocol", "_queued", "_transport", "_write_paused", "socket")

    def __init__(self, socket: socket.socket, *args: Any, **kwargs: Any) -> None:
        if isinstance(socket, ssl.SSLSocket):
            raise TypeError(
                f"{type(self).__name__}() got an ssl.SSLSocket; asyncio does TLS itself: pass "
                "the plain socket to SSLIOStream(sock, ssl_options=...), or call start_tls()"
            )
        super().__init__(*args, **kwargs)
        #: The underlying socket.
        self.socket = socket
        self._transport: asyncio.Transport | None = None
        self._protocol: _StreamProtocol = _StreamProtocol(self)
        self._queued: list[bytes] = []
        self._write_paused = False
        self._attach_task: asyncio.Task[None] | None = None
        if socket is not None and _is_connected(socket):
            self._attach_task = self._loop.create_task(self._adopt(socket))

    async def _adopt(self, sock: socket.socket) -> None:
        """Put an already-connected socket on a transport."""
        try:
            await self._loop.connect_accepted_socket(
                lambda: self._protocol, sock=sock, ssl=self._adopt_ssl()
            )
        except Exception as exc:
            # Whatever went wrong, pending and future reads must fail, not hang.
            self.close(exc_info=exc)

    def _adopt_ssl(self) -> ssl.SSLContext | None:
        return None

    def _attach(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        if self._closed:
            transport.abort() if self.error is not None else transport.close()
            return
        # A high-water mark of 0 makes asyncio report every moment the
        # buffer is non-empty and when it drains, which is when write() is done.
        transport.set_write_buffer_limits(high=0)
        if self._queued:
            data = b"".join(self._queued)
            self._queued.clear()
            transport.write(data)
        if not self._write_paused:
            self._on_drained()
        if self._read_future is None and len(self._buf) >= self._idle_limit:
            transport.pause_reading()

    # I/O hooks ---------------------------------------------------------

    def _io_write(self, data: bytes) -> None:
        if self._transport is None:
            self._queued.append(data)
        else:
            self._transport.write(data)

    def _io_write_size(self) -> int:
        if self._transport is None:
            return sum(len(chunk) for chunk in self._queued)
        if not self._write_paused:
            return 0
        return self._transport.get_write_buffer_size()

    def _io_want_read(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_reading():
            transport.resume_reading()

    def _io_pause_read(self) -> None:
        transport = self._transport
        if transport is not None and transport.is_reading():
            transport.pause_reading()

    def _io_close(self, abort: bool) -> None:
        task = self._attach_task
        if task is not None and not task.done():
            task.cancel()
        transport = self._transport
        if transport is not None:
            if abort:
                transport.abort()
            else:
                transport.close()
        elif self.socket is not None:
            self.socket.close()

    def fileno(self) -> int:
        """The socket's file descriptor."""
        return self.socket.fileno()

    def get_fd_error(self) -> Exception | None:
        """The socket's pending error (``SO_ERROR``) as an :class:`OSError`, or None."""
        code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return OSError(code, os.strerror(code)) if code else None

    def set_nodelay(self, value: bool) -> None:
        """Set ``TCP_NODELAY`` on the socket (send small writes without delay)."""
        sock = self._transport.get_extra_info("socket") if self._transport else self.socket
        if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0)
        except OSError:
            # The connection may already be reset; there is nothing to tune then.
            pass

    # connecting ----------------------------------------------------------

    def connect(
        self: _IOStreamType, address: Any, server_hostname: str | None = None
    ) -> asyncio.Future[_IOStreamType]:
        """Connect the (unconnected) socket to ``address``; the future resolves to the stream.

        Reads and writes may be issued before the connection completes; they
        are queued. ``server_hostname`` is used by :class:`SSLIOStream` for
        SNI and certificate checks. If the connection fails the future raises
        :class:`StreamClosedError` with the cause as ``real_error`` (e.g.
        :class:`ConnectionRefusedError`) and the stream is closed.
        """
        future: asyncio.Future[_IOStreamType] = self._loop.create_future()
        self._attach_task = self._loop.create_task(
            self._connect(address, server_hostname, future)
        )
        return future

    async def _connect(
        self, address: Any, server_hostname: str | None, future: asyncio.Future[Any]
    ) -> None:
        loop = self._loop
        try:
            self.socket.setblocking(False)
            await loop.sock_connect(self.socket, address)
            ssl_context = self._client_ssl()
            kwargs: dict[str, Any] = {}
            if ssl_context is not None:
                kwargs["ssl"] = ssl_context
                kwargs["server_hostname"] = _hostname_for(ssl_context, server_hostname, address)
            await loop.create_connection(lambda: self._protocol, sock=self.socket, **kwargs)
        except asyncio.CancelledError:
            _fail(future, self.error)
            raise
        except (OSError, ssl.SSLError, ValueError) as exc:
            if not self._closed:
                gen_log.warning("Connect error on fd %s: %s", self.socket.fileno(), exc)
                self.close(exc_info=exc)
            _fail(future, exc)
            return
        if not future.done():
            future.set_result(self)

    def _client_ssl(self) -> ssl.SSLContext | None:
        return None

    def start_tls(
        self,
        server_side: bool,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> asyncio.Future[SSLIOStream]:
        """Upgrade this connection to TLS; the future resolves to a new :class:`SSLIOStream`.

        For protocols like STARTTLS. This stream must be idle (no pending
        read or write and nothing buffered) and must not be used afterwards;
        its close callback moves to the new stream. ``ssl_options`` is an
        :class:`ssl.SSLContext` or the dict form; clients verify certificates
        against the system CAs by default. Raises :class:`ValueError` if the
        stream is not idle; the future raises :class:`StreamClosedError` if
        the handshake fails.
        """
        if self.reading() or self.writing() or self._buf or self._queued:
            raise ValueError("IOStream is not idle; cannot convert to SSL")
        self._check_closed()
        transport = self._transport
        if transport is None:
            raise ValueError("IOStream is not connected; cannot convert to SSL")
        if ssl_options is None:
            ssl_options = {} if server_side else _default_client_context()
        context = ssl_options_to_context(ssl_options, server_side=server_side)
        hostname = None if server_side else _hostname_for(
            context, server_hostname, transport.get_extra_info("peername")
        )
        new = SSLIOStream(_NO_SOCKET, max_buffer_size=self.max_buffer_size,
                          read_chunk_size=self.read_chunk_size,
                          max_write_buffer_size=self.max_write_buffer_size)
        new.socket = self.socket
        new._close_callback, self._close_callback = self._close_callback, None
        # Hand the transport over: this stream is finished without closing it.
        protocol = self._protocol
        protocol.stream = new
        new._protocol = protocol
        self._transport = None
        self._closed = True
        self._signalled = True
        future: asyncio.Future[SSLIOStream] = self._loop.create_future()
        new._attach_task = self._loop.create_task(
            new._upgrade(transport, context, server_side, hostname, future)
        )
        return future

    async def _upgrade(
        self,
        transport: asyncio.Transport,
        context: ssl.SSLContext,
        server_side: bool,
        server_hostname: str | None,
        future: asyncio.Future[Any],
    ) -> None:
        try:
            tls = await self._loop.start_tls(
                transport, self._protocol, context,
                server_side=server_side, server_hostname=server_hostname,
            )
        except (OSError, ssl.SSLError, ValueError, ConnectionError) as exc:
            transport.abort()
            self.close(exc_info=exc)
            _fail(future, exc)
            return
        except asyncio.CancelledError:
            transport.abort()
            _fail(future, self.error)
            raise
        if tls is None:  # pragma: no cover - only when the transport closed meanwhile
            self.close()
            _fail(future, self.error)
            return
        self._attach(tls)
        future.set_result(self)


def _hostname_for(context: ssl.SSLContext, hostname: str | None, address: Any) -> str:
    """The name to verify: the one given, else the address when checking is on, else none."""
    if hostname is not None:
        return hostname
    if context.check_hostname and isinstance(address, tuple) and address:
        return str(address[0])
    return ""


class SSLIOStream(IOStream):
    """An :class:`IOStream` over TLS.

    Pass ``ssl_options`` (an :class:`ssl.SSLContext` or the dict form) as a
    keyword argument. With an unconnected socket, :meth:`connect` connects
    and performs the client handshake (verifying the server against the
    system CAs unless ``ssl_options`` says otherwise). With a connected
    socket, the stream performs the server-side handshake. Streams that a
    TLS :class:`~dualweb.tcpserver.TCPServer` hands to ``handle_stream``
    have completed their handshake already.
    """

    __slots__ = ("_ssl_options",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._ssl_options: dict[str, Any] | ssl.SSLContext | None = kwargs.pop(
            "ssl_options", None
        )
        super().__init__(*args, **kwargs)

    def _adopt_ssl(self) -> ssl.SSLContext | None:
        return ssl_options_to_context(self._ssl_options or {}, server_side=True)

    def _client_ssl(self) -> ssl.SSLContext | None:
        if self._ssl_options is None:
            return _default_client_context()
        return ssl_options_to_context(self._ssl_options, server_side=False)

    def wait_for_handshake(self) -> asyncio.Future[SSLIOStream]:
        """A future that resolves to this stream once the TLS handshake is done.

        Raises :class:`StreamClosedError` through the future if the handshake
        fails or the stream closes first.
        """
        future: asyncio.Future[SSLIOStream] = self._loop.create_future()
        if self._transport is not None and not self._closed:
            future.set_result(self)
            return future
        task = self._attach_task
        if self._closed or task is None:
            _fail(future, self.error)
            return future

        def done(_: asyncio.Task[None]) -> None:
            if future.done():
                return
            if self._transport is not None and not self._closed:
                future.set_result(self)
            else:
                _fail(future, self.error)

        task.add_done_callback(done)
        return future


class PipeIOStream(BaseIOStream):
    """A stream over a pipe (or other non-socket) file descriptor ``fd``.

    Used for the ``stdin``/``stdout``/``stderr`` of
    :class:`dualweb.process.Subprocess`. The stream puts ``fd`` in
    non-blocking mode and closes it on :meth:`close`. Reading starts with
    the first read call, so a write-only pipe is never polled for input.
    """

    __slots__ = ("_out", "_reader_on", "_writer_on", "fd")

    def __init__(self, fd: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The file descriptor.
        self.fd = fd
        os.set_blocking(fd, False)
        self._out = bytearray()
        self._reader_on = False
        self._writer_on = False

    def fileno(self) -> int:
        """The pipe's file descriptor."""
        return self.fd

    def _io_write(self, data: bytes) -> None:
        if not self._out:
            try:
                sent = os.write(self.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self.close(exc_info=exc)
                return
            data = data[sent:]
            if not data:
                return
        self._out += data
        if not self._writer_on:
            self._writer_on = True
            self._loop.add_writer(self.fd, self._on_writable)

    def _on_writable(self) -> None:
        try:
            sent = os.write(self.fd, self._out)
        except BlockingIOError:
            return
        except OSError as exc:
            self.close(exc_info=exc)
            return
        del self._out[:sent]
        if not self._out:
            self._writer_on = False
            self._loop.remove_writer(self.fd)
            self._on_drained()

    def _io_write_size(self) -> int:
        return len(self._out)

    def _io_want_read(self) -> None:
        if not self._reader_on and not self._closed:
            self._reader_on = True
            self._loop.add_reader(self.fd, self._on_readable)

    def _io_pause_read(self) -> None:
        if self._reader_on:
            self._reader_on = False
            self._loop.remove_reader(self.fd)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, self.read_chunk_size)
        except BlockingIOError:
            return
        except OSError as exc:
            self.close(exc_info=exc)
            return
        if not data:
            self.close()
            return
        self._on_data(data)

    def _io_close(self, abort: bool) -> None:
        self._io_pause_read()
        if self._writer_on:
            self._writer_on = False
            self._loop.remove_writer(self.fd)
        self._out.clear()
        try:
            os.close(self.fd)
        except OSError:
            # Already closed by its owner; nothing left to release.
            pass
