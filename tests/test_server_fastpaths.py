"""The native server's per-request shortcuts give what the general paths give.

The server codec reads the HTTP version of a whole request head from the
request line's bytes (a head cut into pieces, or with a method llhttp does
not know, asks llhttp); the header writer skips its exact CR/LF/NUL count when
every value is printable; a connection skips asking a plain transport for its
TLS object once its transport type has answered ``None``.  Each case here is
fed both ways (or over real sockets, plain and TLS) and must give the same
observable result.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from typing import Any

import pytest

from dualweb.connection import (
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from dualweb.http1codec import (
    END_OF_MESSAGE,
    NEED_DATA,
    Data,
    HTTP1ServerCodec,
    LocalProtocolError,
    ProtocolError,
    Request,
)
from dualweb.httputil import HTTPHeaders
from tests.harness import ServerThread

OK = ResponseStartLine("HTTP/1.1", 200, "OK")


def codec_events(
    pieces: list[bytes], chunk_size: int = 65536, keep_alive: bool = True
) -> tuple[list[Any], list[int]]:
    """Feed ``pieces``, answer every request; the events, simplified, and the Data sizes.

    Requests appear as (start line, keep_alive, headers), or without
    keep_alive when ``keep_alive`` is false; bodies are joined.
    """
    codec = HTTP1ServerCodec(chunk_size=chunk_size)
    out: list[Any] = []
    sizes: list[int] = []
    for piece in pieces:
        codec.receive_data(piece)
        while True:
            event = codec.next_event()
            if isinstance(event, Request):
                line = tuple(event.start_line)
                headers = sorted(event.headers.items())
                out.append((line, event.keep_alive, headers) if keep_alive else (line, headers))
            elif isinstance(event, Data):
                assert type(event.data) is bytes
                sizes.append(len(event.data))
                # (How TCP split the body is not compared.)
                if out and out[-1][0] == "data":
                    out[-1] = ("data", out[-1][1] + event.data)
                else:
                    out.append(("data", event.data))
            elif event is END_OF_MESSAGE:
                out.append("end")
                codec.send_response(OK, HTTPHeaders({"Content-Length": "0"}))
                codec.send_end()
                if codec.must_close:
                    return out, sizes
            elif isinstance(event, ProtocolError):
                out.append(("error", event.status_code))
                return out, sizes
            else:
                break
    return out, sizes


def events_of(pieces: list[bytes]) -> list[Any]:
    """Feed ``pieces``, answer every request; the events, simplified."""
    return codec_events(pieces)[0]


HEADS = [
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"HEAD /x?a=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /HTTP/1.0 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /a?v=HTTP/1.0%20x HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://example.com/p HTTP/1.1\r\nHost: other\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"DELETE /r HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /u HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/2.0\r\n\r\n",
    b"GET / HTTP/1.7\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
]


@pytest.mark.parametrize("head", HEADS, ids=[h.split(b"\r\n")[0].decode() for h in HEADS])
def test_version_from_the_request_line_matches_llhttps(head: bytes) -> None:
    whole = events_of([head])
    bytewise = events_of([head[i : i + 1] for i in range(len(head))])
    assert whole == bytewise
    assert whole  # every head gives an event


def test_pipelined_versions_each_get_their_own() -> None:
    data = (
        b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /3 HTTP/1.0\r\n\r\n"
    )
    events = events_of([data])
    assert [e[0] for e in events if e != "end"] == [
        ("GET", "/1", "HTTP/1.0"),
        ("GET", "/2", "HTTP/1.1"),
        ("GET", "/3", "HTTP/1.0"),
    ]
    assert events == events_of([data[i : i + 7] for i in range(0, len(data), 7)])


# --------------------------------------------------------------------------- writing headers


def written(**items: str) -> bytes:
    codec = HTTP1ServerCodec()
    codec.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    codec.next_event()
    fields = {name.replace("_", "-"): value for name, value in items.items()}
    fields["Content-Length"] = "0"
    return codec.send_response(OK, HTTPHeaders(fields))


@pytest.mark.parametrize(
    "value", ["plain", "a\tb", "caf\xe9", "x\x85y", "", "a, b; q=0.5", "\xa0nbsp"]
)
def test_values_that_are_not_printable_but_legal_are_written(value: str) -> None:
    head = written(X_Probe=value)
    assert b"\r\nX-Probe: " + value.encode("latin-1") + b"\r\n" in head


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nX-Injected: 1", "a\x00b", "\n"])
def test_values_with_cr_lf_or_nul_are_refused(value: str) -> None:
    with pytest.raises(LocalProtocolError, match="X-Probe"):
        written(X_Probe=value)


def test_repeated_header_with_a_bad_value_is_refused() -> None:
    codec = HTTP1ServerCodec()
    codec.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    codec.next_event()
    headers = HTTPHeaders({"Content-Length": "0"})
    headers.add("Set-Cookie", "a=1")
    headers.add("Set-Cookie", "b=2\r\nX-Injected: 1")
    with pytest.raises(LocalProtocolError, match="Set-Cookie"):
        codec.send_response(OK, headers)
    headers = HTTPHeaders({"Content-Length": "0"})
    headers.add("Set-Cookie", "a=1")
    headers.add("Set-Cookie", "b=2")
    assert b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n" in codec.send_response(OK, headers)


# --------------------------------------------------------------------------- over sockets


class _Echo(HTTPMessageDelegate):
    """Answers with the request line, the body length and what it knows of the connection."""

    def __init__(self, conn: HTTPConnection) -> None:
        self.conn = conn
        self.line = ""
        self.size = 0

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        assert isinstance(start_line, RequestStartLine)
        self.line = " ".join(start_line)

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)

    def finish(self) -> None:
        context: Any = self.conn.context
        tls = "tls" if context.ssl_object is not None else "plain"
        body = f"{self.line} {self.size} {context.protocol} {tls}".encode()
        headers = HTTPHeaders({"Content-Length": str(len(body)), "X-Tab": "a\tb"})
        self.conn.write_headers(OK, headers, body)
        self.conn.finish()


class _App(HTTPServerConnectionDelegate):
    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> _Echo:
        return _Echo(request_conn)


def read_responses(sock: socket.socket, count: int = 1) -> list[tuple[bytes, bytes]]:
    """The next ``count`` responses (head, body); fewer if the server closes first."""
    buf = b""
    out: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 10
    while len(out) < count:
        assert time.monotonic() < deadline, "no complete response"
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            found = re.search(rb"Content-Length: (\d+)", head)
            length = int(found.group(1)) if found else 0
            if len(rest) >= length:
                out.append((head, rest[:length]))
                buf = rest[length:]
                continue
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    assert not buf, "more than the responses asked for"
    return out


def test_pipelined_mix_over_a_socket(kind: str) -> None:
    server = ServerThread(_App(), kind)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(
                b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                b"GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                b"BREW /d HTTP/1.1\r\nHost: h\r\n\r\n"
                b"GET /e HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
            )
            got = read_responses(sock, 6)
        assert [body for _, body in got] == [
            b"GET /a HTTP/1.1 0 http plain",
            b"POST /b HTTP/1.1 5 http plain",
            b"GET /c HTTP/1.0 0 http plain",
            b"BREW /d HTTP/1.1 0 http plain",
            b"GET /e HTTP/1.1 0 http plain",
        ]
        assert all(b"X-Tab: a\tb" in head for head, _ in got)
        assert b"Connection: Keep-Alive" in got[2][0]
        assert b"Connection: close" in got[4][0]
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")  # no Host: still a 400
            assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")
    finally:
        server.close()


def test_plain_and_tls_connections_in_one_process(kind: str, cert: tuple[str, str]) -> None:
    certfile, keyfile = cert
    plain = ServerThread(_App(), kind)
    secure = ServerThread(_App(), kind, ssl_options={"certfile": certfile, "keyfile": keyfile})
    client_ctx = ssl.create_default_context(cafile=certfile)
    request = b"GET /p HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    try:
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", plain.port), timeout=5) as sock:
                sock.sendall(request)
                assert read_responses(sock, 1)[0][1] == b"GET /p HTTP/1.1 0 http plain"
            raw = socket.create_connection(("127.0.0.1", secure.port), timeout=5)
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(request)
                assert read_responses(sock, 1)[0][1] == b"GET /p HTTP/1.1 0 https tls"
    finally:
        plain.close()
        secure.close()


def test_need_data_after_a_whole_request_is_answered() -> None:
    codec = HTTP1ServerCodec()
    codec.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert isinstance(codec.next_event(), Request)
    assert codec.take_end_of_message()
    codec.send_response(OK, HTTPHeaders({"Content-Length": "0"}))
    codec.send_end()
    assert codec.next_event() is NEED_DATA


# --------------------------------------------------------------------------- first timers


def test_silent_connection_is_closed_after_the_idle_timeout(kind: str) -> None:
    # A new connection's first timer is armed in a batch, a moment after it arrives.
    server = ServerThread(_App(), kind, idle_connection_timeout=0.2)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as quick:
            quick.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            assert read_responses(quick, 1)[0][1] == b"GET / HTTP/1.1 0 http plain"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            start = time.monotonic()
            assert sock.recv(1) == b""
            assert 0.15 < time.monotonic() - start < 2
        assert server.connections_after(2) == 0
    finally:
        server.close()
