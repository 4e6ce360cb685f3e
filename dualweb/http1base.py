"""The part of the HTTP/1 codec both halves run: reading message heads, then bodies.

:class:`BaseHTTP1Codec` cuts the incoming bytes into messages itself: it finds
the end of each head (the first empty line), hands exactly those bytes to
llhttp, then reads the body with the framing the head declares
(:mod:`dualweb.http1state`).  llhttp therefore never sees a body and never
runs past a message boundary, which is what lets the server look at each
request line before llhttp does (methods llhttp does not know, see
:mod:`dualweb.http1server`) and act on a chunk size as soon as it arrives.
See :mod:`dualweb.http1codec` for the whole picture.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import httptools

from dualweb.headers import HTTPHeaders, normalize_header_name
from dualweb.http1events import Event, LocalProtocolError, ProtocolError
from dualweb.http1state import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_HEADER_SIZE,
    ERROR,
    IDLE,
    BodyReader,
    Reject,
    State,
    format_chunk,
)

__all__ = ["BaseHTTP1Codec", "HeadReader"]


def _lf_head_end(buf: bytes, pos: int) -> int:
    """The position after the first empty line in ``buf[pos:]`` (LF or CRLF line ends), or -1.

    RFC 9112 section 2.2 lets a recipient accept a bare LF as a line end;
    only the client does.  Two C-level searches: a CRLF head is found by the
    first (its empty line holds ``\\n\\r\\n``), and the second only looks before it.
    """
    crlf = buf.find(b"\n\r\n", pos)
    lf = buf.find(b"\n\n", pos, crlf + 2 if crlf >= 0 else len(buf))
    if lf >= 0:
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1


# Header names as they arrive on the wire, mapped to HTTPHeaders' Http-Header-Case.
# Peers send the same few names on every message, so the parser callback
# costs one dict lookup per line; bounded because the names come from peers.
_WIRE_NAMES: Final[dict[bytes, str]] = {}
_WIRE_NAMES_LIMIT: Final = 2000


def _wire_name(raw: bytes) -> str:
    name = normalize_header_name(raw.decode("latin-1"))
    if len(_WIRE_NAMES) < _WIRE_NAMES_LIMIT:
        _WIRE_NAMES[raw] = name
    return name


# Wraps a dict of normalized names and values without normalizing them again
# (tests/test_http1codec.py checks the result behaves exactly like headers
# built with add()); bound once for the per-message call.
_make_headers: Final = HTTPHeaders.from_normalized


class HeadReader:
    """Receives llhttp's callbacks for one message head at a time.

    It holds no reference to the codec, so a connection's objects are freed
    by reference counting.  Header lines go straight into the dict that
    becomes the message's :class:`~dualweb.httputil.HTTPHeaders` (names
    already in ``Http-Header-Case``); only a repeated name takes the slower
    ``HTTPHeaders.add`` path once the head is complete.  Optional whitespace
    around values is stripped (llhttp strips only the leading part).
    """

    __slots__ = ("fields", "head_done", "message_done", "repeated", "url")

    def __init__(self) -> None:
        self.url = b""
        self.fields: dict[str, str] = {}
        self.repeated: list[tuple[str, str]] | None = None
        self.head_done = False
        self.message_done = False

    # llhttp may deliver the target (or reason phrase) in several pieces.
    def on_url(self, url: bytes) -> None:
        """The request target, or a piece of it."""
        self.url = self.url + url if self.url else url

    on_status = on_url

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header line."""
        key = _WIRE_NAMES.get(name) or _wire_name(name)
        text = value.rstrip(b" \t").decode("latin-1")
        fields = self.fields
        if key in fields:
            if self.repeated is None:
                self.repeated = []
            self.repeated.append((key, text))
        else:
            fields[key] = text

    def on_headers_complete(self) -> None:
        """The head is complete."""
        self.head_done = True

    def on_message_complete(self) -> None:
        """llhttp finished the message by itself (it has no body)."""
        self.message_done = True

    def take_headers(self) -> HTTPHeaders:
        """The head's headers; the reader is ready for the next head."""
        fields = self.fields
        headers = _make_headers(fields)
        self.fields = {}
        repeated = self.repeated
        if repeated is not None:
            self.repeated = None
            add = headers.add
            for key, value in repeated:
                add(key, value)
        return headers


class BaseHTTP1Codec:
    """What the server and client codecs share: the receive loop, limits and send framing.

    ``our_state`` and ``their_state`` are the named states
    (:mod:`dualweb.http1state`) of our side and of the peer.  Subclasses
    provide ``_new_parser`` (llhttp's request or response parser),
    ``_start_head`` (look at a message's first bytes), ``_head_complete``
    (turn the parsed head into an event and choose the body framing) and
    ``_body_complete``.
    """

    __slots__ = (
        "_body",
        "_chunked_out",
        "_cr",
        "_eof",
        "_error",
        "_head_size",
        "_in_head",
        "_parser",
        "_parser_dirty",
        "_reader",
        "_remaining_out",
        "_starting",
        "_tail",
        "chunk_size",
        "events",
        "max_header_size",
        "our_state",
        "their_state",
        "trailing_data",
    )

    _reads_start_line = True
    """Whether ``_start_head`` must see each message's first bytes (the server's methods)."""

    _bare_lf = False
    """Whether head lines may end in a bare LF (the client's leniency; the server is strict)."""

    def __init__(self, max_header_size: int | None, chunk_size: int | None) -> None:
        self.max_header_size = max_header_size or DEFAULT_MAX_HEADER_SIZE
        self.chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
        self.events: deque[Event] = deque()
        """The queue behind ``next_event()`` (read it, never change it)."""
        self._reader = HeadReader()
        self._parser = self._new_parser()
        self._parser_dirty = False
        self._body: BodyReader | None = None
        self._in_head = False
        self._cr = False
        self._starting = False
        self._head_size = 0
        self._tail = b""
        self._error = False
        self._eof = False
        self._chunked_out = False
        self._remaining_out = -1
        self.our_state: State = IDLE
        """Our side's :class:`~dualweb.http1state.State`."""
        self.their_state: State = IDLE
        """The peer's :class:`~dualweb.http1state.State` (as far as events were taken)."""
        self.trailing_data = b""
        """Bytes received after an upgrade (the new protocol's first bytes)."""

    # ----------------------------------------------------------------- hooks

    def _new_parser(self) -> httptools.HttpRequestParser | httptools.HttpResponseParser:
        raise NotImplementedError

    def _start_head(self, buf: bytes, pos: int) -> int:
        self._starting = False
        return pos

    def _head_complete(self, buf: bytes, end: int) -> int:
        raise NotImplementedError

    def _body_complete(self) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- input

    @property
    def has_backlog(self) -> bool:
        """True when parsed events are waiting to be taken with ``next_event()``."""
        return bool(self.events)

    def _feed(self, buf: bytes, pos: int = 0) -> None:
        # ``pos``: where the unread bytes start (the caller may have taken
        # heads already; slicing them off would copy the body behind them).
        end = len(buf)
        try:
            while pos < end and not self._error:
                body = self._body
                if body is None:
                    pos = self._read_head(buf, pos)
                else:
                    pos = body.read(buf, pos, self.events, self.chunk_size)
                    if body.done:
                        self._body = None
                        self._body_complete()
        except Reject as reject:
            self._fail(reject.status_code, str(reject))

    def _read_head(self, buf: bytes, pos: int) -> int:
        """Feed llhttp the head bytes in ``buf[pos:]``; return the position after them."""
        end = len(buf)
        if not self._in_head:
            # llhttp also tolerates empty lines before a message; skipping
            # them here keeps them out of the search for the head's end.
            if self._cr:
                # A CR ended the previous piece: it must start a CRLF.
                if buf[pos : pos + 1] != b"\n":
                    raise Reject(400, "CR not followed by LF")
                pos += 1
                self._cr = False
            while buf.startswith(b"\r\n", pos):
                pos += 2
            if pos == end - 1 and buf[pos] == 13:
                self._cr = True
                return end
            if pos >= end:
                return end
            if self._parser_dirty:
                # The previous message had a body llhttp never saw.
                self._parser = self._new_parser()
                self._parser_dirty = False
            self._in_head = True
            self._starting = self._reads_start_line
        if self._starting:
            # Until the hook has seen enough of the start line (it clears
            # _starting); it consumes what it keeps.
            pos = self._start_head(buf, pos)
            if pos >= end:
                return end
        tail = self._tail
        head_end = -1
        if self._bare_lf:
            head_end = self._find_lf_head_end(buf, pos, tail) if tail else _lf_head_end(buf, pos)
        else:
            if tail:
                # The empty line may straddle two receives.
                found = (tail + buf[pos : pos + 3]).find(b"\r\n\r\n")
                if found >= 0:
                    head_end = pos + found + 4 - len(tail)
            if head_end < 0:
                head_end = buf.find(b"\r\n\r\n", pos)
                if head_end >= 0:
                    head_end += 4
        stop = head_end if head_end >= 0 else end
        size = self._head_size + stop - pos
        if size > self.max_header_size:
            raise Reject(431, "header block too large")
        piece = buf if pos == 0 and stop == end else buf[pos:stop]
        try:
            self._parser.feed_data(piece)
        except httptools.HttpParserUpgrade:
            pass  # the head is complete: exactly the head was fed
        except httptools.HttpParserError as exc:
            raise Reject(400, str(exc) or type(exc).__name__) from None
        if head_end < 0:
            self._head_size = size
            self._tail = (tail + piece)[-3:]
            return end
        self._head_size = 0
        self._tail = b""
        self._in_head = False
        return self._head_parsed(buf, head_end)

    @staticmethod
    def _find_lf_head_end(buf: bytes, pos: int, tail: bytes) -> int:
        """:func:`_lf_head_end` when the empty line may straddle the previous receive."""
        found = _lf_head_end(tail + buf[pos : pos + 3], 0)
        if found >= 0:
            return pos + found - len(tail)
        return _lf_head_end(buf, pos)

    def _head_parsed(self, buf: bytes, end: int) -> int:
        """llhttp has been fed a whole head ending at ``buf[end]``: make it an event."""
        reader = self._reader
        if not reader.head_done:
            raise Reject(400, "malformed message head")
        reader.head_done = False
        if reader.message_done:
            reader.message_done = False
        else:
            self._parser_dirty = True
        return self._head_complete(buf, end)

    def _fail(self, status_code: int, message: str) -> None:
        self._error = True
        self._body = None
        self.events.append(ProtocolError(status_code, message))

    # ----------------------------------------------------------------- output framing

    def _frame(self, chunk: bytes) -> bytes:
        """One body chunk as it goes on the wire (counted against a declared length)."""
        remaining = self._remaining_out
        if remaining >= 0:
            remaining -= len(chunk)
            if remaining < 0:
                self._local_error()
                raise LocalProtocolError("Tried to write more data than Content-Length")
            self._remaining_out = remaining
        if self._chunked_out:
            return format_chunk(chunk)
        return chunk

    def _end_body(self) -> bytes:
        """The end of our body: the last chunk when chunked; checks the declared length."""
        if self._remaining_out > 0:
            self._local_error()
            raise LocalProtocolError(
                f"Tried to write {self._remaining_out} bytes less than Content-Length"
            )
        return b"0\r\n\r\n" if self._chunked_out else b""

    def _local_error(self) -> None:
        self.our_state = ERROR
