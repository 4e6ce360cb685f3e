"""The events of dualweb's sans-io HTTP/1 codec (:mod:`dualweb.http1codec`).

``next_event()`` returns one of these, or a :class:`Sentinel`
(:data:`NEED_DATA`, :data:`PAUSED`).  They are plain data: per-request objects
use ``__slots__`` and the body-less markers are singletons, so telling events
apart is an identity or ``type()`` check.  :mod:`dualweb.http1codec`
re-exports every name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from dualweb.connection import RequestStartLine, ResponseStartLine

if TYPE_CHECKING:
    from dualweb.httputil import HTTPHeaders

__all__ = [
    "CONNECTION_CLOSED",
    "END_OF_MESSAGE",
    "NEED_DATA",
    "PAUSED",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "InformationalResponse",
    "LocalProtocolError",
    "ProtocolError",
    "Request",
    "Response",
    "Sentinel",
]


class Sentinel:
    """A named marker returned by ``next_event()`` (:data:`NEED_DATA`, :data:`PAUSED`)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA: Final = Sentinel("NEED_DATA")
"""``next_event()`` needs more bytes before it can return another event."""

PAUSED: Final = Sentinel("PAUSED")
"""A server codec delivered a whole request; finish its response before the next one."""


class Request:
    """A request's start line and headers were received (server side).

    Attributes: ``start_line`` (:class:`~dualweb.connection.RequestStartLine`;
    an absolute-form target is reduced to its path and query, its authority
    replacing the ``Host`` header), ``headers``, ``keep_alive`` (what the
    request asks for; the response may still close), ``expect_continue``
    (``Expect: 100-continue`` on HTTP/1.1: send :meth:`HTTP1ServerCodec.send_continue`
    before reading the body) and ``upgrade`` (``Connection: upgrade`` or
    ``CONNECT``) and ``content_length`` (the declared ``Content-Length``, or
    -1 without one).
    """

    __slots__ = (
        "content_length",
        "expect_continue",
        "headers",
        "keep_alive",
        "start_line",
        "upgrade",
    )

    def __init__(
        self,
        start_line: RequestStartLine,
        headers: HTTPHeaders,
        keep_alive: bool,
        expect_continue: bool = False,
        upgrade: bool = False,
        content_length: int = -1,
    ) -> None:
        self.start_line = start_line
        self.headers = headers
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.upgrade = upgrade
        self.content_length = content_length

    def __repr__(self) -> str:
        return f"<Request {self.start_line.method} {self.start_line.path}>"


class InformationalResponse:
    """An interim (1xx) response other than ``101`` was received (client side).

    For example the ``100 Continue`` a client waits for before sending a
    request body announced with ``Expect: 100-continue``, or ``103 Early
    Hints``.  ``start_line`` and ``headers`` as in :class:`Response`; the
    final response follows (no state changes).
    """

    __slots__ = ("headers", "start_line")

    def __init__(self, start_line: ResponseStartLine, headers: HTTPHeaders) -> None:
        self.start_line = start_line
        self.headers = headers

    def __repr__(self) -> str:
        return f"<InformationalResponse {self.start_line.code} {self.start_line.reason}>"


class Response:
    """A final response's status line and headers were received (client side).

    Informational (1xx) responses other than ``101 Switching Protocols`` come
    as :class:`InformationalResponse` before it.  ``keep_alive`` tells whether the connection
    may be reused after this response's body: the response is delimited (not read until the
    close), and neither it nor our request said ``Connection: close``.
    """

    __slots__ = ("headers", "keep_alive", "start_line")

    def __init__(self, start_line: ResponseStartLine, headers: HTTPHeaders, keep_alive: bool):
        self.start_line = start_line
        self.headers = headers
        self.keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"<Response {self.start_line.code} {self.start_line.reason}>"


class Data:
    """A chunk of a message body (never empty; at most ``chunk_size`` bytes)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"<Data {len(self.data)} bytes>"


class EndOfMessage:
    """The current message is complete; use the :data:`END_OF_MESSAGE` instance."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_MESSAGE"


END_OF_MESSAGE: Final = EndOfMessage()


class ConnectionClosed:
    """The peer closed its side; use the :data:`CONNECTION_CLOSED` instance."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "CONNECTION_CLOSED"


CONNECTION_CLOSED: Final = ConnectionClosed()


class ProtocolError:
    """The peer broke the protocol or a limit.

    ``status_code`` is what a server answers with (400 malformed, 413 body too
    large, 431 header block too large, 505 unsupported version); ``message``
    says what was wrong.  No event follows; close the connection.
    """

    __slots__ = ("message", "status_code")

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code = status_code
        self.message = message

    def __repr__(self) -> str:
        return f"<ProtocolError {self.status_code} {self.message!r}>"


Event = (
    Request
    | InformationalResponse
    | Response
    | Data
    | EndOfMessage
    | ConnectionClosed
    | ProtocolError
)


class LocalProtocolError(RuntimeError, ValueError):
    """Our side (the code using the codec) tried something HTTP/1 does not allow.

    For example writing more body than the ``Content-Length`` it declared, a
    second response to one request, or a header the codec refuses to write (a
    name that is not an RFC 9110 token, a name or value that is not latin-1,
    CR, LF or NUL in a value, a ``Content-Length`` that is not a non-negative
    integer).  The message names the offending header.  It is a
    :class:`ValueError` as well as a :class:`RuntimeError`: Tornado raises
    ``ValueError`` for bad header values, and older dualweb code catches
    ``RuntimeError``.  A refused header changes no state, so the caller can
    still send an error response.
    """
