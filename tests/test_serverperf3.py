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

import random
from typing import Any

import pytest

from dualweb.connection import ResponseStartLine
from dualweb.http1codec import END_OF_MESSAGE, Data, HTTP1ServerCodec, ProtocolError, Request
from dualweb.httputil import HTTPHeaders

OK = ResponseStartLine("HTTP/1.1", 200, "OK")
CHUNK = 65536


def feed(pieces: list[bytes], chunk_size: int = CHUNK) -> tuple[list[Any], list[int]]:
    """Feed ``pieces``, answering each request; the events (bodies joined) and Data sizes."""
    codec = HTTP1ServerCodec(chunk_size=chunk_size)
    out: list[Any] = []
    sizes: list[int] = []
    for piece in pieces:
        codec.receive_data(piece)
        while True:
            event = codec.next_event()
            if isinstance(event, Request):
                out.append((tuple(event.start_line), sorted(event.headers.items())))
            elif isinstance(event, Data):
                assert type(event.data) is bytes
                sizes.append(len(event.data))
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
