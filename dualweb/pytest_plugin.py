"""pytest fixtures for testing dualweb applications natively and under WSGI.

Installed with dualweb and registered through the ``pytest11`` entry point,
so the fixtures are available in every test once dualweb is installed (or
load it explicitly with ``pytest -p dualweb.pytest_plugin``). Define the
``app`` fixture and use the others::

    import pytest
    from myapp import make_app

    @pytest.fixture
    def app():
        return make_app()

    @pytest.mark.parametrize("mode", ["native", "wsgi"])
    def test_home(mode, fetch, wsgi_app):
        if mode == "native":
            response = fetch("/")
            status, body = response.code, response.body
        else:
            response = wsgi_app.get("/")
            status, body = response.status_int, response.body
        assert (status, body) == (200, b"Hello, world")

    async def test_home_async(fetch):
        response = await fetch("/")
        assert response.code == 200

Fixtures:

* ``app``: **override it** to return your :class:`~dualweb.web.Application`;
* ``io_loop``: the test's event loop (a :class:`~dualweb.ioloop.IOLoop`,
  also the thread's current asyncio loop during the test);
* ``http_server``: ``app`` on dualweb's native server on 127.0.0.1, a free port;
* ``http_server_port`` and ``base_url`` (``"http://127.0.0.1:PORT"``);
* ``http_client``: an :class:`~dualweb.httpclient.AsyncHTTPClient` on that loop;
* ``fetch``: ``fetch(path, **request_options)`` → the
  :class:`~dualweb.httpclient.HTTPResponse`; blocking in a plain test,
  awaitable in an ``async def`` test. Non-2xx answers are returned, not
  raised (pass ``raise_error=True`` to raise);
* ``ws_connect``: ``ws_connect(path, **connect_options)`` → a
  :class:`~dualweb.websocket.WebSocketClientConnection` to the server (the
  options are :func:`~dualweb.websocket.websocket_connect`'s); awaitable in an
  ``async def`` test, blocking in a plain test (drive the connection there
  with ``io_loop.run_sync(conn.read_message)``). Every connection it opened
  is closed at teardown;
* ``wsgi_app``: a ``webtest.TestApp`` over ``WSGIAdapter(app)`` (needs
  ``webtest``).

A WebSocket test::

    async def test_echo(ws_connect):
        conn = await ws_connect("/echo")
        await conn.write_message("hi")
        assert await conn.read_message() == "hi"

``async def`` tests run on ``io_loop`` (the same loop as the server), with no
other plugin needed, within ``$ASYNC_TEST_TIMEOUT`` seconds (default 5).
Tests marked for another async plugin (``anyio``, ``asyncio``) are left to it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from dualweb.httpclient import AsyncHTTPClient, HTTPResponse
from dualweb.httpserver import HTTPServer
from dualweb.ioloop import IOLoop
from dualweb.testing import bind_unused_port, get_async_test_timeout

if TYPE_CHECKING:
    from dualweb.websocket import WebSocketClientConnection

__all__ = [
    "app",
    "base_url",
    "fetch",
    "http_client",
    "http_server",
    "http_server_port",
    "io_loop",
    "pytest_pyfunc_call",
    "ws_connect",
    "wsgi_app",
]

_OTHER_ASYNC_MARKERS = ("anyio", "asyncio", "trio")


@pytest.fixture
def app() -> Any:
    """The application under test: override this fixture in your tests or conftest.py."""
    raise pytest.UsageError(
        "dualweb's pytest fixtures need an `app` fixture returning the Application to test: "
        "define `@pytest.fixture def app(): return make_app()` in conftest.py or the test module"
    )


@pytest.fixture
def io_loop() -> Iterator[IOLoop]:
    """A fresh event loop for the test, installed as the thread's current asyncio loop."""
    loop = IOLoop(make_current=False)
    asyncio.set_event_loop(loop.asyncio_loop)
    try:
        yield loop
    finally:
        asyncio.set_event_loop(None)
        loop.close(all_fds=True)


@pytest.fixture
def _dualweb_server(app: Any, io_loop: IOLoop) -> Iterator[tuple[HTTPServer, int]]:
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    try:
        yield server, port
    finally:
        server.stop()
        io_loop.run_sync(server.close_all_connections, timeout=get_async_test_timeout())


@pytest.fixture
def http_server(_dualweb_server: tuple[HTTPServer, int]) -> HTTPServer:
    """``app`` served by dualweb's native :class:`~dualweb.httpserver.HTTPServer` on 127.0.0.1."""
    return _dualweb_server[0]


@pytest.fixture
def http_server_port(_dualweb_server: tuple[HTTPServer, int]) -> int:
    """The port :func:`http_server` listens on."""
    return _dualweb_server[1]


@pytest.fixture
def base_url(http_server_port: int) -> str:
    """``"http://127.0.0.1:PORT"`` of the test server (append a path)."""
    return f"http://127.0.0.1:{http_server_port}"


@pytest.fixture
def http_client(io_loop: IOLoop) -> Iterator[AsyncHTTPClient]:
    """A private :class:`~dualweb.httpclient.AsyncHTTPClient` on the test's loop."""
    client = AsyncHTTPClient(force_instance=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fetch(
    http_client: AsyncHTTPClient, base_url: str, io_loop: IOLoop
) -> Callable[..., Any]:
    """``fetch(path, raise_error=False, **request_options)``: request ``path`` from the server.

    In a plain test it blocks and returns the
    :class:`~dualweb.httpclient.HTTPResponse`; in an ``async def`` test it
    returns an awaitable of it. ``path`` may also be a full URL.
    """

    def fetch(path: str, raise_error: bool = False, **kwargs: Any) -> Any:
        url = path if path.lower().startswith(("http://", "https://")) else base_url + path
        call = functools.partial(http_client.fetch, url, raise_error=raise_error, **kwargs)
        if io_loop.asyncio_loop.is_running():
            return call()
        response: HTTPResponse = io_loop.run_sync(call, timeout=get_async_test_timeout())
        return response

    return fetch


@pytest.fixture
def ws_connect(base_url: str, io_loop: IOLoop) -> Iterator[Callable[..., Any]]:
    """``ws_connect(path, **connect_options)``: open a WebSocket to ``path`` on the server.

    In an ``async def`` test it returns an awaitable of the
    :class:`~dualweb.websocket.WebSocketClientConnection`; in a plain test it
    blocks and returns the connection. ``path`` may also be a full ``ws://``
    URL; ``connect_options`` go to :func:`~dualweb.websocket.websocket_connect`
    (which raises :class:`~dualweb.websocket.WebSocketError` when the
    handshake fails). Connections still open at teardown are closed (code 1000) and their
    closing handshake awaited (bounded by ``$ASYNC_TEST_TIMEOUT``).
    """
    # Imported here so loading the plugin does not load the WebSocket stack.
    from dualweb.websocket import websocket_connect

    opened: list[WebSocketClientConnection] = []
    ws_base = "ws" + base_url[len("http"):]

    async def connect(url: str, kwargs: dict[str, Any]) -> WebSocketClientConnection:
        conn = await websocket_connect(url, **kwargs)
        opened.append(conn)
        return conn

    def ws_connect(path: str, **kwargs: Any) -> Any:
        url = path if path.lower().startswith(("ws://", "wss://")) else ws_base + path
        if io_loop.asyncio_loop.is_running():
            return connect(url, kwargs)
        return io_loop.run_sync(
            functools.partial(connect, url, kwargs), timeout=get_async_test_timeout()
        )

    try:
        yield ws_connect
    finally:
        if opened:
            close_all = functools.partial(_close_all, opened)
            io_loop.run_sync(close_all, timeout=get_async_test_timeout())


async def _close_all(connections: list[WebSocketClientConnection]) -> None:
    # Closing only starts the handshake: reading until None waits for it to finish, so the
    # server's handler sees on_close() before the server is torn down.
    for conn in connections:
        conn.close(1000)
    for conn in connections:
        while await conn.read_message() is not None:
            pass


@pytest.fixture
def wsgi_app(app: Any) -> Any:
    """A ``webtest.TestApp`` over ``WSGIAdapter(app)``: the same app in WSGI mode."""
    webtest = pytest.importorskip("webtest", reason="the wsgi_app fixture needs webtest")
    from dualweb.wsgi import WSGIAdapter

    return webtest.TestApp(WSGIAdapter(app))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on the test's ``io_loop`` (a fresh loop if it has none)."""
    test = pyfuncitem.obj
    if not inspect.iscoroutinefunction(test):
        return None
    if any(pyfuncitem.get_closest_marker(name) for name in _OTHER_ASYNC_MARKERS):
        return None
    funcargs = pyfuncitem.funcargs
    kwargs = {
        name: funcargs[name] for name in inspect.signature(test).parameters if name in funcargs
    }
    loop = pyfuncitem.funcargs.get("io_loop")
    if isinstance(loop, IOLoop):
        _run(loop, lambda: test(**kwargs))
        return True
    own = IOLoop(make_current=False)
    asyncio.set_event_loop(own.asyncio_loop)
    try:
        _run(own, lambda: test(**kwargs))
    finally:
        asyncio.set_event_loop(None)
        own.close(all_fds=True)
    return True


def _run(loop: IOLoop, call: Callable[[], Awaitable[Any]]) -> None:
    loop.run_sync(call, timeout=get_async_test_timeout())
