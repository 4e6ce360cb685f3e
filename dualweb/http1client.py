"""The client half of the HTTP/1 codec: serialize requests, parse responses.

See :mod:`dualweb.http1codec` for the theory of operation.  What only a
client does lives here: knowing which responses have no body (to ``HEAD``,
1xx, 204, 304), reporting interim 1xx responses, accepting head lines that
end in a bare LF (RFC 9112 section 2.2; the server refuses them), ending
HTTP/1 after a ``101`` or a ``CONNECT`` tunnel, reading a body that ends
with the connection, and telling a connection pool whether the connection
can carry another request (:attr:`HTTP1ClientCodec.reusable`,
:meth:`HTTP1ClientCodec.start_next_cycle`).
"""

from __future__ import annotations

from typing import Final

import httptools

from dualweb.connection import RequestStartLine, ResponseStartLine
from dualweb.http1base import BaseHTTP1Codec
from dualweb.http1events import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    ConnectionClosed,
    EndOfMessage,
    Event,
    InformationalResponse,
    LocalProtocolError,
    ProtocolError,
    Response,
    Sentinel,
)
from dualweb.http1state import (
    CLOSED,
    DONE,
    ERROR,
    IDLE,
    MAX_CHUNK_LINE_SIZE,
    MUST_CLOSE,
    SEND_BODY,
    SWITCHED_PROTOCOL,
    BodyReader,
    ChunkedBody,
    CloseDelimitedBody,
    ContentLengthBody,
    is_token,
    not_latin1,
    render_headers,
)
from dualweb.httputil import HTTPHeaders

__all__ = ["HTTP1ClientCodec"]

# Methods whose body is sent chunked when no Content-Length is given.
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
_GOOD_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)


def _keep_alive(version: str, connection: str | None) -> bool:
    """Whether the server lets the connection persist after a delimited response."""
    if connection is not None:
        connection = connection.lower()
    if version == "HTTP/1.1":
        return connection != "close"
    return connection == "keep-alive"


class HTTP1ClientCodec(BaseHTTP1Codec):
    """The client side of one HTTP/1 connection: serialize requests, parse responses.

    Call :meth:`send_request` (and :meth:`send_data` / :meth:`send_end` for a
    body), then feed the server's bytes to :meth:`receive_data` and take
    :class:`Response`, :class:`Data` and :data:`END_OF_MESSAGE` events.  The
    codec remembers a ``HEAD`` request so its response is known to have no
    body; 204/304 have none either.  Interim 1xx responses (other than 101)
    come as :class:`InformationalResponse` events before the final one.  A
    response without ``Content-Length`` or chunked encoding ends when the
    server closes (``receive_data(b"")``).

    States: ``our_state`` goes IDLE → SEND_BODY (:meth:`send_request`; a
    request without a body goes straight on) → DONE (:meth:`send_end`), or
    MUST_CLOSE when the request said ``Connection: close``.  ``their_state``
    goes IDLE → SEND_BODY when a :class:`Response` is taken → DONE at its
    :data:`END_OF_MESSAGE` (MUST_CLOSE when the server does not keep the
    connection), SWITCHED_PROTOCOL after a 101 or a 2xx answer to ``CONNECT``
    (the following bytes are in :attr:`trailing_data`), ERROR after a
    :class:`ProtocolError`, CLOSED after :data:`CONNECTION_CLOSED`.  When
    :attr:`reusable` is true, :meth:`start_next_cycle` makes the connection
    ready for the next request (:meth:`send_request` also does it by itself).
    """

    __slots__ = ("_close", "_method", "_response_keep_alive", "_switching")

    _reads_start_line = False
    _bare_lf = True

    def __init__(self, max_header_size: int | None = None, chunk_size: int | None = None) -> None:
        super().__init__(max_header_size, chunk_size)
        self._method = ""
        self._close = False
        self._response_keep_alive = False
        self._switching = False

    def _new_parser(self) -> httptools.HttpResponseParser:
        parser = httptools.HttpResponseParser(self._reader)
        # RFC 9112 section 2.2: a recipient may take a bare LF as a line end.
        parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)
        return parser

    # ----------------------------------------------------------------- output

    def send_request(
        self, start_line: RequestStartLine, headers: HTTPHeaders, chunk: bytes | None = None
    ) -> bytes:
        """Serialize a request head (and optional first chunk) into one buffer.

        ``POST``/``PUT``/``PATCH`` without ``Content-Length`` use chunked
        encoding, as Tornado's client does; another request without
        ``Content-Length`` has no body and is complete at once.  After a
        complete exchange on a reusable connection the next cycle starts by
        itself.  Raises :class:`LocalProtocolError` (a :class:`ValueError`)
        for a header it refuses to write (see
        :func:`~dualweb.http1state.render_headers`), a method that is not a
        token, a target with whitespace or control characters, or when the
        connection cannot carry a request now; nothing changes then.
        """
        if self.our_state is not IDLE and self.reusable:
            self.start_next_cycle()
        if self.our_state is not IDLE:
            raise LocalProtocolError(
                f"cannot send a request now: ours {self.our_state}, theirs {self.their_state}"
            )
        method = start_line.method
        target = start_line.path
        if method not in _GOOD_METHODS and not is_token(method):
            raise LocalProtocolError(f"Invalid method {method!r}: not an RFC 9110 token")
        if not target or not target.isprintable() or " " in target or not target.isascii():
            raise LocalProtocolError(f"Invalid request target {target!r}")
        block, fields = render_headers(headers)
        length = fields.get("Content-Length")
        chunked = "Transfer-Encoding" in fields or (method in _BODY_METHODS and length is None)
        text = f"{method} {target} HTTP/1.1\r\n"
        if block:
            text += block + "\r\n"
        if chunked and "Transfer-Encoding" not in fields:
            text += "Transfer-Encoding: chunked\r\n"
        try:
            head = (text + "\r\n").encode("latin-1")
        except UnicodeEncodeError:
            raise not_latin1(text, headers) from None
        connection = fields.get("Connection")
        self._method = method
        self._chunked_out = chunked
        self._remaining_out = int(length) if length is not None and not chunked else -1
        self._close = close = connection is not None and connection.lower() == "close"
        if chunked or self._remaining_out > 0:
            self.our_state = SEND_BODY
        else:
            self.our_state = MUST_CLOSE if close else DONE
        return head + self.send_data(chunk) if chunk else head

    def send_data(self, chunk: bytes) -> bytes:
        """Frame a request body chunk."""
        if not chunk:
            return b""
        if self.our_state is not SEND_BODY:
            raise LocalProtocolError("request body data without a request that has a body")
        return self._frame(chunk)

    def send_end(self) -> bytes:
        """Finish the request body (the chunked terminator when needed)."""
        state = self.our_state
        if state is DONE or state is MUST_CLOSE:
            return b""  # a request without a body is complete already
        if state is not SEND_BODY:
            raise LocalProtocolError("send_end() without a request")
        tail = self._end_body()
        self.our_state = MUST_CLOSE if self._close else DONE
        return tail

    # ----------------------------------------------------------------- input

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; ``b""`` means the server closed the connection."""
        if not data:
            self._receive_eof()
            return
        if self._error or self._eof:
            if self._switching:
                self.trailing_data += data
            return
        self._feed(data)

    def _receive_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        if self._error:
            return
        body = self._body
        if body is not None:
            if not body.eof():
                self._fail(400, "connection closed in the middle of a response")
                return
            self._body = None
            self._body_complete()
        elif self._in_head:
            self._fail(400, "connection closed in the middle of a response")
            return
        self.events.append(CONNECTION_CLOSED)

    def _head_complete(self, buf: bytes, end: int) -> int:
        parser = self._parser
        assert isinstance(parser, httptools.HttpResponseParser)
        code = parser.get_status_code()
        version = "HTTP/" + parser.get_http_version()
        reader = self._reader
        fields = reader.fields  # each name's first value; cheaper than HTTPHeaders.get
        headers = reader.take_headers()
        reason = reader.url.decode("latin-1")
        reader.url = b""
        start_line = ResponseStartLine(version, code, reason)
        if 100 <= code < 200 and code != 101:
            # Interim response (llhttp has finished it); the final one follows.
            self.events.append(InformationalResponse(start_line, headers))
            return end
        # After a 101, or a 2xx to CONNECT (a tunnel, RFC 9110 section 9.3.6),
        # the bytes belong to another protocol.
        switching = code == 101 or (self._method == "CONNECT" and 200 <= code < 300)
        body: BodyReader | None = None
        delimited = True
        if self._method != "HEAD" and code != 204 and code != 304 and not switching:
            coding = fields.get("Transfer-Encoding")
            length = fields.get("Content-Length")
            if coding is not None:
                # RFC 9112 section 6.3: chunked only when it is the final coding.
                if coding.lower().rsplit(",", 1)[-1].strip() == "chunked":
                    body = ChunkedBody(MAX_CHUNK_LINE_SIZE, self.max_header_size)
                else:
                    body = CloseDelimitedBody()
                    delimited = False
            elif length is not None:
                if int(length):
                    body = ContentLengthBody(int(length))
            else:
                body = CloseDelimitedBody()
                delimited = False
        keep = (
            not switching
            and delimited
            and not self._close
            and _keep_alive(version, fields.get("Connection"))
        )
        self.events.append(Response(start_line, headers, keep))
        if body is not None:
            self._body = body
            return end
        self.events.append(END_OF_MESSAGE)
        if switching:
            # The rest belongs to the protocol switched to.
            self._switching = True
            self._error = True
            self.trailing_data = buf[end:]
            return len(buf)
        return end

    def _body_complete(self) -> None:
        self.events.append(END_OF_MESSAGE)

    def next_event(self) -> Event | Sentinel:
        """Return the next event or :data:`NEED_DATA`."""
        events = self.events
        if not events:
            return NEED_DATA
        event = events.popleft()
        kind = type(event)
        if kind is Response:
            assert isinstance(event, Response)
            self.their_state = SEND_BODY
            self._response_keep_alive = event.keep_alive
            if self._switching:
                self.our_state = self.their_state = SWITCHED_PROTOCOL
        elif kind is EndOfMessage:
            if self.their_state is SEND_BODY:
                self.their_state = DONE if self._response_keep_alive else MUST_CLOSE
        elif kind is ProtocolError:
            self.their_state = ERROR
        elif kind is ConnectionClosed and self.their_state is not SWITCHED_PROTOCOL:
            self.their_state = CLOSED
        return event

    # ----------------------------------------------------------------- reuse

    @property
    def reusable(self) -> bool:
        """True when the connection can carry another request.

        That is: our request was sent completely, the response was read to
        its end (every event taken), both sides agreed to keep the connection
        (neither ``Connection: close`` nor an HTTP/1.0 response without
        keep-alive nor a close-delimited body), and nothing went wrong.  A
        pool returns the connection when this is true and closes it
        otherwise.
        """
        return (
            self.our_state is DONE
            and self.their_state is DONE
            and not self.events
            and not self._error
            and not self._eof
            and not self._in_head
        )

    def start_next_cycle(self) -> None:
        """Make a reusable connection ready for the next request (h11's name).

        Raises :class:`LocalProtocolError` when :attr:`reusable` is false.
        """
        if not self.reusable:
            raise LocalProtocolError(
                f"connection not reusable: ours {self.our_state}, theirs {self.their_state}"
            )
        self.our_state = self.their_state = IDLE
        self._method = ""
        self._chunked_out = False
        self._remaining_out = -1
