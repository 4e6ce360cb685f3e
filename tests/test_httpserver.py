"""The native HTTP/1.1 server over real sockets on 127.0.0.1.

Most tests use a small raw :class:`HTTPServerConnectionDelegate` (no web
framework) so they exercise only the server; raw sockets are used wherever the
exact bytes on the wire matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.client
import logging
import os
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dualweb.connection import (
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from dualweb.httpserver import HTTPServer
from dualweb.httputil import HTTPHeaders
from tests.harness import ServerThread, run, wait_until
from tests.support import shout_after_upgrade

# --------------------------------------------------------------------------- a tiny app


class Req:
    """What the test app saw of one request."""

    def __init__(self, conn: HTTPConnection, start: RequestStartLine, headers: HTTPHeaders):
        self.conn = conn
        self.method, self.path, self.version = start
        self.headers = headers
        self.body = b""

    def respond(
        self, body: bytes = b"", code: int = 200, length: bool = True, **extra: str
    ) -> Awaitable[None]:
        h = HTTPHeaders()
        if length:
            h["Content-Length"] = str(len(body))
        for name, value in extra.items():
            h[name.replace("_", "-")] = value
        fut = self.conn.write_headers(ResponseStartLine("HTTP/1.1", code, "X"), h, body)
        self.conn.finish()
        return fut


Route = Callable[[Req], "Awaitable[None] | None"]


class App(HTTPServerConnectionDelegate):
    """Routes by path to plain functions; records connection-close notifications."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.closed = threading.Event()
        self.close_callbacks = 0
        self.connection_closes = 0

    def route(self, path: str) -> Callable[[Route], Route]:
        def register(fn: Route) -> Route:
            self.routes[path] = fn
            return fn

        return register

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Delegate:
        return Delegate(self, request_conn)


class Delegate(HTTPMessageDelegate):
    def __init__(self, app: App, conn: HTTPConnection) -> None:
        self.app = app
        self.conn = conn
        self.chunks: list[bytes] = []
        self.req: Req | None = None

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        self.req = Req(self.conn, start_line, headers)

        def closed() -> None:
            self.app.close_callbacks += 1
            self.app.closed.set()

        self.conn.set_close_callback(closed)

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def finish(self) -> Awaitable[None] | None:
        req = self.req
        assert req is not None
        req.body = b"".join(self.chunks)
        route = self.app.routes.get(req.path.split("?")[0], default_route)
        return route(req)

    def on_connection_close(self) -> None:
        self.app.connection_closes += 1
        self.app.closed.set()


def default_route(req: Req) -> None:
    req.respond(f"{req.method} {req.path} {len(req.body)}".encode())


def make_app() -> App:
    app = App()

    @app.route("/echo")
    def echo(req: Req) -> None:
        req.respond(req.body)

    @app.route("/stream")
    def stream(req: Req) -> None:
        h = HTTPHeaders()
        req.conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), h, b"first,")
        req.conn.write(b"second,")
        req.conn.write(b"third")
        req.conn.finish()

    @app.route("/sleep")
    async def sleep(req: Req) -> None:
        await asyncio.sleep(float(req.path.split("?")[1]))
        req.respond(req.path.encode())

    @app.route("/forever")
    async def forever(req: Req) -> None:
        await asyncio.sleep(30)

    @app.route("/boom")
    def boom(req: Req) -> None:
        raise RuntimeError("handler exploded")

    @app.route("/empty")
    def empty(req: Req) -> None:
        code = int(req.path.split("?")[1])
        req.respond(b"", code=code, length=False)

    @app.route("/peer")
    def peer(req: Req) -> None:
        ctx = req.conn.context  # type: ignore[attr-defined]
        req.respond(f"{ctx.remote_ip} {ctx.protocol}".encode())

    @app.route("/tls")
    def tls(req: Req) -> None:
        ssl_object = req.conn.context.ssl_object  # type: ignore[attr-defined]
        req.respond(ssl_object.version().encode() if ssl_object else b"plain")

    @app.route("/headers")
    def headers(req: Req) -> None:
        req.respond(repr(sorted(req.headers.get_all())).encode())

    return app


# --------------------------------------------------------------------------- server harness


@pytest.fixture
def serve(kind: str) -> Iterator[Callable[..., ServerThread]]:
    """``serve(app=make_app(), **server_kwargs)`` → a running server on a loop of ``kind``."""
    servers: list[ServerThread] = []

    def start(app: Any = None, **kwargs: Any) -> ServerThread:
        running = ServerThread(app if app is not None else make_app(), kind, **kwargs)
        servers.append(running)
        return running

    yield start
    for running in servers:
        running.close()


def connect(port: int, timeout: float = 5) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


def read_until_closed(sock: socket.socket, limit: float = 5) -> bytes:
    chunks = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    else:  # pragma: no cover - only on failure
        raise AssertionError("connection was not closed in time")
    return b"".join(chunks)


def read_responses(sock: socket.socket, count: int, limit: float = 5) -> list[tuple[int, bytes]]:
    """Read ``count`` Content-Length responses; returns (status, body) pairs."""
    buf = b""
    out: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + limit
    while len(out) < count:
        assert time.monotonic() < deadline, f"only {len(out)} responses"
        match = re.match(rb"HTTP/1\.1 (\d+) [^\r]*\r\n(.*?)\r\n\r\n", buf, re.S)
        if match:
            length_match = re.search(rb"Content-Length: (\d+)", match.group(2))
            length = int(length_match.group(1)) if length_match else 0
            end = match.end() + length
            if len(buf) >= end:
                out.append((int(match.group(1)), buf[match.end() : end]))
                buf = buf[end:]
                continue
        data = sock.recv(65536)
        assert data, f"closed after {len(out)} responses"
        buf += data
    return out


def get(port: int, path: str, **kwargs: Any) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(kwargs.pop("method", "GET"), path, **kwargs)
    return conn.getresponse()


# --------------------------------------------------------------------------- keep-alive and framing


def test_keep_alive_reuses_the_connection(serve: Any) -> None:
    srv = serve()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    for i in range(3):
        conn.request("GET", f"/k{i}")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == f"GET /k{i} 0".encode()
        assert resp.getheader("Connection") is None
    assert srv.connections() == 1
    conn.close()


def test_http10_without_keep_alive_closes(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert b"Connection" not in raw and raw.endswith(b"GET /old 0")


def test_http10_keep_alive_stays_open(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        for _ in range(2):
            sock.sendall(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            raw = sock.recv(65536)
            assert b"Connection: Keep-Alive\r\n" in raw and raw.endswith(b"GET /a 0")


def test_connection_close_request(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        raw = read_until_closed(sock)
    assert b"Connection: close\r\n" in raw


def test_no_keep_alive_option(serve: Any) -> None:
    srv = serve(no_keep_alive=True)
    with connect(srv.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n")
        raw = read_until_closed(sock)
    assert raw.count(b"HTTP/1.1 200") == 1 and b"Connection: close" in raw


def test_hundred_pipelined_requests_in_one_write(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(100)))
        responses = read_responses(sock, 100)
    assert [body for _, body in responses] == [b"GET /p%d 0" % i for i in range(100)]


def test_pipelined_async_handlers_answer_in_order(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(
            b"GET /sleep?0.2 HTTP/1.1\r\nHost: h\r\n\r\n"
            b"GET /fast HTTP/1.1\r\nHost: h\r\n\r\n"
            b"GET /sleep?0.01 HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        responses = read_responses(sock, 3)
    assert [b for _, b in responses] == [b"/sleep?0.2", b"GET /fast 0", b"/sleep?0.01"]


def test_chunked_request_body(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
        )
        time.sleep(0.05)
        sock.sendall(b"6\r\n world\r\n0\r\n\r\n")
        assert read_responses(sock, 1) == [(200, b"hello world")]


def test_chunked_response_from_flushes(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n")
        raw = b""
        while not raw.endswith(b"0\r\n\r\n"):
            data = sock.recv(65536)
            assert data
            raw += data
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"6\r\nfirst,\r\n7\r\nsecond,\r\n5\r\nthird\r\n0\r\n\r\n"
    resp = get(srv.port, "/stream")
    assert resp.read() == b"first,second,third"


def test_streamed_response_to_http10_is_close_delimited(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        raw = read_until_closed(sock)
    assert raw.endswith(b"\r\n\r\nfirst,second,third") and b"chunked" not in raw


def test_expect_100_continue(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: h\r\n"
            b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"body")
        assert read_responses(sock, 1) == [(200, b"body")]


def test_expect_100_continue_refused_when_too_large(serve: Any) -> None:
    srv = serve(max_body_size=10)
    with connect(srv.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: h\r\n"
            b"Expect: 100-continue\r\nContent-Length: 40\r\n\r\n")
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in raw


def test_head_has_no_body_and_connection_survives(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n")
        time.sleep(0.1)
        raw = sock.recv(65536)
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert b"Content-Length: 9" in first  # "HEAD /h 0": the body is not sent
    assert rest.startswith(b"HTTP/1.1 200 ") and rest.endswith(b"GET /after 0")


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(serve: Any, code: int) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(
            b"GET /empty?%d HTTP/1.1\r\nHost: h\r\n"
            b"\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n" % code)
        time.sleep(0.1)
        raw = sock.recv(65536)
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 %d " % code)
    assert b"Transfer-Encoding" not in first
    assert rest.startswith(b"HTTP/1.1 200 ")


# --------------------------------------------------------------------------- bad input

BAD_INPUT = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n", 400),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\n"
        b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-Big: " + b"a" * 3000 + b"\r\n\r\n", 431),
    (b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n", 413),
    (
        b"POST /echo HTTP/1.1\r\nHost: h\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + b"800\r\n" + b"a" * 2048, 413),
]


@pytest.mark.parametrize(("data", "status"), BAD_INPUT)
def test_bad_input_gets_status_and_close(
    serve: Any, data: bytes, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    srv = serve(max_header_size=2048, max_body_size=1024)
    with caplog.at_level(logging.INFO, logger="dualweb.general"), connect(srv.port) as sock:
        sock.sendall(data)
        raw = read_until_closed(sock)
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 %d " % status)
    assert b"Connection: close\r\n" in rest
    assert any("Malformed HTTP message" in r.getMessage() for r in caplog.records)


def test_smuggled_request_is_never_served(serve: Any) -> None:
    app = make_app()
    seen: list[str] = []

    @app.route("/admin")
    def admin(req: Req) -> None:  # pragma: no cover - reaching this is the failure
        seen.append(req.path)
        req.respond(b"secret")

    srv = serve(app)
    attack = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n"
        b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    with connect(srv.port) as sock:
        sock.sendall(attack)
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 400 ") and not seen


def test_bad_request_after_good_one_keeps_order(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: h\r\n\r\nNONSENSE\r\n\r\n")
        raw = read_until_closed(sock)
    first, _, rest = raw.partition(b"GET /first 0")
    assert first.startswith(b"HTTP/1.1 200 ") and rest.startswith(b"HTTP/1.1 400 ")


# --------------------------------------------------------------------------- timeouts


def test_idle_connection_timeout(serve: Any) -> None:
    srv = serve(idle_connection_timeout=0.2)
    with connect(srv.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_responses(sock, 1)[0][0] == 200
        start = time.monotonic()
        assert read_until_closed(sock, limit=3) == b""
        assert 0.1 < time.monotonic() - start < 2


def test_slowloris_headers_are_cut(serve: Any) -> None:
    srv = serve(header_timeout=0.3)
    with connect(srv.port) as sock:
        start = time.monotonic()
        with contextlib.suppress(OSError):
            for byte in b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: " + b"a" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.02)
        assert read_until_closed(sock, limit=3) == b""
    assert time.monotonic() - start < 2.5


def test_slow_body_is_cut(serve: Any) -> None:
    app = make_app()
    srv = serve(app, body_timeout=0.3)
    with connect(srv.port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
        start = time.monotonic()
        assert read_until_closed(sock, limit=3) == b""
        assert time.monotonic() - start < 2
    assert app.closed.wait(2) and app.connection_closes == 1


def test_active_connection_outlives_idle_timeout(serve: Any) -> None:
    srv = serve(idle_connection_timeout=0.3)
    with connect(srv.port) as sock:
        for _ in range(6):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            assert read_responses(sock, 1)[0][0] == 200
            time.sleep(0.1)


def test_slow_handler_is_not_timed_out(serve: Any) -> None:
    srv = serve(idle_connection_timeout=0.1, body_timeout=0.1)
    with connect(srv.port) as sock:
        sock.sendall(b"GET /sleep?0.4 HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_responses(sock, 1) == [(200, b"/sleep?0.4")]


# --------------------------------------------------------------------------- failures and lifecycle


def test_delegate_exception_is_500_and_server_keeps_serving(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    srv = serve()
    with caplog.at_level(logging.ERROR), connect(srv.port) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: h\r\n\r\n")
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 500 ")
    assert any("handler exploded" in (r.exc_text or "") for r in caplog.records)
    assert get(srv.port, "/fine").read() == b"GET /fine 0"


def test_client_disconnect_mid_request_calls_close_callback(serve: Any) -> None:
    app = make_app()
    seen: list[Any] = []

    @app.route("/watch")
    async def watch(req: Req) -> None:
        stream = req.conn.stream  # type: ignore[attr-defined]
        seen.append(stream.closed())
        while not stream.closed():
            await asyncio.sleep(0.01)
        seen.append(stream.closed())

    srv = serve(app)
    sock = connect(srv.port)
    sock.sendall(b"GET /watch HTTP/1.1\r\nHost: h\r\n\r\n")
    time.sleep(0.1)
    sock.close()
    assert app.closed.wait(3)
    assert app.close_callbacks == 1
    wait_until(lambda: len(seen) >= 2, 3)
    assert seen == [False, True]  # Tornado's request.connection.stream.closed() idiom
    assert srv.connections_after(3) == 0


def test_client_disconnect_mid_body_calls_on_connection_close(serve: Any) -> None:
    app = make_app()
    srv = serve(app)
    sock = connect(srv.port)
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\npartial")
    time.sleep(0.1)
    sock.close()
    assert app.closed.wait(3)
    time.sleep(0.05)
    assert app.connection_closes == 1


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_no_fd_leak_after_aborted_connections(serve: Any) -> None:
    srv = serve()
    assert get(srv.port, "/warm").status == 200
    time.sleep(0.1)
    before = open_fds()
    partials = [
        b"GET / HTTP/1.1\r\nHost:",
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nab",
        b"",
    ]
    for i in range(300):
        sock = connect(srv.port)
        sock.sendall(partials[i % 3])
        # RST instead of FIN: the harshest way for a client to vanish.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    # The server may still be accepting the backlog when the first check runs
    # (connections() is briefly 0): wait for a quiet quarter second, not one zero.
    deadline = time.monotonic() + 5
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if srv.connections():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.25:
            break
        time.sleep(0.02)
    assert srv.connections() == 0
    assert open_fds() <= before + 2


# --------------------------------------------------------------------------- options


def test_xheaders(serve: Any) -> None:
    srv = serve(xheaders=True, trusted_downstream=["10.0.0.9"])
    cases = [
        ({}, b"127.0.0.1 http"),
        ({"X-Real-Ip": "4.4.4.4"}, b"4.4.4.4 http"),
        ({"X-Forwarded-For": "1.2.3.4, 10.0.0.9"}, b"1.2.3.4 http"),
        ({"X-Forwarded-For": "not-an-ip"}, b"127.0.0.1 http"),
        ({"X-Forwarded-Proto": "https"}, b"127.0.0.1 https"),
        ({"X-Scheme": "gopher"}, b"127.0.0.1 http"),
    ]
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    for hdrs, expected in cases:
        conn.request("GET", "/peer", headers=hdrs)
        assert conn.getresponse().read() == expected, hdrs
    conn.close()


def test_xheaders_ignored_by_default(serve: Any) -> None:
    srv = serve()
    assert get(srv.port, "/peer", headers={"X-Real-Ip": "4.4.4.4"}).read() == b"127.0.0.1 http"


def test_decompress_request(serve: Any) -> None:
    srv = serve(decompress_request=True)
    body = gzip.compress(b"a" * 100000)
    resp = get(srv.port, "/echo", method="POST", body=body, headers={"Content-Encoding": "gzip"})
    assert resp.status == 200 and resp.read() == b"a" * 100000
    resp = get(srv.port, "/headers", method="POST", body=body, headers={"Content-Encoding": "gzip"})
    text = resp.read().decode()
    assert "('X-Consumed-Content-Encoding', 'gzip')" in text
    assert "('Content-Encoding'" not in text and "('Content-Length'" not in text


def test_decompress_request_bad_gzip_is_400(serve: Any) -> None:
    srv = serve(decompress_request=True)
    resp = get(
        srv.port, "/echo", method="POST", body=b"not gzip", headers={"Content-Encoding": "gzip"}
    )
    assert resp.status == 400


def test_plain_callable_request_callback(serve: Any) -> None:
    def callback(request: Any) -> None:
        body = f"{request.method} {request.uri} {request.body!r}".encode()
        h = HTTPHeaders({"Content-Length": str(len(body))})
        request.connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), h, body)
        request.connection.finish()

    srv = serve(callback)
    resp = get(srv.port, "/cb?x=1", method="POST", body=b"data")
    assert resp.read() == b"POST /cb?x=1 b'data'"


@pytest.mark.parametrize("as_context", [False, True], ids=["dict", "SSLContext"])
def test_tls(serve: Any, cert: tuple[str, str], as_context: bool) -> None:
    certfile, keyfile = cert
    options: Any = {"certfile": certfile, "keyfile": keyfile}
    if as_context:
        options = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        options.load_cert_chain(certfile, keyfile)
    srv = serve(ssl_options=options)
    client_ctx = ssl.create_default_context(cafile=certfile)
    client_ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=5, context=client_ctx)
    for _ in range(2):
        conn.request("GET", "/peer")
        assert conn.getresponse().read() == b"127.0.0.1 https"
    conn.request("GET", "/tls")
    assert conn.getresponse().read().startswith(b"TLSv1.")
    conn.close()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(srv.port, "/tls")  # plain HTTP to a TLS port: the TLS layer hangs up


def test_failed_tls_handshakes_leave_no_connection_entry(
    serve: Any, cert: tuple[str, str]
) -> None:
    certfile, keyfile = cert
    srv = serve(ssl_options={"certfile": certfile, "keyfile": keyfile})
    for _ in range(3):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            get(srv.port, "/peer")  # plain HTTP: the handshake fails
    # The server may take a moment to drop the sockets; it never counts them.
    assert srv.connections_after(2) == 0
    client_ctx = ssl.create_default_context(cafile=certfile)
    client_ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=5, context=client_ctx)
    conn.request("GET", "/peer")
    assert conn.getresponse().read() == b"127.0.0.1 https"
    assert srv.connections() == 1  # a connection that got through is tracked
    conn.close()


def test_tls_missing_certificate_file() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        HTTPServer(make_app(), ssl_options={"certfile": str(Path("/nonexistent/cert.pem"))})


def test_write_back_pressure_delivers_everything(serve: Any) -> None:
    app = make_app()
    total = 8 * 1024 * 1024

    @app.route("/big")
    async def big(req: Req) -> None:
        conn = req.conn
        h = HTTPHeaders({"Content-Length": str(total)})
        await conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), h)
        piece = b"x" * 65536
        for _ in range(total // len(piece)):
            await conn.write(piece)
        conn.finish()

    srv = serve(app)
    with connect(srv.port) as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
        time.sleep(0.3)  # let the server fill the socket buffers and pause
        received = 0
        while received < total:
            data = sock.recv(1 << 20)
            assert data
            received += len(data)
    assert received > total  # headers included


class Echo(asyncio.Protocol):
    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())


def test_upgrade_detaches_the_transport(serve: Any) -> None:
    app = make_app()

    @app.route("/upgrade")
    def upgrade(req: Req) -> None:
        h = HTTPHeaders({"Upgrade": "shout", "Connection": "Upgrade"})
        req.conn.write_headers(ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"), h)
        req.conn.finish()
        transport, early = req.conn.detach()  # type: ignore[attr-defined]
        proto = Echo(transport)
        transport.set_protocol(proto)
        if early:
            proto.data_received(early)

    srv = serve(app)
    shout_after_upgrade(
        srv.port,
        b"GET /upgrade HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n",
    )
    assert srv.connections_after(2) == 0  # a detached connection is no longer the server's


def test_upgrade_not_accepted_closes_after_response(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(
            b"GET /plain HTTP/1.1\r\nHost: h\r\n"
            b"Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in raw


def test_reading_pauses_while_pipelined_requests_wait(serve: Any) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(
            b"GET /sleep?0.3 HTTP/1.1\r\nHost: h\r\n\r\n"
            + b"".join(b"GET /q%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(200))
        )
        time.sleep(0.15)
        paused = srv.call(lambda: [p._reading_paused for p in srv.server._connections])
        assert paused == [True]
        responses = read_responses(sock, 201)
    assert responses[0] == (200, b"/sleep?0.3")
    assert [b for _, b in responses[1:]] == [b"GET /q%d 0" % i for i in range(200)]
    # Reading resumed: the connection still serves.
    assert srv.call(lambda: [p._reading_paused for p in srv.server._connections]) in ([], [False])


# --------------------------------------------------------------------------- with the web framework


def test_application_in_both_drivers(client_for: Any) -> None:
    from dualweb import web

    class Main(web.RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

        def post(self) -> None:
            self.write({"got": self.get_body_argument("x")})

    client = client_for(web.Application([(r"/", Main)]))
    resp = client.get("/")
    assert resp.status == 200 and resp.text == "Hello, world"
    assert resp.headers["Content-Length"] == "12"
    assert client.post("/", {"x": "1"}).json() == {"got": "1"}
    assert client.get("/missing").status == 404


def test_handler_exception_is_500_and_the_connection_keeps_serving(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from dualweb import web

    class Boom(web.RequestHandler):
        def get(self) -> None:
            raise ValueError("kaboom")

    class Fine(web.RequestHandler):
        def get(self) -> None:
            self.write("fine")

    srv = serve(web.Application([(r"/boom", Boom), (r"/fine", Fine)]))
    with caplog.at_level(logging.ERROR), connect(srv.port) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: h\r\n\r\nGET /fine HTTP/1.1\r\nHost: h\r\n\r\n")
        responses = read_responses(sock, 2)
    assert responses[0][0] == 500 and responses[1] == (200, b"fine")
    assert any("kaboom" in (r.exc_text or r.getMessage()) for r in caplog.records)


def test_coroutine_handler_sees_client_disconnect(serve: Any) -> None:
    from dualweb import web

    gone = threading.Event()

    class LongPoll(web.RequestHandler):
        async def get(self) -> None:
            await asyncio.sleep(30)

        def on_connection_close(self) -> None:
            gone.set()

    srv = serve(web.Application([(r"/poll", LongPoll)]))
    sock = connect(srv.port)
    sock.sendall(b"GET /poll HTTP/1.1\r\nHost: h\r\n\r\n")
    time.sleep(0.1)
    sock.close()
    assert gone.wait(3)


def test_tornado_client_interop(serve: Any) -> None:
    """An independent HTTP/1.1 implementation (Tornado's client) reads our framing."""
    tornado_httpclient = pytest.importorskip("tornado.httpclient")
    srv = serve()

    async def fetch_all() -> list[tuple[int, bytes]]:
        client = tornado_httpclient.AsyncHTTPClient(force_instance=True)
        try:
            out = []
            for method, path, body in [
                ("GET", "/stream", None),
                ("POST", "/echo", b"x" * 200000),
                ("HEAD", "/h", None),
                ("GET", "/empty?204", None),
            ]:
                resp = await client.fetch(
                    f"http://127.0.0.1:{srv.port}{path}", method=method, body=body,
                    raise_error=False,
                )
                out.append((resp.code, resp.body))
            return out
        finally:
            client.close()

    assert run(fetch_all) == [
        (200, b"first,second,third"),
        (200, b"x" * 200000),
        (200, b""),
        (204, b""),
    ]


def test_writing_after_finish_is_a_clear_error(serve: Any) -> None:
    app = make_app()
    errors: list[str] = []

    @app.route("/twice")
    def twice(req: Req) -> None:
        req.respond(b"once")
        try:
            req.conn.write(b"again")
        except RuntimeError as exc:
            errors.append(str(exc))

    srv = serve(app)
    with connect(srv.port) as sock:
        sock.sendall(b"GET /twice HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_responses(sock, 2) == [(200, b"once"), (200, b"GET /next 0")]
    assert errors and "write() called after finish()" in errors[0]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_unix_socket(serve: Any, tmp_path: Path) -> None:
    from dualweb.netutil import bind_unix_socket

    path = str(tmp_path / "http.sock")
    serve(sockets=[bind_unix_socket(path)])
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_responses(sock, 1) == [(200, b"0.0.0.0 http")]


def test_hostile_bytes_never_crash_the_server(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    import random

    rng = random.Random(1234)
    srv = serve(idle_connection_timeout=1)
    echo = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
    seeds = [b"GET / HTTP/1.1\r\nHost: x\r\n", echo, b""]
    for i in range(40):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        payload = seeds[i % 3] + garbage + b"\r\n\r\n"
        with connect(srv.port) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            raw = read_until_closed(sock)
        # Every request is complete, so every one gets an answer before the close.
        if seeds[i % 3] is echo:
            # The body is the first 5 bytes after the headers, whatever they are;
            # the rest is a second (bad) request, answered or not.
            head, _, rest = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), raw[:200]
            assert b"\r\nContent-Length: 5" in head, raw[:200]
            assert rest[:5] == (garbage + b"\r\n\r\n")[:5], raw[:200]
        else:
            assert re.match(rb"HTTP/1\.1 (400|405|413|431|505) ", raw), raw[:200]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert get(srv.port, "/alive").read() == b"GET /alive 0"


def test_delegate_failing_after_its_response_sends_no_stray_500(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()

    @app.route("/late-error")
    async def late_error(req: Req) -> None:
        req.respond(b"done")
        await asyncio.sleep(0.01)
        raise RuntimeError("after the response")

    srv = serve(app)
    with caplog.at_level(logging.ERROR), connect(srv.port) as sock:
        sock.sendall(b"GET /late-error HTTP/1.1\r\nHost: h\r\n\r\n")
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(b"done")
    assert b"500" not in raw
    assert any("after the response" in (r.exc_text or "") for r in caplog.records)
