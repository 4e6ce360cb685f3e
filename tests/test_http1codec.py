"""The sans-io HTTP/1 codec: bytes in, events out; events in, bytes out.

Every parsing case is fed whole AND byte by byte (and, with hypothesis, in
random pieces): a codec must not care how TCP splits the stream.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualweb.connection import RequestStartLine, ResponseStartLine
from dualweb.http1codec import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    Data,
    HTTP1ClientCodec,
    HTTP1ServerCodec,
    LocalProtocolError,
    ProtocolError,
    Request,
    Response,
)
from dualweb.httputil import HTTPHeaders

OK = ResponseStartLine("HTTP/1.1", 200, "OK")
GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


def split_whole(data: bytes) -> list[bytes]:
    return [data]


def split_bytes(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


SPLITS = [pytest.param(split_whole, id="whole"), pytest.param(split_bytes, id="bytewise")]


def headers(**items: str) -> HTTPHeaders:
    h = HTTPHeaders()
    for name, value in items.items():
        h.add(name.replace("_", "-"), value)
    return h


def run_server(pieces: list[bytes], **kwargs: Any) -> list[tuple[Any, ...]]:
    """Feed pieces; answer each complete request with an empty 200; return simplified events."""
    codec = HTTP1ServerCodec(**kwargs)
    out: list[tuple[Any, ...]] = []

    def drain() -> bool:
        while True:
            event = codec.next_event()
            if event is NEED_DATA:
                return True
            if event is PAUSED:
                codec.send_response(OK, headers(Content_Length="0"))
                codec.send_end()
                if codec.must_close:
                    return False
                continue
            if isinstance(event, Request):
                sl = event.start_line
                out.append(
                    ("req", sl.method, sl.path, sl.version, sorted(event.headers.get_all()))
                )
            elif isinstance(event, Data):
                if out and out[-1][0] == "data":
                    out[-1] = ("data", out[-1][1] + event.data)
                else:
                    out.append(("data", event.data))
            elif event is END_OF_MESSAGE:
                out.append(("end",))
            elif isinstance(event, ProtocolError):
                out.append(("error", event.status_code))
                return False
            else:
                out.append(("other", event))
                return False

    for piece in pieces:
        codec.receive_data(piece)
        if not drain():
            break
    return out


def req(method: str, path: str, version: str = "HTTP/1.1", **hdrs: str) -> tuple[Any, ...]:
    if version == "HTTP/1.1":
        hdrs.setdefault("Host", "h")  # every HTTP/1.1 request needs one
    return ("req", method, path, version, sorted((k.replace("_", "-"), v) for k, v in hdrs.items()))


END = ("end",)

GOOD_CASES = [
    ("simple get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", [req("GET", "/", Host="a"), END]),
    (
        "query and http/1.0",
        b"GET /x?y=1 HTTP/1.0\r\n\r\n",
        [req("GET", "/x?y=1", "HTTP/1.0"), END],
    ),
    (
        "content-length body",
        b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
        [req("POST", "/p", Content_Length="5"), ("data", b"hello"), END],
    ),
    (
        "chunked body with extension and trailer",
        b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
        [req("POST", "/p", Transfer_Encoding="chunked"), ("data", b"hello world"), END],
    ),
    (
        "three pipelined requests",
        b"GET /1 HTTP/1.1\r\nHost: h\r\n"
        b"\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"
        b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n",
        [
            req("GET", "/1"),
            END,
            req("POST", "/2", Content_Length="2"),
            ("data", b"ab"),
            END,
            req("GET", "/3"),
            END,
        ],
    ),
    (
        "absolute-form target",
        b"GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n",
        [req("GET", "/a/b?c=d", Host="example.com:8080"), END],
    ),
    (
        "leading empty line tolerated",
        b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        [req("GET", "/"), END],
    ),
    (
        "repeated header kept",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
        [("req", "GET", "/", "HTTP/1.1", [("Host", "h"), ("X-A", "1"), ("X-A", "2")]), END],
    ),
]

BAD_CASES = [
    ("garbage request line", b"GARBAGE\r\n\r\n", 400),
    ("method that is not a token", b"GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost: h\r\nHost : a\r\n\r\n", 400),
    ("header without colon", b"GET / HTTP/1.1\r\nHost: h\r\nHost\r\n\r\n", 400),
    ("obsolete line folding", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
    ("NUL in header value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
    ("bare LF", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    (
        "content-length and transfer-encoding",
        b"POST / HTTP/1.1\r\nHost: h\r\n"
        b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "transfer-encoding then content-length",
        b"POST / HTTP/1.1\r\nHost: h\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "duplicate content-length",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        400,
    ),
    (
        "conflicting content-length",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    ("content-length list", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    ("non-numeric content-length", b"POST / HTTP/1.1\r\nHost: h\r\n"
                                   b"Content-Length: 3x\r\n\r\nabc", 400),
    ("negative content-length", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
    ("unknown transfer coding", b"POST / HTTP/1.1\r\nHost: h\r\n"
                                b"Transfer-Encoding: gzip\r\n\r\n", 400),
    (
        "chunked not alone",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "transfer-encoding on http/1.0",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "bad chunk size",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    ("unsupported version", b"GET / HTTP/2.0\r\n\r\n", 505),
    ("invalid version", b"GET / HTTP/1.7\r\n\r\n", 400),
    (
        "upgrade with a body",
        b"POST / HTTP/1.1\r\nHost: h\r\n"
        b"Connection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello",
        400,
    ),
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(("name", "data", "expected"), GOOD_CASES, ids=[c[0] for c in GOOD_CASES])
def test_requests_parse(split: Any, name: str, data: bytes, expected: list[Any]) -> None:
    assert run_server(split(data)) == expected


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(("name", "data", "status"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_requests_become_errors(split: Any, name: str, data: bytes, status: int) -> None:
    events = run_server(split(data))
    assert events[-1] == ("error", status)
    assert ("end",) not in events


@pytest.mark.parametrize("split", SPLITS)
def test_error_after_good_request_keeps_order(split: Any) -> None:
    data = (
        b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
    )
    assert run_server(split(data)) == [req("GET", "/ok"), END, ("error", 400)]


@pytest.mark.parametrize("split", SPLITS)
def test_header_block_over_limit_is_431(split: Any) -> None:
    lines = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 50) for i in range(40))
    data = b"GET / HTTP/1.1\r\nHost: h\r\n" + lines
    assert run_server(split(data + b"\r\n"), max_header_size=1024)[-1] == ("error", 431)
    # The same block fits a larger limit.
    assert run_server(split(data + b"\r\n"), max_header_size=8192)[-1] == END


@pytest.mark.parametrize("split", SPLITS)
def test_endless_header_line_is_cut_before_it_ends(split: Any) -> None:
    # No CRLF ever arrives: the codec must still give up near the limit.
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + b"a" * 5000
    assert run_server(split(data), max_header_size=1024) == [("error", 431)]


def test_long_request_line_is_431() -> None:
    assert run_server([b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n"], max_header_size=1024) == [
        ("error", 431)
    ]


@pytest.mark.parametrize("split", SPLITS)
def test_declared_body_over_limit_is_413_before_the_body(split: Any) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n"
    assert run_server(split(data), max_body_size=100) == [
        req("POST", "/", Content_Length="1000"),
        ("error", 413),
    ]


@pytest.mark.parametrize("split", SPLITS)
def test_chunked_body_over_limit_is_413(split: Any) -> None:
    chunk = b"40\r\n" + b"x" * 64 + b"\r\n"
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk
    events = run_server(split(data), max_body_size=100)
    assert events[-1] == ("error", 413)


def test_set_max_body_size_applies_to_the_current_request() -> None:
    codec = HTTP1ServerCodec(max_body_size=10)
    codec.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n" + b"x" * 20)
    assert isinstance(codec.next_event(), Request)
    codec.set_max_body_size(50)  # what a @stream_request_body handler does in prepare()
    event = codec.next_event()
    assert isinstance(event, Data) and event.data == b"x" * 20
    assert codec.next_event() is END_OF_MESSAGE
    codec.send_response(OK, headers(Content_Length="0"))
    codec.send_end()
    # The next request gets the default limit back.
    codec.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n")
    assert isinstance(codec.next_event(), Request)
    error = codec.next_event()
    assert isinstance(error, ProtocolError) and error.status_code == 413


def test_chunk_size_caps_data_events() -> None:
    codec = HTTP1ServerCodec(chunk_size=10)
    codec.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 25\r\n\r\n" + b"x" * 25)
    assert isinstance(codec.next_event(), Request)
    sizes = []
    while isinstance(event := codec.next_event(), Data):
        sizes.append(len(event.data))
    assert sizes == [10, 10, 5]
    assert event is END_OF_MESSAGE


def first_request(data: bytes, **kwargs: Any) -> tuple[HTTP1ServerCodec, Request]:
    codec = HTTP1ServerCodec(**kwargs)
    codec.receive_data(data)
    event = codec.next_event()
    assert isinstance(event, Request), event
    return codec, event


@pytest.mark.parametrize(
    ("data", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
        (b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False),
        (b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
    ],
)
def test_keep_alive_rules(data: bytes, keep_alive: bool) -> None:
    _, request = first_request(data)
    assert request.keep_alive is keep_alive


def test_expect_continue_flag() -> None:
    codec, request = first_request(
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    )
    assert request.expect_continue
    assert codec.send_continue() == b"HTTP/1.1 100 Continue\r\n\r\n"
    _, request = first_request(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")
    assert not request.expect_continue


def test_pipelined_request_waits_for_the_response() -> None:
    codec = HTTP1ServerCodec()
    codec.receive_data(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert isinstance(codec.next_event(), Request)
    assert codec.next_event() is END_OF_MESSAGE
    assert codec.next_event() is PAUSED
    assert codec.has_backlog
    codec.send_response(OK, headers(Content_Length="2"), b"ok")
    assert codec.next_event() is PAUSED  # headers sent, response not finished
    codec.send_end()
    event = codec.next_event()
    assert isinstance(event, Request) and event.start_line.path == "/2"


def test_upgrade_request_keeps_the_following_bytes() -> None:
    codec, request = first_request(
        b"GET /ws HTTP/1.1\r\nHost: h\r\n"
        b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"
    )
    assert request.upgrade
    assert codec.next_event() is END_OF_MESSAGE
    codec.receive_data(b"more")
    assert codec.trailing_data == b"\x81\x05hellomore"
    out = codec.send_response(
        ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"),
        headers(Upgrade="websocket", Connection="Upgrade"),
    )
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Transfer-Encoding" not in out and b"Date" not in out
    assert codec.upgraded


def test_upgrade_refused_closes() -> None:
    codec, _ = first_request(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
    )
    assert codec.next_event() is END_OF_MESSAGE
    out = codec.send_response(OK, headers(Content_Length="0"))
    codec.send_end()
    assert b"Connection: close" in out and codec.must_close


# --------------------------------------------------------------------------- responses


def respond(
    request: bytes, start: ResponseStartLine, hdrs: HTTPHeaders, *chunks: bytes
) -> tuple[bytes, HTTP1ServerCodec]:
    codec, _ = first_request(request)
    while codec.next_event() is not PAUSED:
        pass
    out = codec.send_response(start, hdrs, chunks[0] if chunks else None)
    for chunk in chunks[1:]:
        out += codec.send_data(chunk)
    return out + codec.send_end(), codec


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], fields, body


def test_content_length_response_is_one_buffer() -> None:
    raw, codec = respond(GET, OK, headers(Content_Length="5"), b"hello")
    status, fields, body = split_response(raw)
    assert status == "HTTP/1.1 200 OK"
    assert fields["Content-Length"] == "5" and "Transfer-Encoding" not in fields
    assert "Date" in fields and "Connection" not in fields
    assert body == b"hello"
    assert not codec.must_close


def test_unknown_length_on_http11_is_chunked() -> None:
    raw, codec = respond(GET, OK, headers(), b"hello", b"", b" world")
    _, fields, body = split_response(raw)
    assert fields["Transfer-Encoding"] == "chunked"
    assert body == b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    assert not codec.must_close


def test_unknown_length_on_http10_is_close_delimited() -> None:
    raw, codec = respond(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", OK, headers(), b"hi")
    _, fields, body = split_response(raw)
    assert "Transfer-Encoding" not in fields and "Connection" not in fields
    assert body == b"hi"
    assert codec.must_close


def test_http10_keep_alive_is_acknowledged() -> None:
    raw, codec = respond(
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", OK, headers(Content_Length="2"), b"hi"
    )
    assert split_response(raw)[1]["Connection"] == "Keep-Alive"
    assert not codec.must_close


@pytest.mark.parametrize(
    "request_bytes",
    [b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", GET],
)
def test_connection_close_is_announced(request_bytes: bytes) -> None:
    codec, _ = first_request(request_bytes, no_keep_alive=b"close" not in request_bytes)
    while codec.next_event() is not PAUSED:
        pass
    raw = codec.send_response(OK, headers(Content_Length="0")) + codec.send_end()
    assert split_response(raw)[1]["Connection"] == "close"
    assert codec.must_close


def test_head_response_has_headers_but_no_body() -> None:
    raw, codec = respond(
        b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", OK, headers(Content_Length="5"), b"hello"
    )
    _, fields, body = split_response(raw)
    assert fields["Content-Length"] == "5" and body == b""
    assert not codec.must_close


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(code: int) -> None:
    start = ResponseStartLine("HTTP/1.1", code, "X")
    raw, codec = respond(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", start, headers())
    _, fields, body = split_response(raw)
    assert "Transfer-Encoding" not in fields and body == b""
    assert not codec.must_close
    codec, _ = first_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    codec.send_response(start, headers())
    with pytest.raises(LocalProtocolError):
        codec.send_data(b"body")


def test_date_not_duplicated() -> None:
    raw, _ = respond(GET, OK, headers(Date="x", Content_Length="0"))
    assert raw.count(b"Date:") == 1 and b"Date: x\r\n" in raw


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: evil=1", "a\nb", "a\rb"])
def test_newline_in_header_is_value_error(value: str) -> None:
    codec, _ = first_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    with pytest.raises(ValueError, match="CR or LF"):
        codec.send_response(OK, headers(X_Evil=value))


def test_writing_past_content_length_is_refused() -> None:
    codec, _ = first_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    codec.send_response(OK, headers(Content_Length="2"), b"ab")
    with pytest.raises(LocalProtocolError, match="more data than Content-Length"):
        codec.send_data(b"c")
    codec, _ = first_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    codec.send_response(OK, headers(Content_Length="5"), b"ab")
    with pytest.raises(LocalProtocolError, match="less than Content-Length"):
        codec.send_end()
    assert codec.must_close


def test_error_response() -> None:
    codec = HTTP1ServerCodec()
    raw = codec.send_error(431)
    status, fields, body = split_response(raw)
    assert status == "HTTP/1.1 431 Request Header Fields Too Large"
    assert fields["Connection"] == "close" and int(fields["Content-Length"]) == len(body)
    assert codec.must_close


def test_custom_reason_phrase() -> None:
    raw, _ = respond(
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ResponseStartLine("HTTP/1.1", 299, "Fine Thanks"),
        headers(Content_Length="0"),
    )
    assert raw.startswith(b"HTTP/1.1 299 Fine Thanks\r\n")


def test_second_response_is_refused() -> None:
    codec = HTTP1ServerCodec()
    with pytest.raises(LocalProtocolError):
        codec.send_response(OK, headers())


# --------------------------------------------------------------------------- hypothesis

PIPELINE = (
    b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"
    b"PUT /c HTTP/1.1\r\nHost: h\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    b"GET /d?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
)
PIPELINE_EVENTS = run_server([PIPELINE])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(PIPELINE)), max_size=12))
def test_random_splits_give_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    bounds = zip([0, *points], [*points, len(PIPELINE)], strict=True)
    pieces = [PIPELINE[a:b] for a, b in bounds if b > a]
    assert run_server(pieces) == PIPELINE_EVENTS


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    events = run_server([data])
    assert all(e[0] in ("req", "data", "end", "error") for e in events)


# --------------------------------------------------------------------------- client side


def run_client(
    pieces: list[bytes], method: str = "GET", eof: bool = False
) -> list[tuple[Any, ...]]:
    codec = HTTP1ClientCodec()
    codec.send_request(RequestStartLine(method, "/", "HTTP/1.1"), headers(Host="h"))
    out: list[tuple[Any, ...]] = []
    for piece in [*pieces, *([b""] if eof else [])]:
        codec.receive_data(piece)
        while (event := codec.next_event()) is not NEED_DATA:
            if isinstance(event, Response):
                sl = event.start_line
                out.append(("resp", sl.code, sl.reason, event.keep_alive))
            elif isinstance(event, Data):
                if out and out[-1][0] == "data":
                    out[-1] = ("data", out[-1][1] + event.data)
                else:
                    out.append(("data", event.data))
            elif event is END_OF_MESSAGE:
                out.append(END)
            elif event is CONNECTION_CLOSED:
                out.append(("closed",))
            elif isinstance(event, ProtocolError):
                out.append(("error", event.status_code))
    return out


CLIENT_CASES = [
    (
        "content-length",
        "GET",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        False,
        [("resp", 200, "OK", True), ("data", b"hello"), END],
    ),
    (
        "chunked",
        "GET",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        False,
        [("resp", 201, "Created", True), ("data", b"hi"), END],
    ),
    (
        "close-delimited",
        "GET",
        b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
        True,
        [("resp", 200, "OK", False), ("data", b"until the end"), END, ("closed",)],
    ),
    (
        "head with content-length",
        "HEAD",
        b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n",
        False,
        [("resp", 200, "OK", True), END],
    ),
    (
        "no content",
        "GET",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        False,
        [("resp", 204, "No Content", True), END],
    ),
    (
        "not modified",
        "GET",
        b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
        False,
        [("resp", 304, "Not Modified", True), END],
    ),
    (
        "100 continue skipped",
        "POST",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        False,
        [("resp", 200, "OK", True), ("data", b"ok"), END],
    ),
    (
        "connection close",
        "GET",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        False,
        [("resp", 200, "OK", False), END],
    ),
    ("malformed status line", "GET", b"HTTP/1.1 abc\r\n\r\n", False, [("error", 400)]),
    (
        "truncated body",
        "GET",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        True,
        [("resp", 200, "OK", True), ("data", b"abc"), ("error", 400)],
    ),
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(
    ("name", "method", "data", "eof", "expected"), CLIENT_CASES, ids=[c[0] for c in CLIENT_CASES]
)
def test_client_parses_responses(
    split: Any, name: str, method: str, data: bytes, eof: bool, expected: list[Any]
) -> None:
    assert run_client(split(data), method, eof) == expected


def test_client_serializes_requests() -> None:
    codec = HTTP1ClientCodec()
    raw = codec.send_request(
        RequestStartLine("POST", "/up", "HTTP/1.1"), headers(Host="h"), b"abc"
    )
    raw += codec.send_data(b"de") + codec.send_end()
    assert raw == (
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    codec = HTTP1ClientCodec()
    raw = codec.send_request(
        RequestStartLine("PUT", "/", "HTTP/1.1"), headers(Content_Length="3"), b"abc"
    )
    assert raw.endswith(b"Content-Length: 3\r\n\r\nabc") and codec.send_end() == b""


def test_refused_header_leaves_the_response_unstarted() -> None:
    codec, _ = first_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert codec.next_event() is END_OF_MESSAGE
    with pytest.raises(ValueError):
        codec.send_response(OK, headers(X_Evil="a\r\nb"))
    assert not codec.response_started
    raw = codec.send_response(
        ResponseStartLine("HTTP/1.1", 500, "Internal Server Error"), headers(Content_Length="0")
    )
    assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")


def test_handler_set_transfer_encoding_is_not_doubled() -> None:
    raw, codec = respond(
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", OK, headers(Transfer_Encoding="chunked"), b"abc"
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.count(b"Transfer-Encoding") == 1
    assert body == b"3\r\nabc\r\n0\r\n\r\n"
    assert not codec.must_close


@pytest.mark.parametrize("split", SPLITS)
def test_parsed_headers_behave_like_headers_built_with_add(split: Any) -> None:
    # The codec builds HTTPHeaders from its own dict of normalized names; the
    # result must be indistinguishable from one filled with add().
    raw = (
        b"GET / HTTP/1.1\r\nhost: a\r\nX-THING: 1\r\nx-thing: 2\r\nACCEPT: */*\r\n"
        b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nconnection: keep-alive\r\n\r\n"
    )
    codec = HTTP1ServerCodec()
    for piece in split(raw):
        codec.receive_data(piece)
    event = codec.next_event()
    assert isinstance(event, Request)
    expected = HTTPHeaders()
    for name, value in [
        ("host", "a"), ("X-THING", "1"), ("x-thing", "2"), ("ACCEPT", "*/*"),
        ("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("connection", "keep-alive"),
    ]:
        expected.add(name, value)
    got = event.headers
    assert got == expected
    assert list(got.get_all()) == list(expected.get_all())
    assert got["X-Thing"] == "1,2" and got.get_list("x-thing") == ["1", "2"]
    assert got.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert got["HOST"] == "a" and "Accept" in got and len(got) == 5
    got["Host"] = "b"  # the headers are the request's own, mutable copy
    assert got["host"] == "b"
    assert event.keep_alive and event.content_length == -1


def test_declared_length_is_on_the_request_event() -> None:
    codec = HTTP1ServerCodec()
    codec.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
    event = codec.next_event()
    assert isinstance(event, Request) and event.content_length == 3
    assert event.headers["Content-Length"] == "3"


def test_take_end_of_message_only_takes_a_bodiless_end() -> None:
    codec = HTTP1ServerCodec()
    assert not codec.take_end_of_message()  # nothing received yet
    codec.receive_data(
        b"GET /a HTTP/1.1\r\nHost: h\r\n"
        b"\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
    )
    first = codec.next_event()
    assert isinstance(first, Request) and first.start_line.path == "/a"
    assert codec.take_end_of_message() and codec.request_complete
    assert not codec.take_end_of_message()  # taken once
    assert codec.next_event() is PAUSED  # the pipelined POST waits for the response
    codec.send_response(OK, headers(Content_Length="0"))
    codec.send_end()
    second = codec.next_event()
    assert isinstance(second, Request) and second.start_line.path == "/b"
    assert not codec.take_end_of_message()  # its body comes first
    data = codec.next_event()
    assert isinstance(data, Data) and data.data == b"hi"
    assert codec.take_end_of_message()
