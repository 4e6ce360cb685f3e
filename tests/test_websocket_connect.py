"""websocket_connect connects as AsyncHTTPClient does: same options, same errors.

Each test checks what a user sees: what the server received (headers,
credentials, source address, host name), which error ``websocket_connect``
raises, and that an ``AsyncHTTPClient`` fetch with the same request raises
the same type.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from dualweb.httpclient import AsyncHTTPClient, HTTPRequest
from dualweb.netutil import DefaultLoopResolver
from dualweb.simple_httpclient import HTTPTimeoutError
from dualweb.web import Application, RequestHandler
from dualweb.websocket import WebSocketError, WebSocketHandler, websocket_connect
from tests.ws_support import run, serve

TEST_DATA = Path(__file__).resolve().parent.parent / "dualweb" / "test_data"
CERT, KEY = str(TEST_DATA / "test.crt"), str(TEST_DATA / "test.key")


class Report(WebSocketHandler):
    """Sends what it saw of the handshake, then echoes."""

    def open(self) -> None:  # type: ignore[override]
        headers = self.request.headers
        self.write_message(
            {
                "x-test": headers.get_list("X-Test"),
                "user-agent": headers.get("User-Agent"),
                "authorization": headers.get("Authorization"),
                "host": headers.get("Host"),
                "remote_ip": self.request.remote_ip,
                "protocol": self.request.protocol,
            }
        )

    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


class Page(RequestHandler):
    def get(self) -> None:
        self.write("page")


def app() -> Application:
    return Application([("/ws", Report), ("/page", Page)])


async def handshake_seen(url_or_request: Any, **kwargs: Any) -> dict[str, Any]:
    """Connect, return what the server saw, check the echo, close."""
    import json

    conn = await websocket_connect(url_or_request, **kwargs)
    message = await conn.read_message()
    assert isinstance(message, str)
    await conn.write_message("ping?")
    assert await conn.read_message() == "ping?"
    conn.close()
    assert await conn.read_message() is None
    seen: dict[str, Any] = json.loads(message)
    return seen


def test_http_request_headers_user_agent_and_credentials_reach_the_server() -> None:
    request = HTTPRequest(
        "ws://127.0.0.1:{port}/ws",
        headers={"X-Test": "one"},
        user_agent="wsclient/1.0",
        auth_username="ann",
        auth_password="secret",
    )
    request.headers.add("X-Test", "two")

    async def go() -> None:
        async with serve(app()) as port:
            request.url = request.url.format(port=port)
            seen = await handshake_seen(request)
            assert seen["x-test"] == ["one", "two"]
            assert seen["user-agent"] == "wsclient/1.0"
            assert seen["authorization"] == "Basic YW5uOnNlY3JldA=="
            assert seen["host"] == f"127.0.0.1:{port}"

    run(go)
    # The caller's request is not modified.
    assert list(request.headers.get_all()) == [("X-Test", "one"), ("X-Test", "two")]


def test_a_host_header_in_the_request_replaces_the_default() -> None:
    async def go() -> None:
        async with serve(app()) as port:
            request = HTTPRequest(f"ws://127.0.0.1:{port}/ws", headers={"Host": "chat.example"})
            seen = await handshake_seen(request)
            assert seen["host"] == "chat.example"

    run(go)


def test_digest_auth_mode_is_refused_with_a_clear_error() -> None:
    async def go() -> None:
        request = HTTPRequest("ws://127.0.0.1:1/ws", auth_username="a", auth_mode="digest")
        with pytest.raises(ValueError, match="auth_mode 'basic' only"):
            await websocket_connect(request)

    run(go)


def test_proxy_host_is_not_supported() -> None:
    async def go() -> None:
        request = HTTPRequest("ws://127.0.0.1:1/ws", proxy_host="127.0.0.1", proxy_port=3128)
        with pytest.raises(NotImplementedError, match="proxy_host"):
            await websocket_connect(request)

    run(go)


def test_network_interface_is_the_source_address() -> None:
    async def go() -> None:
        async with serve(app()) as port:
            request = HTTPRequest(f"ws://127.0.0.1:{port}/ws", network_interface="127.0.0.2")
            seen = await handshake_seen(request)
            assert seen["remote_ip"] == "127.0.0.2"

    run(go)


def server_tls(require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERT, KEY)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(CERT)
    return context


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_wss_validates_against_ca_certs(host: str) -> None:
    async def go() -> None:
        async with serve(app(), ssl_options=server_tls()) as port:
            url = f"wss://{host}:{port}/ws"
            seen = await handshake_seen(HTTPRequest(url, ca_certs=CERT, allow_ipv6=False))
            assert seen["protocol"] == "https"
            # The default context does not trust the test certificate, as for a fetch.
            with pytest.raises(ssl.SSLError):
                await websocket_connect(url)
            with pytest.raises(ssl.SSLError):
                await AsyncHTTPClient().fetch(f"https://{host}:{port}/page")

    run(go)


def test_wss_without_validation_and_with_ssl_options() -> None:
    async def go() -> None:
        async with serve(app(), ssl_options=server_tls()) as port:
            url = f"wss://127.0.0.1:{port}/ws"
            await handshake_seen(HTTPRequest(url, validate_cert=False))
            await handshake_seen(HTTPRequest(url, ssl_options={"ca_certs": CERT}))

    run(go)


def test_wss_client_certificate() -> None:
    async def go() -> None:
        async with serve(app(), ssl_options=server_tls(require_client_cert=True)) as port:
            url = f"wss://127.0.0.1:{port}/ws"
            request = HTTPRequest(url, ca_certs=CERT, client_cert=CERT, client_key=KEY)
            await handshake_seen(request)
            # With TLS 1.3 the server refuses a missing client certificate
            # after the client's side of the TLS handshake: the WebSocket
            # handshake then fails.
            with pytest.raises((ssl.SSLError, WebSocketError)):
                await websocket_connect(HTTPRequest(url, ca_certs=CERT))

    run(go)


class Stalling(DefaultLoopResolver):
    """A resolver that never answers (a DNS server that does not reply)."""

    async def resolve(  # type: ignore[override]
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        await asyncio.sleep(30)
        return []


def test_connect_timeout_is_an_http_timeout_error_as_for_a_fetch() -> None:
    async def go() -> None:
        with pytest.raises(HTTPTimeoutError, match="Timeout while connecting") as raised:
            await websocket_connect(
                "ws://stalls.invalid:80/ws", connect_timeout=0.1, resolver=Stalling()
            )
        assert raised.value.code == 599
        request = HTTPRequest("ws://stalls.invalid:80/ws", connect_timeout=0.1)
        with pytest.raises(HTTPTimeoutError, match="Timeout while connecting"):
            await websocket_connect(request, resolver=Stalling())
        client = AsyncHTTPClient(force_instance=True, resolver=Stalling())
        try:
            with pytest.raises(HTTPTimeoutError, match="Timeout while connecting"):
                await client.fetch("http://stalls.invalid:80/", connect_timeout=0.1)
        finally:
            client.close()

    run(go)


def test_refused_connection_raises_connection_refused_as_a_fetch_does() -> None:
    async def go() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound, not listening: connections are refused
            with pytest.raises(ConnectionRefusedError):
                await websocket_connect(f"ws://127.0.0.1:{port}/ws")
            with pytest.raises(ConnectionRefusedError):
                await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/")

    run(go)


def test_custom_resolver_gets_the_host_and_the_ipv6_choice() -> None:
    asked: list[tuple[str, int, socket.AddressFamily]] = []

    class Fixed(DefaultLoopResolver):
        async def resolve(  # type: ignore[override]
            self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
        ) -> list[tuple[int, Any]]:
            asked.append((host, port, family))
            return [(socket.AF_INET, ("127.0.0.1", port))]

    async def go() -> None:
        async with serve(app()) as port:
            url = f"ws://chat.invalid:{port}/ws"
            seen = await handshake_seen(url, resolver=Fixed())
            assert seen["host"] == f"chat.invalid:{port}"
            await handshake_seen(HTTPRequest(url, allow_ipv6=False), resolver=Fixed())
            assert asked == [
                ("chat.invalid", port, socket.AF_UNSPEC),
                ("chat.invalid", port, socket.AF_INET),
            ]

    run(go)


def test_unresolvable_host_names_it_in_the_error() -> None:
    class Failing(DefaultLoopResolver):
        async def resolve(  # type: ignore[override]
            self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
        ) -> list[tuple[int, Any]]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def go() -> None:
        with pytest.raises(socket.gaierror, match=r"resolving 'nowhere\.invalid'"):
            await websocket_connect("ws://nowhere.invalid/ws", resolver=Failing())

    run(go)


def test_http_urls_are_accepted() -> None:
    async def go() -> None:
        async with serve(app()) as port:
            seen = await handshake_seen(f"http://127.0.0.1:{port}/ws")
            assert seen["protocol"] == "http"

    run(go)
