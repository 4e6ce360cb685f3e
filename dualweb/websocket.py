"""WebSockets: :class:`WebSocketHandler` (server) and :func:`websocket_connect` (client).

The API is Tornado's ``tornado.websocket``. A handler is a
:class:`~dualweb.web.RequestHandler` whose ``GET`` answers the WebSocket
handshake; ``prepare``, ``get_current_user`` and ``@authenticated`` run
before the upgrade as for any request::

    class EchoHandler(WebSocketHandler):
        def open(self):
            print("opened")

        async def on_message(self, message):
            await self.write_message("you said: " + message)

        def on_close(self):
            print("closed", self.close_code)

The protocol work (handshake checks, framing, masking, UTF-8, close codes,
permessage-deflate) is done by the ``websockets`` library's sans-io
protocols; :mod:`dualweb._websocket_session` drives them over a byte channel
taken over through the connection seam's upgrade capability
(:mod:`dualweb._websocket_channel`), and the client lives in
:mod:`dualweb._websocket_client`. Strict by default:
unmasked client frames, reserved bits or opcodes and bad control frames
fail the connection with 1002, invalid UTF-8 with 1007, oversized messages
with 1009. WebSockets need dualweb's native server: under
:class:`~dualweb.wsgi.WSGIAdapter` a ``WebSocketHandler`` route is listed by
``async_routes()`` and a request to it raises
:class:`~dualweb.connection.AsyncUnavailableError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeaderValue
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from dualweb._websocket_channel import detach_handler_channel
from dualweb._websocket_client import (
    WebSocketClientConnection,
    WebSocketHandshakeError,
    websocket_connect,
)
from dualweb._websocket_session import (
    DEFAULT_MAX_MESSAGE_SIZE,
    PROTOCOL_LOG,
    WebSocketClosedError,
    WebSocketError,
    WebSocketSession,
    deflate_settings,
    ping_payload,
)
from dualweb.connection import AsyncUnavailableError, HTTPConnection
from dualweb.escape import json_encode
from dualweb.shutdown import add_shutdown_callback, remove_shutdown_callback
from dualweb.web.handler import RequestHandler

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest
    from dualweb.web.application import Application

__all__ = [
    "WebSocketClientConnection",
    "WebSocketClosedError",
    "WebSocketError",
    "WebSocketHandler",
    "WebSocketHandshakeError",
    "websocket_connect",
]

# The client's names are documented as dualweb.websocket's.
WebSocketClientConnection.__module__ = websocket_connect.__module__ = __name__
WebSocketHandshakeError.__module__ = __name__


# -- the server -----------------------------------------------------------------


class WebSocketHandler(RequestHandler):
    """Subclass to serve WebSockets: implement :meth:`open`, :meth:`on_message`, :meth:`on_close`.

    ``GET`` requests to the route perform the handshake: a request that is
    not a WebSocket upgrade gets ``400``, a cross-origin one (see
    :meth:`check_origin`) ``403``, a bad handshake the ``4xx`` websockets
    chooses with a plain-text explanation. Then :meth:`open` runs with the
    route's arguments, and each message goes to :meth:`on_message` in order.
    Send with :meth:`write_message`, end with :meth:`close`.

    Settings: ``websocket_ping_interval`` (seconds between pings, default
    off), ``websocket_ping_timeout`` (close when a ping is not answered in
    time; default three intervals, at least 30 s) and ``websocket_max_message_size`` (default
    10 MiB; a larger message closes the connection with 1009).
    """

    __slots__ = ("_selected_subprotocol", "_ws", "open_args", "open_kwargs")

    _native_only_feature = "WebSocketHandler is a WebSocket endpoint"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._native_only_feature = f"{cls.__name__} is a WebSocket endpoint"

    def __init__(
        self, application: Application, request: HTTPServerRequest, **kwargs: Any
    ) -> None:
        self._ws: WebSocketSession | None = None
        self._selected_subprotocol: str | None = None
        self.open_args: tuple[str, ...] = ()
        self.open_kwargs: dict[str, str] = {}
        super().__init__(application, request, **kwargs)

    # -- the handshake

    def get(self, *args: str, **kwargs: str) -> None:
        """Answer the WebSocket handshake and start the connection.

        Override only to decorate it (e.g. ``@authenticated``), calling ``super().get()``.

        Raises:
            AsyncUnavailableError: under WSGIAdapter, where WebSockets cannot run.
        """
        self.open_args = args
        self.open_kwargs = kwargs
        cls = type(self).__name__
        connection = self.request.connection
        if connection is None or not connection.supports_async:
            raise AsyncUnavailableError.for_feature(
                f"{cls}.get",
                "is a WebSocket endpoint",
                "WebSockets",
                "Serve this route natively, or remove it from the WSGI application.",
            )
        headers = self.request.headers
        if headers.get("Upgrade", "").lower() != "websocket":
            self.set_status(400)
            self.finish('Can "Upgrade" only to "WebSocket".\n')
            return
        origin = headers.get("Origin") or headers.get("Sec-Websocket-Origin")
        if origin is not None and not self.check_origin(origin):
            self.set_status(403)
            self.finish("Cross origin websockets not allowed\n")
            return
        protocol = self._server_protocol()
        request = Request(
            self.request.uri or "/",
            Headers(headers.get_all()),
            method=self.request.method or "GET",
            protocol=self.request.version,
        )
        response = protocol.accept(request)
        if response.status_code != 101:
            self._refuse(protocol, response)
            return
        self._selected_subprotocol = protocol.subprotocol
        self.set_status(101)
        for name, value in response.headers.raw_items():
            if name != "Date":
                self.set_header(name, value)
        self.finish()
        self._start_session(protocol)

    def _server_protocol(self) -> ServerProtocol:
        options = self.get_compression_options()
        extensions = None
        if options is not None:
            extensions = [ServerPerMessageDeflateFactory(**deflate_settings(options))]
        handler = self

        def select(_: ServerProtocol, offered: Any) -> Subprotocol | None:
            return handler._choose_subprotocol(list(offered))

        return ServerProtocol(
            state=State.OPEN,
            extensions=extensions,
            select_subprotocol=select,
            max_size=self.max_message_size,
            logger=PROTOCOL_LOG,
        )

    def _choose_subprotocol(self, offered: list[str]) -> Subprotocol | None:
        chosen = self.select_subprotocol(offered)
        if chosen is not None and chosen not in offered:
            raise ValueError(
                f"{type(self).__name__}.select_subprotocol returned {chosen!r}, which the "
                f"client did not offer ({offered!r}); return one of them or None"
            )
        return Subprotocol(chosen) if chosen is not None else None

    def _refuse(self, protocol: ServerProtocol, response: Response) -> None:
        status = response.status_code
        exc = protocol.handshake_exc
        if isinstance(exc, InvalidHeaderValue) and exc.name == "Sec-WebSocket-Version":
            # RFC 6455 4.4: tell the client which version we speak.
            status = 426
            self.set_header("Sec-WebSocket-Version", "13")
        elif status == 426:
            status = 400  # as Tornado: a bad Connection header is a plain bad request
        self.set_status(status)
        if "Allow" in response.headers:
            self.set_header("Allow", response.headers["Allow"])
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(bytes(response.body))

    def _start_session(self, protocol: ServerProtocol) -> None:
        channel = detach_handler_channel(self)
        # The HTTP connection (its parser, buffers, codec) is of no further
        # use; keep only who the peer is, so an idle WebSocket stays small.
        request = self.request
        request.connection = _UpgradedConnection(getattr(request.connection, "context", None))
        request.server_connection = None
        session = WebSocketSession(
            protocol,
            channel,
            self.on_message,
            self.on_connection_close,
            on_ping=self.on_ping,
            on_pong=self.on_pong,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            name=f"{type(self).__name__} ({self.request.path})",
        )
        self._ws = session
        _OPEN_SOCKETS.track(self)
        try:
            opening = self.open(*self.open_args, **self.open_kwargs)
        except Exception:
            session.start()
            session.callback_failed()
            return
        session.start(opening)

    # -- overridable hooks

    def open(self, *args: str, **kwargs: str) -> Awaitable[None] | None:
        """Called when the connection is open, with the route's arguments; may be a coroutine.

        Messages are delivered to :meth:`on_message` only after it returns.
        """
        return None

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Handle one message (``str`` for text, ``bytes`` for binary); may be a coroutine.

        Messages are processed in order: the next one waits until a
        coroutine ``on_message`` completes.

        Raises:
            NotImplementedError: the subclass did not implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement on_message()")

    def on_close(self) -> None:
        """Called once when the WebSocket is closed (by either side, or the connection lost)."""

    def on_ping(self, data: bytes) -> None:
        """Called when a ping arrives (the pong is sent automatically)."""

    def on_pong(self, data: bytes) -> None:
        """Called when a pong arrives."""

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Pick one of the ``subprotocols`` the client offered, or ``None`` (the default) for none.

        It is called with an empty list when the client offers none.
        """
        return None

    def check_origin(self, origin: str) -> bool:
        """Whether to accept a connection from ``origin`` (the ``Origin`` header).

        By default only the same host is accepted (the origin's host and
        port equal the ``Host`` header); other origins get ``403``. Override
        to allow cross-origin connections, e.g. ``return True``.
        """
        host = self.request.headers.get("Host")
        return host is not None and urlsplit(origin).netloc.lower() == host.lower()

    def get_compression_options(self) -> dict[str, Any] | None:
        """Return ``{}`` (or options) to offer permessage-deflate; ``None`` (default) disables it.

        Options: ``compression_level`` and ``mem_level`` (zlib's), plus
        ``server_no_context_takeover``, ``client_no_context_takeover``,
        ``server_max_window_bits`` and ``client_max_window_bits``.
        """
        return None

    @property
    def max_message_size(self) -> int:
        """Largest message accepted (bytes); setting ``websocket_max_message_size``, 10 MiB."""
        size: int = self.settings.get("websocket_max_message_size", DEFAULT_MAX_MESSAGE_SIZE)
        return size

    @property
    def ping_interval(self) -> float | None:
        """Seconds between keepalive pings (setting ``websocket_ping_interval``); None: off."""
        value: float | None = self.settings.get("websocket_ping_interval", None)
        return value

    @property
    def ping_timeout(self) -> float | None:
        """Seconds a ping may go unanswered (``websocket_ping_timeout``); default 3 intervals."""
        value: float | None = self.settings.get("websocket_ping_timeout", None)
        return value

    # -- using the connection

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send ``message`` (a dict is sent as JSON text); returns a future for back-pressure.

        The future completes once the peer is keeping up with what was
        sent; awaiting it stops a fast producer from filling memory.

        Raises:
            WebSocketClosedError: the connection is closed or closing.
        """
        session = self._ws
        if session is None:
            raise WebSocketClosedError()
        if isinstance(message, dict):
            message = json_encode(message)
        return session.send(message, binary)

    def ping(self, data: str | bytes = b"") -> None:
        """Send a ping carrying ``data`` (at most 125 bytes).

        Raises:
            ValueError: ``data`` is longer than 125 bytes.
            WebSocketClosedError: the connection is closed.
        """
        payload = ping_payload(data)
        if self._ws is None:
            raise WebSocketClosedError()
        self._ws.ping(payload)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start closing the WebSocket with ``code`` and ``reason`` (no-op if already closing)."""
        if self._ws is not None:
            self._ws.close(code, reason)

    def set_nodelay(self, value: bool) -> None:
        """Send small messages at once (``TCP_NODELAY``) instead of coalescing them."""
        if self._ws is not None:
            self._ws.channel.set_nodelay(value)

    @property
    def close_code(self) -> int | None:
        """The close code the peer sent, once closed (``None`` if it sent none)."""
        return self._ws.close_code if self._ws is not None else None

    @property
    def close_reason(self) -> str | None:
        """The close reason the peer sent, once closed."""
        return self._ws.close_reason if self._ws is not None else None

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol :meth:`select_subprotocol` chose, or ``None``."""
        return self._selected_subprotocol

    @property
    def ws_connection(self) -> WebSocketSession | None:
        """The open connection (with ``is_closing()``), or ``None`` before open and after close.

        Tornado code tests ``if self.ws_connection is None`` to know whether
        it may still write.
        """
        session = self._ws
        if session is None or session.is_closing():
            return None
        return session

    def on_connection_close(self) -> None:
        """Called when the connection is gone; calls :meth:`on_close` once the socket was open."""
        super().on_connection_close()
        if self._ws is not None:
            _OPEN_SOCKETS.forget(self)
            self.on_close()


class _OpenSockets:
    """The open server WebSockets, closed with 1001 by a graceful shutdown.

    One shutdown callback (:func:`dualweb.shutdown.add_shutdown_callback`)
    is registered while at least one socket is open and removed when the
    last one closes; a dict keeps opening and closing O(1) per socket even
    with thousands open, which a callback per socket would not.
    """

    def __init__(self) -> None:
        self.sockets: dict[WebSocketHandler, None] = {}
        self.all_closed: asyncio.Future[None] | None = None

    def track(self, handler: WebSocketHandler) -> None:
        if not self.sockets:
            add_shutdown_callback(self.close_all)
        self.sockets[handler] = None

    def forget(self, handler: WebSocketHandler) -> None:
        if self.sockets.pop(handler, 0) is None and not self.sockets:
            remove_shutdown_callback(self.close_all)
            waiter, self.all_closed = self.all_closed, None
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def close_all(self) -> Awaitable[None] | None:
        """Close every open socket with 1001; the shutdown waits until they are gone."""
        if not self.sockets:
            return None
        if self.all_closed is None:
            self.all_closed = asyncio.get_running_loop().create_future()
        waiter = self.all_closed
        for handler in list(self.sockets):
            handler.close(1001, "server shutting down")
        return waiter


_OPEN_SOCKETS = _OpenSockets()


class _UpgradedConnection(HTTPConnection):
    """Stands in for a request's HTTP connection once it carries a WebSocket."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context

    def _upgraded(self) -> Any:
        raise RuntimeError(
            "this request's connection was upgraded to a WebSocket: "
            "use write_message() and close() instead of HTTP output"
        )

    def write_headers(self, *args: Any, **kwargs: Any) -> Any:
        return self._upgraded()

    def write(self, chunk: bytes) -> Any:
        return self._upgraded()

    def finish(self) -> None:
        self._upgraded()

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        return None
