"""The WebSocket client: :func:`websocket_connect` and :class:`WebSocketClientConnection`.

Exported from :mod:`dualweb.websocket` (Tornado's names); the connection runs
on the same :class:`~dualweb._websocket_session.WebSocketSession` as the
server, with websockets' ``ClientProtocol`` inside. :func:`_open_channel` is
the one place that opens the TCP/TLS connection, so it can move onto the
HTTP client's connection code.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from dualweb._websocket_session import (
    DEFAULT_MAX_MESSAGE_SIZE,
    PROTOCOL_LOG,
    Message,
    WebSocketClosedError,
    WebSocketError,
    WebSocketSession,
    deflate_settings,
    ping_payload,
)
from dualweb.bytechannel import TransportChannel
from dualweb.httpclient import HTTPClientError
from dualweb.netutil import Resolver, ssl_options_to_context

__all__ = ["WebSocketClientConnection", "WebSocketHandshakeError", "websocket_connect"]


class WebSocketHandshakeError(HTTPClientError, WebSocketError):
    """The server answered the WebSocket handshake with an HTTP status other than 101.

    As in Tornado, :func:`websocket_connect` raises an
    :class:`~dualweb.httpclient.HTTPClientError` whose ``code`` is the
    server's status (e.g. 403 from ``check_origin``, 404 for no route); it is
    also a :class:`~dualweb.websocket.WebSocketError`.
    """

# Tornado's HTTPRequest default connect_timeout, which websocket_connect inherits.
_DEFAULT_CONNECT_TIMEOUT: Final = 20.0
# How many unread messages a client connection buffers before it stops reading.
_CLIENT_READ_BUFFER: Final = 16


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
            message = (
                f"WebSocket handshake failed: {response.status_code} "
                f"{response.reason_phrase}: {exc}"
            )
            self._connected.set_exception(
                WebSocketHandshakeError(response.status_code, message)
                if response.status_code != 101
                else WebSocketError(message)
            )
            self._connected.exception()  # raised by websocket_connect's await, if still waiting
        else:
            self._connected.set_result(self)

    def _on_message(self, message: Message) -> Awaitable[None] | None:
        if self._callback is not None:
            self._callback(message)
            return None
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():  # a read_message() future may have been cancelled
                waiter.set_result(message)
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
        payload = ping_payload(data)
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
    # A placeholder protocol until the channel takes the transport over: the
    # server says nothing before our handshake request, so nothing is missed.
    transport, _ = await loop.create_connection(
        asyncio.Protocol,
        target,
        port,
        ssl=ssl_context,
        server_hostname=host if ssl_context is not None else None,
    )
    channel = TransportChannel(transport)
    channel.set_nodelay(True)
    return channel


def websocket_connect(
    url_or_request: Any,
    callback: Callable[[asyncio.Future[WebSocketClientConnection]], None] | None = None,
    connect_timeout: float | None = None,
    on_message_callback: Callable[[Message | None], None] | None = None,
    compression_options: dict[str, Any] | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    subprotocols: list[str] | None = None,
    resolver: Resolver | None = None,
) -> asyncio.Future[WebSocketClientConnection]:
    """Connect to a WebSocket server; returns a future for a :class:`WebSocketClientConnection`.

    Args:
        url_or_request: a ``ws://`` or ``wss://`` URL (``http(s)://`` works
            too), or a request object (Tornado's ``HTTPRequest`` shape) with
            ``url`` and optional ``headers``, ``connect_timeout``,
            ``ssl_options``, ``ca_certs`` and ``validate_cert``.
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
        extensions = [ClientPerMessageDeflateFactory(**deflate_settings(compression_options))]
    protocol = ClientProtocol(
        uri,
        extensions=extensions,
        subprotocols=[Subprotocol(s) for s in subprotocols] if subprotocols else None,
        max_size=max_message_size,
        logger=PROTOCOL_LOG,
    )
    connection = WebSocketClientConnection(protocol, on_message_callback)
    ssl_context = _client_ssl_context(url_or_request, ssl_options) if uri.secure else None

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


def _client_ssl_context(request: Any, ssl_options: Any) -> ssl.SSLContext:
    """The TLS context for ``wss://``: the request's ``ssl_options`` or one from its fields.

    Like Tornado's HTTPRequest: ``ssl_options`` (a context or a dict of
    ``ssl.wrap_socket`` arguments) wins; otherwise ``ca_certs`` and
    ``validate_cert`` (default True) shape a default client context.
    """
    if ssl_options is not None:
        return ssl_options_to_context(ssl_options, server_side=False)
    context = ssl.create_default_context(cafile=getattr(request, "ca_certs", None))
    if getattr(request, "validate_cert", True) is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _header_items(headers: Any) -> list[tuple[str, str]]:
    if headers is None:
        return []
    get_all = getattr(headers, "get_all", None)
    if get_all is not None:
        return list(get_all())
    return list(dict(headers).items())
