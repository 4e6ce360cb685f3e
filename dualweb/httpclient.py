"""HTTP clients with ``tornado.httpclient``'s API.

* :class:`AsyncHTTPClient` — non-blocking; ``await client.fetch(url)`` (also
  ``yield`` in :func:`dualweb.gen.coroutine` and the legacy ``callback=``
  form). ``AsyncHTTPClient()`` returns one shared instance per event loop; the
  implementation is :class:`dualweb.simple_httpclient.SimpleAsyncHTTPClient`
  unless :meth:`AsyncHTTPClient.configure` chose another one.
* :class:`HTTPClient` — blocking, on a private event loop; for scripts,
  threads and plain ``def`` handlers under :class:`~dualweb.wsgi.WSGIAdapter`.
* :class:`HTTPRequest`, :class:`HTTPResponse`, :class:`HTTPClientError`
  (alias :data:`HTTPError`).

Example::

    client = AsyncHTTPClient()
    try:
        response = await client.fetch("http://127.0.0.1:8888/api")
    except HTTPClientError as e:       # a non-2xx answer (e.response holds it)
        ...
    except OSError as e:               # refused, reset, DNS failure
        ...

Under ``WSGIAdapter`` no event loop runs, so :meth:`AsyncHTTPClient.fetch`
raises :class:`~dualweb.connection.AsyncUnavailableError` pointing to
:class:`HTTPClient`.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import io
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from dualweb.connection import AsyncUnavailableError
from dualweb.escape import utf8
from dualweb.httputil import HTTPHeaders, responses
from dualweb.ioloop import IOLoop
from dualweb.log import app_log
from dualweb.util import Configurable, import_object

_DEFAULT_IMPLEMENTATION = "dualweb.simple_httpclient.SimpleAsyncHTTPClient"

__all__ = [
    "AsyncHTTPClient",
    "HTTPClient",
    "HTTPClientError",
    "HTTPError",
    "HTTPRequest",
    "HTTPResponse",
]


class HTTPClientError(Exception):
    """A request failed: a non-2xx response (``code``), or 599 for timeouts and broken streams.

    Attributes: ``code`` (the HTTP status, or 599), ``message`` (a
    description; the reason phrase by default) and ``response`` (the
    :class:`HTTPResponse`, when there is one). ``fetch()`` raises it for
    non-2xx answers unless ``raise_error=False``.
    """

    def __init__(
        self, code: int, message: str | None = None, response: HTTPResponse | None = None
    ) -> None:
        self.code = code
        self.message = message or responses.get(code, "Unknown")
        self.response = response
        super().__init__(code, self.message, response)

    def __str__(self) -> str:
        return f"HTTP {self.code}: {self.message}"

    # The response refers back to this error; copying must not recurse.
    __repr__ = __str__


HTTPError = HTTPClientError
"""Alias of :class:`HTTPClientError` (Tornado's older name)."""


class HTTPRequest:
    """One HTTP request: the URL, method, headers, body and every per-request option.

    Options left as ``None`` take the client's defaults (see
    :meth:`AsyncHTTPClient.configure`), then Tornado's: ``connect_timeout``
    and ``request_timeout`` 20 s, ``follow_redirects`` true with
    ``max_redirects`` 5, ``decompress_response`` true, ``validate_cert``
    true. Arguments, as in Tornado:

    * ``url``, ``method`` (``"GET"``), ``headers`` (dict or
      :class:`~dualweb.httputil.HTTPHeaders`), ``body`` (str or bytes) or
      ``body_producer`` (``async def producer(write)``, ``write(chunk)``
      returning an awaitable; sent chunked unless ``Content-Length`` is set);
    * ``auth_username``, ``auth_password``, ``auth_mode`` (``"basic"``, or
      ``"digest"``: the request is sent again with the answer to the
      server's 401 challenge, RFC 7616 with MD5 or SHA-256);
    * ``connect_timeout``, ``request_timeout`` (seconds or timedelta);
    * ``if_modified_since`` (datetime or timestamp), ``user_agent``,
      ``decompress_response`` (``use_gzip`` is the old name),
      ``network_interface`` (local address to bind), ``allow_ipv6``;
    * ``follow_redirects``, ``max_redirects``;
    * ``streaming_callback(chunk)`` (the body is then not kept),
      ``header_callback(line)`` (status line, each header line, then ``"\\r\\n"``);
    * ``proxy_host``, ``proxy_port``, ``proxy_username``, ``proxy_password``,
      ``proxy_auth_mode``;
    * ``allow_nonstandard_methods`` (allow a body on GET, none on POST, ...);
    * ``validate_cert``, ``ca_certs``, ``client_key``, ``client_cert``,
      ``ssl_options`` (an :class:`ssl.SSLContext` or dict; overrides the
      previous four);
    * ``expect_100_continue``; ``prepare_curl_callback`` is accepted and ignored.
    """

    _DEFAULTS: Final[dict[str, Any]] = {
        "connect_timeout": 20.0,
        "request_timeout": 20.0,
        "follow_redirects": True,
        "max_redirects": 5,
        "decompress_response": True,
        "proxy_password": "",
        "allow_nonstandard_methods": False,
        "validate_cert": True,
    }

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | HTTPHeaders | None = None,
        body: bytes | str | None = None,
        auth_username: str | None = None,
        auth_password: str | None = None,
        auth_mode: str | None = None,
        connect_timeout: float | datetime.timedelta | None = None,
        request_timeout: float | datetime.timedelta | None = None,
        if_modified_since: datetime.datetime | float | None = None,
        follow_redirects: bool | None = None,
        max_redirects: int | None = None,
        user_agent: str | None = None,
        use_gzip: bool | None = None,
        network_interface: str | None = None,
        streaming_callback: Callable[[bytes], None] | None = None,
        header_callback: Callable[[str], None] | None = None,
        prepare_curl_callback: Callable[[Any], None] | None = None,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        proxy_username: str | None = None,
        proxy_password: str | None = None,
        proxy_auth_mode: str | None = None,
        allow_nonstandard_methods: bool | None = None,
        validate_cert: bool | None = None,
        ca_certs: str | None = None,
        allow_ipv6: bool | None = None,
        client_key: str | None = None,
        client_cert: str | None = None,
        body_producer: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]]
        | None = None,
        expect_100_continue: bool = False,
        decompress_response: bool | None = None,
        ssl_options: dict[str, Any] | Any | None = None,
    ) -> None:
        self.headers = headers
        if if_modified_since is not None:
            from dualweb.httputil import format_timestamp

            self.headers["If-Modified-Since"] = format_timestamp(if_modified_since)
        self.url = url
        self.method = method
        self.body = body
        self.body_producer = body_producer
        self.auth_username = auth_username
        self.auth_password = auth_password
        self.auth_mode = auth_mode
        self.connect_timeout = _seconds(connect_timeout)
        self.request_timeout = _seconds(request_timeout)
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self.decompress_response = (
            decompress_response if decompress_response is not None else use_gzip
        )
        self.network_interface = network_interface
        self.streaming_callback = streaming_callback
        self.header_callback = header_callback
        self.prepare_curl_callback = prepare_curl_callback
        self.proxy_host = proxy_host
        self.proxy_port = proxy_port
        self.proxy_username = proxy_username
        self.proxy_password = proxy_password
        self.proxy_auth_mode = proxy_auth_mode
        self.allow_nonstandard_methods = allow_nonstandard_methods
        self.validate_cert = validate_cert
        self.ca_certs = ca_certs
        self.allow_ipv6 = allow_ipv6
        self.client_key = client_key
        self.client_cert = client_cert
        self.ssl_options = ssl_options
        self.expect_100_continue = expect_100_continue
        self.start_time = time.time()
        self.original_request: HTTPRequest | None = None

    @property
    def headers(self) -> HTTPHeaders:
        """The request headers (an :class:`~dualweb.httputil.HTTPHeaders`)."""
        return self._headers

    @headers.setter
    def headers(self, value: dict[str, str] | HTTPHeaders | None) -> None:
        if value is None:
            self._headers = HTTPHeaders()
        elif isinstance(value, HTTPHeaders):
            self._headers = value
        else:
            self._headers = HTTPHeaders(value)

    @property
    def body(self) -> bytes | None:
        """The request body as bytes (a str is encoded as UTF-8), or ``None``."""
        return self._body

    @body.setter
    def body(self, value: bytes | str | None) -> None:
        self._body = utf8(value)

    def __repr__(self) -> str:
        return f"HTTPRequest({self.method} {self.url})"


def _seconds(value: float | datetime.timedelta | None) -> float | None:
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return value


class _RequestProxy:
    """A request whose unset (``None``) options read the client's defaults."""

    def __init__(self, request: HTTPRequest, defaults: dict[str, Any] | None) -> None:
        self.request = request
        self.defaults = defaults

    def __getattr__(self, name: str) -> Any:
        if name in ("request", "defaults") or name.startswith("__"):
            # Only reached while copy/pickle rebuild an instance without its __dict__.
            raise AttributeError(name)
        value = getattr(self.request, name)
        if value is not None:
            return value
        if self.defaults is not None:
            return self.defaults.get(name)
        return None


class HTTPResponse:
    """The answer to a fetch.

    Attributes: ``request`` (the original :class:`HTTPRequest`), ``code``,
    ``reason``, ``headers``, ``body`` (bytes; empty when a
    ``streaming_callback`` consumed it), ``buffer`` (a :class:`io.BytesIO`),
    ``effective_url`` (after redirects), ``error`` (an exception or
    ``None``), ``request_time`` (seconds), ``start_time`` (``time.time()``
    at the start) and ``time_info`` (a dict, empty in this implementation).
    A response whose code is not 2xx has ``error`` set to an
    :class:`HTTPClientError` (except when ``error`` was given).
    """

    def __init__(
        self,
        request: HTTPRequest,
        code: int,
        headers: HTTPHeaders | None = None,
        buffer: io.BytesIO | None = None,
        effective_url: str | None = None,
        error: BaseException | None = None,
        request_time: float | None = None,
        time_info: dict[str, float] | None = None,
        reason: str | None = None,
        start_time: float | None = None,
    ) -> None:
        if isinstance(request, _RequestProxy):
            request = request.request
        self.request = request
        self.code = code
        self.reason = reason or responses.get(code, "Unknown")
        self.headers = headers if headers is not None else HTTPHeaders()
        self.buffer = buffer
        self._body: bytes | None = None
        self.effective_url = request.url if effective_url is None else effective_url
        self._error_is_response_code = False
        if error is None and not 200 <= code < 300:
            self._error_is_response_code = True
            error = HTTPClientError(code, message=self.reason, response=self)
        self.error = error
        self.start_time = start_time
        self.request_time = request_time
        self.time_info = time_info or {}

    @property
    def body(self) -> bytes:
        """The response body (``b""`` when there is none)."""
        if self._body is None:
            self._body = b"" if self.buffer is None else self.buffer.getvalue()
        return self._body

    def rethrow(self) -> None:
        """Raise :attr:`error` if the request failed; do nothing otherwise."""
        if self.error is not None:
            raise self.error

    def __repr__(self) -> str:
        return f"HTTPResponse(code={self.code}, effective_url={self.effective_url!r})"


# --------------------------------------------------------------------------- the async client


def _no_loop_error() -> AsyncUnavailableError:
    return AsyncUnavailableError.for_feature(
        "AsyncHTTPClient.fetch()",
        "was called with no running event loop (as in a request under WSGIAdapter)",
        "AsyncHTTPClient fetches",
        "Use dualweb.httpclient.HTTPClient (blocking) in plain def handlers, or run natively.",
    )


def _run_legacy_callback(callback: Callable[[HTTPResponse], Any], response: HTTPResponse) -> None:
    """Run a ``fetch(callback=...)`` callback; route its exception to its handler.

    Tornado 5 sent an exception raised in a handler's callback (``raise
    HTTPError(500)`` in ``on_response``) to that handler's error page; without
    this the request would hang. The handler is found as the bound method's
    ``self`` through RequestHandler's public ``log_exception``/``send_error``.
    """
    try:
        callback(response)
    except Exception as e:
        handler = getattr(callback, "__self__", None)
        log_exception = getattr(handler, "log_exception", None)
        send_error = getattr(handler, "send_error", None)
        if log_exception is None or send_error is None:
            app_log.error("Exception in fetch() callback %r", callback, exc_info=True)
            return
        exc_info = sys.exc_info()
        log_exception(*exc_info)
        send_error(getattr(e, "status_code", 500), exc_info=exc_info)


class AsyncHTTPClient(Configurable):
    """A non-blocking HTTP client.

    ``AsyncHTTPClient()`` returns the same instance for every call on one
    event loop (its keyword arguments only count the first time);
    ``AsyncHTTPClient(force_instance=True)`` always makes a new one, which
    you should :meth:`close`. :meth:`configure` picks the implementation and
    its arguments (``max_clients`` 10 by default, ``defaults`` for
    :class:`HTTPRequest` options)::

        AsyncHTTPClient.configure(None, max_clients=100, defaults={"user_agent": "me"})
    """

    _instance_cache: weakref.WeakKeyDictionary[IOLoop, AsyncHTTPClient] | None
    io_loop: IOLoop
    defaults: dict[str, Any]

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """:class:`AsyncHTTPClient` is the base of its configurable hierarchy."""
        return AsyncHTTPClient

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """The default implementation, :class:`~dualweb.simple_httpclient.SimpleAsyncHTTPClient`."""
        # Named, not imported: the implementation module builds on this one, so
        # an import here would make the two modules depend on each other.
        default: type[Configurable] = import_object(_DEFAULT_IMPLEMENTATION)
        return default

    @classmethod
    def _async_clients(cls) -> weakref.WeakKeyDictionary[IOLoop, AsyncHTTPClient]:
        # One cache per class so a subclass instance never answers for its base.
        attr = "_async_client_dict_" + cls.__name__
        cache = cls.__dict__.get(attr)
        if cache is None:
            cache = weakref.WeakKeyDictionary()
            setattr(cls, attr, cache)
        return cast("weakref.WeakKeyDictionary[IOLoop, AsyncHTTPClient]", cache)

    def __new__(cls, force_instance: bool = False, **kwargs: Any) -> AsyncHTTPClient:
        io_loop = IOLoop.current()
        if force_instance:
            cache = None
        else:
            cache = cls._async_clients()
            existing = cache.get(io_loop)
            if existing is not None:
                return existing
        instance = super().__new__(cls, **kwargs)
        instance._instance_cache = cache
        if cache is not None:
            cache[io_loop] = instance
        return instance

    def initialize(self, defaults: dict[str, Any] | None = None) -> None:
        """Set up the client; ``defaults`` are :class:`HTTPRequest` options for every fetch."""
        self.io_loop = IOLoop.current()
        self.defaults = dict(HTTPRequest._DEFAULTS)
        if defaults is not None:
            self.defaults.update(defaults)
        self._closed = False

    @classmethod
    def configure(cls, impl: type[Configurable] | str | None, **kwargs: Any) -> None:
        """Choose the implementation (class or dotted name, ``None`` for the default) and its
        keyword arguments, e.g. ``configure(None, max_clients=50)``.

        Raises:
            ValueError: if ``impl`` is not an AsyncHTTPClient subclass.
        """
        super().configure(impl, **kwargs)

    def close(self) -> None:
        """Release the client's connections; the shared per-loop instance is forgotten.

        Closing the shared instance is rarely needed (it lives as long as
        its loop); always close ``force_instance=True`` clients.

        Raises:
            RuntimeError: if the instance cache no longer holds this client.
        """
        if self._closed:
            return
        self._closed = True
        if self._instance_cache is not None:
            cached = self._instance_cache.pop(self.io_loop, None)
            if cached is not None and cached is not self:
                raise RuntimeError("inconsistent AsyncHTTPClient cache")

    def fetch(
        self,
        request: str | HTTPRequest,
        raise_error: bool = True,
        callback: Callable[[HTTPResponse], Any] | None = None,
        **kwargs: Any,
    ) -> asyncio.Future[HTTPResponse]:
        """Fetch ``request`` (a URL, with :class:`HTTPRequest` options as keyword arguments,
        or an :class:`HTTPRequest`) and return a future of the :class:`HTTPResponse`.

        A non-2xx response raises :class:`HTTPClientError` (with the
        response as ``e.response``) unless ``raise_error=False``; failures
        without a response (refused, reset, DNS, timeout → 599) always
        raise. The legacy ``callback=`` form calls ``callback(response)``
        on the loop instead (check ``response.error``) and never raises.

        Raises:
            AsyncUnavailableError: no event loop runs (under ``WSGIAdapter``);
                use :class:`HTTPClient` there.
            RuntimeError: the client was closed.
            ValueError: keyword options given together with an ``HTTPRequest``.
        """
        loop = asyncio._get_running_loop()
        if loop is None:
            raise _no_loop_error()
        if self._closed:
            raise RuntimeError("fetch() called on a closed AsyncHTTPClient")
        if not isinstance(request, HTTPRequest):
            request = HTTPRequest(url=request, **kwargs)
            if "headers" in kwargs:
                request.headers = HTTPHeaders(request.headers)
        elif kwargs:
            raise ValueError("keyword options can't be combined with an HTTPRequest object")
        else:
            # The caller's headers object stays untouched by what the client adds.
            request.headers = HTTPHeaders(request.headers)
        future: asyncio.Future[HTTPResponse] = loop.create_future()

        def handle_response(response: HTTPResponse) -> None:
            if future.cancelled():
                return
            if callback is not None:
                future.set_result(response)
                loop.call_soon(_run_legacy_callback, callback, response)
            elif response.error is not None and (
                raise_error or not response._error_is_response_code
            ):
                future.set_exception(response.error)
            else:
                future.set_result(response)

        self.fetch_impl(cast(HTTPRequest, _RequestProxy(request, self.defaults)), handle_response)
        return future

    def fetch_impl(self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]) -> None:
        """Implementations start ``request`` and call ``callback`` with the response once.

        ``request`` reads unset options from :attr:`defaults`. Every failure
        must arrive as a response with ``error`` set (code 599 when there is
        no HTTP status), never as an exception.
        """
        raise NotImplementedError()


# --------------------------------------------------------------------------- the blocking client


class HTTPClient:
    """A blocking HTTP client running an :class:`AsyncHTTPClient` on a private event loop.

    For scripts, threads and plain ``def`` handlers under ``WSGIAdapter``::

        client = HTTPClient()
        try:
            print(client.fetch("http://127.0.0.1:8888/").body)
        finally:
            client.close()

    ``async_client_class`` and keyword arguments go to the async client
    (``max_clients``, ``defaults``, ...). Not usable inside a running event
    loop: there, ``await AsyncHTTPClient().fetch(...)`` instead.
    """

    def __init__(
        self, async_client_class: type[AsyncHTTPClient] | None = None, **kwargs: Any
    ) -> None:
        self._closed = True
        _refuse_running_loop("HTTPClient()")
        self._io_loop = IOLoop(make_current=False)
        client_class = async_client_class or AsyncHTTPClient

        async def make_client() -> AsyncHTTPClient:
            return client_class(force_instance=True, **kwargs)

        try:
            self._async_client: AsyncHTTPClient = self._io_loop.run_sync(make_client)
        except BaseException:
            self._io_loop.close()
            raise
        self._closed = False

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()

    def close(self) -> None:
        """Close the async client and the private loop."""
        if self._closed:
            return
        self._closed = True
        self._async_client.close()
        # Closed transports release their sockets on the loop's next iterations.
        self._io_loop.run_sync(_two_iterations)
        self._io_loop.close()

    def fetch(self, request: str | HTTPRequest, **kwargs: Any) -> HTTPResponse:
        """Fetch and return the :class:`HTTPResponse`, blocking until it arrives.

        Takes the arguments of :meth:`AsyncHTTPClient.fetch` (``raise_error``
        and the :class:`HTTPRequest` options).

        Raises:
            HTTPClientError: a non-2xx answer (unless ``raise_error=False``) or a timeout (599).
            OSError: connection refused, reset, DNS failure.
            RuntimeError: called inside a running event loop, or after :meth:`close`.
        """
        _refuse_running_loop("HTTPClient.fetch()")
        if self._closed:
            raise RuntimeError("fetch() called on a closed HTTPClient")
        return cast(
            HTTPResponse,
            self._io_loop.run_sync(functools.partial(self._async_client.fetch, request, **kwargs)),
        )


async def _two_iterations() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def _refuse_running_loop(what: str) -> None:
    if asyncio._get_running_loop() is not None:
        raise RuntimeError(
            f"{what} blocks, so it cannot run inside a running event loop (a coroutine "
            "handler or task); use 'await AsyncHTTPClient().fetch(...)' there instead"
        )
