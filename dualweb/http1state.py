"""What both halves of the HTTP/1 codec share: states, limits, header writing, body framing.

:mod:`dualweb.http1codec` explains how the pieces fit together.  This module
holds the parts that do not depend on the role:

* the named connection states (:data:`IDLE`, :data:`SEND_BODY`, :data:`DONE`, ...)
  that :class:`~dualweb.http1server.HTTP1ServerCodec` and
  :class:`~dualweb.http1client.HTTP1ClientCodec` keep for each side;
* the default limits;
* writing a header block, which validates every header before anything is
  returned (:func:`render_headers`);
* reading a message body for each framing RFC 9112 defines: a
  ``Content-Length`` (:class:`ContentLengthBody`), ``chunked``
  (:class:`ChunkedBody`) and, for responses, until the connection closes
  (:class:`CloseDelimitedBody`).  The server reads request bodies and the
  client response bodies with the same classes.
"""

from __future__ import annotations

import re
from collections import deque
from http import HTTPStatus
from typing import Any, Final

from dualweb.http1events import Data, Event, LocalProtocolError, Sentinel
from dualweb.httputil import HTTPHeaders

__all__ = [
    "CLOSED",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_HEADER_SIZE",
    "DONE",
    "ERROR",
    "IDLE",
    "MAX_CHUNK_LINE_SIZE",
    "MIGHT_SWITCH_PROTOCOL",
    "MUST_CLOSE",
    "SEND_BODY",
    "SEND_RESPONSE",
    "STATUS_LINES",
    "SWITCHED_PROTOCOL",
    "BodyReader",
    "ChunkedBody",
    "CloseDelimitedBody",
    "ContentLengthBody",
    "Reject",
    "State",
    "format_chunk",
    "is_token",
    "not_latin1",
    "phrase_for",
    "render_headers",
    "status_line",
]


# --------------------------------------------------------------------------- states


class State(Sentinel):
    """A named state of one side of an HTTP/1 connection (compare with ``is``)."""

    __slots__ = ()


IDLE: Final = State("IDLE")
"""Between messages: nothing of the next message was sent or received yet."""

SEND_RESPONSE: Final = State("SEND_RESPONSE")
"""Server only: a request was received and its response has not started."""

SEND_BODY: Final = State("SEND_BODY")
"""The message head is done; its body is being sent or received."""

DONE: Final = State("DONE")
"""This side's message is complete and the connection may carry another one."""

MUST_CLOSE: Final = State("MUST_CLOSE")
"""This side's message is complete and the connection must close afterwards."""

CLOSED: Final = State("CLOSED")
"""This side closed the connection (for the peer: its EOF was received)."""

MIGHT_SWITCH_PROTOCOL: Final = State("MIGHT_SWITCH_PROTOCOL")
"""An upgrade request is complete; the response decides whether HTTP/1 ends."""

SWITCHED_PROTOCOL: Final = State("SWITCHED_PROTOCOL")
"""A ``101 Switching Protocols`` was sent or received: the bytes are no longer HTTP/1."""

ERROR: Final = State("ERROR")
"""This side broke the protocol; the connection can only be closed."""


# --------------------------------------------------------------------------- limits

DEFAULT_MAX_HEADER_SIZE: Final = 65536
"""Bytes of start line plus header block accepted before a 431."""

DEFAULT_MAX_BODY_SIZE: Final = 100 * 1024 * 1024
"""Bytes of request body accepted before a 413."""

DEFAULT_CHUNK_SIZE: Final = 65536
"""The largest :class:`~dualweb.http1events.Data` event."""

MAX_CHUNK_LINE_SIZE: Final = 128 * 1024
"""The longest chunk-size line (size plus extensions) or trailer line accepted."""


class Reject(Exception):
    """Raised inside the codec to stop parsing with a status for the peer (400, 413, 431, 505)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


# --------------------------------------------------------------------------- writing

STATUS_LINES: Final[dict[int, tuple[str, str]]] = {
    s.value: (s.phrase, f"HTTP/1.1 {s.value} {s.phrase}") for s in HTTPStatus
}
"""Status code → (standard reason phrase, full status line)."""

# RFC 9110 section 5.6.2.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# Header names already checked to be tokens.  Handlers set the same few names
# on every response, so the check is one C-level issuperset() call; bounded
# because names can come from anywhere.
_GOOD_NAMES: Final[set[str]] = set()
_GOOD_NAMES_LIMIT: Final = 1000


def is_token(text: str) -> bool:
    """True if ``text`` is an RFC 9110 token (what method and header names must be)."""
    return _TOKEN.fullmatch(text) is not None


def phrase_for(code: int, default: str = "Unknown") -> str:
    """The standard reason phrase for ``code`` (``default`` when it has none)."""
    known = STATUS_LINES.get(code)
    return known[0] if known is not None else default


def status_line(code: int, reason: str) -> str:
    """``HTTP/1.1 <code> <reason>`` (without CRLF); raises :class:`LocalProtocolError` on CR/LF."""
    known = STATUS_LINES.get(code)
    if known is not None and known[0] == reason:
        return known[1]
    if "\r" in reason or "\n" in reason or "\x00" in reason:
        raise LocalProtocolError(f"Illegal characters (CR or LF) in reason phrase: {reason!r}")
    return f"HTTP/1.1 {code} {reason}"


def render_headers(headers: HTTPHeaders) -> tuple[str, dict[str, str]]:
    """Every header as ``Name: value`` lines joined by CRLF (no trailing CRLF), and the fields.

    The fields are the name → value mapping (the first value of a repeated
    name), for the caller's framing decisions.  Everything a peer could
    misread is refused with :class:`LocalProtocolError` naming the header: a
    name that is not a token, CR, LF or NUL in a value, a ``Content-Length``
    that is not a non-negative integer.  Whether it all is latin-1 is checked
    when the caller encodes the head (see :func:`not_latin1`).
    """
    # The common case (no repeated name) joins the headers' own dict directly;
    # with a repeated name, fields holds each name's comma-joined values.
    single = headers.single_values()
    fields: dict[str, str]
    pairs: Any
    if single is not None:
        fields = single
        pairs = single.items()
    else:
        fields = {name: headers[name] for name in headers}
        pairs = list(headers.get_all())
    count = len(pairs)
    if not count:
        return "", fields
    if not fields.keys() <= _GOOD_NAMES:
        _check_names(fields)
    try:
        # str.join over the pairs runs in C: no Python frame per header.
        block = "\r\n".join(map(": ".join, pairs))
        # The names are tokens, so only a value can hold CR, LF or NUL, and
        # printable text holds none of them: one C pass over the values
        # (they are all in fields, comma-joined when repeated).
        printable = "".join(fields.values()).isprintable()
    except TypeError:
        # A value that is not a str (someone bypassed set_header).
        block = "\r\n".join([f"{name}: {value}" for name, value in pairs])
        printable = False
    # Otherwise (a tab, non-ASCII text): n lines joined by CRLF hold exactly
    # n - 1 CRs and LFs.
    if not printable and (
        block.count("\n") != count - 1 or block.count("\r") != count - 1 or "\x00" in block
    ):
        _refuse_line(pairs)
    length = fields.get("Content-Length")
    if length is not None and not (length.isdigit() and length.isascii()):
        raise LocalProtocolError(
            f"Content-Length must be a non-negative integer, got {length!r}"
        )
    return block, fields


def _check_names(fields: dict[str, str]) -> None:
    for name in fields:
        if name not in _GOOD_NAMES:
            if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
                raise LocalProtocolError(f"Invalid header name {name!r}: not an RFC 9110 token")
            if len(_GOOD_NAMES) < _GOOD_NAMES_LIMIT:
                _GOOD_NAMES.add(name)


def _refuse_line(pairs: Any) -> None:
    for name, value in pairs:
        text = str(value)
        if "\r" in text or "\n" in text:
            raise LocalProtocolError(
                f"Illegal characters (CR or LF) in header {name}: {text!r}"
            )
        if "\x00" in text:
            raise LocalProtocolError(f"Illegal character (NUL) in header {name}: {text!r}")


def not_latin1(text: str, headers: HTTPHeaders) -> LocalProtocolError:
    """The error for a message head ``text`` that latin-1 cannot encode, naming the culprit.

    Writers encode the whole head at once and call this only when that
    fails, so the common case costs nothing.
    """
    for name, value in headers.get_all():
        try:
            f"{name}: {value}".encode("latin-1")
        except UnicodeEncodeError:
            return LocalProtocolError(f"Header {name} is not latin-1: {name}: {value!r}")
    return LocalProtocolError(f"Start line is not latin-1: {text.partition(chr(13))[0]!r}")


def format_chunk(chunk: bytes) -> bytes:
    """One chunk of ``chunked`` transfer coding."""
    return b"%x\r\n%b\r\n" % (len(chunk), chunk)


# --------------------------------------------------------------------------- reading bodies


def emit(events: deque[Event], buf: bytes, start: int, stop: int, chunk_size: int) -> None:
    """Queue ``buf[start:stop]`` as :class:`~dualweb.http1events.Data` events (``chunk_size`` each).

    Each body byte is copied at most once: a whole buffer is passed on as it
    is, and a stretch longer than ``chunk_size`` is cut into pieces straight
    from the buffer (slicing it first, then the slice, would copy it twice).
    """
    if stop - start <= chunk_size:
        # (A slice of the whole bytes object is that object: no copy then.)
        events.append(Data(buf[start:stop]))
        return
    with memoryview(buf) as view:
        for at in range(start, stop, chunk_size):
            events.append(Data(bytes(view[at : min(at + chunk_size, stop)])))


class BodyReader:
    """Reads one message body out of the bytes a codec receives.

    :meth:`read` takes the buffer and the position where the body continues,
    queues :class:`~dualweb.http1events.Data` events and returns the position
    after the bytes it consumed; every reader consumes all the bytes it is
    given until its body ends (partial framing lines are kept inside the
    reader), so a smaller return value means the body is complete.
    ``announced`` counts the body bytes the peer has announced but not
    necessarily sent yet (chunk sizes), so a limit can act before they
    arrive.  :class:`Reject` reports a framing error.
    """

    __slots__ = ("announced", "done")

    def __init__(self) -> None:
        self.done = False
        self.announced = 0

    def read(self, buf: bytes, pos: int, events: deque[Event], chunk_size: int) -> int:
        """Consume body bytes from ``buf[pos:]``; return the position after them."""
        raise NotImplementedError

    def eof(self) -> bool:
        """The peer closed the connection: True if that ends this body normally."""
        return False


class ContentLengthBody(BodyReader):
    """A body of exactly ``length`` bytes (``length`` > 0)."""

    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        super().__init__()
        self.remaining = length

    def read(self, buf: bytes, pos: int, events: deque[Event], chunk_size: int) -> int:
        """Consume up to the remaining length."""
        end = len(buf)
        remaining = self.remaining
        if end - pos >= remaining:
            stop = pos + remaining
            self.remaining = 0
            self.done = True
        else:
            stop = end
            self.remaining = remaining - (end - pos)
        emit(events, buf, pos, stop, chunk_size)
        return stop


class CloseDelimitedBody(BodyReader):
    """A response body that ends when the server closes the connection."""

    __slots__ = ()

    def read(self, buf: bytes, pos: int, events: deque[Event], chunk_size: int) -> int:
        """Consume everything."""
        end = len(buf)
        emit(events, buf, pos, end, chunk_size)
        return end

    def eof(self) -> bool:
        """The close is this body's end."""
        self.done = True
        return True


# chunk = chunk-size [ chunk-ext ] CRLF (RFC 9112 section 7.1); BWS only before ';'.
_CHUNK_LINE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?")
_TRAILER_LINE: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*")

# Size lines seen before (peers use the same few sizes), → their value; bounded.
_CHUNK_SIZES: Final[dict[bytes, int]] = {}
_CHUNK_SIZES_LIMIT: Final = 1000


def _chunk_size(line: bytes) -> int:
    match = _CHUNK_LINE.fullmatch(line)
    if match is None:
        raise Reject(400, f"invalid chunk size line {line[:40]!r}")
    size = int(match.group(1), 16)
    if len(_CHUNK_SIZES) < _CHUNK_SIZES_LIMIT and len(line) <= 8:
        _CHUNK_SIZES[line] = size
    return size


def _flush(pending: list[Any], events: deque[Event]) -> None:
    """Queue the collected chunk data (bytes, or views of the buffer) as one event; empty it."""
    if len(pending) == 1:
        data = pending[0]
        events.append(Data(data if type(data) is bytes else bytes(data)))
    else:
        events.append(Data(b"".join(pending)))
    pending.clear()


# Chunks at least this long are collected as views of the buffer, so their
# bytes are copied once (into the joined event) instead of twice; a view costs
# more than copying a short chunk.
_VIEW_MIN: Final = 2048


_SIZE: Final = 0
_CHUNK_DATA: Final = 1
_CHUNK_END: Final = 2
_TRAILER: Final = 3


class ChunkedBody(BodyReader):
    """A ``Transfer-Encoding: chunked`` body; trailer fields are checked and dropped.

    A chunk-size line or trailer line longer than ``max_line`` (chunk
    extensions are unbounded in the grammar) is refused with 400, as is a
    trailer section larger than ``max_trailer``.
    """

    __slots__ = ("max_line", "max_trailer", "partial", "remaining", "state", "trailer_size")

    def __init__(self, max_line: int, max_trailer: int) -> None:
        super().__init__()
        self.max_line = max_line
        self.max_trailer = max_trailer
        self.state = _SIZE
        self.remaining = 0
        # The start of a framing line (or of the CRLF after chunk data) that
        # the last receive cut off.
        self.partial: bytearray | None = None
        self.trailer_size = 0

    def read(self, buf: bytes, pos: int, events: deque[Event], chunk_size: int) -> int:
        """Consume chunks until the last one and its trailer section."""
        if self.partial is not None:
            pos = self._finish_line(buf, pos, events, chunk_size)
            if pos < 0:
                return len(buf)
            if self.done:
                return pos
        return self._scan(buf, pos, events, chunk_size)

    def _finish_line(self, buf: bytes, pos: int, events: deque[Event], chunk_size: int) -> int:
        """Complete the framing line the last receive cut off; the position after it, or -1.

        Only the line's own bytes are taken from ``buf`` (its end is searched
        within the line limit), so a line sent a byte at a time costs linear
        time and the chunk data behind it is not copied. The completed line is
        parsed on its own; -1 means it is still incomplete (all consumed).
        """
        partial = self.partial
        assert partial is not None
        end = len(buf)
        if self.state == _CHUNK_END:
            stop = pos + 2 - len(partial)
        else:
            room = self.max_line + 2 - len(partial)
            newline = buf.find(b"\n", pos, pos + room) if room > 0 else -1
            if newline < 0 and end - pos >= room:
                raise Reject(400, "chunk line too long (chunk extension over the limit)")
            stop = newline + 1 if newline >= 0 else end + 1
        if stop > end:
            partial += memoryview(buf)[pos:]
            return -1
        line = bytes(partial) + buf[pos:stop]
        self.partial = None
        if self.state != _CHUNK_END and not line.endswith(b"\r\n"):
            raise Reject(400, "chunk line not ended by CRLF")
        # The line alone: the scan consumes all of it (no part is kept back).
        self._scan(line, 0, events, chunk_size)
        return stop

    def _scan(self, buf: bytes, pos: int, events: deque[Event], chunk_size: int) -> int:
        end = len(buf)
        line_limit = self.max_line + 2
        # Whole chunks found in this buffer are joined into Data events of up
        # to chunk_size bytes: one event per receive instead of one per chunk.
        pending: list[Any] = []
        pending_size = 0
        view: memoryview | None = None
        while pos < end:
            state = self.state
            if state == _CHUNK_DATA:
                remaining = self.remaining
                stop = pos + remaining if end - pos > remaining else end
                emit(events, buf, pos, stop, chunk_size)
                self.remaining = remaining = remaining - (stop - pos)
                pos = stop
                if not remaining:
                    self.state = _CHUNK_END
            elif state == _CHUNK_END:
                if end - pos < 2:
                    break
                if not buf.startswith(b"\r\n", pos):
                    raise Reject(400, "chunk data not followed by CRLF")
                pos += 2
                self.state = _SIZE
            else:
                line_end = buf.find(b"\r\n", pos, pos + line_limit)
                if line_end < 0:
                    if end - pos >= line_limit:
                        raise Reject(400, "chunk line too long (chunk extension over the limit)")
                    break
                line = buf[pos:line_end]
                pos = line_end + 2
                if state == _SIZE:
                    size = _CHUNK_SIZES.get(line)
                    if size is None:
                        size = _chunk_size(line)
                    if not size:
                        self.state = _TRAILER
                        continue
                    self.announced += size
                    data_end = pos + size
                    if data_end + 2 <= end:
                        # The whole chunk and its CRLF are here (the usual
                        # case): no trip through the other states.
                        if not buf.startswith(b"\r\n", data_end):
                            raise Reject(400, "chunk data not followed by CRLF")
                        if pending_size + size > chunk_size and pending:
                            _flush(pending, events)
                            pending_size = 0
                        if size < _VIEW_MIN:
                            pending.append(buf[pos:data_end])
                            pending_size += size
                        elif size <= chunk_size:
                            if view is None:
                                view = memoryview(buf)
                            pending.append(view[pos:data_end])
                            pending_size += size
                        else:
                            emit(events, buf, pos, data_end, chunk_size)
                        pos = data_end + 2
                        continue
                    if pending:
                        _flush(pending, events)
                        pending_size = 0
                    self.remaining = size
                    self.state = _CHUNK_DATA
                elif self._trailer_line(line):
                    self.done = True
                    if pending:
                        _flush(pending, events)
                    return pos
        if pending:
            _flush(pending, events)
        if pos < end:
            self.partial = bytearray(buf[pos:])
        return end

    def _trailer_line(self, line: bytes) -> bool:
        if not line:
            return True
        self.trailer_size += len(line) + 2
        if self.trailer_size > self.max_trailer:
            raise Reject(431, "trailer section too large")
        if _TRAILER_LINE.fullmatch(line) is None:
            raise Reject(400, f"invalid trailer field {line[:40]!r}")
        return False
