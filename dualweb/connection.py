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
(``dualweb.wsgi``) both implement :class:`HTTPConnection` and enter the core
the same way: ``start_request(server_conn, request_conn)``, then
``headers_received`` → ``data_received`` (per chunk) → ``finish`` (or
``on_connection_close``) on the delegate it returned. The WSGI driver makes
these calls synchronously and turns an awaitable result into
:class:`AsyncUnavailableError`.

What the core may use of a connection is declared here and nothing else:
its :class:`ConnectionContext` (who the peer is, plus the server's
:class:`RequestSettings`), :attr:`HTTPConnection.supports_async`, and the
optional capabilities :meth:`HTTPConnection.detach` /
:meth:`HTTPConnection.upgrade` (a transport-neutral :class:`ByteChannel`
for protocols such as WebSockets). A delegate that refuses a request body
raises :class:`RequestBodyError`; every driver answers its status and closes.

Tornado's names here (the delegates, :class:`HTTPConnection`, the start
lines) are re-exported by :mod:`dualweb.httputil`, where Tornado users look
for them.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Awaitable, Callable, Generator, Iterable
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, NamedTuple, TypeVar

from dualweb._filechunks import COPY_CHUNK, file_chunks

if TYPE_CHECKING:
    from dualweb.headers import HTTPHeaders


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


#: The body limit every driver applies unless told otherwise (100 MiB, as Tornado's server).
DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024


class RequestSettings:
    """What the core applies to every request of one server (shared, never mutated per request).

    Args:
        xheaders: take ``remote_ip`` and ``protocol`` from proxy headers
            (``X-Real-Ip``/``X-Forwarded-For``, ``X-Scheme``/``X-Forwarded-Proto``).
        trusted_downstream: proxy addresses skipped in ``X-Forwarded-For``.
        max_body_size: the largest request body accepted, in bytes, after
            any decompression (else 413).
        decompress_request: gunzip ``Content-Encoding: gzip`` request bodies.
    """

    __slots__ = ("decompress_request", "max_body_size", "trusted_downstream", "xheaders")

    def __init__(
        self,
        xheaders: bool = False,
        trusted_downstream: Iterable[str] | None = None,
        max_body_size: int | None = None,
        decompress_request: bool = False,
    ) -> None:
        self.xheaders = xheaders
        self.trusted_downstream = frozenset(trusted_downstream or ())
        self.max_body_size = DEFAULT_MAX_BODY_SIZE if max_body_size is None else max_body_size
        self.decompress_request = decompress_request

    def __repr__(self) -> str:
        return (
            f"RequestSettings(xheaders={self.xheaders!r}, "
            f"trusted_downstream={sorted(self.trusted_downstream)!r}, "
            f"max_body_size={self.max_body_size!r}, "
            f"decompress_request={self.decompress_request!r})"
        )


#: The settings of a connection whose server gave none.
DEFAULT_SETTINGS = RequestSettings()


class ConnectionContext:
    """Who is on the other end of a connection, as the core sees it.

    Attributes:
        remote_ip: the peer's IP address (``None`` if unknown); requests copy
            it, after proxy headers when ``settings.xheaders`` is on.
        protocol: ``"http"`` or ``"https"``.
        address: the peer address as the transport reports it (``None`` if unknown).
        ssl_object: the TLS object of the connection (for client certificates), or ``None``.
        settings: the server's :class:`RequestSettings` (default: :data:`DEFAULT_SETTINGS`).
    """

    __slots__ = ("address", "protocol", "remote_ip", "settings", "ssl_object")

    def __init__(
        self,
        remote_ip: str | None,
        protocol: str,
        address: Any = None,
        settings: RequestSettings | None = None,
        ssl_object: Any = None,
    ) -> None:
        self.remote_ip = remote_ip
        self.protocol = protocol
        self.address = address
        self.settings = DEFAULT_SETTINGS if settings is None else settings
        self.ssl_object = ssl_object


class RequestBodyError(Exception):
    """A delegate refuses the request body; the driver answers ``status_code`` and closes.

    Raised from :meth:`HTTPMessageDelegate.data_received` or
    :meth:`HTTPMessageDelegate.finish` by the core: 413 for a body (or a
    decompressed body) over ``max_body_size``, 400 for an undecodable one.
    """

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class ByteChannel:
    """A bidirectional byte stream handed over by :meth:`HTTPConnection.upgrade`.

    Transport-neutral on purpose: a WebSocket (or any protocol that takes
    over after a ``101 Switching Protocols``) reads and writes bytes through
    it and never sees an asyncio transport, so the same protocol code can
    run over any driver that offers upgrades.
    """

    async def read(self) -> bytes:
        """Return the next bytes received (what the client sent past the request first).

        Returns ``b""`` once the peer has closed.
        """
        raise NotImplementedError()

    def write(self, data: bytes) -> Awaitable[None]:
        """Send ``data``; the awaitable completes when the peer may take more (back-pressure).

        Raises:
            dualweb.iostream.StreamClosedError: (through the awaitable) if the channel is closed.
        """
        raise NotImplementedError()

    def close(self) -> None:
        """Close the channel (after sending what was already written)."""
        raise NotImplementedError()

    def closed(self) -> bool:
        """True once the channel is closed (by either side)."""
        raise NotImplementedError()


#: Set (to the driver's name) while a driver without an event loop runs a
#: request in this context: ``token = SYNC_REQUEST.set("MyDriver")`` before
#: entering the core, ``SYNC_REQUEST.reset(token)`` after. The loop-only APIs
#: (``IOLoop.add_callback`` and friends) check it with
#: :func:`refuse_in_sync_request` and raise instead of queueing callbacks
#: that would never run. A driver may instead mark its per-request entry
#: function with :func:`sync_request_entry` (the WSGI adapter does).
SYNC_REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "dualweb_sync_request", default=None
)

# The code objects of the functions marked with sync_request_entry(). Setting
# and resetting SYNC_REQUEST costs ~1.5k interpreter instructions per request
# (2 % of a WSGI hello); looking for these on the stack costs nothing per
# request and is only paid by the rare call that has to be checked. Both mark
# the same region: the stack of the thread (or greenlet) running the request,
# for as long as the entry function runs.
_SYNC_ENTRIES: dict[CodeType, str] = {}
_F = TypeVar("_F", bound=Callable[..., Any])


def sync_request_entry(driver: str) -> Callable[[_F], _F]:
    """Decorator: while the decorated function runs, a request without an event loop runs.

    For drivers without a loop (the WSGI adapter marks its ``__call__``): a
    cheaper equivalent of setting :data:`SYNC_REQUEST` to ``driver`` around
    each call, seen by :func:`refuse_in_sync_request` from any code the
    function calls in the same thread.
    """

    def mark(function: _F) -> _F:
        _SYNC_ENTRIES[function.__code__] = driver
        return function

    return mark


def in_sync_request() -> str | None:
    """The name of the loop-less driver running a request here, or ``None`` outside one.

    Set through :data:`SYNC_REQUEST` or a :func:`sync_request_entry` function
    on the caller's stack.
    """
    driver = SYNC_REQUEST.get()
    if driver is None and _SYNC_ENTRIES:
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            driver = _SYNC_ENTRIES.get(frame.f_code)
            if driver is not None:
                break
            frame = frame.f_back
    return driver


def refuse_in_sync_request(where: str) -> None:
    """Raise :class:`AsyncUnavailableError` if a request without an event loop is running.

    ``where`` names the call, e.g. ``"IOLoop.add_callback()"``.
    """
    if in_sync_request() is not None:
        raise AsyncUnavailableError.for_feature(
            where,
            "was called during a request",
            "callbacks scheduled on the event loop",
            "Do the work before returning (plain code), or run natively.",
        )


_UNKNOWN_PEER = ConnectionContext(None, "http")


def discard_awaitable(awaitable: object) -> None:
    """Drop an awaitable that will never run, without "coroutine was never awaited" warnings.

    Closes a coroutine (or generator-based awaitable), cancels a future;
    anything else is left to the garbage collector.
    """
    import inspect  # only on this error path; inspect brings ast and dis with it

    if inspect.iscoroutine(awaitable) or inspect.isgenerator(awaitable):
        awaitable.close()
        return
    cancel = getattr(awaitable, "cancel", None)
    if callable(cancel):
        try:
            cancel()
        except Exception:  # a future bound to a closed loop may refuse; it is dropped anyway
            pass


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
    #: The :class:`ConnectionContext` of the connection the request arrived on
    #: (drivers set or compute it; the default is an unknown peer over plain
    #: HTTP with default settings).
    context: ConnectionContext = _UNKNOWN_PEER

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

    def write_response(
        self, start_line: ResponseStartLine, headers: HTTPHeaders, body: bytes
    ) -> Awaitable[None]:
        """Send a whole response: ``write_headers(start_line, headers, body)``, then ``finish()``.

        The core calls this instead of the two when the response is complete
        before anything was sent (most responses), so a driver can do both in
        one step; this default makes the two calls. Returns the awaitable of
        :meth:`write_headers`.
        """
        future = self.write_headers(start_line, headers, body)
        self.finish()
        return future

    def detach(self) -> Any:
        """Take the connection away from HTTP (native only; returns what the driver hands over).

        Raises:
            AsyncUnavailableError: the driver cannot hand its connection over
                (the default, and under WSGI).
        """
        raise _no_upgrade("detach()")

    def upgrade(self) -> ByteChannel:
        """Take the connection away from HTTP as a :class:`ByteChannel` (after a 101 response).

        Raises:
            AsyncUnavailableError: the driver cannot hand its connection over
                (the default, and under WSGI).
        """
        raise _no_upgrade("upgrade()")

    def send_file(self, file: BinaryIO, offset: int, count: int) -> Awaitable[None]:
        """Send ``count`` bytes of ``file`` from ``offset`` as the next part of the response body.

        Call it after :meth:`write_headers` and before :meth:`finish`,
        like :meth:`write`. The connection owns ``file`` from the call on: it
        is closed once the bytes are sent, when sending fails, or when the
        client goes away. Drivers send files their cheapest way (natively
        ``os.sendfile`` over plain TCP; under WSGI the server's
        ``wsgi.file_wrapper``); this default reads the file in chunks and
        passes them to :meth:`write`, so every connection supports it.

        Returns an awaitable that completes when the bytes were handed to
        the transport; it fails with
        :class:`~dualweb.iostream.StreamClosedError` if the client went away.
        """
        if not self.supports_async:
            try:
                for chunk in file_chunks(file, offset, count, COPY_CHUNK):
                    self.write(chunk)
            finally:
                file.close()
            return COMPLETED
        import asyncio  # a connection on a loop: asyncio is loaded already

        return asyncio.ensure_future(_copy_file(self, file, offset, count))


async def _copy_file(connection: HTTPConnection, file: BinaryIO, offset: int, count: int) -> None:
    """:meth:`HTTPConnection.send_file` on a loop: each write's back-pressure is awaited."""
    try:
        for chunk in file_chunks(file, offset, count, COPY_CHUNK):
            await connection.write(chunk)
    finally:
        file.close()


def _no_upgrade(what: str) -> AsyncUnavailableError:
    return AsyncUnavailableError.for_feature(
        f"HTTPConnection.{what}",
        "takes over the connection",
        "protocol upgrades (WebSockets, detach())",
        "Run natively.",
    )


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
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_SETTINGS",
    "SYNC_REQUEST",
    "AsyncUnavailableError",
    "ByteChannel",
    "CompletedAwaitable",
    "ConnectionContext",
    "HTTPConnection",
    "HTTPMessageDelegate",
    "HTTPServerConnectionDelegate",
    "RequestBodyError",
    "RequestSettings",
    "RequestStartLine",
    "ResponseStartLine",
    "discard_awaitable",
    "in_sync_request",
    "refuse_in_sync_request",
    "sync_request_entry",
]
