"""A sans-io HTTP/1.0 and HTTP/1.1 codec for servers and clients.

Theory of operation
-------------------

This module turns bytes into events and events into bytes.  It never touches a
socket, a clock or an event loop; the native server
(:mod:`dualweb.http1connection`) and the HTTP client drive it.

Parsing is done by ``httptools`` (llhttp) in its default strict mode.  llhttp
is a push parser: ``feed_data()`` runs callbacks for everything the bytes
contain, possibly several pipelined messages at once.  The callbacks live on a
small private ``_Reader`` object that turns them into event objects and appends
them to a queue; the codec holds the parser and the reader, the reader holds no
reference back, so a connection's objects are freed by reference counting.

The driver follows the shape of h11:

* ``receive_data(data)`` feeds bytes (``b""`` means the peer closed);
* ``next_event()`` returns the next event, or :data:`NEED_DATA` when more bytes
  are needed, or :data:`PAUSED` on a server when a whole request has been
  delivered and its response is not finished yet.  Pipelined requests stay
  queued until then, so responses can only go out in request order; the
  driver stops reading from the socket while events are queued
  (:attr:`HTTP1ServerCodec.has_backlog`), which is the back-pressure;
* ``send_response()`` / ``send_data()`` / ``send_end()`` (``send_request()`` on
  a client) return the bytes to write.  The status line, the headers and the
  first body chunk come back as ONE ``bytes`` object so a small response is one
  ``transport.write``.

Events (defined in :mod:`dualweb.http1events`, re-exported here):
:class:`Request` (server) or :class:`Response` (client) with the start
line and :class:`~dualweb.httputil.HTTPHeaders`, then :class:`Data` chunks, then
:data:`END_OF_MESSAGE`.  A violation becomes a :class:`ProtocolError` event
carrying the status the server must answer with (400, 413, 431, 505); after it
the codec parses nothing more and the connection must be closed.
:data:`CONNECTION_CLOSED` reports the peer's EOF.

Limits that handlers may change while a request is being read
(``set_max_body_size``, as Tornado's ``@stream_request_body`` handlers do in
``prepare()``) are applied when events are *taken* with ``next_event()``, not
when bytes are parsed, so a change made in ``headers_received`` applies to
that request's body.

Request smuggling: llhttp already rejects ``Content-Length`` together with
``Transfer-Encoding``, duplicate or non-numeric lengths, bare LF and obsolete
line folding.  We add what it lets through: any transfer coding other than a
single ``chunked``, ``Transfer-Encoding`` on HTTP/1.0, versions other than
1.0/1.1 and upgrade requests that carry a body.
"""

from __future__ import annotations

from collections import deque
from http import HTTPStatus
from typing import Any, Final

import httptools

from dualweb.connection import RequestStartLine, ResponseStartLine
from dualweb.http1events import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    LocalProtocolError,
    ProtocolError,
    Request,
    Response,
    Sentinel,
)
from dualweb.httputil import HTTPHeaders, _normalize_name, _wrap_normalized, http_date_now

__all__ = [
    "CONNECTION_CLOSED",
    "END_OF_MESSAGE",
    "NEED_DATA",
    "PAUSED",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "HTTP1ClientCodec",
    "HTTP1ServerCodec",
    "LocalProtocolError",
    "ProtocolError",
    "Request",
    "Response",
    "Sentinel",
]


class _Reject(Exception):
    """Raised inside a parser callback to stop llhttp with our own verdict."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


# --------------------------------------------------------------------------- helpers

_DEFAULT_MAX_HEADER_SIZE: Final = 65536
_DEFAULT_MAX_BODY_SIZE: Final = 100 * 1024 * 1024
_DEFAULT_CHUNK_SIZE: Final = 65536

# Response headers the serializer must notice; HTTPHeaders stores names in
# this canonical capitalisation, so one set lookup per header line suffices.
_CONTENT_LENGTH: Final = "Content-Length"
_TRANSFER_ENCODING: Final = "Transfer-Encoding"
_CONNECTION: Final = "Connection"
_DATE: Final = "Date"

# Header names as they arrive on the wire, mapped to HTTPHeaders' Http-Header-Case.
# Clients send the same few names on every request, so the parser callback
# costs one dict lookup per line; bounded because the names come from clients.
_WIRE_NAMES: Final[dict[bytes, str]] = {}
_WIRE_NAMES_LIMIT: Final = 2000


def _wire_name(raw: bytes) -> str:
    name = _normalize_name(raw.decode("latin-1"))
    if len(_WIRE_NAMES) < _WIRE_NAMES_LIMIT:
        _WIRE_NAMES[raw] = name
    return name


# Wraps a dict of normalized names and values without normalizing them again
# (tests/test_http1codec.py checks the result behaves exactly like headers
# built with add()).
_make_headers: Final = _wrap_normalized

_VERSIONS: Final = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
_METHODS: Final = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}

_new_tuple: Final = tuple.__new__

_STATUS_LINES: Final[dict[int, tuple[str, str]]] = {
    s.value: (s.phrase, f"HTTP/1.1 {s.value} {s.phrase}") for s in HTTPStatus
}


def _status_line(code: int, reason: str) -> str:
    known = _STATUS_LINES.get(code)
    if known is not None and known[0] == reason:
        return known[1]
    if "\r" in reason or "\n" in reason:
        raise ValueError(f"Illegal characters (CR or LF) in reason phrase: {reason!r}")
    return f"HTTP/1.1 {code} {reason}"




def _check_no_newlines(block: str, line_count: int) -> None:
    # Two C-level counts instead of a scan per header: a header block of n
    # lines joined by CRLF holds exactly n - 1 of each.
    if block.count("\n") != line_count - 1 or block.count("\r") != line_count - 1:
        bad = next(
            (line for line in block.split("\r\n") if "\r" in line or "\n" in line), block
        )
        raise ValueError(f"Illegal characters (CR or LF) in header: {bad!r}")


def _header_block(headers: HTTPHeaders) -> str:
    """Every header as "Name: value" lines joined by CRLF (no trailing CRLF).

    Raises :class:`ValueError` when a name or value contains CR or LF.
    """
    pairs: Any = headers._dict.items() if not headers._multi else list(headers.get_all())
    count = len(pairs)
    if not count:
        return ""
    try:
        # str.join over the pairs runs in C: no Python frame per header.
        block = "\r\n".join(map(": ".join, pairs))
    except TypeError:
        # A value that is not a str (someone bypassed set_header).
        block = "\r\n".join([f"{name}: {value}" for name, value in pairs])
    _check_no_newlines(block, count)
    return block


def _format_chunk(chunk: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(chunk), chunk)


def _keep_alive(version: str, headers: HTTPHeaders, has_length: bool, method: str) -> bool:
    """Tornado's persistence rules for a message (method is "" for responses)."""
    connection: str | None = headers.get(_CONNECTION)
    if connection is not None:
        connection = connection.lower()
    if version == "HTTP/1.1":
        return connection != "close"
    if has_length or method in ("GET", "HEAD"):
        return connection == "keep-alive"
    return False


# --------------------------------------------------------------------------- parsing


class _Reader:
    """Receives llhttp callbacks and queues events; shared by both codecs.

    It holds no reference to the codec (see the theory of operation).  Header
    lines go straight into the dict that becomes the message's
    :class:`~dualweb.httputil.HTTPHeaders` (names already in ``Http-Header-Case``
    from :func:`_wire_name`'s cache); only a repeated name takes the slower
    ``HTTPHeaders.add`` path once the block is complete.
    """

    __slots__ = (
        "chunk_size",
        "events",
        "fields",
        "header_bytes",
        "max_header_size",
        "messages",
        "parser",
        "reading_headers",
        "repeated",
        "url",
    )

    def __init__(self, max_header_size: int, chunk_size: int) -> None:
        self.events: deque[Event] = deque()
        self.max_header_size = max_header_size
        self.chunk_size = chunk_size
        self.parser: httptools.HttpRequestParser | httptools.HttpResponseParser | None = None
        self.url = b""
        self.fields: dict[str, str] = {}
        self.repeated: list[tuple[str, str]] | None = None
        self.header_bytes = 0
        self.reading_headers = True
        self.messages = 0

    # llhttp may deliver the target in several pieces when it arrives split.
    def on_url(self, url: bytes) -> None:
        self.url = self.url + url if self.url else url
        self.header_bytes += len(url)
        if self.header_bytes > self.max_header_size:
            raise _Reject(431, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = self.header_bytes + len(name) + len(value) + 4
        self.header_bytes = size
        if size > self.max_header_size:
            raise _Reject(431, "header block too large")
        key = _WIRE_NAMES.get(name) or _wire_name(name)
        fields = self.fields
        if key in fields:
            if self.repeated is None:
                self.repeated = []
            self.repeated.append((key, value.decode("latin-1")))
        else:
            fields[key] = value.decode("latin-1")

    def take_headers(self) -> HTTPHeaders:
        headers = _make_headers(self.fields)
        self.fields = {}
        repeated = self.repeated
        if repeated is not None:
            self.repeated = None
            add = headers.add
            for key, value in repeated:
                add(key, value)
        self.reading_headers = False
        return headers

    def on_body(self, body: bytes) -> None:
        size = self.chunk_size
        if len(body) <= size:
            self.events.append(Data(body))
            return
        view = memoryview(body)
        for start in range(0, len(body), size):
            self.events.append(Data(bytes(view[start : start + size])))

    def on_message_complete(self) -> None:
        self.events.append(END_OF_MESSAGE)
        self.url = b""
        self.header_bytes = 0
        self.reading_headers = True
        self.messages += 1


class _ServerReader(_Reader):
    __slots__ = ()

    def on_headers_complete(self) -> None:
        parser = self.parser
        assert parser is not None
        version = _VERSIONS.get(parser.get_http_version())
        if version is None:
            raise _Reject(505, f"HTTP/{parser.get_http_version()} is not supported")
        raw_method = parser.get_method()  # type: ignore[union-attr]
        method = _METHODS.get(raw_method) or raw_method.decode("ascii")
        path = self.url.decode("latin-1")
        # take_headers(), inline for the common case of no repeated names.
        fields = self.fields
        if self.repeated is None:
            headers = _make_headers(fields)
            self.fields = {}
            self.reading_headers = False
        else:
            headers = self.take_headers()
        # The dict now holds each framing header's joined value.
        length = fields.get(_CONTENT_LENGTH)
        coding = fields.get(_TRANSFER_ENCODING)
        connection = fields.get(_CONNECTION)
        if coding is not None:
            # llhttp accepts "gzip, chunked" and TE on HTTP/1.0; both let a
            # front end and us disagree about where the body ends.
            if version == "HTTP/1.0" or coding.strip().lower() != "chunked":
                raise _Reject(400, f"unsupported Transfer-Encoding: {coding.encode('latin-1')!r}")
        upgrade = parser.should_upgrade()
        if upgrade and (coding is not None or (length is not None and length != "0")):
            # llhttp skips the body of an upgrade request; refusing is safer
            # than letting those bytes be parsed as a second request.
            raise _Reject(400, "upgrade request with a body")
        if path[:1] != "/" and path != "*" and "://" in path:
            path = self._origin_form(path, headers)
        if connection is not None:
            connection = connection.lower()
        expect_continue = False
        if version == "HTTP/1.1":
            keep = connection != "close"
            expect = fields.get("Expect")
            if expect is not None:
                expect_continue = expect.lower() == "100-continue"
        else:
            keep = connection == "keep-alive" and (
                length is not None or method == "GET" or method == "HEAD"
            )
        # tuple.__new__ skips the NamedTuple's Python-level constructor.
        start_line = _new_tuple(RequestStartLine, (method, path, version))
        self.events.append(
            Request(
                start_line,
                headers,
                keep,
                expect_continue,
                upgrade,
                int(length) if length is not None else -1,
            )
        )

    @staticmethod
    def _origin_form(target: str, headers: HTTPHeaders) -> str:
        # RFC 9112 section 3.2.2: the authority of an absolute-form target
        # replaces the Host header.
        url = httptools.parse_url(target.encode("latin-1"))
        host = url.host.decode("latin-1")
        if url.port:
            host = f"{host}:{url.port}"
        headers["Host"] = host
        path = url.path.decode("latin-1") or "/"
        if url.query:
            path += "?" + url.query.decode("latin-1")
        return path


class _ClientReader(_Reader):
    __slots__ = ("close_delimited", "informational", "skip_body")

    def __init__(self, max_header_size: int, chunk_size: int) -> None:
        super().__init__(max_header_size, chunk_size)
        self.close_delimited = False
        self.skip_body = False
        self.informational = False

    def on_message_complete(self) -> None:
        if self.informational:
            # llhttp treats a 1xx as a whole message; we skip it entirely.
            self.informational = False
            self.url = b""
            self.header_bytes = 0
            self.reading_headers = True
            return
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        parser = self.parser
        assert isinstance(parser, httptools.HttpResponseParser)
        code = parser.get_status_code()
        version = "HTTP/" + parser.get_http_version()
        headers = self.take_headers()
        if 100 <= code < 200 and code != 101:
            self.informational = True
            return
        reason = self.url.decode("latin-1")
        self.url = b""
        has_length = _CONTENT_LENGTH in headers or _TRANSFER_ENCODING in headers
        no_body = self.skip_body or code in (204, 304) or code == 101
        self.close_delimited = not no_body and not has_length
        keep = (
            not self.close_delimited
            and code != 101
            and _keep_alive(version, headers, has_length or no_body, "")
        )
        self.events.append(Response(ResponseStartLine(version, code, reason), headers, keep))
        if self.skip_body and code not in (204, 304):
            # llhttp cannot be told a response to HEAD has no body: stop it
            # here; the codec finishes the message and starts a new parser.
            raise _Reject(0, "HEAD response complete")

    def on_status(self, reason: bytes) -> None:
        self.url = self.url + reason if self.url else reason
        self.header_bytes += len(reason)


# --------------------------------------------------------------------------- codecs


class _Codec:
    """What the server and client codecs share: feeding llhttp and limits."""

    __slots__ = ("_eof", "_error", "_parser", "_partial_header_bytes", "_reader", "trailing_data")

    _reader: _Reader
    _parser: httptools.HttpRequestParser | httptools.HttpResponseParser

    def __init__(self) -> None:
        self._error = False
        self._eof = False
        self._partial_header_bytes = 0
        self.trailing_data = b""
        """Bytes received after an upgrade (the new protocol's first bytes)."""

    def _feed(self, data: bytes) -> None:
        reader = self._reader
        at_start = reader.reading_headers
        messages = reader.messages
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self.trailing_data = data[exc.args[0] :]
            self._error = True  # parse nothing more; the driver decides
            self._upgraded()
            return
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Reject):
                self._rejected(cause)
                return
            raise
        except httptools.HttpParserError as exc:
            self._fail(400, str(exc) or type(exc).__name__)
            return
        # A header block arriving in pieces never reaches on_header while a
        # line is incomplete; count whole chunks that only held header bytes
        # so one endless header line is cut too (see the module comment).
        if at_start and reader.reading_headers and reader.messages == messages:
            self._partial_header_bytes += len(data)
            if self._partial_header_bytes > reader.max_header_size:
                self._fail(431, "header block too large")
        else:
            self._partial_header_bytes = 0

    def _upgraded(self) -> None:
        pass

    def _rejected(self, reject: _Reject) -> None:
        self._fail(reject.status_code, str(reject))

    def _fail(self, status_code: int, message: str) -> None:
        self._error = True
        self._reader.events.append(ProtocolError(status_code, message))

    @property
    def has_backlog(self) -> bool:
        """True when parsed events are waiting to be taken with ``next_event()``."""
        return bool(self._reader.events)


class HTTP1ServerCodec(_Codec):
    """The server side of one HTTP/1 connection: parse requests, serialize responses.

    Arguments: ``max_header_size`` (bytes of request line plus headers, else a
    431 :class:`ProtocolError`), ``max_body_size`` (else 413; changeable per
    request with :meth:`set_max_body_size`), ``chunk_size`` (the largest
    :class:`Data` event) and ``no_keep_alive`` (close after every response).
    """

    __slots__ = (
        "_body_received",
        "_chunked_out",
        "_declared",
        "_discard_body",
        "_max_body_size",
        "_remaining_out",
        "_request",
        "_response_state",
        "_switching",
        "default_max_body_size",
        "events",
        "in_request",
        "must_close",
        "no_keep_alive",
        "request_complete",
        "upgraded",
    )

    _reader: _ServerReader

    # Response states.
    _IDLE: Final = 0
    _SENDING: Final = 1
    _DONE: Final = 2

    def __init__(
        self,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
        chunk_size: int | None = None,
        no_keep_alive: bool = False,
    ) -> None:
        super().__init__()
        self._reader = _ServerReader(
            max_header_size or _DEFAULT_MAX_HEADER_SIZE, chunk_size or _DEFAULT_CHUNK_SIZE
        )
        self._parser = httptools.HttpRequestParser(self._reader)
        self._reader.parser = self._parser
        self.events = self._reader.events
        """The queue behind :meth:`next_event` (read it, never change it): empty
        with no request in progress means :data:`NEED_DATA`."""
        self.default_max_body_size = max_body_size or _DEFAULT_MAX_BODY_SIZE
        self._max_body_size = self.default_max_body_size
        self.no_keep_alive = no_keep_alive
        self._request: Request | None = None
        # Plain attributes rather than properties: the driver reads them on
        # every request.
        self.in_request = False
        """True between a :class:`Request` event and the end of its response."""
        self.request_complete = False
        """True once the current request's :data:`END_OF_MESSAGE` has been taken."""
        self._declared = -1
        self._body_received = 0
        self._response_state = self._IDLE
        self._chunked_out = False
        self._remaining_out = -1
        self._discard_body = False
        self._switching = False
        self.must_close = False
        """True once the connection must close after the bytes already returned."""
        self.upgraded = False
        """True after a ``101 Switching Protocols`` response: HTTP/1 is over."""

    # ----------------------------------------------------------------- input

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client; ``b""`` means the client closed its side."""
        if not data:
            if not self._eof:
                self._eof = True
                self._reader.events.append(CONNECTION_CLOSED)
            return
        if self._error or self._eof:
            if self._switching:
                self.trailing_data += data
            return
        self._feed(data)

    def set_max_body_size(self, max_body_size: int) -> None:
        """Change the body limit for the request being read (Tornado's per-request override)."""
        self._max_body_size = max_body_size

    @property
    def request(self) -> Request | None:
        """The request whose response is being produced, if any."""
        return self._request

    def next_event(self) -> Event | Sentinel:
        """Return the next event, :data:`NEED_DATA` or :data:`PAUSED` (see the module comment)."""
        if self.request_complete:
            return PAUSED
        if self._declared >= 0:
            # The declared length is judged after the driver has seen the
            # headers, so a handler's set_max_body_size() applies.
            declared, self._declared = self._declared, -1
            if declared > self._max_body_size:
                return self._too_large()
        events = self._reader.events
        if not events:
            return NEED_DATA
        event = events.popleft()
        kind = type(event)
        if kind is Request:
            assert isinstance(event, Request)
            if self._request is not None:
                # A response is still being written for an earlier request.
                events.appendleft(event)
                return PAUSED
            self._request = event
            self.in_request = True
            self._declared = event.content_length
            self._body_received = 0
            self._max_body_size = self.default_max_body_size
        elif kind is Data:
            assert isinstance(event, Data)
            self._body_received += len(event.data)
            if self._body_received > self._max_body_size:
                return self._too_large()
        elif kind is EndOfMessage:
            self.request_complete = True
        elif kind is ProtocolError:
            self.must_close = True
            events.clear()
        return event

    def take_end_of_message(self) -> bool:
        """Take :data:`END_OF_MESSAGE` if it is the next event of the current request.

        A shortcut for drivers after a request without a body (the common
        case): ``True`` means exactly what ``next_event() is END_OF_MESSAGE``
        would; on ``False`` nothing was consumed, so call :meth:`next_event`.
        """
        events = self._reader.events
        if (
            events
            and events[0] is END_OF_MESSAGE
            and self._request is not None
            and not self.request_complete
        ):
            # Only a request declaring no body (or 0 bytes) can end here.
            events.popleft()
            self._declared = -1
            self.request_complete = True
            return True
        return False

    def _too_large(self) -> ProtocolError:
        self._error = True
        self.must_close = True
        self._reader.events.clear()
        return ProtocolError(413, "request body exceeds max_body_size")

    def _upgraded(self) -> None:
        # The Request and END_OF_MESSAGE events are queued; the rest belongs
        # to the next protocol (or is dropped with the connection when the
        # handler does not switch), kept in trailing_data.
        self._switching = True

    # ----------------------------------------------------------------- output

    def send_continue(self) -> bytes:
        """The interim ``100 Continue`` response for an ``Expect: 100-continue`` request."""
        return b"HTTP/1.1 100 Continue\r\n\r\n"

    def send_response(
        self,
        start_line: ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> bytes:
        """Serialize the status line, headers and optional first chunk into one buffer.

        Adds ``Transfer-Encoding: chunked`` when an HTTP/1.1 response with a
        body has no ``Content-Length``, ``Connection: close`` when the
        connection will close and the client speaks HTTP/1.1, ``Connection:
        Keep-Alive`` for an HTTP/1.0 client that asked for it, and ``Date``.
        Raises :class:`ValueError` if a header contains CR or LF and
        :class:`LocalProtocolError` without a current request or on a second
        response.
        """
        request = self._request
        if request is None or self._response_state != self._IDLE:
            raise LocalProtocolError("no request is waiting for a response")
        code = start_line.code
        if code == 101:
            return self._switch_protocols(start_line, headers)
        known = _STATUS_LINES.get(code)
        if known is not None and known[0] == start_line.reason:
            status = known[1]
        else:
            status = _status_line(code, start_line.reason)
        fields = headers._dict
        if headers._multi is None and fields:
            try:
                block = "\r\n".join(map(": ".join, fields.items()))
            except TypeError:
                block = _header_block(headers)
            else:
                # n lines joined by CRLF hold exactly n - 1 CRs and LFs.
                expected = len(fields) - 1
                if block.count("\n") != expected or block.count("\r") != expected:
                    _check_no_newlines(block, expected + 1)
        else:
            block = _header_block(headers)
        length = fields.get(_CONTENT_LENGTH)
        connection = fields.get(_CONNECTION)
        if connection is not None:
            connection = connection.lower()
        req_line = request.start_line
        http11 = req_line.version == "HTTP/1.1"
        method = req_line.method
        no_body = method == "HEAD" or code in (204, 304) or code < 200
        # As in Tornado, a body without Content-Length on HTTP/1.1 is always
        # chunk-encoded here, also when the handler set Transfer-Encoding.
        chunked = http11 and not no_body and length is None
        close = (
            self.no_keep_alive
            or not request.keep_alive
            or connection == "close"
            or request.upgrade
            or (not no_body and length is None and not chunked)
        )
        text = status + "\r\n" + block + "\r\n" if block else status + "\r\n"
        if connection is None:
            if close and http11:
                text += "Connection: close\r\n"
            elif not close and not http11:
                text += "Connection: Keep-Alive\r\n"
        if chunked and _TRANSFER_ENCODING not in fields:
            text += "Transfer-Encoding: chunked\r\n"
        if _DATE not in fields:
            text += "Date: " + http_date_now() + "\r\n"
        # Everything that can raise (CR/LF, a non-latin-1 value, a bad
        # Content-Length) happens before any state changes, so the caller
        # can still send an error response instead.
        head = (text + "\r\n").encode("latin-1")
        remaining = 0 if no_body else (int(length) if length is not None else -1)
        self.must_close = self.must_close or close
        self._chunked_out = chunked
        # Handlers commonly produce the body for HEAD too (Content-Length
        # must match GET's); it is dropped here rather than sent.
        self._discard_body = method == "HEAD"
        self._remaining_out = remaining
        self._response_state = self._SENDING
        if chunk and not self._discard_body:
            if not chunked and len(chunk) <= remaining:
                # The whole Content-Length body in one go (_frame, inline).
                self._remaining_out = remaining - len(chunk)
                return head + chunk
            return head + self._frame(chunk)
        return head

    def _switch_protocols(self, start_line: ResponseStartLine, headers: HTTPHeaders) -> bytes:
        request = self._request
        assert request is not None
        if not request.upgrade:
            raise LocalProtocolError("101 Switching Protocols answers only an upgrade request")
        lines = [_status_line(101, start_line.reason)]
        lines.extend(f"{name}: {value}" for name, value in headers.get_all())
        block = "\r\n".join(lines)
        _check_no_newlines(block, len(lines))
        self._response_state = self._DONE
        self.upgraded = True
        return block.encode("latin-1") + b"\r\n\r\n"

    def _frame(self, chunk: bytes) -> bytes:
        remaining = self._remaining_out
        if remaining >= 0:
            remaining -= len(chunk)
            if remaining < 0:
                self.must_close = True
                raise LocalProtocolError("Tried to write more data than Content-Length")
            self._remaining_out = remaining
        if self._chunked_out:
            return _format_chunk(chunk)
        return chunk

    def send_data(self, chunk: bytes) -> bytes:
        """Frame a body chunk (chunked encoding when the response uses it); ``b""`` → ``b""``."""
        if self._response_state != self._SENDING:
            raise LocalProtocolError("write() before write_headers() or after finish()")
        if not chunk or self._discard_body:
            return b""
        return self._frame(chunk)

    def send_end(self) -> bytes:
        """Finish the response: returns the chunked terminator if needed.

        Afterwards :attr:`must_close` tells whether the connection must close;
        otherwise the next pipelined request becomes available from
        :meth:`next_event`.  Raises :class:`LocalProtocolError` if fewer bytes
        than the declared ``Content-Length`` were written (the connection
        must then be closed).
        """
        if self._response_state != self._SENDING:
            if self._response_state == self._DONE:
                raise LocalProtocolError("finish() called twice")
            raise LocalProtocolError("finish() before write_headers()")
        if self._remaining_out > 0:
            self._response_state = self._DONE
            self.must_close = True
            raise LocalProtocolError(
                f"Tried to write {self._remaining_out} bytes less than Content-Length"
            )
        tail = b"0\r\n\r\n" if self._chunked_out else b""
        if not self.request_complete:
            # The body was not read to its end; closing is the only way to
            # avoid reading (and trusting) the rest.
            self.must_close = True
        if self.must_close:
            self._response_state = self._DONE
        else:
            # Ready for the next request (inline: this runs once per response).
            self._request = None
            self.in_request = False
            self.request_complete = False
            self._response_state = self._IDLE
            self._chunked_out = False
        return tail

    @property
    def response_started(self) -> bool:
        """True once :meth:`send_response` was called for the current request."""
        return self._response_state != self._IDLE

    def send_error(self, status_code: int, message: str = "") -> bytes:
        """A complete ``Connection: close`` error response with a short text body.

        Returns ``b""`` when a response has already started (the connection
        can then only be closed).  Sets :attr:`must_close`.
        """
        self.must_close = True
        if self._response_state != self._IDLE:
            return b""
        self._response_state = self._DONE
        phrase = _STATUS_LINES.get(status_code, ("Error", ""))[0]
        body = f"{status_code} {phrase}\n".encode()
        return (
            f"{_status_line(status_code, phrase)}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            f"Date: {http_date_now()}\r\n\r\n"
        ).encode("latin-1") + body


class HTTP1ClientCodec(_Codec):
    """The client side of one HTTP/1 connection: serialize requests, parse responses.

    Call :meth:`send_request` (and :meth:`send_data` / :meth:`send_end` for a
    body), then feed the server's bytes to :meth:`receive_data` and take
    :class:`Response`, :class:`Data` and :data:`END_OF_MESSAGE` events.  The
    codec remembers a ``HEAD`` request so its response is known to have no
    body; 204/304 and 1xx are handled by the parser.  A response without
    ``Content-Length`` or chunked encoding ends when the server closes
    (``receive_data(b"")``).
    """

    __slots__ = ("_chunked_out", "_remaining_out")

    _reader: _ClientReader

    def __init__(self, max_header_size: int | None = None, chunk_size: int | None = None) -> None:
        super().__init__()
        self._reader = _ClientReader(
            max_header_size or _DEFAULT_MAX_HEADER_SIZE, chunk_size or _DEFAULT_CHUNK_SIZE
        )
        self._parser = self._new_parser()
        self._chunked_out = False
        self._remaining_out = -1

    def _new_parser(self) -> httptools.HttpResponseParser:
        parser = httptools.HttpResponseParser(self._reader)
        self._reader.parser = parser
        return parser

    def send_request(
        self, start_line: RequestStartLine, headers: HTTPHeaders, chunk: bytes | None = None
    ) -> bytes:
        """Serialize a request head (and optional first chunk) into one buffer.

        ``POST``/``PUT``/``PATCH`` without ``Content-Length`` use chunked
        encoding, as Tornado's client does.  Raises :class:`ValueError` on CR
        or LF in a header.
        """
        lines = [f"{start_line.method} {start_line.path} HTTP/1.1"]
        lines.extend(f"{name}: {value}" for name, value in headers.get_all())
        self._chunked_out = start_line.method in ("POST", "PUT", "PATCH") and (
            _CONTENT_LENGTH not in headers
        )
        if self._chunked_out:
            lines.append("Transfer-Encoding: chunked")
        length = headers.get(_CONTENT_LENGTH)
        self._remaining_out = int(length) if length is not None else -1
        self._reader.skip_body = start_line.method == "HEAD"
        block = "\r\n".join(lines)
        _check_no_newlines(block, len(lines))
        head = block.encode("latin-1") + b"\r\n\r\n"
        return head + self.send_data(chunk) if chunk else head

    def send_data(self, chunk: bytes) -> bytes:
        """Frame a request body chunk."""
        if not chunk:
            return b""
        if self._remaining_out >= 0:
            self._remaining_out -= len(chunk)
            if self._remaining_out < 0:
                raise LocalProtocolError("Tried to write more data than Content-Length")
        return _format_chunk(chunk) if self._chunked_out else chunk

    def send_end(self) -> bytes:
        """Finish the request body (the chunked terminator when needed)."""
        if self._remaining_out > 0:
            raise LocalProtocolError(
                f"Tried to write {self._remaining_out} bytes less than Content-Length"
            )
        return b"0\r\n\r\n" if self._chunked_out else b""

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; ``b""`` means the server closed the connection."""
        reader = self._reader
        if not data:
            if self._eof:
                return
            self._eof = True
            if self._error:
                return
            if reader.close_delimited and not reader.reading_headers:
                reader.on_message_complete()
                reader.close_delimited = False
            elif not reader.reading_headers or reader.header_bytes or reader.url:
                self._fail(400, "connection closed in the middle of a response")
                return
            reader.events.append(CONNECTION_CLOSED)
            return
        if self._error or self._eof:
            if self._error:
                self.trailing_data += data
            return
        self._feed(data)

    def _rejected(self, reject: _Reject) -> None:
        if reject.status_code == 0:
            # The HEAD-response stop: finish the message and start afresh.
            self._reader.on_message_complete()
            self._reader.skip_body = False
            self._parser = self._new_parser()
            return
        super()._rejected(reject)

    def next_event(self) -> Event | Sentinel:
        """Return the next event or :data:`NEED_DATA`."""
        events = self._reader.events
        if not events:
            return NEED_DATA
        return events.popleft()
