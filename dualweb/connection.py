"""The seam between the request core and the drivers that carry it.

``dualweb.web`` (the one request lifecycle) talks to the outside world only
through the small interfaces defined here:

* a driver hands each request to an :class:`HTTPServerConnectionDelegate`
  (the :class:`~dualweb.web.Application`), which returns an
  :class:`HTTPMessageDelegate` that receives the start line, headers, body
  chunks and the end of the message;
* the core answers through the request's :class:`HTTPConnection`: start the
  response with a status line and headers, write chunks, finish, and be told
  when the client goes away.

The native server (``dualweb.http1connection``) and the WSGI adapter
(``dualweb.wsgi``) both implement :class:`HTTPConnection`; nothing in the
core knows which one it is talking to, except through
:attr:`HTTPConnection.supports_async`.

All names here are re-exported by :mod:`dualweb.httputil`, where Tornado
users look for them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, ClassVar, NamedTuple

if TYPE_CHECKING:
    from dualweb.httputil import HTTPHeaders


class RequestStartLine(NamedTuple):
    """The first line of an HTTP request: ``method``, ``path`` (the raw target) and ``version``."""

    method: str
    path: str
    version: str


class ResponseStartLine(NamedTuple):
    """The first line of an HTTP response: ``version``, ``code`` and ``reason``."""

    version: str
    code: int
    reason: str


class AsyncUnavailableError(RuntimeError):
    """An async-only feature was used where no event loop drives the request.

    Raised under :class:`dualweb.wsgi.WSGIAdapter` when a handler uses a
    coroutine verb method or ``prepare``, ``@asynchronous``,
    ``AsyncHTTPClient``, WebSockets, ``@stream_request_body`` or another
    feature that needs dualweb's native server. Exported as
    ``dualweb.wsgi.AsyncUnavailableError`` and ``dualweb.web.AsyncUnavailableError``.
    """

    @classmethod
    def for_feature(cls, where: str, problem: str, feature: str, fix: str) -> AsyncUnavailableError:
        """Build the error with dualweb's standard wording.

        ``for_feature("MainHandler.get", "is a coroutine", "coroutines",
        "Use a plain def, or run natively.")`` gives: ``MainHandler.get is a
        coroutine; coroutines need dualweb's native server (app.listen() or
        HTTPServer) and are disabled under WSGIAdapter. Use a plain def, or
        run natively.``
        """
        return cls(
            f"{where} {problem}; {feature} need dualweb's native server "
            f"(app.listen() or HTTPServer) and are disabled under WSGIAdapter. {fix}"
        )


class HTTPConnection:
    """What the request core needs from a driver to send one response.

    Subclasses implement every method; the base class raises
    ``NotImplementedError`` so a missing piece is obvious.

    ``supports_async`` tells the core whether this driver runs on an event
    loop. It is ``True`` for the native server and ``False`` under
    ``WSGIAdapter``, where coroutines, streaming and other async features
    raise :class:`dualweb.wsgi.AsyncUnavailableError`.
    """

    # Empty so that subclasses declaring __slots__ (one connection object per
    # request natively) really have no per-instance __dict__.
    __slots__ = ()

    supports_async: ClassVar[bool] = True

    def write_headers(
        self,
        start_line: ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Awaitable[None]:
        """Start the response with ``start_line`` and ``headers``, plus an optional first chunk.

        Returns an awaitable that completes when the data has been handed to
        the transport (natively this provides back-pressure).
        """
        raise NotImplementedError()

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Send a chunk of the response body; returns an awaitable like :meth:`write_headers`."""
        raise NotImplementedError()

    def finish(self) -> None:
        """Mark the response complete (writes the chunked terminator when needed)."""
        raise NotImplementedError()

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` (once) if the client goes away before the response finishes."""
        raise NotImplementedError()


class HTTPMessageDelegate:
    """Receives one HTTP message (a request, for the server) as it arrives.

    A driver calls :meth:`headers_received` once, :meth:`data_received` for
    each body chunk, then :meth:`finish` (or :meth:`on_connection_close` if
    the connection is lost first). Methods may return an awaitable; the
    native driver waits for it before reading more (flow control), and the
    WSGI driver requires ``None``.
    """

    # Empty for the same reason as HTTPConnection's: delegates are per request.
    __slots__ = ()

    def headers_received(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
    ) -> Awaitable[None] | None:
        """Called when the start line and headers have been parsed."""
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Called with each chunk of the body."""
        return None

    def finish(self) -> Awaitable[None] | None:
        """Called when the whole message has been received."""
        return None

    def on_connection_close(self) -> None:
        """Called if the connection closes before the message was complete."""
        return None


class HTTPServerConnectionDelegate:
    """Creates an :class:`HTTPMessageDelegate` for each request on a connection.

    :class:`~dualweb.web.Application` and :class:`~dualweb.routing.Router`
    implement this interface.
    """

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return the delegate that will receive the next request on ``request_conn``."""
        raise NotImplementedError()

    def on_close(self, server_conn: object) -> None:
        """Called when a connection that served requests has closed."""
        return None


class CompletedAwaitable:
    """An awaitable that is already complete, for drivers without an event loop.

    The WSGI driver returns it from :meth:`HTTPConnection.write_headers` and
    :meth:`HTTPConnection.write`: awaiting it returns ``None`` at once, and it
    offers the ``done``/``result``/``add_done_callback`` subset of a future so
    callers that inspect the result of ``flush()`` keep working.
    """

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # pragma: no cover - makes this a generator

    def done(self) -> bool:
        """Always ``True``."""
        return True

    def result(self) -> None:
        """Always ``None``."""
        return None

    def exception(self) -> None:
        """Always ``None``."""
        return None

    def add_done_callback(self, callback: Callable[[CompletedAwaitable], object]) -> None:
        """Call ``callback(self)`` immediately."""
        callback(self)


COMPLETED = CompletedAwaitable()


__all__ = [
    "COMPLETED",
    "AsyncUnavailableError",
    "CompletedAwaitable",
    "HTTPConnection",
    "HTTPMessageDelegate",
    "HTTPServerConnectionDelegate",
    "RequestStartLine",
    "ResponseStartLine",
]
