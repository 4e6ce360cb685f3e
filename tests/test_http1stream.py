"""Tornado's HTTP1Connection / HTTP1ServerConnection over IOStream (dualweb.http1stream)."""

from __future__ import annotations

import gzip
from typing import Any

from dualweb import web
from dualweb.connection import HTTPMessageDelegate, RequestStartLine, ResponseStartLine
from dualweb.http1stream import (
    HTTP1Connection,
    HTTP1ConnectionParameters,
    HTTP1ServerConnection,
)
from dualweb.httpclient import AsyncHTTPClient
from dualweb.httputil import HTTPHeaders
from dualweb.iostream import IOStream
from dualweb.tcpclient import TCPClient
from dualweb.tcpserver import TCPServer
from dualweb.testing import AsyncTestCase, bind_unused_port, gen_test


class Echo(web.RequestHandler):
    def get(self) -> None:
        self.write("hello " + self.request.path)

    def post(self) -> None:
        self.write(b"posted " + self.request.body)


class Gz(web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Encoding", "gzip")
        self.write(gzip.compress(b"inflated"))


class StreamServer(TCPServer):
    """HTTP served through HTTP1ServerConnection from handle_stream, as Tornado code does."""

    def __init__(self) -> None:
        super().__init__()
        self.app = web.Application([("/gz", Gz), ("/.*", Echo)])
        self.connections: list[HTTP1ServerConnection] = []

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        conn = HTTP1ServerConnection(stream, HTTP1ConnectionParameters())
        self.connections.append(conn)
        conn.start_serving(self.app)


class Collect(HTTPMessageDelegate):
    def __init__(self) -> None:
        self.start_line: Any = None
        self.headers: HTTPHeaders | None = None
        self.chunks: list[bytes] = []
        self.finished = False

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        self.start_line = start_line
        self.headers = headers

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def finish(self) -> None:
        self.finished = True


class HTTP1StreamTest(AsyncTestCase):
    def setUp(self) -> None:
        super().setUp()
        sock, self.port = bind_unused_port()
        self.server = StreamServer()
        self.server.add_sockets([sock])

    def tearDown(self) -> None:
        self.server.stop()

        async def close_all() -> None:
            for conn in self.server.connections:
                await conn.close()

        self.io_loop.run_sync(close_all)
        super().tearDown()

    @gen_test
    async def test_server_connection_serves_keep_alive_requests(self) -> None:
        client = AsyncHTTPClient(force_instance=True)
        try:
            for path in ("/a", "/b", "/c"):
                response = await client.fetch(f"http://127.0.0.1:{self.port}{path}")
                self.assertEqual(response.body, f"hello {path}".encode())
            response = await client.fetch(
                f"http://127.0.0.1:{self.port}/p", method="POST", body="xyz"
            )
            self.assertEqual(response.body, b"posted xyz")
            self.assertEqual(len(self.server.connections), 1)
        finally:
            client.close()

    @gen_test
    async def test_client_connection(self) -> None:
        stream = await TCPClient().connect("127.0.0.1", self.port)
        conn = HTTP1Connection(stream, True, HTTP1ConnectionParameters(decompress=True))
        try:
            for path in ("/x", "/gz"):
                await conn.write_headers(
                    RequestStartLine("GET", path, "HTTP/1.1"), HTTPHeaders({"Host": "t"})
                )
                conn.finish()
                delegate = Collect()
                self.assertTrue(await conn.read_response(delegate))
                self.assertIsInstance(delegate.start_line, ResponseStartLine)
                self.assertEqual(delegate.start_line.code, 200)
                self.assertTrue(delegate.finished)
                body = b"".join(delegate.chunks)
                self.assertEqual(body, b"hello /x" if path == "/x" else b"inflated")
        finally:
            conn.close()

    @gen_test
    async def test_malformed_request_gets_400_and_close(self) -> None:
        stream = await TCPClient().connect("127.0.0.1", self.port)
        try:
            await stream.write(b"GARBAGE\r\n\r\n")
            answer = await stream.read_until_close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer)
        finally:
            stream.close()
