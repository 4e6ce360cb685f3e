"""The HTTP/1 codec's states, reuse, request validation, framing limits and header checks.

Parsing cases are fed whole and byte by byte, as in tests/test_http1codec.py
(whose helpers are reused); hypothesis splits the chunked cases at random.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualweb.connection import RequestStartLine, ResponseStartLine
from dualweb.http1codec import (
    CLOSED,
    CONNECTION_CLOSED,
    DONE,
    END_OF_MESSAGE,
    ERROR,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    NEED_DATA,
    SEND_BODY,
    SEND_RESPONSE,
    SWITCHED_PROTOCOL,
    Data,
    HTTP1ClientCodec,
    HTTP1ServerCodec,
    LocalProtocolError,
    ProtocolError,
    Request,
    Response,
)
from dualweb.httputil import HTTPHeaders
from tests.test_http1codec import END, OK, SPLITS, headers, req, run_server

# --------------------------------------------------------------------------- Host and targets

HOST_CASES = [
    ("no Host on HTTP/1.1", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two Host lines", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("Host with a path", b"GET / HTTP/1.1\r\nHost: evil/x?\r\n\r\n", 400),
    ("Host with userinfo", b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400),
    ("Host with a port too large", b"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400),
    ("absolute target without authority", b"GET x:// HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute target, empty host", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute target, bad port", b"GET https://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute target, userinfo", b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute target, other scheme", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
]

GOOD_HOST_CASES = [
    ("HTTP/1.0 needs no Host", b"GET / HTTP/1.0\r\n\r\n", [req("GET", "/", "HTTP/1.0"), END]),
    (
        "IPv6 literal with port",
        b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        [req("GET", "/", Host="[::1]:8080"), END],
    ),
    ("empty Host", b"GET / HTTP/1.1\r\nHost: \r\n\r\n", [req("GET", "/", Host=""), END]),
    (
        "absolute target without a path",
        b"GET https://example.com HTTP/1.1\r\nHost: x\r\n\r\n",
        [req("GET", "/", Host="example.com"), END],
    ),
    (
        "absolute target with query only",
        b"GET http://a:81?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        [req("GET", "/?q=1", Host="a:81"), END],
    ),
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(("name", "data", "status"), HOST_CASES, ids=[c[0] for c in HOST_CASES])
def test_bad_host_or_target_is_400(split: Any, name: str, data: bytes, status: int) -> None:
    assert run_server(split(data)) == [("error", status)]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(
    ("name", "data", "expected"), GOOD_HOST_CASES, ids=[c[0] for c in GOOD_HOST_CASES]
)
def test_good_host_and_target(split: Any, name: str, data: bytes, expected: list[Any]) -> None:
    assert run_server(split(data)) == expected


# --------------------------------------------------------------------------- methods

METHOD_CASES = [
    ("unknown method", b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", [req("BREW", "/"), END]),
    ("lowercase get", b"get /x HTTP/1.1\r\nHost: h\r\n\r\n", [req("get", "/x"), END]),
    ("WebDAV method", b"PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n", [req("PROPFIND", "/"), END]),
    (
        "token with punctuation",
        b"M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n",
        [req("M-SEARCH", "*"), END],
    ),
    (
        "unknown method with a body",
        b"BREW /pot HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\ntea",
        [req("BREW", "/pot", Content_Length="3"), ("data", b"tea"), END],
    ),
    (
        "unknown method pipelined after a known one",
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nBREW /b HTTP/1.1\r\nHost: h\r\n\r\n",
        [req("GET", "/a"), END, req("BREW", "/b"), END],
    ),
    (
        "unknown method after a chunked body",
        b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
        b"brew /b HTTP/1.1\r\nHost: h\r\n\r\n",
        [
            req("POST", "/a", Transfer_Encoding="chunked"),
            ("data", b"x"),
            END,
            req("brew", "/b"),
            END,
        ],
    ),
]

BAD_METHOD_CASES = [
    ("not a token", b"BR\x01W / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ("unknown method smuggling CL and TE",
     b"BREW / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("unknown method on an unsupported version", b"BREW / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    ("unknown method without a target", b"BREW\r\n\r\n", 400),
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(
    ("name", "data", "expected"), METHOD_CASES, ids=[c[0] for c in METHOD_CASES]
)
def test_any_token_method_reaches_the_request(
    split: Any, name: str, data: bytes, expected: list[Any]
) -> None:
    assert run_server(split(data)) == expected


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(
    ("name", "data", "status"), BAD_METHOD_CASES, ids=[c[0] for c in BAD_METHOD_CASES]
)
def test_bad_methods_are_refused(split: Any, name: str, data: bytes, status: int) -> None:
    events = run_server(split(data))
    assert events[-1] == ("error", status) and END not in events


# --------------------------------------------------------------------------- framing limits

CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"

FRAMING_CASES = [
    (
        "optional whitespace around a value",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Probe: \t v \t\r\n\r\n",
        [req("GET", "/", X_Probe="v"), END],
    ),
    (
        "chunked with trailing whitespace",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked \r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        [req("POST", "/", Transfer_Encoding="chunked"), ("data", b"abc"), END],
    ),
    (
        "chunk extensions and trailer fields",
        CHUNKED_HEAD + b"3;a=b;c\r\nabc\r\n2 ;x=\"y\"\r\nde\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n",
        [req("POST", "/", Transfer_Encoding="chunked"), ("data", b"abcde"), END],
    ),
    (
        "uppercase hex and leading zeros",
        CHUNKED_HEAD + b"00A\r\n0123456789\r\n0\r\n\r\n",
        [req("POST", "/", Transfer_Encoding="chunked"), ("data", b"0123456789"), END],
    ),
]

BAD_FRAMING_CASES = [
    ("chunk size not hex", CHUNKED_HEAD + b"zz\r\nabc\r\n0\r\n\r\n", 400, {}),
    ("chunk size with 0x", CHUNKED_HEAD + b"0x3\r\nabc\r\n0\r\n\r\n", 400, {}),
    ("chunk size with underscore", CHUNKED_HEAD + b"1_0\r\n", 400, {}),
    ("chunk size too many digits", CHUNKED_HEAD + b"1" * 17 + b"\r\n", 400, {}),
    ("chunk data without CRLF", CHUNKED_HEAD + b"3\r\nabcX\r\n0\r\n\r\n", 400, {}),
    ("bare LF after chunk size", CHUNKED_HEAD + b"3\nabc\r\n0\r\n\r\n", 400, {}),
    ("malformed trailer", CHUNKED_HEAD + b"0\r\nno colon\r\n\r\n", 400, {}),
    (
        "chunk extension over the limit",
        CHUNKED_HEAD + b"3;x=" + b"a" * (128 * 1024) + b"\r\nabc\r\n0\r\n\r\n",
        400,
        {},
    ),
    ("chunk size over max_body_size", CHUNKED_HEAD + b"FFFFFFFF\r\nabc", 413, {}),
    ("chunk size over a small limit", CHUNKED_HEAD + b"65\r\n", 413, {"max_body_size": 100}),
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(
    ("name", "data", "expected"), FRAMING_CASES, ids=[c[0] for c in FRAMING_CASES]
)
def test_framing_leniency(split: Any, name: str, data: bytes, expected: list[Any]) -> None:
    assert run_server(split(data)) == expected


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(
    ("name", "data", "status", "kwargs"), BAD_FRAMING_CASES, ids=[c[0] for c in BAD_FRAMING_CASES]
)
def test_framing_errors_and_limits(
    split: Any, name: str, data: bytes, status: int, kwargs: dict[str, Any]
) -> None:
    if split is SPLITS[1].values[0] and len(data) > 10_000:
        pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]  # bounded test time
    else:
        pieces = split(data)
    events = run_server(pieces, **kwargs)
    assert events[-1] == ("error", status) and END not in events


def test_chunk_over_the_limit_is_refused_before_its_data_arrives() -> None:
    codec = HTTP1ServerCodec(max_body_size=1000)
    codec.receive_data(CHUNKED_HEAD + b"10000\r\n" + b"x" * 10)
    assert isinstance(codec.next_event(), Request)
    event = codec.next_event()
    assert isinstance(event, Data) and event.data == b"x" * 10
    error = codec.next_event()  # no more bytes needed to know
    assert isinstance(error, ProtocolError) and error.status_code == 413


def test_raised_limit_lets_a_large_chunk_through() -> None:
    codec = HTTP1ServerCodec(max_body_size=10)
    codec.receive_data(CHUNKED_HEAD + b"14\r\n")
    assert isinstance(codec.next_event(), Request)
    codec.set_max_body_size(100)  # a @stream_request_body handler's prepare()
    assert codec.next_event() is NEED_DATA
    codec.receive_data(b"x" * 20 + b"\r\n0\r\n\r\n")
    event = codec.next_event()
    assert isinstance(event, Data) and len(event.data) == 20
    assert codec.next_event() is END_OF_MESSAGE


CHUNKED_PIPELINE = (
    CHUNKED_HEAD + b"3;ext=1\r\nabc\r\n10\r\n" + b"p" * 16 + b"\r\n0\r\nT: x\r\n\r\n"
    b"BREW /tea HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nleaf"
    b"GET /last HTTP/1.1\r\nHost: h\r\nX:  padded  \r\n\r\n"
)
CHUNKED_PIPELINE_EVENTS = run_server([CHUNKED_PIPELINE])


def test_chunked_pipeline_reference() -> None:
    assert CHUNKED_PIPELINE_EVENTS == [
        req("POST", "/", Transfer_Encoding="chunked"),
        ("data", b"abc" + b"p" * 16),
        END,
        req("BREW", "/tea", Content_Length="4"),
        ("data", b"leaf"),
        END,
        req("GET", "/last", X="padded"),
        END,
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(CHUNKED_PIPELINE)), max_size=15))
def test_chunked_pipeline_random_splits(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    bounds = zip([0, *points], [*points, len(CHUNKED_PIPELINE)], strict=True)
    pieces = [CHUNKED_PIPELINE[a:b] for a, b in bounds if b > a]
    assert run_server(pieces) == CHUNKED_PIPELINE_EVENTS


# --------------------------------------------------------------------------- writing headers

BAD_HEADERS = [
    ("name with a space", "X A", "v", "X A"),
    ("name with CRLF", "X-A\r\nInjected", "v", "Injected"),
    ("name not latin-1", "X-\u20ac", "v", "X-\u20ac"),
    ("value not latin-1", "X-Euro", "\u20ac", "X-Euro"),
    ("value with CRLF", "X-Evil", "a\r\nSet-Cookie: x=1", "X-Evil"),
    ("value with NUL", "X-Nul", "a\x00b", "X-Nul"),
    ("length not a number", "Content-Length", "abc", "Content-Length"),
    ("negative length", "Content-Length", "-1", "Content-Length"),
    ("signed length", "Content-Length", "+5", "Content-Length"),
    ("length with spaces", "Content-Length", " 5", "Content-Length"),
    ("length in other digits", "Content-Length", "\u00b2", "Content-Length"),
]


def raw_headers(name: str, value: str) -> HTTPHeaders:
    h = HTTPHeaders()
    h["Content-Type"] = "text/plain"
    # Bypasses set_header's own checks, as a buggy handler or library could.
    h._dict[name] = value
    return h


def waiting_server() -> HTTP1ServerCodec:
    codec = HTTP1ServerCodec()
    codec.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert isinstance(codec.next_event(), Request)
    assert codec.next_event() is END_OF_MESSAGE
    return codec


@pytest.mark.parametrize(
    ("case", "name", "value", "named"), BAD_HEADERS, ids=[c[0] for c in BAD_HEADERS]
)
def test_refused_response_header_leaves_the_codec_usable(
    case: str, name: str, value: str, named: str
) -> None:
    codec = waiting_server()
    with pytest.raises(LocalProtocolError, match="(?s)" + named.replace("\r\n", ".*")) as info:
        codec.send_response(OK, raw_headers(name, value), b"body")
    assert isinstance(info.value, ValueError)
    assert codec.our_state is SEND_RESPONSE and not codec.response_started
    error = codec.send_error(500)
    assert error.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert codec.must_close and codec.our_state is MUST_CLOSE


@pytest.mark.parametrize(
    ("case", "name", "value", "named"), BAD_HEADERS, ids=[c[0] for c in BAD_HEADERS]
)
def test_refused_request_header_changes_nothing(
    case: str, name: str, value: str, named: str
) -> None:
    codec = HTTP1ClientCodec()
    with pytest.raises(LocalProtocolError):
        codec.send_request(RequestStartLine("GET", "/", "HTTP/1.1"), raw_headers(name, value))
    assert codec.our_state is IDLE
    raw = codec.send_request(RequestStartLine("GET", "/", "HTTP/1.1"), headers(Host="h"))
    assert raw == b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


@pytest.mark.parametrize(
    ("method", "target"), [("GE T", "/"), ("GET", "/a b"), ("GET", "/\r\nX: y"), ("GET", "")]
)
def test_client_refuses_a_bad_request_line(method: str, target: str) -> None:
    codec = HTTP1ClientCodec()
    with pytest.raises(LocalProtocolError):
        codec.send_request(RequestStartLine(method, target, "HTTP/1.1"), headers(Host="h"))
    assert codec.our_state is IDLE


def test_reason_phrase_with_newline_is_refused() -> None:
    codec = waiting_server()
    with pytest.raises(ValueError, match="CR or LF"):
        codec.send_response(ResponseStartLine("HTTP/1.1", 200, "OK\r\nX: y"), headers())
    assert not codec.response_started


# --------------------------------------------------------------------------- server states


def test_server_states_through_a_keep_alive_cycle() -> None:
    codec = HTTP1ServerCodec()
    assert (codec.our_state, codec.their_state) == (IDLE, IDLE)
    codec.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
    assert isinstance(codec.next_event(), Request)
    assert (codec.our_state, codec.their_state) == (SEND_RESPONSE, SEND_BODY)
    assert isinstance(codec.next_event(), Data)
    assert codec.next_event() is END_OF_MESSAGE
    assert codec.their_state is DONE
    codec.send_response(OK, headers(Content_Length="2"))
    assert codec.our_state is SEND_BODY
    codec.send_data(b"ok")
    codec.send_end()
    # The server starts the next cycle by itself.
    assert (codec.our_state, codec.their_state) == (IDLE, IDLE)
    codec.start_next_cycle()  # already there: nothing to do
    assert codec.next_event() is NEED_DATA


def test_server_states_when_the_connection_must_close() -> None:
    codec = HTTP1ServerCodec()
    codec.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    codec.next_event()
    assert codec.take_end_of_message() and codec.their_state is DONE
    codec.send_response(OK, headers(Content_Length="0"))
    codec.send_end()
    assert codec.our_state is MUST_CLOSE and codec.must_close
    with pytest.raises(LocalProtocolError, match="MUST_CLOSE"):
        codec.start_next_cycle()


def test_server_states_for_an_upgrade() -> None:
    codec = HTTP1ServerCodec()
    codec.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
    codec.next_event()
    assert codec.next_event() is END_OF_MESSAGE
    assert codec.their_state is MIGHT_SWITCH_PROTOCOL
    codec.send_response(
        ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"), headers(Upgrade="x")
    )
    assert codec.our_state is SWITCHED_PROTOCOL and codec.their_state is SWITCHED_PROTOCOL


def test_server_states_after_errors() -> None:
    codec = HTTP1ServerCodec()
    codec.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert isinstance(codec.next_event(), ProtocolError)
    assert codec.their_state is ERROR
    codec = waiting_server()
    codec.send_response(OK, headers(Content_Length="1"))
    with pytest.raises(LocalProtocolError):
        codec.send_data(b"too much")
    assert codec.our_state is ERROR and codec.must_close
    assert codec.send_end() == b""  # refused already; the connection closes
    codec = HTTP1ServerCodec()
    codec.receive_data(b"")
    assert codec.next_event() is CONNECTION_CLOSED and codec.their_state is CLOSED


# --------------------------------------------------------------------------- client reuse


def exchange(
    response: bytes,
    method: str = "GET",
    request_headers: HTTPHeaders | None = None,
    eof: bool = False,
    split: Any = None,
) -> tuple[HTTP1ClientCodec, list[Any]]:
    codec = HTTP1ClientCodec()
    codec.send_request(
        RequestStartLine(method, "/", "HTTP/1.1"), request_headers or headers(Host="h")
    )
    codec.send_end()
    events: list[Any] = []
    for piece in (split or (lambda d: [d]))(response) + ([b""] if eof else []):
        codec.receive_data(piece)
        while (event := codec.next_event()) is not NEED_DATA:
            events.append(event)
    return codec, events


REUSE_CASES = [
    ("content-length", "GET", {}, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
    (
        "chunked",
        "GET",
        {},
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        True,
    ),
    ("head with a length", "HEAD", {}, b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", True),
    ("no content", "GET", {}, b"HTTP/1.1 204 No Content\r\n\r\n", True),
    ("not modified", "GET", {}, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", True),
    (
        "interim response first",
        "GET",
        {},
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        True,
    ),
    (
        "server closes",
        "GET",
        {},
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        False,
    ),
    ("http/1.0 server", "GET", {}, b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
    (
        "http/1.0 keep-alive",
        "GET",
        {},
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        True,
    ),
    ("body until close", "GET", {}, b"HTTP/1.1 200 OK\r\n\r\nall of it", False),
    (
        "request said close",
        "GET",
        {"Connection": "close"},
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        False,
    ),
    (
        "switching protocols",
        "GET",
        {},
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        False,
    ),
    ("response cut short", "GET", {}, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok", False),
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(
    ("name", "method", "extra", "response", "reusable"),
    REUSE_CASES,
    ids=[c[0] for c in REUSE_CASES],
)
def test_client_tells_whether_the_connection_is_reusable(
    split: Any, name: str, method: str, extra: dict[str, str], response: bytes, reusable: bool
) -> None:
    hdrs = headers(Host="h")
    for key, value in extra.items():
        hdrs[key] = value
    codec, events = exchange(response, method, hdrs, split=split)
    assert codec.reusable is reusable
    responses = [e for e in events if isinstance(e, Response)]
    if responses and responses[0].start_line.code != 101 and name != "response cut short":
        assert responses[0].keep_alive is reusable  # the event says the same
    if reusable:
        assert (codec.our_state, codec.their_state) == (DONE, DONE)
        codec.start_next_cycle()
        assert (codec.our_state, codec.their_state) == (IDLE, IDLE)
    else:
        with pytest.raises(LocalProtocolError):
            codec.start_next_cycle()


def test_client_states_through_one_exchange() -> None:
    codec = HTTP1ClientCodec()
    assert (codec.our_state, codec.their_state) == (IDLE, IDLE)
    codec.send_request(RequestStartLine("POST", "/", "HTTP/1.1"), headers(Host="h"), b"ab")
    assert codec.our_state is SEND_BODY
    assert not codec.reusable
    codec.send_end()
    assert codec.our_state is DONE
    codec.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert isinstance(codec.next_event(), Response) and codec.their_state is SEND_BODY
    assert isinstance(codec.next_event(), Data) and not codec.reusable
    assert codec.next_event() is END_OF_MESSAGE and codec.their_state is DONE
    assert codec.reusable


def test_client_reuses_one_codec_for_several_exchanges() -> None:
    codec = HTTP1ClientCodec()
    replies = [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b""),
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
        ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n!\r\n0\r\n\r\n", b"!"),
    ]
    for method, reply, body in replies:
        # send_request starts the next cycle itself once the last one is done.
        codec.send_request(RequestStartLine(method, "/", "HTTP/1.1"), headers(Host="h"))
        codec.send_end()
        codec.receive_data(reply)
        got = b""
        while (event := codec.next_event()) is not END_OF_MESSAGE:
            assert event is not NEED_DATA
            if isinstance(event, Data):
                got += event.data
        assert got == body and codec.reusable


def test_client_refuses_a_second_request_before_the_response() -> None:
    codec = HTTP1ClientCodec()
    codec.send_request(RequestStartLine("GET", "/", "HTTP/1.1"), headers(Host="h"))
    with pytest.raises(LocalProtocolError, match="cannot send a request now"):
        codec.send_request(RequestStartLine("GET", "/2", "HTTP/1.1"), headers(Host="h"))


def test_client_early_response_before_the_body_is_sent_is_not_reusable() -> None:
    codec = HTTP1ClientCodec()
    codec.send_request(RequestStartLine("PUT", "/", "HTTP/1.1"), headers(Host="h"), b"part")
    codec.receive_data(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
    while codec.next_event() is not NEED_DATA:
        pass
    assert codec.their_state is DONE and codec.our_state is SEND_BODY
    assert not codec.reusable


def test_client_body_without_framing_is_refused() -> None:
    codec = HTTP1ClientCodec()
    codec.send_request(RequestStartLine("GET", "/", "HTTP/1.1"), headers(Host="h"))
    assert codec.our_state is DONE  # no body declared: complete at once
    with pytest.raises(LocalProtocolError):
        codec.send_data(b"stray")
    assert codec.send_end() == b""


def test_client_eof_states() -> None:
    codec, events = exchange(b"HTTP/1.1 200 OK\r\n\r\nabc", eof=True)
    assert events[-2:] == [END_OF_MESSAGE, CONNECTION_CLOSED]
    assert codec.their_state is CLOSED and not codec.reusable
    codec, events = exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", eof=True)
    assert isinstance(events[-1], ProtocolError) and codec.their_state is ERROR


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(min_value=1, max_value=40))
def test_client_never_raises_on_arbitrary_bytes(data: bytes, step: int) -> None:
    codec = HTTP1ClientCodec()
    codec.send_request(RequestStartLine("GET", "/", "HTTP/1.1"), headers(Host="h"))
    prefix = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    stream = prefix + data if data[:1] == b"c" else data
    for start in range(0, len(stream), step):
        codec.receive_data(stream[start : start + step])
        while codec.next_event() is not NEED_DATA:
            pass
    codec.receive_data(b"")
    while codec.next_event() is not NEED_DATA:
        pass
    # After the server's EOF the exchange is over one way or another.
    assert codec.their_state in (CLOSED, ERROR, SWITCHED_PROTOCOL)
    assert not codec.reusable


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(min_value=1, max_value=40))
def test_server_never_raises_on_arbitrary_body_bytes(data: bytes, step: int) -> None:
    stream = CHUNKED_HEAD + data
    pieces = [stream[i : i + step] for i in range(0, len(stream), step)]
    events = run_server(pieces)
    assert all(e[0] in ("req", "data", "end", "error") for e in events)
