"""Response bodies that end in a file, under WSGI (``HTTPConnection.send_file``).

The adapter's connection records the file a handler sends (it does no I/O);
:func:`file_response` turns it into the iterable the WSGI server gets:

* the server's ``wsgi.file_wrapper`` (PEP 3333) when it offers one and the
  body is only the file: gunicorn, for instance, then sends a whole file
  with ``sendfile``; a byte range is wrapped as a :class:`BoundedReader`
  (no ``fileno``), which servers read block by block;
* otherwise a :class:`FileBody` that reads the file in 256 KiB blocks as the
  server iterates, so a large file is never held in memory.

Either way the server's ``close()`` on the iterable closes the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from dualweb._filechunks import COPY_CHUNK, file_chunks, file_descriptor

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["BoundedReader", "FileBody", "SentFile", "file_response", "read_into_body"]

#: What the connection records for ``send_file``: the file, its offset and
#: byte count, and how many body chunks were written before it.
SentFile = tuple[BinaryIO, int, int, int]


class BoundedReader:
    """A read-only file-like view of ``count`` bytes of ``file`` from ``offset``.

    It has ``read`` and ``close`` but no ``fileno``, so a server's
    ``wsgi.file_wrapper`` reads it instead of sending the whole file.
    """

    def __init__(self, file: BinaryIO, offset: int, count: int) -> None:
        self._chunks = file_chunks(file, offset, count, COPY_CHUNK)
        self._file = file
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (all that remain when ``size`` < 0); ``b""`` at the end."""
        data = self._pending
        while size < 0 or len(data) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            data += chunk
        if 0 <= size < len(data):
            data, self._pending = data[:size], data[size:]
        else:
            self._pending = b""
        return data

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()


class FileBody:
    """A WSGI response iterable: ``head``, then the file's bytes in blocks, then ``tail``.

    ``close()`` (which WSGI servers call) closes the file, however far the
    iteration got.
    """

    def __init__(self, head: bytes, file: BinaryIO, offset: int, count: int, tail: bytes) -> None:
        self._head = head
        self._file = file
        self._offset = offset
        self._count = count
        self._tail = tail

    def __iter__(self) -> Iterator[bytes]:
        if self._head:
            yield self._head
        yield from file_chunks(self._file, self._offset, self._count, COPY_CHUNK)
        if self._tail:
            yield self._tail

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def file_response(
    environ: WSGIEnvironment, chunks: list[bytes], sent: SentFile, with_body: bool
) -> Iterable[bytes]:
    """The WSGI iterable for a response whose body is ``chunks`` with the file ``sent`` inside.

    ``with_body`` false (``HEAD``, 304): the file is closed and only the
    chunks are returned.
    """
    file, offset, count, position = sent
    if not with_body:
        file.close()
        return [b"".join(chunks)]
    head = b"".join(chunks[:position])
    tail = b"".join(chunks[position:])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is None or head or tail:
        return FileBody(head, file, offset, count, tail)
    if offset == 0 and _is_whole_file(file, count):
        # Only the whole file: a server may send it to its end with sendfile.
        body: Iterable[bytes] = wrapper(file, COPY_CHUNK)
    else:
        body = wrapper(BoundedReader(file, offset, count), COPY_CHUNK)
    return body


def _is_whole_file(file: BinaryIO, count: int) -> bool:
    fd = file_descriptor(file)
    if fd is None:
        return False
    try:
        return os.fstat(fd).st_size == count and file.tell() == 0
    except OSError:
        return False


def read_into_body(chunks: list[bytes], sent: SentFile) -> None:
    """Read the file ``sent`` into ``chunks`` at its place and close it (a second file came)."""
    file, offset, count, position = sent
    try:
        chunks.insert(position, b"".join(file_chunks(file, offset, count, COPY_CHUNK)))
    finally:
        file.close()
