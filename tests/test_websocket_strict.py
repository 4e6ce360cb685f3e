"""Strictness of the WebSocket server: the test writes raw frames over a real socket."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from dualweb.web import Application
from dualweb.websocket import WebSocketHandler
from tests.ws_support import RawClient, close_payload, frame, run, serve

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


class Recorder(WebSocketHandler):
    received: list[Any] = []

    def on_message(self, message: str | bytes) -> None:
        self.received.append(message)
        self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        self.received.append(("closed", self.close_code))


@pytest.fixture(autouse=True)
def _fresh() -> None:
    Recorder.received = []


def app(**settings: Any) -> Application:
    return Application([("/ws", Recorder)], **settings)


def expect_close(data: bytes, code: int, **settings: Any) -> None:
    """Send ``data`` after the handshake; the server must close with ``code`` and hang up."""

    async def go() -> None:
        async with serve(app(**settings)) as port:
            client = await RawClient.connect(port)
            assert client.status == 101
            client.send(data)
            got, _ = await client.read_close()
            assert got == code
            assert await client.at_eof()
            await client.close()

    run(go)


def test_unmasked_client_frame_is_1002() -> None:
    expect_close(frame(TEXT, b"hi", mask=False), 1002)


def test_invalid_utf8_text_is_1007() -> None:
    expect_close(frame(TEXT, b"\xff\xfe"), 1007)
    assert Recorder.received == [("closed", None)]


def test_invalid_utf8_across_fragments_is_1007() -> None:
    expect_close(frame(TEXT, b"ok\xc3", fin=False) + frame(CONT, b"\x28"), 1007)


def test_reserved_bits_without_extension_are_1002() -> None:
    for rsv in (1, 2, 4):
        expect_close(frame(TEXT, b"x", rsv=rsv), 1002)


@pytest.mark.parametrize("opcode", [0x3, 0x7, 0xB, 0xF])
def test_reserved_opcodes_are_1002(opcode: int) -> None:
    expect_close(frame(opcode, b"x"), 1002)


def test_fragmented_control_frame_is_1002() -> None:
    expect_close(frame(PING, b"x", fin=False), 1002)


def test_oversized_control_frame_is_1002() -> None:
    expect_close(frame(PING, b"x" * 126), 1002)


def test_continuation_without_start_is_1002() -> None:
    expect_close(frame(CONT, b"x"), 1002)


def test_new_message_inside_fragmented_one_is_1002() -> None:
    expect_close(frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), 1002)


def test_message_over_the_limit_is_1009() -> None:
    expect_close(frame(BINARY, b"x" * 101), 1009, websocket_max_message_size=100)


def test_fragmented_message_over_the_limit_is_1009() -> None:
    data = frame(TEXT, b"x" * 60, fin=False) + frame(CONT, b"x" * 60)
    expect_close(data, 1009, websocket_max_message_size=100)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_invalid_close_codes_are_not_echoed(code: int) -> None:
    expect_close(frame(CLOSE, close_payload(code)), 1002)


def test_close_with_one_byte_payload_is_1002() -> None:
    expect_close(frame(CLOSE, b"\x03"), 1002)


def test_close_reason_with_invalid_utf8_is_1007() -> None:
    expect_close(frame(CLOSE, close_payload(1000) + b"\xff"), 1007)


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1008, 1011, 3000, 4999])
def test_valid_close_codes_are_echoed(code: int) -> None:
    expect_close(frame(CLOSE, close_payload(code, "why")), code)
    assert Recorder.received == [("closed", code)]


def test_empty_close_is_answered_without_code() -> None:
    expect_close(frame(CLOSE), None)  # type: ignore[arg-type]


def test_fragments_are_assembled_and_pings_in_between_answered() -> None:
    async def go() -> None:
        async with serve(app()) as port:
            client = await RawClient.connect(port)
            client.send(frame(TEXT, "é".encode()[:1], fin=False))
            client.send(frame(PING, b"mid"))
            client.send(frame(CONT, "é".encode()[1:] + b"!", fin=False))
            client.send(frame(CONT, b"?"))
            assert await client.read_frame() == (True, PONG, b"mid")
            assert await client.read_frame() == (True, TEXT, "é!?".encode())
            client.send(frame(CLOSE, close_payload(1000)))
            assert await client.read_close() == (1000, "")
            await client.close()

    run(go)
    assert Recorder.received[0] == "é!?"


def test_frames_sent_with_the_handshake_and_byte_by_byte_are_read() -> None:
    async def go() -> None:
        async with serve(app()) as port:
            client = await RawClient.connect(port, after_handshake=frame(TEXT, b"early"))
            assert client.status == 101
            assert await client.read_frame() == (True, TEXT, b"early")
            for byte in frame(BINARY, b"slow"):
                client.send(bytes([byte]))
                await client.writer.drain()
                await asyncio.sleep(0)
            assert await client.read_frame() == (True, BINARY, b"slow")
            await client.close()

    run(go)


def test_messages_before_a_close_in_the_same_packet_are_delivered() -> None:
    async def go() -> None:
        async with serve(app()) as port:
            client = await RawClient.connect(port)
            close = frame(CLOSE, close_payload(1000))
            client.send(frame(TEXT, b"one") + frame(TEXT, b"two") + close)
            assert await client.read_frame() == (True, TEXT, b"one")
            assert await client.read_frame() == (True, TEXT, b"two")
            assert await client.read_close() == (1000, "")
            await client.close()

    run(go)
    assert Recorder.received[:2] == ["one", "two"]


def test_unanswered_pings_close_the_connection() -> None:
    async def go() -> None:
        settings = {"websocket_ping_interval": 0.02, "websocket_ping_timeout": 0.1}
        async with serve(app(**settings)) as port:
            client = await RawClient.connect(port)
            pings = 0
            while True:
                _, opcode, payload = await client.read_frame()
                if opcode == PING:
                    pings += 1
                    continue
                assert opcode == CLOSE
                assert struct.unpack("!H", payload[:2])[0] == 1011
                break
            assert pings >= 1
            client.send(frame(CLOSE, close_payload(1000)))
            assert await client.at_eof()
            await client.close()

    run(go)


def test_a_peer_that_never_answers_the_close_is_dropped() -> None:
    from dualweb import _websocket_session

    class Closer(WebSocketHandler):
        def open(self) -> None:  # type: ignore[override]
            self.close(1000)

    async def go() -> None:
        async with serve(Application([("/ws", Closer)])) as port:
            client = await RawClient.connect(port)
            assert await client.read_close() == (1000, "")
            assert await client.at_eof()
            await client.close()

    original = _websocket_session.CLOSE_TIMEOUT
    _websocket_session.CLOSE_TIMEOUT = 0.05
    try:
        run(go)
    finally:
        _websocket_session.CLOSE_TIMEOUT = original


def test_write_message_future_waits_for_a_slow_reader() -> None:
    states: list[bool] = []

    class Flood(WebSocketHandler):
        async def open(self) -> None:  # type: ignore[override]
            chunk = b"x" * 65536
            for _ in range(400):
                future = self.write_message(chunk, binary=True)
                states.append(future.done())
                if not future.done():
                    break
            self.close(1000)

    async def go() -> None:
        async with serve(Application([("/ws", Flood)])) as port:
            client = await RawClient.connect(port)
            for _ in range(100):
                if states and not states[-1]:
                    break
                await asyncio.sleep(0.02)
            # Now read everything: the server's write completes and it closes.
            code, _ = await client.read_close()
            assert code == 1000
            client.send(frame(CLOSE, close_payload(1000)))
            await client.close()

    run(go)
    assert states and states[-1] is False


def test_fast_and_general_paths_agree() -> None:
    """The same messages whole in one packet (fast path) and split at random points (general)."""
    import random

    rng = random.Random(8)
    sizes = [0, 1, 125, 126, 127, 65535, 65536, 70000, 12]
    messages: list[tuple[int, bytes]] = []
    for size in sizes:
        messages.append((BINARY, bytes(rng.getrandbits(8) for _ in range(size))))
        messages.append((TEXT, ("é" * (size // 2) + "x" * (size % 2)).encode()))
    stream = b"".join(frame(opcode, payload) for opcode, payload in messages)

    async def exchange(pieces: list[bytes]) -> list[tuple[int, bytes]]:
        async with serve(app()) as port:
            client = await RawClient.connect(port)
            for piece in pieces:
                client.send(piece)
                await client.writer.drain()
            echoed = []
            for _ in messages:
                _, opcode, payload = await client.read_frame()
                echoed.append((opcode, payload))
            client.send(frame(CLOSE, close_payload(1000)))
            assert await client.read_close() == (1000, "")
            await client.close()
            return echoed

    def pieces(cuts: list[int]) -> list[bytes]:
        return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

    # Cuts right after each header and each mask key, where a general parser
    # that has consumed a header is mid-frame with nothing buffered.
    starts = [0]
    for opcode, payload in messages[:-1]:
        starts.append(starts[-1] + len(frame(opcode, payload)))
    after_headers = sorted({s + k for s in starts for k in (1, 2, 4, 6, 8)} - {0})
    assert run(lambda: exchange([stream])) == messages
    assert run(lambda: exchange(pieces(sorted(rng.sample(range(1, len(stream)), 60))))) == messages
    assert run(lambda: exchange(pieces([c for c in after_headers if c < len(stream)]))) == messages


def test_sixteen_bit_length_over_the_limit_is_1009() -> None:
    expect_close(frame(BINARY, b"x" * 200), 1009, websocket_max_message_size=150)


def test_masked_frame_with_64_bit_length_is_echoed() -> None:
    async def go() -> None:
        async with serve(app()) as port:
            client = await RawClient.connect(port)
            payload = b"y" * 70000
            client.send(frame(BINARY, payload))
            assert await client.read_frame() == (True, BINARY, payload)
            await client.close()

    run(go)


def test_pending_write_fails_with_websocket_closed_error_when_the_peer_leaves() -> None:
    from dualweb.websocket import WebSocketClosedError

    outcome: list[BaseException | None] = []
    flooded = asyncio.Event()

    class Flood(WebSocketHandler):
        async def open(self) -> None:  # type: ignore[override]
            chunk = b"x" * 65536
            for _ in range(400):
                future = self.write_message(chunk, binary=True)
                if not future.done():
                    break
            flooded.set()
            try:
                await future
                outcome.append(None)
            except WebSocketClosedError as exc:
                outcome.append(exc)

    async def go() -> None:
        async with serve(Application([("/ws", Flood)])) as port:
            client = await RawClient.connect(port)
            await asyncio.wait_for(flooded.wait(), 5)
            client.writer.transport.abort()
            for _ in range(200):
                if outcome:
                    break
                await asyncio.sleep(0.01)

    run(go)
    assert len(outcome) == 1 and isinstance(outcome[0], WebSocketClosedError)


def test_a_frame_split_after_its_header_is_not_misread_as_a_new_frame() -> None:
    """The general parser has consumed a header; the next packet starts with the mask key.

    A mask key that looks like a frame header (0x81, 0x8N) must not be taken for one.
    """
    payload = b"split after the header"
    mask = bytes([0x81, 0x80 | 1, 0x00, 0x00])
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    whole = bytes([0x81, 0x80 | len(payload)]) + mask + masked

    async def go() -> None:
        async with serve(app()) as port:
            client = await RawClient.connect(port)
            client.send(whole[:2])
            await client.writer.drain()
            await asyncio.sleep(0.05)
            client.send(whole[2:] + frame(TEXT, b"next"))
            assert await client.read_frame() == (True, TEXT, payload)
            assert await client.read_frame() == (True, TEXT, b"next")
            await client.close()

    run(go)


def test_simple_frames_around_fragments_and_control_frames_in_one_packet() -> None:
    packet = (
        frame(TEXT, b"a")
        + frame(TEXT, b"b", fin=False)
        + frame(PING, b"p")
        + frame(CONT, b"c")
        + frame(BINARY, b"d")
    )

    async def go() -> None:
        async with serve(app()) as port:
            client = await RawClient.connect(port)
            for pieces in ([packet], [bytes([b]) for b in packet]):
                for piece in pieces:
                    client.send(piece)
                assert await client.read_frame() == (True, TEXT, b"a")
                assert await client.read_frame() == (True, PONG, b"p")
                assert await client.read_frame() == (True, TEXT, b"bc")
                assert await client.read_frame() == (True, BINARY, b"d")
            await client.close()

    run(go)
