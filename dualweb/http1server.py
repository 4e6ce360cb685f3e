"""The server half of the HTTP/1 codec: parse requests, serialize responses.

See :mod:`dualweb.http1codec` for the theory of operation.  What only a
server does lives here: recognising each request line before llhttp sees it
(so a method llhttp does not know still reaches routing), validating
``Host`` and absolute-form targets, per-request body limits, keeping
pipelined requests in order, and writing responses with the persistence and
framing headers the request calls for.
"""

from __future__ import annotations

import re
from typing import Final

import httptools

from dualweb.connection import RequestStartLine, ResponseStartLine
from dualweb.http1base import BaseHTTP1Codec, HeadReader
from dualweb.http1events import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    Data,
    EndOfMessage,
    Event,
    LocalProtocolError,
    ProtocolError,
    Request,
    Sentinel,
)
from dualweb.http1state import (
    CLOSED,
    DEFAULT_MAX_BODY_SIZE,
    DONE,
    ERROR,
    IDLE,
    MAX_CHUNK_LINE_SIZE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    SEND_BODY,
    SEND_RESPONSE,
    STATUS_LINES,
    SWITCHED_PROTOCOL,
    ChunkedBody,
    ContentLengthBody,
    Reject,
    not_latin1,
    phrase_for,
    render_headers,
    status_line,
)
from dualweb.httputil import HTTPHeaders, http_date_now

__all__ = ["HTTP1ServerCodec"]

_VERSIONS: Final = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
# The same, as the request line ends.  Reading the version there is a slice
# and a lookup; llhttp's get_http_version() formats it anew on every call.
_WIRE_VERSIONS: Final = {b"HTTP/1.1\r\n": "HTTP/1.1", b"HTTP/1.0\r\n": "HTTP/1.0"}

# Methods passed to llhttp as they are.  Any other token (a WebDAV method, a
# made-up one, a lowercase one) is given to llhttp as GET, which it parses the
# same way, and the real token is kept for routing.
_METHODS: Final = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# RFC 9110 section 7.2 / RFC 3986 section 3.2.2: an IP literal or a reg-name,
# then an optional port.  No userinfo, no path, no whitespace.
_HOST: Final = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::([0-9]{1,5}))?"
)
# Hosts already found valid (clients repeat theirs on every request); bounded.
_GOOD_HOSTS: Final[set[str]] = set()
_GOOD_HOSTS_LIMIT: Final = 1000

_ABSOLUTE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(.*)", re.DOTALL)

_CRLF: Final = "\r\n"
_new_tuple: Final = tuple.__new__
_new_object: Final = object.__new__
_make_headers: Final = HTTPHeaders.from_normalized


def _headers_with_repeats(reader: HeadReader) -> HTTPHeaders:
    """The headers of a head that repeats a name (the less common path of ``_head_complete``)."""
    if any(name == "Host" for name, _ in reader.repeated or ()):
        raise Reject(400, "more than one Host header")
    return reader.take_headers()


def _admit_host(host: str) -> None:
    """Refuse an invalid Host value; remember a valid one (bounded), so it is checked once."""
    if not _valid_host(host):
        raise Reject(400, f"invalid Host header {host[:100]!r}")
    if len(_GOOD_HOSTS) < _GOOD_HOSTS_LIMIT:
        _GOOD_HOSTS.add(host)


def _check_coding(coding: str, version: str) -> None:
    """Refuse a Transfer-Encoding other than ``chunked``, and any on HTTP/1.0."""
    # llhttp accepts "gzip, chunked" and TE on HTTP/1.0; both let a front end
    # and us disagree about where the body ends.
    if version == "HTTP/1.0" or coding.lower() != "chunked":
        raise Reject(400, f"unsupported Transfer-Encoding: {coding.encode('latin-1')!r}")


def _valid_host(host: str, require_name: bool = False) -> bool:
    match = _HOST.fullmatch(host)
    if match is None:
        return False
    port = match.group(1)
    if port is not None and int(port) > 65535:
        return False
    if require_name and (not host or host.startswith(":")):
        return False
    return True


class HTTP1ServerCodec(BaseHTTP1Codec):
    """The server side of one HTTP/1 connection: parse requests, serialize responses.

    Arguments: ``max_header_size`` (bytes of request line plus headers, else a
    431 :class:`ProtocolError`), ``max_body_size`` (else 413; changeable per
    request with :meth:`set_max_body_size`), ``chunk_size`` (the largest
    :class:`Data` event) and ``no_keep_alive`` (close after every response).

    States: ``their_state`` (the client) goes IDLE → SEND_BODY when a
    :class:`Request` is taken → DONE at its :data:`END_OF_MESSAGE`
    (MIGHT_SWITCH_PROTOCOL for an upgrade request), ERROR after a
    :class:`ProtocolError`, CLOSED after :data:`CONNECTION_CLOSED`.
    ``our_state`` goes IDLE → SEND_RESPONSE (a request is waiting) →
    SEND_BODY (:meth:`send_response`) → DONE (:meth:`send_end`) or
    MUST_CLOSE when the connection must close; SWITCHED_PROTOCOL after a 101;
    ERROR after writing more or less than the declared ``Content-Length``.
    When both sides are DONE, :meth:`send_end` starts the next cycle itself
    (both IDLE again), so pipelined requests flow without a call from the
    driver; :meth:`start_next_cycle` is there for symmetry with the client.
    """

    __slots__ = (
        "_body_received",
        "_declared",
        "_discard_body",
        "_max_body_size",
        "_method",
        "_pending_method",
        "_request",
        "_switching",
        "default_max_body_size",
        "in_request",
        "must_close",
        "no_keep_alive",
        "request_complete",
        "upgraded",
    )

    def __init__(
        self,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
        chunk_size: int | None = None,
        no_keep_alive: bool = False,
    ) -> None:
        super().__init__(max_header_size, chunk_size)
        self.default_max_body_size = max_body_size or DEFAULT_MAX_BODY_SIZE
        self._max_body_size = self.default_max_body_size
        self.no_keep_alive = no_keep_alive
        self._request: Request | None = None
        self._method = "GET"
        self._pending_method = b""
        # Plain attributes rather than properties: the driver reads them on
        # every request.
        self.in_request = False
        """True between a :class:`Request` event and the end of its response."""
        self.request_complete = False
        """True once the current request's :data:`END_OF_MESSAGE` has been taken."""
        self._declared = -1
        self._body_received = 0
        self._discard_body = False
        self._switching = False
        self.must_close = False
        """True once the connection must close after the bytes already returned."""
        self.upgraded = False
        """True after a ``101 Switching Protocols`` response: HTTP/1 is over."""

    def _new_parser(self) -> httptools.HttpRequestParser:
        return httptools.HttpRequestParser(self._reader)

    # ----------------------------------------------------------------- input

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client; ``b""`` means the client closed its side."""
        if not data:
            if not self._eof:
                self._eof = True
                self.events.append(CONNECTION_CLOSED)
            return
        if self._error or self._eof:
            if self._switching:
                self.trailing_data += data
            return
        # The common case, without the general loop (_feed): whole request
        # heads starting with a method llhttp knows, one or several
        # (pipelined) in this read.  Anything else (a body, a head cut in two,
        # another method, leading empty lines, a CR left over from the last
        # read) goes to _feed from there on, without copying what remains.
        end = len(data)
        pos = 0
        reader = self._reader
        while self._body is None and not self._in_head and not self._cr:
            head_end = data.find(b"\r\n\r\n", pos) + 4
            if head_end < 4 or head_end - pos > self.max_header_size:
                break
            method = _METHODS.get(data[pos : data.find(b" ", pos, head_end)])
            if method is None:
                break
            if self._parser_dirty:
                # The previous request had a body llhttp never saw (as in _read_head).
                self._parser = self._new_parser()
                self._parser_dirty = False
            self._method = method
            try:
                try:
                    self._parser.feed_data(
                        data if head_end == end and not pos else data[pos:head_end]
                    )
                except httptools.HttpParserUpgrade:
                    pass  # exactly the head was fed: it is complete
                if reader.head_done:
                    # (_head_parsed, inline, telling _head_complete where the head starts.)
                    reader.head_done = False
                    if reader.message_done:
                        reader.message_done = False
                    else:
                        self._parser_dirty = True
                    pos = self._head_complete(data, head_end, pos)
                else:
                    pos = self._head_parsed(data, head_end)  # refuses it
            except httptools.HttpParserError as exc:
                self._fail(400, str(exc) or type(exc).__name__)
                return
            except Reject as reject:
                self._fail(reject.status_code, str(reject))
                return
            if pos >= end or self._error:
                return
        self._feed(data, pos)

    def _start_head(self, buf: bytes, pos: int) -> int:
        # The method is read here, before llhttp, which refuses methods it
        # does not know; everything else about the request line is llhttp's.
        pending = self._pending_method
        space = buf.find(b" ", pos)
        if space < 0:
            token = pending + buf[pos:]
            if _TOKEN.fullmatch(token) is None:
                raise Reject(400, f"invalid method {token[:40]!r}")
            if len(token) > self.max_header_size:
                raise Reject(431, "request line too long")
            self._pending_method = token
            return len(buf)
        if pending:
            token = pending + buf[pos:space]
            self._pending_method = b""
        else:
            token = buf[pos:space]
            method = _METHODS.get(token)
            if method is not None:
                # The common case: llhttp reads the whole line itself.
                self._method = method
                self._starting = False
                return pos
        method = _METHODS.get(token)
        if method is None:
            if _TOKEN.fullmatch(token) is None:
                raise Reject(400, f"invalid method {token[:40]!r}")
            method = token.decode("ascii")
            given = b"GET"
        else:
            given = token
        try:
            self._parser.feed_data(given)
        except httptools.HttpParserError as exc:
            raise Reject(400, str(exc) or type(exc).__name__) from None
        self._head_size = len(token)
        self._method = method
        self._starting = False
        return space

    def _head_complete(self, buf: bytes, end: int, start: int = -1) -> int:
        # ``start``: where the head begins in ``buf``, when the caller knows
        # that the whole head is there and its method is one of _METHODS.
        parser = self._parser
        reader = self._reader
        url = reader.url
        reader.url = b""
        version = None
        if start >= 0:
            # llhttp has validated "METHOD SP target SP HTTP/x.y CRLF".
            at = start + len(self._method) + len(url) + 2
            version = _WIRE_VERSIONS.get(buf[at : at + 10])
        if version is None:
            version = _VERSIONS.get(parser.get_http_version())
            if version is None:
                raise Reject(505, f"HTTP/{parser.get_http_version()} is not supported")
        path = url.decode("latin-1")
        fields = reader.fields
        if reader.repeated is None:
            headers = _make_headers(fields)
            reader.fields = {}
        else:
            headers = _headers_with_repeats(reader)
        # The dict now holds each framing header's first value.
        host = fields.get("Host")
        if host is None:
            if version == "HTTP/1.1":
                raise Reject(400, "HTTP/1.1 request without a Host header")
        elif host not in _GOOD_HOSTS:
            _admit_host(host)
        length = fields.get("Content-Length")
        coding = fields.get("Transfer-Encoding")
        if coding is not None:
            _check_coding(coding, version)
        upgrade = parser.should_upgrade()
        if upgrade and (coding is not None or (length is not None and length != "0")):
            # A body on an upgrade request would be read as the new protocol.
            raise Reject(400, "upgrade request with a body")
        if path[:1] != "/" and path != "*" and "://" in path:
            path = self._origin_form(path, headers)
        method = self._method
        connection = fields.get("Connection")
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
        # Request(...) without its __init__ frame (once per request): every slot set here.
        request: Request = _new_object(Request)
        request.start_line = start_line
        request.headers = headers
        request.keep_alive = keep
        request.expect_continue = expect_continue
        request.upgrade = upgrade
        request.content_length = int(length) if length is not None else -1
        events = self.events
        events.append(request)
        if coding is not None:
            self._body = ChunkedBody(MAX_CHUNK_LINE_SIZE, self.max_header_size)
        elif length is not None and length != "0" and int(length):
            self._body = ContentLengthBody(int(length))
        else:
            events.append(END_OF_MESSAGE)
            if upgrade:
                # The rest belongs to the next protocol (or is dropped with
                # the connection when the handler does not switch).
                self._switching = True
                self._error = True
                self.trailing_data = buf[end:]
                return len(buf)
        return end

    @staticmethod
    def _origin_form(target: str, headers: HTTPHeaders) -> str:
        # RFC 9112 section 3.2.2: the authority of an absolute-form target
        # replaces the Host header.
        match = _ABSOLUTE.fullmatch(target)
        if match is None or match.group(1).lower() not in ("http", "https"):
            raise Reject(400, f"invalid request target {target[:100]!r}")
        authority = match.group(2)
        if not _valid_host(authority, require_name=True):
            raise Reject(400, f"invalid authority in request target {target[:100]!r}")
        headers["Host"] = authority
        path = match.group(3)
        if not path.startswith("/"):
            path = "/" + path
        return path

    def _body_complete(self) -> None:
        self.events.append(END_OF_MESSAGE)

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
        events = self.events
        if not events:
            body = self._body
            if body is not None and body.announced > self._max_body_size and self.in_request:
                # A chunk larger than the limit: refuse before it arrives.
                return self._too_large()
            return NEED_DATA
        event = events.popleft()
        kind = type(event)
        if kind is Request:
            # (No isinstance assert or typing.cast: both are calls, once per request.)
            request: Request = event  # type: ignore[assignment]
            if self._request is not None:
                # A response is still being written for an earlier request.
                events.appendleft(request)
                return PAUSED
            self._request = request
            self.in_request = True
            self.our_state = SEND_RESPONSE
            self.their_state = SEND_BODY
            self._declared = request.content_length
            self._body_received = 0
            self._max_body_size = self.default_max_body_size
        elif kind is Data:
            assert isinstance(event, Data)
            self._body_received += len(event.data)
            if self._body_received > self._max_body_size:
                return self._too_large()
        elif kind is EndOfMessage:
            self._request_done()
        elif kind is ProtocolError:
            self.their_state = ERROR
            self.must_close = True
            events.clear()
        else:
            self.their_state = CLOSED
        return event

    def _request_done(self) -> None:
        self.request_complete = True
        request = self._request
        self.their_state = (
            MIGHT_SWITCH_PROTOCOL if request is not None and request.upgrade else DONE
        )

    def take_end_of_message(self) -> bool:
        """Take :data:`END_OF_MESSAGE` if it is the next event of the current request.

        A shortcut for drivers after a request without a body (the common
        case): ``True`` means exactly what ``next_event() is END_OF_MESSAGE``
        would; on ``False`` nothing was consumed, so call :meth:`next_event`.
        """
        events = self.events
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
            # (_request_done, inline: once per request.)
            self.their_state = MIGHT_SWITCH_PROTOCOL if self._request.upgrade else DONE
            return True
        return False

    def _too_large(self) -> ProtocolError:
        self._error = True
        self.must_close = True
        self.their_state = ERROR
        self._body = None
        self.events.clear()
        return ProtocolError(413, "request body exceeds max_body_size")

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
        Raises :class:`LocalProtocolError` (a :class:`ValueError`) naming the
        header for a header it refuses to write (see
        :func:`~dualweb.http1state.render_headers`), without a current
        request, or on a second response; a refused header changes nothing,
        so :meth:`send_error` can still answer.
        """
        request = self._request
        if request is None or self.our_state is not SEND_RESPONSE:
            raise LocalProtocolError("no request is waiting for a response")
        code = start_line.code
        if code == 101:
            return self._switch_protocols(start_line, headers)
        known = STATUS_LINES.get(code)
        if known is not None and known[0] == start_line.reason:
            status = known[1]
        else:
            status = status_line(code, start_line.reason)
        block, fields = render_headers(headers)
        length = fields.get("Content-Length")
        connection = fields.get("Connection")
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
        extra = ""
        if connection is None:
            if close and http11:
                extra = "Connection: close\r\n"
            elif not close and not http11:
                extra = "Connection: Keep-Alive\r\n"
        if chunked and "Transfer-Encoding" not in fields:
            extra += "Transfer-Encoding: chunked\r\n"
        date = "" if "Date" in fields else f"Date: {http_date_now()}\r\n"
        # One f-string builds the head in a single allocation.
        text = f"{status}\r\n{block}{_CRLF if block else ''}{extra}{date}\r\n"
        try:
            head = text.encode("latin-1")
        except UnicodeEncodeError:
            raise not_latin1(text, headers) from None
        # Every check has passed: from here nothing can fail.
        remaining = 0 if no_body else (int(length) if length is not None else -1)
        self.must_close = self.must_close or close
        self._chunked_out = chunked
        # Handlers commonly produce the body for HEAD too (Content-Length
        # must match GET's); it is dropped here rather than sent.
        self._discard_body = method == "HEAD"
        self._remaining_out = remaining
        self.our_state = SEND_BODY
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
        status = status_line(101, start_line.reason)
        block, _ = render_headers(headers)
        text = status + "\r\n" + block + "\r\n\r\n" if block else status + "\r\n\r\n"
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            raise not_latin1(text, headers) from None
        self.our_state = self.their_state = SWITCHED_PROTOCOL
        self.upgraded = True
        return data

    def _local_error(self) -> None:
        self.our_state = ERROR
        self.must_close = True

    def send_data(self, chunk: bytes) -> bytes:
        """Frame a body chunk (chunked encoding when the response uses it); ``b""`` → ``b""``."""
        if self.our_state is not SEND_BODY:
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
        state = self.our_state
        if state is not SEND_BODY:
            if state is ERROR:
                return b""  # already refused; the connection closes
            if state is DONE or state is MUST_CLOSE:
                raise LocalProtocolError("finish() called twice")
            raise LocalProtocolError("finish() before write_headers()")
        tail = self._end_body() if self._chunked_out or self._remaining_out > 0 else b""
        if not self.request_complete:
            # The body was not read to its end; closing is the only way to
            # avoid reading (and trusting) the rest.
            self.must_close = True
        if self.must_close:
            self.our_state = MUST_CLOSE
        else:
            # Both sides are done: the next cycle (inline, once per response).
            self._request = None
            self.in_request = False
            self.request_complete = False
            self.our_state = self.their_state = IDLE
            self._chunked_out = False
        return tail

    def start_next_cycle(self) -> None:
        """Make the connection ready for the next request (h11's name).

        The server half does this by itself in :meth:`send_end`, so this only
        checks: it raises :class:`LocalProtocolError` unless both sides are
        IDLE, i.e. unless the connection is ready for another request.
        """
        if self.our_state is not IDLE or self.their_state is not IDLE:
            raise LocalProtocolError(
                f"cannot start a new cycle: ours {self.our_state}, theirs {self.their_state}"
            )

    @property
    def response_started(self) -> bool:
        """True once :meth:`send_response` was called for the current request."""
        state = self.our_state
        return state is not IDLE and state is not SEND_RESPONSE

    def send_error(self, status_code: int, message: str = "") -> bytes:
        """A complete ``Connection: close`` error response with a short text body.

        Returns ``b""`` when a response has already started (the connection
        can then only be closed).  Sets :attr:`must_close`.
        """
        self.must_close = True
        if self.response_started:
            return b""
        self.our_state = MUST_CLOSE
        phrase = phrase_for(status_code, "Error")
        body = f"{status_code} {phrase}\n".encode()
        return (
            f"{status_line(status_code, phrase)}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            f"Date: {http_date_now()}\r\n\r\n"
        ).encode("latin-1") + body

    def send_raw_body(self, count: int) -> bool:
        """Count ``count`` body bytes that the driver sends itself, unframed (``os.sendfile``).

        Returns ``True`` when they were counted against the declared
        ``Content-Length``; ``False``, counting nothing, when the body cannot
        go out as raw bytes (it is chunk-encoded, has no declared length, or
        is discarded because the request was ``HEAD``): send it through
        :meth:`send_data` then.

        Raises:
            LocalProtocolError: no response body is being sent, or ``count``
                is more than what remains of the ``Content-Length``.
        """
        if self.our_state is not SEND_BODY:
            raise LocalProtocolError("send_file() before write_headers() or after finish()")
        remaining = self._remaining_out
        if self._chunked_out or self._discard_body or remaining < 0:
            return False
        if count > remaining:
            self._local_error()
            raise LocalProtocolError("Tried to write more data than Content-Length")
        self._remaining_out = remaining - count
        return True
