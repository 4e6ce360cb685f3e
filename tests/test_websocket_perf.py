"""The WebSocket fast path for large messages (64-bit lengths) is exactly as strict as websockets.

The tests write raw frames over a real socket; each case that the fast path
now takes (a frame whose length needs the 64-bit field) is checked against
what the client sees: the echo, or the close code.
"""

from __future__ import annotations

import os
import struct

import pytest

from dualweb.web import Application
from dualweb.websocket import WebSocketHandler
from tests.ws_support import RawClient, close_payload, frame, run, serve

TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


class Echo(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


def app(**settings: object) -> Application:
    return Application([("/ws", Echo)], **settings)


def long_frame(
    opcode: int, payload: bytes, *, length: int | None = None, mask: bool = True, rsv: int = 0
) -> bytes:
    """A frame that always uses the 64-bit length field (``length`` may lie).

    Small payloads keep the failure cases free of unread bytes, which would
    make the server's close a reset.
    """
    size = len(payload) if length is None else length
    head = struct.pack("!BBQ", 0x80 | (rsv << 4) | opcode, (0x80 if mask else 0) | 127, size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def echoes(pieces: list[bytes], count: int, **settings: object) -> list[tuple[int, bytes]]:
    """Send ``pieces`` one write each; return the ``count`` frames echoed."""

    async def go() -> list[tuple[int, bytes]]:
        async with serve(app(**settings)) as port:
            client = await RawClient.connect(port)
            got = []
            for piece in pieces:
                client.send(piece)
                await client.writer.drain()
            for _ in range(count):
                fin, opcode, payload = await client.read_frame()
                assert fin
                got.append((opcode, payload))
            client.send(frame(CLOSE, close_payload(1000)))
            assert await client.read_close() == (1000, "")
            await client.close()
            return got

    result: list[tuple[int, bytes]] = run(go)
    return result


def closes_with(data: bytes, **settings: object) -> int | None:
    """Send ``data``; return the close code the server answers with (and check it hangs up)."""

    async def go() -> int | None:
        async with serve(app(**settings)) as port:
            client = await RawClient.connect(port)
            client.send(data)
            code, _ = await client.read_close()
            assert await client.at_eof()
            await client.close()
            return code

    result: int | None = run(go)
    return result


@pytest.mark.parametrize("size", [65536, 70000, 300000])
def test_large_binary_messages_are_echoed_whole_and_split(size: int) -> None:
    payload = os.urandom(size)
    data = frame(BINARY, payload) + frame(TEXT, b"after")
    expected = [(BINARY, payload), (TEXT, b"after")]
    assert echoes([data], 2) == expected
    cuts = [1, 2, 9, 10, 13, 14, 15, size // 2, len(data) - 7]
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert echoes(pieces, 2) == expected


def test_large_text_message_is_decoded_and_echoed() -> None:
    text = ("añ€😀" * 20000).encode()
    assert echoes([frame(TEXT, text)], 1) == [(TEXT, text)]


def test_small_payload_in_a_64_bit_length_field_is_accepted() -> None:
    # Not the shortest encoding, which RFC 6455 asks senders for; websockets
    # accepts it, and so must the fast path.
    assert echoes([long_frame(BINARY, b"tiny")], 1) == [(BINARY, b"tiny")]


def test_invalid_utf8_in_a_large_text_message_is_1007() -> None:
    assert closes_with(frame(TEXT, b"a" * 70000 + b"\xff")) == 1007
    assert closes_with(long_frame(TEXT, b"\xc3(")) == 1007


def test_unmasked_large_frame_is_1002() -> None:
    assert closes_with(long_frame(BINARY, b"u" * 200, mask=False)) == 1002


def test_reserved_bit_on_a_large_frame_is_1002() -> None:
    assert closes_with(long_frame(BINARY, b"r" * 200, rsv=4)) == 1002


def test_large_frame_over_the_limit_is_1009() -> None:
    assert closes_with(long_frame(BINARY, b"x" * 200), websocket_max_message_size=150) == 1009


def test_64_bit_length_with_the_top_bit_set_is_1009() -> None:
    assert closes_with(long_frame(BINARY, b"", length=1 << 63)) == 1009


def test_large_fragmented_message_is_assembled() -> None:
    first = frame(BINARY, b"a" * 70000, fin=False)
    rest = frame(0x0, b"b" * 70000)
    assert echoes([first + rest], 1) == [(BINARY, b"a" * 70000 + b"b" * 70000)]


def test_websockets_c_speedups_unmask_the_fast_path() -> None:
    speedups = pytest.importorskip("websockets.speedups")
    from dualweb import _websocket_fastpath

    assert _websocket_fastpath._apply_mask is speedups.apply_mask
