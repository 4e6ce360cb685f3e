"""The native server's ``os.sendfile`` for :meth:`HTTPConnection.send_file`.

:meth:`dualweb.connection.HTTPConnection.send_file` hands a whole file (or a
byte range of it) to the driver instead of passing it through ``write()``
chunk by chunk. Each driver does what is cheapest for it:

* any connection (the seam's default): read chunks with ``os.pread`` and
  write them (:mod:`dualweb._filechunks`);
* the native server over plain TCP: ``os.sendfile`` from the file straight
  into the socket while the transport has nothing buffered
  (this module: :func:`sendfile_socket`, :func:`sendfile_some`,
  :func:`sendfile_rest`);
* the WSGI adapter: ``wsgi.file_wrapper`` when the server offers it (gunicorn
  then uses ``sendfile`` too), else an iterable reading the file in blocks
  (:mod:`dualweb.wsgi.filebody`).

In every case ``send_file`` owns the file from the call on and closes it
when the bytes are sent, when sending fails, or when the client goes away.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from dualweb.iostream import StreamClosedError
from dualweb.log import gen_log

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "FileShrankError",
    "log_short_file",
    "sendfile_rest",
    "sendfile_socket",
    "sendfile_some",
]

# Between two os.sendfile calls that found the socket full, this many bytes
# go through the transport: its buffer then tells when the socket drained.
_BRIDGE_CHUNK = 64 * 1024
_HAS_SENDFILE = hasattr(os, "sendfile")


def sendfile_socket(transport: asyncio.BaseTransport) -> int | None:
    """The socket descriptor ``os.sendfile`` may write to under ``transport``, or ``None``.

    ``None`` for TLS (the bytes must be encrypted by the transport), for
    transports without a stream socket, and where ``os.sendfile`` is missing.
    """
    if not _HAS_SENDFILE or transport.get_extra_info("ssl_object") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or getattr(sock, "type", None) != socket.SOCK_STREAM:
        return None
    try:
        fd: int = sock.fileno()
    except (AttributeError, OSError):
        return None
    return fd if fd >= 0 else None


class FileShrankError(OSError):
    """The file ended before the bytes promised in ``Content-Length`` were sent."""


def sendfile_some(sock_fd: int, file_fd: int, offset: int, count: int) -> int:
    """``os.sendfile`` until ``count`` bytes are sent or the socket is full; return bytes sent.

    Raises:
        StreamClosedError: the client is gone (broken pipe, reset).
        FileShrankError: the file ended first.
    """
    sent = 0
    while sent < count:
        try:
            n = os.sendfile(sock_fd, file_fd, offset + sent, count - sent)
        except (BlockingIOError, InterruptedError):
            return sent
        except OSError as exc:
            raise StreamClosedError(real_error=exc) from exc
        if not n:
            raise FileShrankError(f"the file ended {count - sent} bytes early")
        sent += n
    return sent


async def sendfile_rest(
    transport: asyncio.WriteTransport,
    write: Callable[[bytes], Awaitable[None]],
    file_fd: int,
    sock_fd: int,
    offset: int,
    count: int,
) -> None:
    """Send the rest of a file whose first ``os.sendfile`` found the socket full.

    Nobody may add a writer on a transport's socket, so the transport itself
    tells when the socket has room again: a chunk read with ``pread`` is
    written through ``write`` (the protocol's, which returns a waiter while
    the transport is paused) with the transport's high-water mark at zero,
    so the waiter completes only once its buffer is empty; then
    ``os.sendfile`` goes on. The water marks are restored at the end.

    Raises:
        StreamClosedError: the client went away.
        FileShrankError: the file ended early.
    """
    low, high = transport.get_write_buffer_limits()
    transport.set_write_buffer_limits(0, 0)
    try:
        while count > 0:
            if transport.is_closing():
                raise StreamClosedError()
            if not transport.get_write_buffer_size():
                sent = sendfile_some(sock_fd, file_fd, offset, count)
                offset += sent
                count -= sent
                if not count:
                    return
            chunk = os.pread(file_fd, min(_BRIDGE_CHUNK, count), offset)
            if not chunk:
                raise FileShrankError(f"the file ended {count} bytes early")
            offset += len(chunk)
            count -= len(chunk)
            await write(chunk)
    finally:
        if not transport.is_closing():
            transport.set_write_buffer_limits(high, low)


def log_short_file(error: FileShrankError) -> None:
    """Log a file that shrank while it was being sent (the connection is then closed)."""
    gen_log.error("Could not send the whole file (%s); closing the connection", error)
