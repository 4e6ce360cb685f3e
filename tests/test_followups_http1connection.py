"""Tornado's HTTP/1 connection classes from ``dualweb.http1connection``, where Tornado code imports
them (``from tornado.http1connection import HTTP1Connection, HTTP1ServerConnection``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

from dualweb import web
from dualweb.connection import HTTPMessageDelegate, RequestStartLine
from dualweb.http1connection import (
    HTTP1Connection,
    HTTP1ConnectionParameters,
    HTTP1ServerConnection,
)
from dualweb.httputil import HTTPHeaders
from dualweb.iostream import IOStream
from dualweb.tcpclient import TCPClient
from dualweb.tcpserver import TCPServer
from dualweb.testing import bind_unused_port


class Hello(web.RequestHandler):
    def get(self) -> None:
        self.write("hello " + self.request.path)


class StreamServer(TCPServer):
    def __init__(self) -> None:
        super().__init__()
        self.app = web.Application([("/.*", Hello)])
        self.connections: list[HTTP1ServerConnection] = []

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        conn = HTTP1ServerConnection(stream, HTTP1ConnectionParameters(no_keep_alive=False))
        self.connections.append(conn)
        conn.start_serving(self.app)


class Collect(HTTPMessageDelegate):
    def __init__(self) -> None:
        self.code = 0
        self.chunks: list[bytes] = []

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        self.code = start_line.code

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)


def test_client_and_server_connections_from_http1connection() -> None:
    async def main() -> tuple[list[tuple[int, bytes]], int]:
        sock, port = bind_unused_port()
        server = StreamServer()
        server.add_sockets([sock])
        stream = await TCPClient().connect("127.0.0.1", port)
        conn = HTTP1Connection(stream, True, HTTP1ConnectionParameters())
        answers = []
        try:
            for path in ("/a", "/b"):
                await conn.write_headers(
                    RequestStartLine("GET", path, "HTTP/1.1"), HTTPHeaders({"Host": "t"})
                )
                conn.finish()
                delegate = Collect()
                assert await conn.read_response(delegate)
                answers.append((delegate.code, b"".join(delegate.chunks)))
        finally:
            conn.close()
            server.stop()
            for served in server.connections:
                await served.close()
        return answers, len(server.connections)

    answers, connections = asyncio.run(main())
    assert answers == [(200, b"hello /a"), (200, b"hello /b")]
    # Both requests on one connection: keep-alive through HTTP1ServerConnection.
    assert connections == 1


def test_the_tornado_import_line_works_in_a_fresh_interpreter() -> None:
    # A fresh process: the import order of a test session cannot hide a cycle.
    code = (
        "from dualweb.http1connection import "
        "HTTP1Connection, HTTP1ConnectionParameters, HTTP1ServerConnection\n"
        "print(HTTP1Connection.__name__, HTTP1ServerConnection.__name__, "
        "HTTP1ConnectionParameters().chunk_size)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["HTTP1Connection", "HTTP1ServerConnection", "65536"]
