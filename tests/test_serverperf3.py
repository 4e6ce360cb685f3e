"""The native server's body path and per-connection shortcuts give what the general paths give.

Request bodies are cut into ``Data`` events straight from the received
buffer (each byte copied at most once), chunked bodies collect their whole
chunks as views of it, a framing line cut by a receive is completed from the
front of the next one, and a request that follows a body is parsed by the
whole-head shortcut.  Each case is fed whole, in socket-sized pieces and at
every split point (or byte by byte), and must give the same events; over real
sockets (asyncio's loop and uvloop) uploads arrive intact, and a connection
cut mid-body or refused for a bad head leaves nothing behind for the next one.
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
from typing import Any

import pytest

from dualweb.connection import (
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    ResponseStartLine,
)
from dualweb.httputil import HTTPHeaders
from tests.harness import ServerThread
from tests.test_server_fastpaths import codec_events, read_responses

OK = ResponseStartLine("HTTP/1.1", 200, "OK")
CHUNK = 65536


def feed(pieces: list[bytes], chunk_size: int = CHUNK) -> tuple[list[Any], list[int]]:
    """Feed ``pieces``, answering each request; the events (bodies joined) and Data sizes."""
    return codec_events(pieces, chunk_size, keep_alive=False)


def pieces_of(data: bytes, size: int) -> list[bytes]:
    return [data[at : at + size] for at in range(0, len(data), size)]


def post(body: bytes, path: str = "/u") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )


def chunked(body: bytes, size: int, path: str = "/c", trailer: bytes = b"") -> bytes:
    framed = b"".join(
        b"%x\r\n%b\r\n" % (len(part), part) for part in pieces_of(body, size) if part
    )
    return (
        f"POST {path} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + framed
        + b"0\r\n"
        + trailer
        + b"\r\n"
    )


GET = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
BODY = bytes(random.Random(12).getrandbits(8) for _ in range(200_000))


# --------------------------------------------------------------------------- Content-Length


@pytest.mark.parametrize("length", [1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 100_000, 3 * CHUNK])
def test_a_body_is_the_same_however_it_arrives(length: int) -> None:
    data = post(BODY[:length]) + GET
    whole, sizes = feed([data])
    assert whole[1] == ("data", BODY[:length])
    assert whole[2] == "end" and whole[3][0] == ("GET", "/next", "HTTP/1.1")
    assert max(sizes) <= CHUNK
    for piece in (CHUNK, 4096, 1000, 7):
        assert feed(pieces_of(data, piece))[0] == whole


def test_small_chunk_size_cuts_the_body_into_that_many_events() -> None:
    events, sizes = feed([post(BODY[:1000])], chunk_size=300)
    assert events[1] == ("data", BODY[:1000])
    assert sizes == [300, 300, 300, 100]


def test_requests_after_a_body_are_parsed_like_the_first() -> None:
    # After a body, llhttp needs a fresh parser; the whole-head shortcut makes it.
    data = (
        post(b"abc")
        + b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        + post(b"defg", "/b")
        + b"BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n"
        + b"GET /z HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    whole = feed([data])[0]
    lines = [event[0] for event in whole if isinstance(event, tuple) and event[0] != "data"]
    assert lines == [
        ("POST", "/u", "HTTP/1.1"),
        ("GET", "/a", "HTTP/1.0"),
        ("POST", "/b", "HTTP/1.1"),
        ("BREW", "/pot", "HTTP/1.1"),
        ("GET", "/z", "HTTP/1.1"),
    ]
    assert feed([data[i : i + 1] for i in range(len(data))])[0] == whole
    assert feed(pieces_of(data, 40))[0] == whole


def test_a_bad_head_after_a_body_is_refused_both_ways() -> None:
    data = post(b"abc") + b"GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n"
    whole = feed([data])[0]
    assert whole[-1] == ("error", 400)
    assert feed([data[i : i + 1] for i in range(len(data))])[0] == whole


def test_a_cr_left_over_from_the_last_read_is_not_skipped_by_the_shortcut() -> None:
    # "\r" then a head that does not start with "\n": the general path refuses
    # it (CR not followed by LF); the whole-head shortcut must not accept it.
    first = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\r"
    second = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
    whole = feed([first + second])[0]
    assert whole[-1] == ("error", 400)
    assert feed([first, second])[0] == whole


# --------------------------------------------------------------------------- chunked


@pytest.mark.parametrize("size", [1, 100, 2047, 2048, 4096, CHUNK, CHUNK + 5, 100_000])
def test_a_chunked_body_is_the_same_however_it_arrives(size: int) -> None:
    body = BODY[: 1000 if size < 100 else 150_000]
    data = chunked(body, size) + GET
    whole, sizes = feed([data])
    assert whole[1] == ("data", body)
    assert whole[2] == "end" and whole[3][0] == ("GET", "/next", "HTTP/1.1")
    assert max(sizes) <= CHUNK
    for piece in (CHUNK, 5000, 333):
        assert feed(pieces_of(data, piece))[0] == whole


def test_a_chunked_body_split_at_every_point() -> None:
    body = BODY[:3000]
    data = chunked(body, 2500, trailer=b"X-Sum: 1\r\n") + GET
    whole = feed([data])[0]
    assert whole[1] == ("data", body)
    for cut in range(1, len(data)):
        assert feed([data[:cut], data[cut:]])[0] == whole, cut
    assert feed([data[i : i + 1] for i in range(len(data))])[0] == whole


@pytest.mark.parametrize(
    "framing",
    [
        b"5;ext\nx\r\nhello\r\n0\r\n\r\n",  # a bare LF inside a size line
        b"5\rhello\r\n0\r\n\r\n",  # a CR not followed by LF
        b"5\r\nhelloXY0\r\n\r\n",  # chunk data not followed by CRLF
        b"5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n",
        b"zz\r\n",
    ],
)
def test_bad_chunk_framing_is_refused_at_every_split(framing: bytes) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + framing
    assert feed([data])[0][-1] == ("error", 400)
    for cut in range(1, len(data)):
        assert feed([data[:cut], data[cut:]])[0][-1] == ("error", 400), cut


def test_a_chunk_line_over_the_limit_is_refused_however_it_arrives() -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    long_line = b"5;" + b"e" * (200 * 1024) + b"\r\nhello\r\n0\r\n\r\n"
    data = head + long_line
    for pieces in ([data], pieces_of(data, CHUNK), pieces_of(data, 1000)):
        assert feed(pieces)[0][-1] == ("error", 400)
    # At the limit (128 KiB of size line) it is accepted, in any pieces.
    line = b"5;" + b"e" * (128 * 1024 - 2)
    data = head + line + b"\r\nhello\r\n0\r\n\r\n"
    for pieces in ([data], pieces_of(data, CHUNK), pieces_of(data, 1000)):
        assert feed(pieces)[0][1] == ("data", b"hello")


# --------------------------------------------------------------------------- over sockets


class _Digest(HTTPMessageDelegate):
    """Answers with the request line, the body's length and its SHA-256."""

    def __init__(self, conn: HTTPConnection) -> None:
        self.conn = conn
        self.line = ""
        self.hash = hashlib.sha256()
        self.size = 0

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        self.line = f"{start_line.method} {start_line.path}"

    def data_received(self, chunk: bytes) -> None:
        assert type(chunk) is bytes and 0 < len(chunk) <= CHUNK
        self.hash.update(chunk)
        self.size += len(chunk)

    def finish(self) -> None:
        body = f"{self.line} {self.size} {self.hash.hexdigest()}".encode()
        self.conn.write_headers(OK, HTTPHeaders({"Content-Length": str(len(body))}), body)
        self.conn.finish()


class _DigestApp(HTTPServerConnectionDelegate):
    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> _Digest:
        return _Digest(request_conn)


def _expected(path: str, body: bytes, method: str = "POST") -> bytes:
    return f"{method} {path} {len(body)} {hashlib.sha256(body).hexdigest()}".encode()


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    responses = read_responses(sock)
    return responses[0] if responses else (b"", b"")


def _send_in_pieces(sock: socket.socket, data: bytes, size: int) -> None:
    for piece in pieces_of(data, size):
        sock.sendall(piece)


def test_uploads_arrive_intact_however_they_are_sent(kind: str) -> None:
    server = ServerThread(_DigestApp(), kind)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            for body, path in ((BODY[:100_000], "/a"), (BODY, "/b"), (b"x", "/c")):
                sock.sendall(post(body, path))
                assert _read_response(sock)[1] == _expected(path, body)
                _send_in_pieces(sock, post(body, path + "p"), CHUNK)
                assert _read_response(sock)[1] == _expected(path + "p", body)
            for size in (5000, CHUNK + 3):
                _send_in_pieces(sock, chunked(BODY, size, "/ch"), 4096)
                assert _read_response(sock)[1] == _expected("/ch", BODY)
            # Pipelined after an upload, in one send.
            sock.sendall(post(BODY[:70_000], "/d") + GET)
            assert [body for _, body in read_responses(sock, 2)] == [
                _expected("/d", BODY[:70_000]),
                _expected("/next", b"", "GET"),
            ]
    finally:
        server.close()


def _abort(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0) instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_cut_and_refused_connections_leave_nothing_for_the_next_one(kind: str) -> None:
    server = ServerThread(_DigestApp(), kind)
    head = b"POST /cut HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n"
    chunked_head = b"POST /cut HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    try:
        for attempt in range(3):
            # A malformed head: 400, closed.
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nBad Name: 1\r\n")
                sock.sendall(b"\r\nhello")
                response = _read_response(sock)[0]
                assert response.startswith(b"HTTP/1.1 400 "), response
            # A body cut short (the client closes its side), and one cut by a reset.
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(head + BODY[:100_000])
                sock.shutdown(socket.SHUT_WR)
                assert sock.recv(65536) == b""
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(head + BODY[:CHUNK + 10])
            _abort(sock)
            # A chunked body cut inside a size line, then a reset.
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(chunked_head + b"1000\r\n" + BODY[:4096] + b"\r\n10")
            _abort(sock)
            # A head cut in the middle.
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"POST /half HTTP/1.1\r\nHost: h\r\nContent-Le")
            _abort(sock)
            # The next connection is served as if nothing had happened.
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                _send_in_pieces(sock, post(BODY[:100_000], f"/ok{attempt}"), 1000)
                assert _read_response(sock)[1] == _expected(f"/ok{attempt}", BODY[:100_000])
                sock.sendall(chunked(BODY[:9000], 4000, "/okc"))
                assert _read_response(sock)[1] == _expected("/okc", BODY[:9000])
                sock.sendall(b"GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                assert _read_response(sock)[1] == _expected("/after", b"", "GET")
        assert server.connections_after(5) == 0
    finally:
        server.close()


class _Awaiting(HTTPMessageDelegate):
    """Awaits every write's future (completed ones are shared by a loop's connections)."""

    def __init__(self, conn: HTTPConnection) -> None:
        self.conn = conn

    async def finish(self) -> None:
        await self.conn.write_headers(OK, HTTPHeaders({"Content-Length": "6"}), b"abc")
        written = self.conn.write(b"def")
        assert written.done()
        await written
        self.conn.finish()


class _AwaitingApp(HTTPServerConnectionDelegate):
    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> _Awaiting:
        return _Awaiting(request_conn)


def test_awaited_writes_complete_on_every_connection(kind: str) -> None:
    server = ServerThread(_AwaitingApp(), kind)
    close = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    try:
        socks = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(4)]
        for sock in socks:
            sock.sendall(GET + GET + close)
        for sock in socks:
            assert [body for _, body in read_responses(sock, 4)] == [b"abcdef"] * 3
            sock.close()
        assert server.connections_after(5) == 0
    finally:
        server.close()
