"""The default :class:`~dualweb.httpclient.AsyncHTTPClient`: HTTP/1.1 with a keep-alive pool.

Theory of operation
-------------------

Each fetch runs as one task (:meth:`SimpleAsyncHTTPClient._run`): it reads
the request's options once (the client's defaults filled in), waits for a
slot (at most ``max_clients`` fetches run at once; the rest queue), then sends
the request on a connection and follows redirects.

Connections (:class:`dualweb._clientconn.ClientProtocol`, a plain
``asyncio.Protocol``) are pooled per (scheme, host, port, proxy, TLS settings,
local interface).  A connection carries one exchange at a time through its
:class:`~dualweb.http1codec.HTTP1ClientCodec`; when the response is complete
and both sides allow it (``_clientconn.reusable``), the connection goes back
to the pool, otherwise it is closed.  Tornado's client opens a connection per
request; this one does not.

A pooled connection may have been closed by the server while idle.  If it
fails before a single response byte arrived, an idempotent request is retried
once on a new connection (a server may close an idle connection at any
moment, RFC 9112 section 9.3.1).

Failures reach the caller as exceptions from ``fetch()``: ``OSError`` for
refused/reset/DNS (as Tornado's client), :class:`HTTPTimeoutError` (599) for
timeouts, :class:`HTTPStreamClosedError` (599) for a connection closed before
the response, and :class:`~dualweb.httpclient.HTTPClientError` (599) for a
malformed response (bad framing, oversized headers, truncated body).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import ssl
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable
from io import BytesIO
from typing import Any, Final, NamedTuple, cast

from dualweb._clientconn import (
    ClientProtocol,
    HTTPStreamClosedError,
    HTTPTimeoutError,
    ResponseReader,
    Stale,
    basic_auth,
    open_transport,
    reusable,
    tls_context,
    within_connect_timeout,
)
from dualweb.connection import RequestStartLine
from dualweb.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse
from dualweb.httputil import HTTPHeaders
from dualweb.log import gen_log
from dualweb.netutil import OverrideResolver, Resolver

__all__ = ["HTTPStreamClosedError", "HTTPTimeoutError", "SimpleAsyncHTTPClient"]

_USER_AGENT: Final = "dualweb/0.1.0"
# RFC 9110 section 9.2.2; only these may be sent twice.
_IDEMPOTENT: Final = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
_CONTENT_HEADERS: Final = (
    "Content-Length",
    "Content-Type",
    "Content-Encoding",
    "Transfer-Encoding",
)
_NO_TIMEOUT: Final = 1e9


# --------------------------------------------------------------------------- the request


class _Options:
    """An :class:`HTTPRequest`'s attributes with the client's defaults filled in.

    Built once per fetch (and per redirect) by :func:`_resolve`, so the hot
    path reads plain attributes instead of going through the defaults proxy.
    """


def _resolve(request: Any) -> HTTPRequest:
    """Read ``request`` (an HTTPRequest or the defaults proxy) into an :class:`_Options`."""
    original = getattr(request, "request", request)
    defaults = getattr(request, "defaults", None)
    values = dict(original.__dict__)
    values["headers"] = values.pop("_headers")
    values["body"] = values.pop("_body")
    if defaults:
        for name, value in defaults.items():
            if values.get(name) is None:
                values[name] = value
    values["original"] = original
    options = _Options()
    options.__dict__ = values
    return cast(HTTPRequest, options)


class _Target(NamedTuple):
    scheme: str
    host: str
    port: int
    netloc: str
    path: str
    username: str | None
    password: str | None


_TARGETS: dict[str, _Target] = {}
_TARGETS_LIMIT: Final = 512


def _parse_url(url: str) -> _Target:
    """Split ``url``; cached, since a client fetches the same few URLs again and again."""
    target = _TARGETS.get(url)
    if target is not None:
        return target
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"Unsupported url scheme: {url!r} (only http and https)")
    host = parts.hostname
    if not host:
        raise ValueError(f"No host in url {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    netloc = parts.netloc.rpartition("@")[2]
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    target = _Target(scheme, host, port, netloc, path, parts.username, parts.password)
    if len(_TARGETS) < _TARGETS_LIMIT:
        _TARGETS[url] = target
    return target


def _digest_auth(request: HTTPRequest, target: _Target, challenge: str) -> str | None:
    """The ``Authorization`` answering a ``WWW-Authenticate: Digest`` challenge (RFC 7616).

    Returns ``None`` for a challenge we cannot answer (another scheme, an
    unknown algorithm or qop).
    """
    scheme, _, params = challenge.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    fields = urllib.request.parse_keqv_list(urllib.request.parse_http_list(params))
    algorithm = fields.get("algorithm", "MD5")
    hash_name = {"MD5": "md5", "SHA-256": "sha256"}.get(algorithm.upper())
    realm, nonce = fields.get("realm"), fields.get("nonce")
    if hash_name is None or realm is None or nonce is None:
        return None

    def digest(text: str) -> str:
        return hashlib.new(hash_name, text.encode("utf-8")).hexdigest()

    username = request.auth_username or target.username or ""
    password = request.auth_password or target.password or ""
    ha1 = digest(f"{username}:{realm}:{password}")
    ha2 = digest(f"{request.method}:{target.path}")
    parts = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{target.path}"',
        f"algorithm={algorithm}",
    ]
    qops = [q.strip() for q in fields.get("qop", "").split(",") if q.strip()]
    if qops:
        if "auth" not in qops:
            return None
        cnonce = secrets.token_hex(8)
        answer = digest(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", "nc=00000001", f'cnonce="{cnonce}"']
    else:
        answer = digest(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{answer}"')
    if "opaque" in fields:
        parts.append(f'opaque="{fields["opaque"]}"')
    return "Digest " + ", ".join(parts)


def _with_digest(request: HTTPRequest, reader: ResponseReader) -> HTTPRequest | None:
    """The request to resend after a 401 with a Digest challenge, or ``None``."""
    if (
        request.auth_mode != "digest"
        or "Authorization" in request.headers
        or request.body_producer is not None  # a body we cannot send twice
    ):
        return None
    target = _parse_url(request.url)
    for challenge in reader.headers.get_list("WWW-Authenticate"):
        answer = _digest_auth(request, target, challenge)
        if answer is not None:
            values = dict(request.__dict__)
            values["headers"] = headers = HTTPHeaders(request.headers)
            headers["Authorization"] = answer
            retry = _Options()
            retry.__dict__ = values
            return cast(HTTPRequest, retry)
    return None


def _check_body(request: HTTPRequest) -> None:
    if request.allow_nonstandard_methods:
        return
    expected = request.method in ("POST", "PATCH", "PUT")
    present = request.body is not None or request.body_producer is not None
    if expected != present:
        raise ValueError(
            f"Body must {'not ' if expected else ''}be None for method {request.method} "
            "(unless allow_nonstandard_methods is true)"
        )


def _redirected(request: HTTPRequest, code: int, location: str) -> HTTPRequest:
    """The request to send for a redirect, following RFC 9110 section 15.4."""
    values = dict(request.__dict__)
    new = _Options()
    new.__dict__ = values
    values["url"] = urllib.parse.urljoin(request.url, location)
    values["max_redirects"] = (request.max_redirects or 0) - 1
    headers = values["headers"] = HTTPHeaders(request.headers)
    del headers["Host"]
    if (code == 303 and request.method != "HEAD") or (
        code in (301, 302) and request.method == "POST"
    ):
        values["method"] = "GET"
        values["body"] = values["body_producer"] = None
        for name in _CONTENT_HEADERS:
            if name in headers:
                del headers[name]
    if _parse_url(values["url"])[:3] != _parse_url(request.url)[:3]:
        # Credentials are for the origin that asked for them.
        values["auth_username"] = values["auth_password"] = None
        if "Authorization" in headers:
            del headers["Authorization"]
    return cast(HTTPRequest, new)


# --------------------------------------------------------------------------- the client


class SimpleAsyncHTTPClient(AsyncHTTPClient):
    """dualweb's HTTP/1.1 client (the default :class:`~dualweb.httpclient.AsyncHTTPClient`).

    Keyword arguments (through ``AsyncHTTPClient.configure`` or
    ``force_instance=True``): ``max_clients`` (10; more fetches queue),
    ``hostname_mapping`` (``{"name": "address"}`` overrides DNS),
    ``max_buffer_size`` (100 MB: the largest body kept in memory),
    ``resolver`` (a :class:`~dualweb.netutil.Resolver`), ``defaults``,
    ``max_header_size`` (64 KiB) and ``max_body_size`` (``max_buffer_size``).
    Unlike Tornado's client, connections are kept alive and reused (at most
    ``max_clients`` idle ones per host).
    """

    def initialize(  # type: ignore[override]
        self,
        max_clients: int = 10,
        hostname_mapping: dict[str, str] | None = None,
        max_buffer_size: int = 104857600,
        resolver: Resolver | None = None,
        defaults: dict[str, Any] | None = None,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
    ) -> None:
        """See the class documentation."""
        super().initialize(defaults=defaults)
        self.max_clients = max_clients
        self.queue: deque[asyncio.Future[None]] = deque()
        self.active = 0
        self.max_buffer_size = max_buffer_size
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size if max_body_size is not None else max_buffer_size
        self._own_resolver = resolver is None
        self.resolver: Resolver = resolver if resolver is not None else Resolver()
        if hostname_mapping is not None:
            self.resolver = OverrideResolver(resolver=self.resolver, mapping=hostname_mapping)
        self._pool: dict[tuple[Any, ...], list[ClientProtocol]] = {}
        self._ssl_contexts: dict[tuple[Any, ...], ssl.SSLContext] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def close(self) -> None:
        """Close pooled connections and the resolver this client created."""
        if self._closed:
            return
        super().close()
        for connections in self._pool.values():
            for conn in list(connections):
                conn.close()
        self._pool.clear()
        if self._own_resolver:
            self.resolver.close()

    def fetch_impl(self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]) -> None:
        """Start a task that fetches ``request`` and calls ``callback`` with the response."""
        task = asyncio.get_running_loop().create_task(self._run(request, callback))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        options = _resolve(request)
        start_time = time.time()
        try:
            if self.active < self.max_clients:
                self.active += 1
            else:
                await self._wait_in_queue(options)
            try:
                current = options
                while True:
                    reader = await self._fetch_once(current)
                    if reader.code == 401:
                        retry = _with_digest(current, reader)
                        if retry is not None:
                            current = retry
                            continue
                    location = reader.headers.get("Location") if reader.discard else None
                    if location is None:
                        break
                    current = _redirected(current, reader.code, location)
            finally:
                self._release()
            chunks = reader.chunks
            response = HTTPResponse(
                options.original,  # type: ignore[attr-defined]
                reader.code,
                reason=reader.reason,
                headers=reader.headers,
                buffer=None if reader.streaming_callback is not None else BytesIO(
                    chunks[0] if len(chunks) == 1 else b"".join(chunks)
                ),
                effective_url=current.url,
                request_time=loop.time() - start,
                start_time=start_time,
            )
        except Exception as e:
            response = HTTPResponse(
                options.original,  # type: ignore[attr-defined]
                599,
                error=e,
                request_time=loop.time() - start,
                start_time=start_time,
            )
        callback(response)

    # -- max_clients

    async def _wait_in_queue(self, request: HTTPRequest) -> None:
        """Wait until a running fetch hands over its slot (see :meth:`_release`)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self.queue.append(waiter)
        gen_log.debug(
            "max_clients limit reached, request queued. %d active, %d queued requests.",
            self.active,
            len(self.queue),
        )
        timeout = min(
            (t for t in (request.connect_timeout, request.request_timeout) if t), default=None
        )
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            raise HTTPTimeoutError("Timeout in request queue") from None
        finally:
            if not waiter.done():
                waiter.cancel()
            try:
                self.queue.remove(waiter)
            except ValueError:
                pass

    def _release(self) -> None:
        # Hand the slot to the next waiter rather than freeing it.
        while self.queue:
            waiter = self.queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1

    # -- one request on one connection

    async def _fetch_once(self, request: HTTPRequest) -> ResponseReader:
        target = _parse_url(request.url)
        _check_body(request)
        key, tls = self._route(request, target)
        start_line, headers = self._request_head(request, target)
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + (request.request_timeout or _NO_TIMEOUT)
        conn = self._take_idle(key, now)
        reused = conn is not None
        if conn is None:
            conn = await self._connect(request, target, tls)
        replayable = request.body_producer is None and request.method in _IDEMPOTENT
        while True:
            reader = ResponseReader(request, self.max_body_size)
            timer = loop.call_at(deadline, conn.time_out)
            try:
                await conn.exchange(
                    start_line,
                    headers,
                    request.body,
                    request.body_producer,
                    reader,
                    bool(request.decompress_response),
                    request.expect_100_continue,
                )
            except Stale as stale:
                conn.close()
                if reused and replayable:
                    reused = False
                    conn = await self._connect(request, target, tls)
                    continue
                if stale.real_error is not None:
                    raise stale.real_error from None
                raise HTTPStreamClosedError("Stream closed") from None
            except BaseException:
                conn.close()
                raise
            finally:
                timer.cancel()
            break
        if not self._closed and reusable(conn):
            self._put_idle(key, conn, loop.time())
        else:
            conn.close()
        return reader

    def _route(self, request: HTTPRequest, target: _Target) -> tuple[tuple[Any, ...], Any]:
        """The pool key and the TLS context (or None) for ``target``."""
        tls = self._tls_context(request) if target.scheme == "https" else None
        proxy = (request.proxy_host, request.proxy_port) if request.proxy_host else None
        key = (target.scheme, target.host, target.port, proxy, id(tls), request.network_interface)
        return key, tls

    def _tls_context(self, request: HTTPRequest) -> ssl.SSLContext:
        if request.ssl_options is not None:
            return tls_context(request)
        settings = (
            bool(request.validate_cert),
            request.ca_certs,
            request.client_cert,
            request.client_key,
        )
        context = self._ssl_contexts.get(settings)
        if context is None:
            context = self._ssl_contexts[settings] = tls_context(request)
        return context

    def _request_head(
        self, request: HTTPRequest, target: _Target
    ) -> tuple[RequestStartLine, HTTPHeaders]:
        headers = request.headers
        if "Host" not in headers:
            headers["Host"] = target.netloc
        username = request.auth_username or target.username
        mode = request.auth_mode or "basic"
        if mode not in ("basic", "digest"):
            raise ValueError(f"unsupported auth_mode {mode!r} (use 'basic' or 'digest')")
        if username is not None and mode == "basic":
            headers["Authorization"] = basic_auth(
                username, request.auth_password or target.password
            )
        if request.user_agent:
            headers["User-Agent"] = request.user_agent
        elif "User-Agent" not in headers:
            headers["User-Agent"] = _USER_AGENT
        if request.decompress_response and "Accept-Encoding" not in headers:
            headers["Accept-Encoding"] = "gzip, deflate"
        body = request.body
        if body is not None:
            headers["Content-Length"] = str(len(body))
            if request.method == "POST" and "Content-Type" not in headers:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        if request.expect_100_continue:
            headers["Expect"] = "100-continue"
        path = target.path
        if request.proxy_auth_mode not in (None, "basic"):
            raise ValueError(
                f"unsupported proxy_auth_mode {request.proxy_auth_mode!r} (only 'basic')"
            )
        if request.proxy_host and target.scheme == "http":
            # Absolute form (RFC 9112 section 3.2.2) tells the proxy where to go.
            path = f"http://{target.netloc}{target.path}"
            if request.proxy_username:
                headers["Proxy-Authorization"] = basic_auth(
                    request.proxy_username, request.proxy_password
                )
        return RequestStartLine(request.method, path, "HTTP/1.1"), headers

    # -- the pool

    def _take_idle(self, key: tuple[Any, ...], now: float) -> ClientProtocol | None:
        idle = self._pool.get(key)
        while idle:
            conn = idle.pop()
            conn.idle_list = None
            if conn.usable(now):
                return conn
            conn.close()
        return None

    def _put_idle(self, key: tuple[Any, ...], conn: ClientProtocol, now: float) -> None:
        idle = self._pool.get(key)
        if idle is None:
            idle = self._pool[key] = []
        conn.idle_since = now
        conn.idle_list = idle
        conn.reader = None
        conn.waiter = None
        idle.append(conn)
        if len(idle) > self.max_clients:
            oldest = idle.pop(0)
            oldest.idle_list = None
            oldest.close()

    async def _connect(
        self, request: HTTPRequest, target: _Target, tls: ssl.SSLContext | None
    ) -> ClientProtocol:
        return await within_connect_timeout(request, self._open(request, target, tls))

    async def _open(
        self, request: HTTPRequest, target: _Target, tls: ssl.SSLContext | None
    ) -> ClientProtocol:
        loop = asyncio.get_running_loop()
        via_proxy = bool(request.proxy_host)
        host = request.proxy_host if via_proxy else target.host
        port = (request.proxy_port or 80) if via_proxy else target.port
        assert host is not None
        _, conn = await open_transport(
            request,
            host,
            port,
            self.resolver,
            lambda: ClientProtocol(loop, self.max_header_size),
            tls if not via_proxy else None,
            target.host,
        )
        if via_proxy and tls is not None:
            await self._start_tunnel(conn, request, target, tls)
        return conn

    async def _start_tunnel(
        self, conn: ClientProtocol, request: HTTPRequest, target: _Target, tls: ssl.SSLContext
    ) -> None:
        auth = None
        if request.proxy_username:
            auth = basic_auth(request.proxy_username, request.proxy_password)
        try:
            await conn.tunnel(target.host, target.port, auth)
            assert conn.transport is not None
            transport = await asyncio.get_running_loop().start_tls(
                conn.transport, conn, tls, server_hostname=target.host
            )
        except BaseException:
            conn.close()
            raise
        conn.transport = transport
