"""websocket_connect against dualweb's server and against the ``websockets`` library's server."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from dualweb.httpclient import HTTPRequest
from dualweb.simple_httpclient import HTTPTimeoutError
from dualweb.web import Application
from dualweb.websocket import (
    WebSocketClosedError,
    WebSocketError,
    WebSocketHandler,
    websocket_connect,
)
from tests.ws_support import run, serve


class Echo(WebSocketHandler):
    seen: list[Any] = []

    def open(self) -> None:  # type: ignore[override]
        Echo.seen.append(("header", self.request.headers.get("X-Test")))

    def on_message(self, message: str | bytes) -> None:
        if message == "close please":
            self.close(4000, "asked")
            return
        self.write_message(message, binary=isinstance(message, bytes))

    def on_ping(self, data: bytes) -> None:
        Echo.seen.append(("ping", data))


@pytest.fixture(autouse=True)
def _fresh() -> None:
    Echo.seen = []


def echo_app() -> Application:
    return Application([("/ws", Echo)])


@asynccontextmanager
async def websockets_server(**kwargs: Any) -> AsyncIterator[int]:
    """The websockets library's own server, echoing, as an independent peer."""

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with ws_serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield next(iter(server.sockets)).getsockname()[1]


def test_echo_against_dualweb_and_close_from_server() -> None:
    async def go() -> None:
        async with serve(echo_app()) as port:
            conn = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
            await conn.write_message("hello")
            assert await conn.read_message() == "hello"
            await conn.write_message(b"\x00\x01", binary=True)
            assert await conn.read_message() == b"\x00\x01"
            await conn.write_message("close please")
            assert await conn.read_message() is None
            assert await conn.read_message() is None
            assert (conn.close_code, conn.close_reason) == (4000, "asked")
            with pytest.raises(WebSocketClosedError):
                conn.write_message("too late")

    run(go)


def test_against_the_websockets_server_with_compression_and_subprotocol() -> None:
    async def go() -> None:
        async with websockets_server(subprotocols=["b", "a"], compression="deflate") as port:
            conn = await websocket_connect(
                f"ws://127.0.0.1:{port}/", compression_options={}, subprotocols=["a", "b"]
            )
            assert conn.selected_subprotocol == "b"
            assert conn.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            big = "zip " * 10000
            for _ in range(3):
                await conn.write_message(big)
                assert await conn.read_message() == big
            conn.close(1000, "bye")
            assert await conn.read_message() is None

    run(go)


def test_on_message_callback_gets_messages_then_none() -> None:
    got: list[Any] = []

    async def go() -> None:
        async with serve(echo_app()) as port:
            conn = await websocket_connect(
                f"http://127.0.0.1:{port}/ws", on_message_callback=got.append
            )
            await conn.write_message("a")
            await conn.write_message("b")
            conn.close()
            for _ in range(200):
                if got and got[-1] is None:
                    break
                await asyncio.sleep(0.01)

    run(go)
    assert got == ["a", "b", None]


def test_request_object_headers_and_ping() -> None:
    class Req:
        url = "ws://127.0.0.1:{port}/ws"
        headers = {"X-Test": "yes"}
        connect_timeout = 5.0

    async def go() -> None:
        async with serve(echo_app()) as port:
            request = Req()
            request.url = request.url.format(port=port)
            conn = await websocket_connect(request)
            conn.ping(b"hi")
            await conn.write_message("sync")
            assert await conn.read_message() == "sync"
            conn.close()
            assert await conn.read_message() is None

    run(go)
    assert ("header", "yes") in Echo.seen
    assert ("ping", b"hi") in Echo.seen


def test_refused_handshake_fails_with_websocket_error() -> None:
    async def go() -> None:
        async with serve(echo_app()) as port:
            with pytest.raises(WebSocketError, match="404"):
                await websocket_connect(f"ws://127.0.0.1:{port}/nowhere")

    run(go)


def test_unreachable_server_and_connect_timeout() -> None:
    async def go() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # Connected, but no handshake answer: request_timeout, as Tornado's client.
        request = HTTPRequest(f"ws://127.0.0.1:{port}/", request_timeout=0.1)
        with pytest.raises(HTTPTimeoutError, match="Timeout during request"):
            await websocket_connect(request)
        server.close()
        await server.wait_closed()
        with pytest.raises(OSError):
            await websocket_connect(f"ws://127.0.0.1:{port}/")

    run(go)


def test_callback_receives_the_future() -> None:
    results: list[Any] = []

    async def go() -> None:
        async with serve(echo_app()) as port:
            future = websocket_connect(f"ws://127.0.0.1:{port}/ws", callback=results.append)
            conn = await future
            await asyncio.sleep(0)
            assert results == [future]
            conn.close()
            assert await conn.read_message() is None

    run(go)


def test_client_max_message_size_closes_with_1009() -> None:
    async def go() -> None:
        async with websockets_server() as port:
            conn = await websocket_connect(f"ws://127.0.0.1:{port}/", max_message_size=10)
            await conn.write_message("x" * 11)
            assert await conn.read_message() is None

    run(go)


def test_unread_messages_pause_reading_without_losing_any() -> None:
    async def go() -> None:
        async with serve(echo_app()) as port:
            conn = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
            for i in range(100):
                await conn.write_message(str(i))
            await asyncio.sleep(0.05)
            assert [await conn.read_message() for _ in range(100)] == [str(i) for i in range(100)]
            conn.close()
            assert await conn.read_message() is None

    run(go)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("wss")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.mark.parametrize("how", ["ssl_options", "ca_certs", "no_validation"])
def test_wss(certificate: tuple[str, str], how: str) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    class Req:
        def __init__(self, url: str) -> None:
            self.url = url
            if how == "ssl_options":
                self.ssl_options = ssl.create_default_context(cafile=cert)
            elif how == "ca_certs":
                self.ca_certs = cert
            else:
                self.validate_cert = False

    async def go() -> None:
        async with serve(echo_app(), ssl_options=server_context) as port:
            with pytest.raises(ssl.SSLError):
                await websocket_connect(f"wss://127.0.0.1:{port}/ws")
            conn = await websocket_connect(Req(f"wss://127.0.0.1:{port}/ws"))
            await conn.write_message("secret")
            assert await conn.read_message() == "secret"
            conn.close()
            assert await conn.read_message() is None

    run(go)


def test_a_cancelled_read_does_not_lose_the_next_message() -> None:
    async def go() -> None:
        async with serve(echo_app()) as port:
            conn = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(conn.read_message(), 0.05)
            await conn.write_message("after the timeout")
            assert await conn.read_message() == "after the timeout"
            conn.close()
            assert await conn.read_message() is None

    run(go)


def test_resolver_is_used_for_the_host_name() -> None:
    import socket

    from dualweb.netutil import DefaultLoopResolver

    asked: list[tuple[str, int]] = []

    class Fixed(DefaultLoopResolver):
        async def resolve(  # type: ignore[override]
            self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
        ) -> list[tuple[int, Any]]:
            asked.append((host, port))
            return [(socket.AF_INET, ("127.0.0.1", port))]

    class Host(WebSocketHandler):
        def open(self) -> None:  # type: ignore[override]
            self.write_message(self.request.host)

    async def go() -> None:
        async with serve(Application([("/ws", Host)])) as port:
            conn = await websocket_connect(f"ws://chat.invalid:{port}/ws", resolver=Fixed())
            assert await conn.read_message() == f"chat.invalid:{port}"
            conn.close()
            assert await conn.read_message() is None
            assert asked == [("chat.invalid", port)]

    run(go)
