"""The HTTP client against foreign servers: the standard library's http.server, gunicorn,
and a raw-socket peer sending odd-but-legal and illegal responses."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from dualweb.httpclient import AsyncHTTPClient, HTTPClient, HTTPClientError
from dualweb.simple_httpclient import HTTPStreamClosedError
from dualweb.testing import AsyncTestCase, gen_test
from tests.client_support import RawPeer, start_peer, stdlib_server
from tests.harness import ServerProcess
from tests.test_gunicorn import server as gunicorn_server  # noqa: F401 - fixture

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@asynccontextmanager
async def fresh_client(peer: RawPeer) -> AsyncIterator[AsyncHTTPClient]:
    """A new client for one test; closes it and stops ``peer`` afterwards."""
    client = AsyncHTTPClient(force_instance=True)
    try:
        yield client
    finally:
        client.close()
        await peer.stop()


# --------------------------------------------------------------------------- http.server


class _Stdlib(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.protocol_version} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Stdlib11(_Stdlib):
    protocol_version = "HTTP/1.1"


@pytest.fixture(params=[_Stdlib, _Stdlib11], ids=["http1.0", "http1.1"])
def stdlib_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with stdlib_server(request.param) as base:
        yield base


def test_stdlib_http_server(stdlib_url: str) -> None:
    client = HTTPClient()
    try:
        for i in range(3):
            response = client.fetch(f"{stdlib_url}/get/{i}")
            assert response.code == 200
            assert response.body.endswith(f"/get/{i}".encode())
        response = client.fetch(f"{stdlib_url}/post", method="POST", body=b"x" * 100_000)
        assert (response.code, response.body) == (201, b"x" * 100_000)
    finally:
        client.close()


def test_gunicorn(gunicorn_server: ServerProcess) -> None:  # noqa: F811
    client = HTTPClient()
    try:
        for _ in range(3):
            response = client.fetch(f"http://127.0.0.1:{gunicorn_server.port}/api")
            assert response.code == 200
            assert response.headers["Content-Type"].startswith("application/json")
        response = client.fetch(
            f"http://127.0.0.1:{gunicorn_server.port}/nope", raise_error=False
        )
        assert response.code == 404
    finally:
        client.close()


# --------------------------------------------------------------------------- raw peers


class OddButLegalTest(AsyncTestCase):
    async def fetch_from(self, *responses: bytes, close: bool = False, **kwargs: Any) -> Any:
        peer = await start_peer(*responses, close=close)
        async with fresh_client(peer) as client:
            return await client.fetch(peer.url(), **kwargs)

    @gen_test
    async def test_body_until_close(self) -> None:
        response = await self.fetch_from(b"HTTP/1.1 200 OK\r\n\r\nuntil close", close=True)
        self.assertEqual(response.body, b"until close")

    @gen_test
    async def test_http10_body_until_close(self) -> None:
        response = await self.fetch_from(b"HTTP/1.0 200 OK\r\n\r\nten", close=True)
        self.assertEqual((response.code, response.body), (200, b"ten"))

    @gen_test
    async def test_informational_responses_are_skipped(self) -> None:
        response = await self.fetch_from(
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n" + OK
        )
        self.assertEqual((response.code, response.body), (200, b"ok"))
        self.assertNotIn("Link", response.headers)

    @gen_test
    async def test_chunk_extensions_and_trailers(self) -> None:
        response = await self.fetch_from(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;name=value\r\nabc\r\n2;x\r\nde\r\n0\r\nX-Checksum: 1\r\n\r\n"
        )
        self.assertEqual(response.body, b"abcde")

    @gen_test
    async def test_lf_only_lines(self) -> None:
        response = await self.fetch_from(b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nok")
        self.assertEqual((response.code, response.body, response.headers["X-A"]), (200, b"ok", "b"))

    @gen_test
    async def test_empty_reason_phrase(self) -> None:
        response = await self.fetch_from(b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok")
        self.assertEqual((response.code, response.body), (200, b"ok"))

    @gen_test
    async def test_204_and_304_have_no_body(self) -> None:
        for head in (b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\n\r\n"):
            response = await self.fetch_from(head, raise_error=False)
            self.assertEqual(response.body, b"")

    @gen_test
    async def test_connection_close_mid_pool(self) -> None:
        # Second answer says Connection: close: the third request needs a new connection.
        close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
        peer = await start_peer(OK, close, close=True)
        async with fresh_client(peer) as client:
            for _ in range(3):
                self.assertEqual((await client.fetch(peer.url())).body, b"ok")
            self.assertEqual(peer.connections, 2)

    @gen_test
    async def test_server_closing_an_idle_connection(self) -> None:
        # Each connection serves one keep-alive response, then the server closes it
        # while it sits in the pool: the client notices and connects afresh.
        peer = await start_peer(OK, close=True)
        async with fresh_client(peer) as client:
            for _ in range(3):
                self.assertEqual((await client.fetch(peer.url())).body, b"ok")
                await asyncio.sleep(0.05)
            self.assertEqual(peer.connections, 3)

    @gen_test
    async def test_unrequested_extra_response_is_not_served_to_the_next_request(self) -> None:
        extra = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"
        peer = await start_peer(OK + extra, OK, close=True)
        async with fresh_client(peer) as client:
            self.assertEqual((await client.fetch(peer.url())).body, b"ok")
            self.assertEqual((await client.fetch(peer.url())).body, b"ok")
            self.assertEqual(peer.connections, 2)

    @gen_test
    async def test_expect_100_continue(self) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            peer.requests.append(head)
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await reader.readexactly(4)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n" + body)
            await reader.read()

        peer = await RawPeer(handler).start()
        async with fresh_client(peer) as client:
            response = await client.fetch(
                peer.url(), method="PUT", body=b"data", expect_100_continue=True
            )
            self.assertEqual(response.body, b"data")
            self.assertIn(b"Expect: 100-continue", peer.requests[0])


class IllegalResponsesTest(AsyncTestCase):
    async def expect_error(self, response: bytes, match: str) -> None:
        # The first connection gets the bad response, later ones a good one.
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            bad = peer.connections == 1
            await peer.read_request(reader)
            writer.write(response if bad else OK)
            if not bad:
                await reader.read()

        peer = await RawPeer(handler).start()
        async with fresh_client(peer) as client:
            with pytest.raises(HTTPClientError, match=match) as info:
                await client.fetch(peer.url())
            self.assertEqual(info.value.code, 599)
            # The broken connection is not pooled: the next fetch opens another.
            self.assertEqual((await client.fetch(peer.url())).body, b"ok")
            self.assertEqual(peer.connections, 2)

    @gen_test
    async def test_huge_headers(self) -> None:
        huge = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\nContent-Length: 0\r\n\r\n"
        await self.expect_error(huge, "Malformed HTTP response: header block too large")

    @gen_test
    async def test_bad_framing(self) -> None:
        cases = {
            "bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "conflicting lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
            b"Content-Length: 3\r\n\r\nok",
            "length and chunked": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            "garbage status line": b"SMTP ready\r\n\r\n",
        }
        for name, response in cases.items():
            with self.subTest(name):
                await self.expect_error(response, "Malformed HTTP response")

    @gen_test
    async def test_truncated_body(self) -> None:
        await self.expect_error(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            "closed in the middle of a response",
        )

    @gen_test
    async def test_reset_before_response(self) -> None:
        async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

        peer = await RawPeer(reset).start()
        try:
            with pytest.raises((ConnectionResetError, HTTPStreamClosedError)):
                await AsyncHTTPClient().fetch(peer.url())
        finally:
            await peer.stop()

    @gen_test
    async def test_close_without_response(self) -> None:
        peer = await start_peer(b"", close=True)
        try:
            with pytest.raises(HTTPStreamClosedError, match="Stream closed") as info:
                await AsyncHTTPClient().fetch(peer.url())
            self.assertEqual(info.value.code, 599)
        finally:
            await peer.stop()
