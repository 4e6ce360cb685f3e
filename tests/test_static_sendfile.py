"""Large static files sent with ``HTTPConnection.send_file``: natively (``os.sendfile`` over
TCP, chunks under TLS) and under WSGI (``wsgi.file_wrapper``, webtest and a real gunicorn).

What a client receives is checked byte for byte: whole files, ranges, HEAD, 304,
pipelined requests around a large file, slow readers (the socket fills and the
server must wait), clients that go away mid-download (no file descriptor left open).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import io
import os
import socket
import ssl
import struct
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from dualweb.connection import COMPLETED, HTTPConnection, ResponseStartLine
from dualweb.headers import HTTPHeaders
from dualweb.web import Application, RequestHandler, StaticFileHandler
from tests.harness import ServerProcess, ServerThread, free_port, wait_until
from tests.support import Client

BIG = 8 * 2**20 + 12345  # not a multiple of any chunk size


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("static")
    (directory / "big.bin").write_bytes(os.urandom(BIG))
    (directory / "mid.bin").write_bytes(os.urandom(300 * 1024))
    (directory / "small.txt").write_bytes(b"small file\n")
    (directory / "big.txt").write_bytes(b"line of text\n" * 40000)
    return directory


@pytest.fixture
def server(root: Path, kind: str) -> Iterator[ServerThread]:
    running = ServerThread(Application(static_path=str(root)), kind)
    yield running
    running.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _read_response(
    sock: socket.socket, buf: bytes = b""
) -> tuple[bytes, dict[str, str], bytes, bytes]:
    """Read one response with a Content-Length body: (status line, headers, body, leftover)."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data, f"connection closed before the head: {buf[:200]!r}"
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    chunks = [rest]
    received = len(rest)
    while received < length:
        data = sock.recv(2**20)
        assert data, f"connection closed after {received} of {length} body bytes"
        chunks.append(data)
        received += len(data)
    body = b"".join(chunks)
    return status.encode(), headers, body[:length], body[length:]


def _get(port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


# -- natively --------------------------------------------------------------------


def test_whole_big_file_arrives_intact(server: ServerThread, root: Path) -> None:
    status, headers, body = _get(server.port, "/static/big.bin")
    assert status == 200
    assert headers["Content-Length"] == str(BIG)
    assert headers["Content-Type"] == "application/octet-stream"
    assert hashlib.sha256(body).digest() == hashlib.sha256((root / "big.bin").read_bytes()).digest()


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [("bytes=100000-3000000", 100000, 3000001), ("bytes=-200000", BIG - 200000, BIG),
     ("bytes=5000000-", 5000000, BIG)],
)
def test_range_of_big_file(
    server: ServerThread, root: Path, spec: str, start: int, end: int
) -> None:
    status, headers, body = _get(server.port, "/static/big.bin", {"Range": spec})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {start}-{end - 1}/{BIG}"
    assert headers["Content-Length"] == str(end - start)
    assert body == (root / "big.bin").read_bytes()[start:end]


def test_head_then_get_on_one_connection(server: ServerThread, root: Path) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        conn.request("HEAD", "/static/big.bin")
        head = conn.getresponse()
        assert head.read() == b""
        conn.request("GET", "/static/big.bin")
        get = conn.getresponse()
        body = get.read()
    finally:
        conn.close()
    assert head.status == get.status == 200
    for name in ("Content-Length", "Etag", "Last-Modified", "Content-Type", "Accept-Ranges"):
        assert head.headers[name] == get.headers[name]
    assert body == (root / "big.bin").read_bytes()


def test_not_modified_answers_without_body(server: ServerThread) -> None:
    _, headers, _ = _get(server.port, "/static/big.bin", method="HEAD")
    status, _, body = _get(server.port, "/static/big.bin", {"If-None-Match": headers["Etag"]})
    assert (status, body) == (304, b"")
    status, _, body = _get(
        server.port, "/static/big.bin", {"If-Modified-Since": headers["Last-Modified"]}
    )
    assert (status, body) == (304, b"")


def test_pipelined_requests_around_a_big_file_keep_their_order(
    server: ServerThread, root: Path
) -> None:
    requests = b"".join(
        f"GET /static/{name} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
        for name in ("small.txt", "big.bin", "mid.bin", "small.txt")
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(requests)
        leftover = b""
        for name in ("small.txt", "big.bin", "mid.bin", "small.txt"):
            status, _, body, leftover = _read_response(sock, leftover)
            assert status == b"HTTP/1.1 200 OK"
            assert body == (root / name).read_bytes(), name
        assert leftover == b""


def test_slow_reader_gets_every_byte(server: ServerThread, root: Path) -> None:
    # A small receive buffer and pauses: the server's socket fills again and again,
    # so it must wait for room between sendfile calls.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.settimeout(20)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(4096)
        body = [buf.partition(b"\r\n\r\n")[2]]
        received = len(body[0])
        reads = 0
        while received < BIG:
            data = sock.recv(65536)
            assert data
            body.append(data)
            received += len(data)
            reads += 1
            if reads % 16 == 0:
                time.sleep(0.001)
        # The connection is still usable afterwards.
        sock.sendall(b"GET /static/small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        _, _, small, _ = _read_response(sock)
    assert b"".join(body) == (root / "big.bin").read_bytes()
    assert small == b"small file\n"


def test_client_gone_mid_download_closes_the_file(server: ServerThread, root: Path) -> None:
    big = root / "huge.bin"
    with big.open("wb") as out:
        out.truncate(256 * 2**20)  # sparse: bigger than any socket buffer, nothing on disk
    try:
        _get(server.port, "/static/small.txt")  # warm up (imports, caches)
        before = _open_fds()
        for _ in range(3):
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                sock.settimeout(20)
                sock.connect(("127.0.0.1", server.port))
                sock.sendall(b"GET /static/huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                received = 0
                while received < 2**20:
                    data = sock.recv(65536)
                    assert data
                    received += len(data)
                # Reset, not an orderly close: the server finds out while writing.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert wait_until(lambda: server.connections() == 0, 10)
        assert wait_until(lambda: _open_fds() <= before, 10), (before, _open_fds())
        # The server carries on.
        status, _, body = _get(server.port, "/static/small.txt")
        assert (status, body) == (200, b"small file\n")
    finally:
        big.unlink()


class _Overstated(StaticFileHandler):
    """Claims a larger size than the file has: as if the file shrank while being sent."""

    def get_content_size(self) -> int:
        return super().get_content_size() + 1000


def test_file_shorter_than_announced_closes_the_connection(
    root: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = Application([(r"/(.*)", _Overstated, {"path": str(root)})])
    running = ServerThread(app, kind)
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=20) as sock:
            sock.sendall(b"GET /mid.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            received = b""
            while data := sock.recv(2**20):
                received += data
        head, _, body = received.partition(b"\r\n\r\n")
        assert f"Content-Length: {300 * 1024 + 1000}".encode() in head
        assert body == (root / "mid.bin").read_bytes()  # all there is, then the close
        assert wait_until(lambda: "Could not send the whole file" in caplog.text, 5)
    finally:
        running.close()


def test_tls_big_file_is_sent_in_chunks(root: Path, kind: str, cert: tuple[str, str]) -> None:
    certfile, keyfile = cert
    running = ServerThread(
        Application(static_path=str(root)),
        kind,
        ssl_options={"certfile": certfile, "keyfile": keyfile},
    )
    try:
        context = ssl.create_default_context(cafile=certfile)
        conn = http.client.HTTPSConnection("127.0.0.1", running.port, timeout=20, context=context)
        try:
            conn.request("GET", "/static/big.bin", headers={"Range": "bytes=10-"})
            ranged = conn.getresponse()
            ranged_body = ranged.read()
            conn.request("GET", "/static/big.bin")
            whole = conn.getresponse()
            body = whole.read()
        finally:
            conn.close()
    finally:
        running.close()
    data = (root / "big.bin").read_bytes()
    assert (whole.status, ranged.status) == (200, 206)
    assert body == data
    assert ranged_body == data[10:]


def test_compress_response_still_gzips_big_text(root: Path, kind: str) -> None:
    # Output transforms must see the bytes: the file is not handed to sendfile then.
    import gzip

    running = ServerThread(Application(static_path=str(root), compress_response=True), kind)
    try:
        status, headers, body = _get(
            running.port, "/static/big.txt", {"Accept-Encoding": "gzip"}
        )
    finally:
        running.close()
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == (root / "big.txt").read_bytes()


# -- the seam's default ------------------------------------------------------------


class _RecordingConnection(HTTPConnection):
    """An HTTPConnection that implements only the required methods."""

    def __init__(self, supports_async: bool) -> None:
        self.supports_async = supports_async  # type: ignore[misc]
        self.written: list[bytes] = []

    def write_headers(
        self, start_line: ResponseStartLine, headers: HTTPHeaders, chunk: bytes | None = None
    ) -> Any:
        return COMPLETED

    def write(self, chunk: bytes) -> Any:
        self.written.append(chunk)
        return COMPLETED

    def finish(self) -> None:
        pass

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        pass


def test_default_send_file_writes_chunks_and_closes(root: Path) -> None:
    data = (root / "big.bin").read_bytes()
    connection = _RecordingConnection(supports_async=False)
    file: BinaryIO = open(root / "big.bin", "rb")
    connection.send_file(file, 1000, 700000)
    assert file.closed
    assert b"".join(connection.written) == data[1000:701000]


def test_default_send_file_on_a_loop_and_from_memory() -> None:
    connection = _RecordingConnection(supports_async=True)
    file = io.BytesIO(b"0123456789" * 100000)

    async def main() -> None:
        await connection.send_file(file, 5, 999990)

    asyncio.run(main())
    assert file.closed
    assert b"".join(connection.written) == (b"0123456789" * 100000)[5:999995]


class _TwoFiles(RequestHandler):
    """Writes around two files sent with the connection's send_file (the seam, any driver)."""

    def initialize(self, first: Path, second: Path) -> None:
        self.first, self.second = first, second

    def get(self) -> Awaitable[None] | None:
        total = 3 + 100000 + self.second.stat().st_size
        self.set_header("Content-Length", str(total))
        self.write(b"[")
        self.flush()
        connection = self.request.connection
        assert connection is not None
        sent = connection.send_file(self.first.open("rb"), 10, 100000)
        if connection.supports_async:
            return self._rest_natively(sent)
        self.write(b"|")
        self.flush()
        connection.send_file(self.second.open("rb"), 0, self.second.stat().st_size)
        self.write(b"]")
        return None

    async def _rest_natively(self, sent: Awaitable[None]) -> None:
        await sent
        self.write(b"|")
        await self.flush()
        connection = self.request.connection
        assert connection is not None
        await connection.send_file(self.second.open("rb"), 0, self.second.stat().st_size)
        self.write(b"]")


def test_send_file_between_writes_in_both_modes(
    client_for: Callable[..., Client], root: Path
) -> None:
    first, second = root / "big.bin", root / "mid.bin"
    client = client_for(Application([(r"/", _TwoFiles, {"first": first, "second": second})]))
    before = _open_fds()
    response = client.get("/")
    assert response.status == 200
    expected = b"[" + first.read_bytes()[10:100010] + b"|" + second.read_bytes() + b"]"
    assert response.body == expected
    assert wait_until(lambda: _open_fds() <= before, 5)


# -- under WSGI ------------------------------------------------------------------


class _Wrapper:
    """A ``wsgi.file_wrapper`` that records what it was given."""

    made: list[_Wrapper] = []

    def __init__(self, filelike: Any, block_size: int = 8192) -> None:
        self.filelike = filelike
        self.block_size = block_size
        _Wrapper.made.append(self)

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.filelike.read(self.block_size), b"")

    def close(self) -> None:
        self.filelike.close()


def _webtest(root: Path, environ: dict[str, Any]) -> Any:
    import webtest

    from dualweb.wsgi import WSGIAdapter

    return webtest.TestApp(WSGIAdapter(Application(static_path=str(root))), extra_environ=environ)


def test_wsgi_uses_the_servers_file_wrapper(root: Path) -> None:
    _Wrapper.made.clear()
    app = _webtest(root, {"wsgi.file_wrapper": _Wrapper})
    response = app.get("/static/big.bin")
    assert response.body == (root / "big.bin").read_bytes()
    assert response.headers["Content-Length"] == str(BIG)
    [wrapper] = _Wrapper.made
    assert isinstance(wrapper.filelike, io.FileIO)  # the file itself: a server may sendfile it
    assert wrapper.filelike.closed


def test_wsgi_range_uses_a_bounded_reader(root: Path) -> None:
    _Wrapper.made.clear()
    app = _webtest(root, {"wsgi.file_wrapper": _Wrapper})
    response = app.get("/static/big.bin", headers={"Range": "bytes=70000-1000000"})
    assert response.status_int == 206
    assert response.body == (root / "big.bin").read_bytes()[70000:1000001]
    [wrapper] = _Wrapper.made
    assert not hasattr(wrapper.filelike, "fileno")  # no sendfile of the whole file


def test_wsgi_small_files_and_head_do_not_use_the_wrapper(root: Path) -> None:
    _Wrapper.made.clear()
    app = _webtest(root, {"wsgi.file_wrapper": _Wrapper})
    assert app.get("/static/small.txt").body == b"small file\n"
    head = app.head("/static/big.bin")
    assert head.body == b""
    assert head.headers["Content-Length"] == str(BIG)
    assert _Wrapper.made == []


def test_wsgi_without_file_wrapper_streams_the_file(root: Path) -> None:
    from dualweb.wsgi import WSGIAdapter

    adapter = WSGIAdapter(Application(static_path=str(root)))
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/static/big.bin",
        "SERVER_NAME": "t",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
    }
    seen: list[Any] = []
    body = adapter(environ, lambda status, headers, exc_info=None: seen.append(status))
    assert seen == ["200 OK"]
    assert not isinstance(body, list)  # not read into memory
    iterator = iter(body)
    first = next(iterator)
    assert 0 < len(first) < BIG
    before = _open_fds()
    body.close()  # type: ignore[attr-defined]  # a server stopping early still closes the file
    assert _open_fds() == before - 1


_GUNICORN_APP = """
import os
import sys

from dualweb.web import Application, RequestHandler, StaticFileHandler
from dualweb.wsgi import WSGIAdapter

adapter = WSGIAdapter(Application(static_path=os.environ["STATIC_ROOT"]))


def wsgi(environ, start_response):
    if environ.get("HTTP_X_NO_FILE_WRAPPER"):
        # (A copy: gunicorn itself looks the key up afterwards.)
        plain = {k: v for k, v in environ.items() if k != "wsgi.file_wrapper"}
        body = adapter(plain, start_response)
    else:
        body = adapter(environ, start_response)
    wrapper = environ.get("wsgi.file_wrapper")
    used = wrapper is not None and isinstance(body, wrapper)
    print(f"{environ['PATH_INFO']} file_wrapper={used}", file=sys.stderr, flush=True)
    return body
"""


@pytest.fixture(scope="module")
def gunicorn(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    pytest.importorskip("gunicorn")
    app_dir = tmp_path_factory.mktemp("gunicorn_app")
    (app_dir / "static_app.py").write_text(textwrap.dedent(_GUNICORN_APP))
    port = free_port()
    command = ["-m", "gunicorn", "--workers", "1", "--worker-class", "sync"]
    command += ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2", "static_app:wsgi"]
    running = ServerProcess(command, port, cwd=app_dir, env={"STATIC_ROOT": str(root)})
    yield running
    running.stop()


def test_gunicorn_sends_the_file_through_its_file_wrapper(
    gunicorn: ServerProcess, root: Path
) -> None:
    status, headers, body = gunicorn.request("GET", "/static/big.bin")
    assert status == 200
    assert body == (root / "big.bin").read_bytes()
    assert "/static/big.bin file_wrapper=True" in gunicorn.wait_for_stderr("file_wrapper=True")
    status, plain_headers, plain_body = gunicorn.request(
        "GET", "/static/big.bin", headers={"X-No-File-Wrapper": "1"}
    )
    assert (status, plain_body) == (200, body)
    for name in ("Content-Length", "Etag", "Last-Modified", "Content-Type", "Accept-Ranges"):
        assert headers[name] == plain_headers[name], name
    assert headers["Content-Length"] == str(BIG)


def test_gunicorn_range(gunicorn: ServerProcess, root: Path) -> None:
    status, headers, body = gunicorn.request(
        "GET", "/static/big.bin", headers={"Range": "bytes=123456-7654321"}
    )
    assert status == 206
    assert headers["Content-Range"] == f"bytes 123456-7654321/{BIG}"
    assert body == (root / "big.bin").read_bytes()[123456:7654322]


if sys.platform != "linux":  # /proc/self/fd counts
    pytestmark = pytest.mark.skip("Linux only")
