"""What a client sending unusual or hostile HTTP/1 sees from the native server, over a real socket.

The codec's own tables are in tests/test_http1_states.py; these check that the
answers reach the wire: the status, the headers, that the server closes when
it must, and that nothing is logged as a server error.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator

import pytest

from dualweb.web import Application, RequestHandler
from tests.support import Client


class GetOnly(RequestHandler):
    def get(self) -> None:
        self.write("got")


class Teapot(RequestHandler):
    SUPPORTED_METHODS = (*RequestHandler.SUPPORTED_METHODS, "BREW")

    def brew(self) -> None:
        self.write("brewing " + self.request.method)


class Echo(RequestHandler):
    def get(self) -> None:
        self.write({"host": self.request.host, "probe": self.request.headers.get("X-Probe")})

    def post(self) -> None:
        self.write(self.request.body)


def make_app() -> Application:
    return Application([(r"/get-only", GetOnly), (r"/teapot", Teapot), (r"/echo", Echo)])


@pytest.fixture
def port(native_client_for: Callable[..., Client]) -> Iterator[int]:
    client = native_client_for(make_app(), max_body_size=1000)
    yield client.port  # type: ignore[attr-defined]


def exchange(port: int, data: bytes, chunks: int = 1) -> tuple[int, dict[str, str], bytes, bool]:
    """Send ``data``, read one response; return status, headers, body, whether the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        step = -(-len(data) // chunks)
        for start in range(0, len(data), step):
            sock.sendall(data[start : start + step])
        raw = b""
        while b"\r\n\r\n" not in raw:
            piece = sock.recv(65536)
            assert piece, f"server closed without answering: {raw!r}"
            raw += piece
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        length = int(fields.get("content-length", "0"))
        while len(body) < length:
            piece = sock.recv(65536)
            assert piece
            body += piece
        sock.settimeout(0.5)  # a kept-alive connection stays open: stop looking
        try:
            closed = sock.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            closed = False
    return int(lines[0].split(" ")[1]), fields, body, closed


@pytest.mark.parametrize("method", ["BREW", "get", "PROPFIND"])
def test_unknown_method_reaches_routing_and_gets_405(port: int, method: str) -> None:
    request = f"{method} /get-only HTTP/1.1\r\nHost: h\r\n\r\n".encode()
    status, fields, _, _ = exchange(port, request)
    assert status == 405
    assert "GET" in fields["allow"]


def test_handler_supporting_a_new_method_answers_it(port: int) -> None:
    status, _, body, closed = exchange(port, b"BREW /teapot HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (status, body, closed) == (200, b"brewing BREW", False)


HOSTILE = [
    ("no Host", b"GET /echo HTTP/1.1\r\n\r\n", 400),
    ("two Hosts", b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("Host with a space", b"GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("Host with a path", b"GET /echo HTTP/1.1\r\nHost: evil/x?\r\n\r\n", 400),
    ("Host with userinfo", b"GET /echo HTTP/1.1\r\nHost: a@b\r\n\r\n", 400),
    ("target x://", b"GET x:// HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("target http:///x", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("target with port 99999", b"GET https://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (
        "chunk extension over 128 KiB",
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;x="
        + b"a" * (130 * 1024),
        400,
    ),
    (
        "chunk size over max_body_size",
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFF\r\nabc",
        413,
    ),
]


@pytest.mark.parametrize(("name", "data", "status"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_request_gets_its_status_and_a_close(
    port: int, caplog: pytest.LogCaptureFixture, name: str, data: bytes, status: int
) -> None:
    with caplog.at_level(logging.INFO):
        got, fields, _, closed = exchange(port, data, chunks=3)
    assert (got, fields["connection"], closed) == (status, "close", True)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_absolute_form_target_sets_the_host(port: int) -> None:
    status, _, body, _ = exchange(
        port, b"GET http://example.com:8080/echo HTTP/1.1\r\nHost: other\r\n\r\n"
    )
    assert status == 200 and b'"host": "example.com:8080"' in body


def test_optional_whitespace_around_a_value_is_stripped(port: int) -> None:
    request = b"GET /echo HTTP/1.1\r\nHost: h\r\nX-Probe: \t v \t\r\n\r\n"
    status, _, body, _ = exchange(port, request)
    assert status == 200 and b'"probe": "v"' in body


def test_chunked_with_trailing_whitespace_is_accepted(port: int) -> None:
    data = (
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked \r\n\r\n"
        b"5;ext=1\r\nhello\r\n0\r\n\r\n"
    )
    status, _, body, closed = exchange(port, data, chunks=4)
    assert (status, body, closed) == (200, b"hello", False)


def test_pipelined_unknown_method_keeps_the_order(port: int) -> None:
    data = (
        b"BREW /teapot HTTP/1.1\r\nHost: h\r\n\r\n"
        b"BREW /get-only HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        raw = b""
        while piece := sock.recv(65536):
            raw += piece
    first, second = raw.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 ") and first.endswith(b"brewing BREW")
    assert second.startswith(b"405 ")
