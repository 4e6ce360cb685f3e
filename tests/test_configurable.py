"""Tornado's Configurable pattern on IOLoop and HTTPServer (``configure``, ``initialize``)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from dualweb import web
from dualweb.httpserver import HTTPServer
from dualweb.ioloop import IOLoop
from dualweb.testing import bind_unused_port


class CountingLoop(IOLoop):
    """An asyncio-based IOLoop subclass, configured the Tornado way (initialize, not __init__)."""

    created: list[CountingLoop] = []

    def initialize(self, label: str = "none", **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(**kwargs)
        self.label = label
        self.callbacks = 0
        CountingLoop.created.append(self)

    def add_callback(self, callback: Any, *args: Any, **kwargs: Any) -> None:
        self.callbacks += 1
        super().add_callback(callback, *args, **kwargs)


class RecordingServer(HTTPServer):
    """Tornado's documented way to customise the server: override initialize()."""

    def initialize(  # type: ignore[override]
        self, request_callback: Any, *args: Any, tag: str = "", **kwargs: Any
    ) -> None:
        self.tag = tag
        self.init_args = args
        self.init_kwargs = kwargs
        super().initialize(request_callback, *args, **kwargs)


@pytest.fixture
def restore_configuration() -> Iterator[None]:
    saved = IOLoop._save_configuration(), HTTPServer._save_configuration()
    try:
        yield
    finally:
        IOLoop._restore_configuration(saved[0])
        HTTPServer._restore_configuration(saved[1])


# -- IOLoop -------------------------------------------------------------------------


@pytest.mark.usefixtures("restore_configuration")
def test_ioloop_configure_makes_the_constructor_build_the_subclass() -> None:
    IOLoop.configure(CountingLoop, label="configured")
    loop = IOLoop(make_current=False)
    try:
        assert type(loop) is CountingLoop
        assert loop.label == "configured"
        assert IOLoop.configured_class() is CountingLoop

        async def double(x: int) -> int:
            return 2 * x

        assert loop.run_sync(lambda: double(21)) == 42
        loop.run_sync(lambda: _callback_through(loop))
        assert loop.callbacks == 1
    finally:
        loop.close()


async def _callback_through(loop: IOLoop) -> None:
    done = asyncio.get_running_loop().create_future()
    loop.add_callback(done.set_result, None)
    await done


@pytest.mark.usefixtures("restore_configuration")
def test_ioloop_configure_by_dotted_name_and_back_to_the_default() -> None:
    IOLoop.configure(f"{__name__}.CountingLoop")
    loop = IOLoop(make_current=False, label="explicit")
    loop.close()
    assert (type(loop), loop.label) == (CountingLoop, "explicit")
    IOLoop.configure(None)
    plain = IOLoop(make_current=False)
    plain.close()
    assert type(plain) is IOLoop


@pytest.mark.usefixtures("restore_configuration")
def test_ioloop_configure_refuses_a_class_that_is_not_an_ioloop() -> None:
    with pytest.raises(ValueError, match="subclass of IOLoop"):
        IOLoop.configure(dict)  # type: ignore[arg-type]
    assert IOLoop.configured_class() is IOLoop


def test_ioloop_wraps_a_given_asyncio_loop_through_initialize() -> None:
    asyncio_loop = asyncio.new_event_loop()
    loop = IOLoop(make_current=False, asyncio_loop=asyncio_loop)
    try:
        assert loop.asyncio_loop is asyncio_loop
        with pytest.raises(RuntimeError, match="already has an IOLoop"):
            IOLoop(make_current=False, asyncio_loop=asyncio_loop)
    finally:
        loop.close()


@pytest.mark.usefixtures("restore_configuration")
def test_current_still_returns_the_running_loops_ioloop_after_configure() -> None:
    IOLoop.configure(CountingLoop)
    created = len(CountingLoop.created)

    async def main() -> tuple[IOLoop, IOLoop, asyncio.AbstractEventLoop]:
        return IOLoop.current(), IOLoop.current(), asyncio.get_running_loop()

    first, second, running = asyncio.run(main())
    assert first is second
    assert first.asyncio_loop is running
    # As Tornado's current(): the loop's own wrapper, never a newly built configured loop.
    assert type(first) is IOLoop
    assert len(CountingLoop.created) == created


# -- HTTPServer ---------------------------------------------------------------------


async def _get(port: int, path: str = "/") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def _serve_once(server: HTTPServer) -> bytes:
    sock, port = bind_unused_port()
    server.add_sockets([sock])
    try:
        return await _get(port)
    finally:
        server.stop()
        await server.close_all_connections()


class Owner(web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


@pytest.mark.usefixtures("restore_configuration")
def test_httpserver_configure_builds_the_subclass_with_tornados_initialize_signature() -> None:
    HTTPServer.configure(RecordingServer, tag="configured")
    app = web.Application([("/", Owner)])

    async def main() -> tuple[HTTPServer, bytes]:
        # Positional arguments as in Tornado: request_callback, no_keep_alive, xheaders.
        server = HTTPServer(app, False, True, max_body_size=1024)
        return server, await _serve_once(server)

    server, answer = asyncio.run(main())
    assert isinstance(server, RecordingServer)
    assert server.tag == "configured"
    assert server.init_args == (False, True)
    assert server.init_kwargs == {"max_body_size": 1024}
    assert server.xheaders is True
    assert server.conn_params.max_body_size == 1024
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\nok")


@pytest.mark.usefixtures("restore_configuration")
def test_application_listen_uses_the_configured_server() -> None:
    HTTPServer.configure(RecordingServer, tag="from-listen")
    app = web.Application([("/", Owner)])

    async def main() -> tuple[HTTPServer, bytes]:
        server = app.listen(0, "127.0.0.1", xheaders=True)
        try:
            port = next(iter(server._sockets.values())).getsockname()[1]
            return server, await _get(port)
        finally:
            server.stop()
            await server.close_all_connections()

    server, answer = asyncio.run(main())
    assert (type(server), server.tag, server.xheaders) == (RecordingServer, "from-listen", True)
    assert answer.endswith(b"\r\n\r\nok")


@pytest.mark.usefixtures("restore_configuration")
def test_httpserver_configure_refuses_other_classes_and_resets() -> None:
    with pytest.raises(ValueError, match="subclass of HTTPServer"):
        HTTPServer.configure(IOLoop)  # type: ignore[arg-type]
    HTTPServer.configure(RecordingServer)
    HTTPServer.configure(None)
    assert HTTPServer.configured_class() is HTTPServer

    async def main() -> HTTPServer:
        server = HTTPServer(web.Application([("/", Owner)]), xheaders=True)
        server.stop()
        return server

    server = asyncio.run(main())
    assert type(server) is HTTPServer
    assert server.xheaders is True


def test_a_subclass_without_configure_calls_its_initialize() -> None:
    async def main() -> tuple[RecordingServer, bytes]:
        server = RecordingServer(web.Application([("/", Owner)]), tag="direct")
        return server, await _serve_once(server)

    server, answer = asyncio.run(main())
    assert server.tag == "direct"
    assert answer.endswith(b"\r\n\r\nok")


def test_help_shows_the_initialize_arguments_as_the_constructors() -> None:
    assert list(inspect.signature(IOLoop).parameters) == ["make_current", "asyncio_loop"]
    assert list(inspect.signature(HTTPServer).parameters)[:3] == [
        "request_callback", "no_keep_alive", "xheaders"
    ]
    # A subclass shows its own initialize().
    assert "tag" in inspect.signature(RecordingServer).parameters
    assert "label" in inspect.signature(CountingLoop).parameters
