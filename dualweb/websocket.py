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
protocols; :mod:`dualweb._websocket_session` drives them. Strict by default:
unmasked client frames, reserved bits or opcodes and bad control frames
fail the connection with 1002, invalid UTF-8 with 1007, oversized messages
with 1009. WebSockets need dualweb's native server: under
:class:`~dualweb.wsgi.WSGIAdapter` a ``WebSocketHandler`` route is listed by
``async_routes()`` and a request to it raises
:class:`~dualweb.connection.AsyncUnavailableError`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeaderValue
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from dualweb._websocket_channel import TransportChannel, detach_handler_channel
from dualweb._websocket_session import (
    Message,
    WebSocketClosedError,
    WebSocketError,
    WebSocketSession,
)
from dualweb.connection import AsyncUnavailableError, HTTPConnection
from dualweb.escape import json_encode
from dualweb.log import gen_log
from dualweb.netutil import Resolver
from dualweb.web.handler import RequestHandler

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest
    from dualweb.web.application import Application

__all__ = [
    "WebSocketClientConnection",
    "WebSocketClosedError",
    "WebSocketError",
    "WebSocketHandler",
    "websocket_connect",
]

#: Tornado's default for ``max_message_size`` / ``websocket_max_message_size``: 10 MiB.
_DEFAULT_MAX_MESSAGE_SIZE: Final = 10 * 1024 * 1024
# Tornado's HTTPRequest default connect_timeout, which websocket_connect inherits.
_DEFAULT_CONNECT_TIMEOUT: Final = 20.0
# How many unread messages a client connection buffers before it stops reading.
_CLIENT_READ_BUFFER: Final = 16


class _ProtocolLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' logger for our protocols, without its per-connection INFO lines.

    "connection open" / "connection closed" would repeat dualweb's access
    log for every socket; warnings and errors still reach ``dualweb.general``.
    """

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        return None


_protocol_log: Final = _ProtocolLog(gen_log, {})


def _deflate_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Map Tornado's compression options onto websockets' permessage-deflate factory arguments."""
    kwargs: dict[str, Any] = {}
    compress: dict[str, Any] = {}
    if "compression_level" in options:
        compress["level"] = options["compression_level"]
    if "mem_level" in options:
        compress["memLevel"] = options["mem_level"]
    if compress:
        kwargs["compress_settings"] = compress
    for name in (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    ):
        if name in options:
            kwargs[name] = options[name]
    return kwargs


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
        """Answer the WebSocket handshake and start the connection (do not override).

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
            extensions = [ServerPerMessageDeflateFactory(**_deflate_settings(options))]
        handler = self

        def select(_: ServerProtocol, offered: Any) -> Subprotocol | None:
            return handler._choose_subprotocol(list(offered))

        return ServerProtocol(
            state=State.OPEN,
            extensions=extensions,
            select_subprotocol=select,
            max_size=self.max_message_size,
            logger=_protocol_log,
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
        size: int = self.settings.get("websocket_max_message_size", _DEFAULT_MAX_MESSAGE_SIZE)
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
        payload = _ping_payload(data)
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

    def on_connection_close(self) -> None:
        """Called when the connection is gone; calls :meth:`on_close` once the socket was open."""
        super().on_connection_close()
        if self._ws is not None:
            self.on_close()


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


def _ping_payload(data: str | bytes) -> bytes:
    payload = data.encode() if isinstance(data, str) else bytes(data)
    if len(payload) > 125:
        raise ValueError(f"ping data is {len(payload)} bytes; a ping carries at most 125")
    return payload


# -- the client -----------------------------------------------------------------


class WebSocketClientConnection:
    """A client WebSocket connection; get one with :func:`websocket_connect`.

    Read with :meth:`read_message` (or pass ``on_message_callback``), send
    with :meth:`write_message`, end with :meth:`close`.
    """

    __slots__ = (
        "_callback",
        "_connected",
        "_gate",
        "_messages",
        "_session",
        "_waiters",
        "headers",
        "protocol",
    )

    def __init__(
        self,
        protocol: ClientProtocol,
        on_message_callback: Callable[[Message | None], None] | None = None,
    ) -> None:
        self.protocol = protocol
        self._callback = on_message_callback
        self._session: WebSocketSession | None = None
        self._messages: deque[Message | None] = deque()
        self._waiters: deque[asyncio.Future[Message | None]] = deque()
        self._gate: asyncio.Future[None] | None = None
        loop = asyncio.get_running_loop()
        self._connected: asyncio.Future[WebSocketClientConnection] = loop.create_future()
        #: The server's handshake response headers.
        self.headers: Headers = Headers()

    # -- set up by websocket_connect

    def _attach(self, session: WebSocketSession) -> None:
        self._session = session

    def _on_handshake(self, response: Response) -> None:
        self.headers = response.headers
        exc = self.protocol.handshake_exc
        if self._connected.done():
            return
        if exc is not None:
            self._connected.set_exception(
                WebSocketError(
                    f"WebSocket handshake failed: {response.status_code} "
                    f"{response.reason_phrase}: {exc}"
                )
            )
        else:
            self._connected.set_result(self)

    def _on_message(self, message: Message) -> Awaitable[None] | None:
        if self._callback is not None:
            self._callback(message)
            return None
        if self._waiters:
            self._waiters.popleft().set_result(message)
            return None
        self._messages.append(message)
        if len(self._messages) < _CLIENT_READ_BUFFER:
            return None
        # Enough unread: the session stops reading until the application catches up.
        self._gate = asyncio.get_running_loop().create_future()
        return self._gate

    def _on_closed(self) -> None:
        if not self._connected.done():
            exc = self.protocol.handshake_exc
            reason = f": {exc}" if exc is not None else ""
            self._connected.set_exception(
                WebSocketError(f"connection closed during the WebSocket handshake{reason}")
            )
            self._connected.exception()
            return
        if self._callback is not None:
            self._callback(None)
        # None marks the end: every later read_message() returns it too.
        self._messages.append(None)
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        gate, self._gate = self._gate, None
        if gate is not None and not gate.done():
            gate.set_result(None)

    # -- the API

    def read_message(
        self, callback: Callable[[asyncio.Future[Message | None]], None] | None = None
    ) -> asyncio.Future[Message | None]:
        """Return a future for the next message; it resolves to ``None`` once the socket closed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message | None] = loop.create_future()
        messages = self._messages
        if messages:
            message = messages[0]
            if message is not None:
                messages.popleft()
            future.set_result(message)
            gate = self._gate
            if gate is not None and len(messages) < _CLIENT_READ_BUFFER:
                self._gate = None
                gate.set_result(None)
        else:
            self._waiters.append(future)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def write_message(self, message: str | bytes, binary: bool = False) -> asyncio.Future[None]:
        """Send ``message``; returns a future that completes once the server keeps up.

        Raises:
            WebSocketClosedError: the connection is closed or closing.
        """
        if self._session is None:
            raise WebSocketClosedError()
        return self._session.send(message, binary)

    def ping(self, data: bytes = b"") -> None:
        """Send a ping carrying ``data`` (at most 125 bytes).

        Raises:
            ValueError: ``data`` is longer than 125 bytes.
            WebSocketClosedError: the connection is closed.
        """
        payload = _ping_payload(data)
        if self._session is None:
            raise WebSocketClosedError()
        self._session.ping(payload)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start closing with ``code`` and ``reason``; :meth:`read_message` then gives ``None``."""
        if self._session is not None:
            self._session.close(code, reason)

    @property
    def close_code(self) -> int | None:
        """The close code the server sent, once closed."""
        return self._session.close_code if self._session is not None else None

    @property
    def close_reason(self) -> str | None:
        """The close reason the server sent, once closed."""
        return self._session.close_reason if self._session is not None else None

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol the server chose, or ``None``."""
        return self.protocol.subprotocol

    def set_nodelay(self, value: bool) -> None:
        """Send small messages at once (``TCP_NODELAY``)."""
        if self._session is not None:
            self._session.channel.set_nodelay(value)


async def _open_channel(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    resolver: Resolver | None,
) -> TransportChannel:
    """Open the TCP (or TLS) connection a client WebSocket runs on.

    The one place that connects; it moves to the HTTP client's connection
    code once that exists.
    """
    loop = asyncio.get_running_loop()
    target = host
    if resolver is not None:
        addresses = await resolver.resolve(host, port)
        if not addresses:
            raise OSError(f"could not resolve {host!r}")
        target = addresses[0][1][0]
    _, channel = await loop.create_connection(
        TransportChannel,
        target,
        port,
        ssl=ssl_context,
        server_hostname=host if ssl_context is not None else None,
    )
    return channel


def websocket_connect(
    url_or_request: Any,
    callback: Callable[[asyncio.Future[WebSocketClientConnection]], None] | None = None,
    connect_timeout: float | None = None,
    on_message_callback: Callable[[Message | None], None] | None = None,
    compression_options: dict[str, Any] | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    max_message_size: int = _DEFAULT_MAX_MESSAGE_SIZE,
    subprotocols: list[str] | None = None,
    resolver: Resolver | None = None,
) -> asyncio.Future[WebSocketClientConnection]:
    """Connect to a WebSocket server; returns a future for a :class:`WebSocketClientConnection`.

    Args:
        url_or_request: a ``ws://`` or ``wss://`` URL (``http(s)://`` works
            too), or a request object with ``url`` and optional ``headers``,
            ``connect_timeout`` and ``ssl_options`` attributes.
        callback: called with the future once it is done.
        connect_timeout: seconds allowed for connecting and the handshake
            (default 20).
        on_message_callback: receives each message (and ``None`` on close)
            instead of :meth:`~WebSocketClientConnection.read_message`.
        compression_options: ``{}`` (or options as for
            :meth:`WebSocketHandler.get_compression_options`) to offer
            permessage-deflate; ``None`` for none.
        ping_interval, ping_timeout: keepalive pings, as on the server.
        max_message_size: largest message accepted (a larger one closes with 1009).
        subprotocols: subprotocols to offer, in order of preference.
        resolver: a :class:`~dualweb.netutil.Resolver` for the host name.

    The future fails with :class:`WebSocketError` when the server refuses
    the handshake, :class:`OSError` when it cannot be reached and
    :class:`asyncio.TimeoutError` after ``connect_timeout``.
    """
    future = asyncio.ensure_future(
        _connect(
            url_or_request,
            connect_timeout,
            on_message_callback,
            compression_options,
            ping_interval,
            ping_timeout,
            max_message_size,
            subprotocols,
            resolver,
        )
    )
    if callback is not None:
        future.add_done_callback(callback)
    return future


async def _connect(
    url_or_request: Any,
    connect_timeout: float | None,
    on_message_callback: Callable[[Message | None], None] | None,
    compression_options: dict[str, Any] | None,
    ping_interval: float | None,
    ping_timeout: float | None,
    max_message_size: int,
    subprotocols: list[str] | None,
    resolver: Resolver | None,
) -> WebSocketClientConnection:
    if isinstance(url_or_request, str):
        url, extra_headers, ssl_options = url_or_request, None, None
    else:
        url = url_or_request.url
        extra_headers = getattr(url_or_request, "headers", None)
        ssl_options = getattr(url_or_request, "ssl_options", None)
        if connect_timeout is None:
            connect_timeout = getattr(url_or_request, "connect_timeout", None)
    if connect_timeout is None:
        connect_timeout = _DEFAULT_CONNECT_TIMEOUT
    if url.startswith(("http://", "https://")):
        url = "ws" + url[4:]
    uri = parse_uri(url)
    extensions = None
    if compression_options is not None:
        extensions = [ClientPerMessageDeflateFactory(**_deflate_settings(compression_options))]
    protocol = ClientProtocol(
        uri,
        extensions=extensions,
        subprotocols=[Subprotocol(s) for s in subprotocols] if subprotocols else None,
        max_size=max_message_size,
        logger=_protocol_log,
    )
    connection = WebSocketClientConnection(protocol, on_message_callback)
    ssl_context: ssl.SSLContext | None = None
    if uri.secure:
        ssl_context = ssl_options if isinstance(ssl_options, ssl.SSLContext) else None
        ssl_context = ssl_context or ssl.create_default_context()

    async def handshake() -> WebSocketClientConnection:
        channel = await _open_channel(uri.host, uri.port, ssl_context, resolver)
        request = protocol.connect()
        for name, value in _header_items(extra_headers):
            request.headers[name] = value
        protocol.send_request(request)
        session = WebSocketSession(
            protocol,
            channel,
            connection._on_message,
            connection._on_closed,
            on_handshake=connection._on_handshake,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            name=f"WebSocket client ({url})",
        )
        connection._attach(session)
        session.start()
        try:
            return await asyncio.shield(connection._connected)
        except BaseException:
            session.abort()
            raise

    return await asyncio.wait_for(handshake(), connect_timeout)


def _header_items(headers: Any) -> list[tuple[str, str]]:
    if headers is None:
        return []
    get_all = getattr(headers, "get_all", None)
    if get_all is not None:
        return list(get_all())
    return list(dict(headers).items())
