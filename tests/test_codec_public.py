"""The HTTP/1 codec after issue 6 item 3 and issue 7: public helpers, 1xx events, CONNECT,
bare-LF response heads (client only), reuse decided by the codec."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dualweb.connection import RequestStartLine
from dualweb.http1codec import (
    END_OF_MESSAGE,
    IDLE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SWITCHED_PROTOCOL,
    HTTP1ClientCodec,
    HTTP1ServerCodec,
    InformationalResponse,
    LocalProtocolError,
    ProtocolError,
    Request,
    Response,
)
from dualweb.httpclient import AsyncHTTPClient, HTTPClientError
from dualweb.httputil import HTTPHeaders
from tests.client_support import RawPeer, start_peer


def client(method: str = "GET", target: str = "/") -> HTTP1ClientCodec:
    codec = HTTP1ClientCodec()
    codec.send_request(RequestStartLine(method, target, "HTTP/1.1"), HTTPHeaders({"Host": "h"}))
    return codec


def take(codec: Any, *pieces: bytes) -> list[Any]:
    events: list[Any] = []
    for piece in pieces:
        codec.receive_data(piece)
        while (event := codec.next_event()) is not NEED_DATA and event is not PAUSED:
            events.append(event)
    return events


def all_splits(data: bytes) -> list[list[bytes]]:
    return [[data]] + [[data[:i], data[i:]] for i in range(1, len(data))]


# --------------------------------------------------------------------------- bare LF


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\nX-A: b\r\n\n",
        b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\r\n",
    ],
)
def test_client_accepts_bare_lf_response_head_in_any_split(head: bytes) -> None:
    for pieces in all_splits(head + b"ok"):
        codec = client()
        events = take(codec, *pieces)
        assert [type(e) for e in events[:1]] == [Response], pieces
        assert events[0].headers["X-A"] == "b"
        assert b"".join(e.data for e in events[1:-1]) == b"ok"
        assert events[-1] is END_OF_MESSAGE
        assert codec.reusable


def test_server_still_refuses_bare_lf_request_head() -> None:
    for data in (b"GET / HTTP/1.1\nHost: h\n\n", b"GET / HTTP/1.1\r\nHost: h\n\r\n"):
        codec = HTTP1ServerCodec()
        events = take(codec, data, b"\r\n\r\n")
        assert [type(e) for e in events] == [ProtocolError], data
        assert events[0].status_code == 400


# --------------------------------------------------------------------------- 1xx


def test_interim_responses_are_events_before_the_final_one() -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    for pieces in all_splits(data):
        codec = client("POST")
        codec.send_end()
        events = take(codec, *pieces)
        kinds = [type(e) for e in events]
        assert kinds[:3] == [InformationalResponse, InformationalResponse, Response], pieces
        assert [e.start_line.code for e in events[:3]] == [100, 103, 200]
        assert events[1].headers["Link"] == "</style.css>; rel=preload"
        assert events[-1] is END_OF_MESSAGE
        assert codec.reusable


def test_interim_response_leaves_the_state_alone() -> None:
    codec = client("POST")
    assert take(codec, b"HTTP/1.1 100 Continue\r\n\r\n")[0].start_line.code == 100
    assert (codec.our_state, codec.their_state) == (SEND_BODY, IDLE)
    codec.send_data(b"x")
    codec.send_end()
    take(codec, b"HTTP/1.1 204 No Content\r\n\r\n")
    assert codec.reusable


# --------------------------------------------------------------------------- CONNECT


def test_connect_2xx_opens_a_tunnel() -> None:
    codec = client("CONNECT", "example.com:443")
    events = take(codec, b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01")
    assert [type(e) for e in events] == [Response, type(END_OF_MESSAGE)]
    assert not events[0].keep_alive
    assert codec.our_state is SWITCHED_PROTOCOL and codec.their_state is SWITCHED_PROTOCOL
    assert codec.trailing_data == b"\x16\x03\x01"
    assert not codec.reusable


def test_connect_refused_is_an_ordinary_response() -> None:
    codec = client("CONNECT", "example.com:443")
    events = take(
        codec,
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nnope",
    )
    assert events[0].start_line.code == 407
    assert b"".join(e.data for e in events[1:-1]) == b"nope"
    assert codec.their_state is not SWITCHED_PROTOCOL
    assert codec.reusable


def test_client_reports_a_proxy_refusing_connect() -> None:
    async def main() -> None:
        proxy = await start_peer(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
        )
        client_ = AsyncHTTPClient(force_instance=True)
        try:
            with pytest.raises(HTTPClientError) as info:
                await client_.fetch(
                    "https://localhost:1/", proxy_host="127.0.0.1", proxy_port=proxy.port
                )
            assert info.value.code == 407
            assert "407 Proxy Authentication Required" in str(info.value)
            assert proxy.requests[0].startswith(b"CONNECT localhost:1 HTTP/1.1\r\n")
        finally:
            client_.close()
            await proxy.stop()

    asyncio.run(main())


# --------------------------------------------------------------------------- reuse


def test_unrequested_second_response_makes_the_connection_not_reusable() -> None:
    codec = client()
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    codec.receive_data(ok + ok)
    while codec.next_event() is not END_OF_MESSAGE:
        pass
    assert not codec.reusable
    with pytest.raises(LocalProtocolError):
        codec.start_next_cycle()


def test_pool_reuses_only_what_the_codec_allows() -> None:
    async def main() -> None:
        # The second answer carries an extra, unrequested response: that
        # connection must not serve the third request.
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        peer = await start_peer(ok, ok + ok)
        client_ = AsyncHTTPClient(force_instance=True)
        try:
            for _ in range(3):
                assert (await client_.fetch(peer.url())).body == b"ok"
            assert peer.connections == 2
        finally:
            client_.close()
            await peer.stop()

    asyncio.run(main())


def test_expect_100_continue_sends_the_body_after_100() -> None:
    async def main() -> None:
        peer_ref: list[RawPeer] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            assert b"Expect: 100-continue" in head
            # The interim answer arrives in two pieces.
            writer.write(b"HTTP/1.1 1")
            await writer.drain()
            writer.write(b"00 Continue\r\n\r\n")
            body = await reader.readexactly(5)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body)
            await writer.drain()
            await reader.read()

        peer = await RawPeer(handler).start()
        peer_ref.append(peer)
        client_ = AsyncHTTPClient(force_instance=True)
        try:
            response = await client_.fetch(
                peer.url(), method="POST", body=b"hello", expect_100_continue=True
            )
            assert (response.code, response.body) == (200, b"hello")
        finally:
            client_.close()
            await peer.stop()

    asyncio.run(main())


# --------------------------------------------------------------------------- writing


def test_repeated_headers_are_written_and_checked() -> None:
    headers = HTTPHeaders({"Host": "h"})
    headers.add("Cookie", "a=1")
    headers.add("Cookie", "b=2")
    codec = HTTP1ClientCodec()
    head = codec.send_request(RequestStartLine("GET", "/", "HTTP/1.1"), headers)
    assert head == b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"
    headers.add("Content-Length", "1")
    headers.add("Content-Length", "2")
    with pytest.raises(LocalProtocolError, match="Content-Length"):
        HTTP1ClientCodec().send_request(RequestStartLine("POST", "/", "HTTP/1.1"), headers)


def test_server_headers_use_public_helpers() -> None:
    codec = HTTP1ServerCodec()
    events = take(codec, b"GET / HTTP/1.1\r\nhost: h\r\nx-custom-NAME: v\r\n\r\n")
    request = events[0]
    assert isinstance(request, Request)
    assert dict(request.headers.get_all()) == {"Host": "h", "X-Custom-Name": "v"}
    assert request.headers.single_values() == {"Host": "h", "X-Custom-Name": "v"}
