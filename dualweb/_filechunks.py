"""Reading a byte range of a file in chunks, for ``HTTPConnection.send_file`` and its drivers.

A leaf module (no dualweb imports): the seam (:mod:`dualweb.connection`), the
native driver's ``sendfile`` (:mod:`dualweb._filesend`) and the WSGI bodies
(:mod:`dualweb.wsgi.filebody`) all read files this way.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["COPY_CHUNK", "file_chunks", "file_descriptor"]

#: Bytes read per ``pread`` when a file is copied through ``write()``: large
#: enough that the per-chunk cost (a read, a write, a wait) is small next to
#: the copying, small enough that 1000 slow clients cost 256 MiB at most.
COPY_CHUNK = 256 * 1024


def file_descriptor(file: BinaryIO) -> int | None:
    """The OS file descriptor behind ``file``, or ``None`` (an in-memory file, a wrapper)."""
    try:
        return file.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def file_chunks(file: BinaryIO, offset: int, count: int, size: int) -> Iterator[bytes]:
    """Yield ``count`` bytes of ``file`` from ``offset``, ``size`` bytes at a time.

    Reads with ``os.pread`` (no seeking, the file position is left alone)
    when the file has a descriptor, else seeks and reads. Stops early if the
    file is shorter. The file is not closed.
    """
    fd = file_descriptor(file)
    if fd is None:
        file.seek(offset)
    while count > 0:
        want = min(size, count)
        chunk = os.pread(fd, want, offset) if fd is not None else file.read(want)
        if not chunk:
            return
        offset += len(chunk)
        count -= len(chunk)
        yield chunk
