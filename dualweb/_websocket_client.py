"""The WebSocket client: :func:`websocket_connect` and :class:`WebSocketClientConnection`.

Exported from :mod:`dualweb.websocket` (Tornado's names); the connection runs
on the same :class:`~dualweb._websocket_session.WebSocketSession` as the
server, with websockets' ``ClientProtocol`` inside. The connection is opened
by the HTTP client's connection code (:func:`dualweb._clientconn.open_channel`),
so the resolver, connect timeout, TLS options, source address and errors are
``AsyncHTTPClient``'s; the handshake request is built from an
:class:`~dualweb.httpclient.HTTPRequest` (headers, user agent, credentials).
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from dualweb._clientconn import HTTPTimeoutError, basic_auth, open_channel, tls_context
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
from dualweb.httpclient import HTTPClientError, HTTPRequest
from dualweb.httputil import HTTPHeaders
from dualweb.netutil import Resolver

__all__ = ["WebSocketClientConnection", "WebSocketHandshakeError", "websocket_connect"]


class WebSocketHandshakeError(HTTPClientError, WebSocketError):
    """The server answered the WebSocket handshake with an HTTP status other than 101.

    As in Tornado, :func:`websocket_connect` raises an
    :class:`~dualweb.httpclient.HTTPClientError` whose ``code`` is the
    server's status (e.g. 403 from ``check_origin``, 404 for no route); it is
    also a :class:`~dualweb.websocket.WebSocketError`.
    """

# HTTPRequest's default timeouts (Tornado's), which websocket_connect inherits.
_DEFAULT_CONNECT_TIMEOUT: Final = 20.0
_DEFAULT_REQUEST_TIMEOUT: Final = 20.0
# What websocket_connect reads from a request-like object that is not an HTTPRequest.
_REQUEST_FIELDS: Final = (
    "headers",
    "connect_timeout",
    "request_timeout",
    "validate_cert",
    "ca_certs",
    "client_cert",
    "client_key",
    "ssl_options",
    "network_interface",
    "allow_ipv6",
    "user_agent",
    "auth_username",
    "auth_password",
    "auth_mode",
    "proxy_host",
)
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
            too), or an :class:`~dualweb.httpclient.HTTPRequest` for it. The
            request's ``headers``, ``user_agent`` and ``auth_username`` /
            ``auth_password`` (basic) go into the handshake request;
            ``connect_timeout``, ``request_timeout``, ``validate_cert``,
            ``ca_certs``, ``client_cert`` / ``client_key``, ``ssl_options``,
            ``network_interface`` and ``allow_ipv6`` work as for
            :class:`~dualweb.httpclient.AsyncHTTPClient`. The request itself
            is not modified.
        callback: called with the future once it is done.
        connect_timeout: seconds allowed for resolving and connecting
            (default: the request's, else 20); the handshake that follows
            must finish within the request's ``request_timeout`` (20) of the
            start.
        on_message_callback: receives each message (and ``None`` on close)
            instead of :meth:`~WebSocketClientConnection.read_message`.
        compression_options: ``{}`` (or options as for
            :meth:`WebSocketHandler.get_compression_options`) to offer
            permessage-deflate; ``None`` for none.
        ping_interval, ping_timeout: keepalive pings, as on the server.
        max_message_size: largest message accepted (a larger one closes with 1009).
        subprotocols: subprotocols to offer, in order of preference.
        resolver: a :class:`~dualweb.netutil.Resolver` for the host name
            (default: a new :class:`~dualweb.netutil.Resolver`).

    The future fails as an ``AsyncHTTPClient`` fetch would: with
    :class:`OSError` when the server cannot be reached (e.g.
    :class:`ConnectionRefusedError`, :class:`socket.gaierror`,
    :class:`ssl.SSLError`), with
    :class:`~dualweb.simple_httpclient.HTTPTimeoutError` (599) after
    ``connect_timeout`` ("Timeout while connecting") or ``request_timeout``
    ("Timeout during request"); and with :class:`WebSocketHandshakeError`
    (an :class:`~dualweb.httpclient.HTTPClientError` with the server's
    status) when the server refuses the handshake. ``proxy_host`` is not
    supported (``NotImplementedError``, as in Tornado).
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
    loop = asyncio.get_running_loop()
    request = _handshake_request(url_or_request, connect_timeout)
    url = request.url
    if url.startswith(("http://", "https://")):
        url = "ws" + url[4:]
    uri = parse_uri(url)
    extra_headers = _extra_headers(request)
    deadline = loop.time() + (request.request_timeout or _DEFAULT_REQUEST_TIMEOUT)
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
    tls = tls_context(request) if uri.secure else None
    own_resolver = resolver is None
    resolver = resolver if resolver is not None else Resolver()
    try:
        channel = await open_channel(request, uri.host, uri.port, resolver, tls)
    finally:
        if own_resolver:
            resolver.close()
    _send_handshake(protocol, extra_headers)
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
        return await asyncio.wait_for(
            asyncio.shield(connection._connected), max(deadline - loop.time(), 0.0)
        )
    except asyncio.TimeoutError:
        session.abort()
        raise HTTPTimeoutError("Timeout during request") from None
    except BaseException:
        session.abort()
        raise


def _send_handshake(protocol: ClientProtocol, extra_headers: list[tuple[str, str]]) -> None:
    """Queue websockets' handshake request, with ``extra_headers`` replacing same-named ones."""
    handshake = protocol.connect()
    headers = handshake.headers
    for name in {name.lower() for name, _ in extra_headers}:
        if name in headers:
            del headers[name]
    for name, value in extra_headers:
        headers[name] = value
    protocol.send_request(handshake)


def _handshake_request(url_or_request: Any, connect_timeout: float | None) -> HTTPRequest:
    """The request to connect with: the caller's copied (never modified), defaults filled in.

    ``url_or_request`` is a URL, an :class:`HTTPRequest`, or any object with
    a ``url`` and some of HTTPRequest's attributes (:data:`_REQUEST_FIELDS`).
    An explicit ``connect_timeout`` wins over the request's.
    """
    if isinstance(url_or_request, str):
        request = HTTPRequest(url_or_request)
    elif isinstance(url_or_request, HTTPRequest):
        request = copy.copy(url_or_request)
        request.headers = HTTPHeaders(url_or_request.headers)
    else:
        fields = {
            name: getattr(url_or_request, name)
            for name in _REQUEST_FIELDS
            if getattr(url_or_request, name, None) is not None
        }
        request = HTTPRequest(url_or_request.url, **fields)
    if request.proxy_host:
        raise NotImplementedError(
            "websocket_connect does not support proxy_host; connect to the server directly"
        )
    if connect_timeout is not None:
        request.connect_timeout = connect_timeout
    if request.connect_timeout is None:
        request.connect_timeout = _DEFAULT_CONNECT_TIMEOUT
    if request.request_timeout is None:
        request.request_timeout = _DEFAULT_REQUEST_TIMEOUT
    return request


def _extra_headers(request: HTTPRequest) -> list[tuple[str, str]]:
    """What the request adds to (or replaces in) websockets' handshake request.

    Raises:
        ValueError: an ``auth_mode`` other than ``"basic"`` (a handshake
            cannot answer a digest challenge).
    """
    extra = list(request.headers.get_all())
    if request.user_agent:
        extra.append(("User-Agent", request.user_agent))
    if request.auth_username is not None:
        mode = request.auth_mode or "basic"
        if mode != "basic":
            raise ValueError(f"websocket_connect supports auth_mode 'basic' only, not {mode!r}")
        extra.append(("Authorization", basic_auth(request.auth_username, request.auth_password)))
    return extra
