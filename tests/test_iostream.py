"""dualweb.iostream over real sockets on 127.0.0.1, on asyncio and on uvloop."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import ssl
import struct
from typing import Any

import pytest

from dualweb.iostream import (
    IOStream,
    PipeIOStream,
    SSLIOStream,
    StreamBufferFullError,
    StreamClosedError,
    UnsatisfiableReadError,
)
from dualweb.netutil import bind_sockets
from tests.harness import free_port, run


async def tcp_pair(**client_kwargs: Any) -> tuple[IOStream, IOStream]:
    """(client, server) IOStreams joined by a real TCP connection on 127.0.0.1."""
    [listener] = bind_sockets(0, "127.0.0.1")
    loop = asyncio.get_running_loop()
    try:
        client_sock = socket.socket()
        client = IOStream(client_sock, **client_kwargs)
        connecting = client.connect(listener.getsockname())
        conn, _ = await loop.sock_accept(listener)
        server = IOStream(conn)
        await connecting
    finally:
        listener.close()
    return client, server


async def raw_pair() -> tuple[IOStream, socket.socket]:
    """An IOStream and the raw (blocking, timeout 10 s) socket at the other end."""
    [listener] = bind_sockets(0, "127.0.0.1")
    raw = socket.socket()
    raw.settimeout(10)
    try:
        loop = asyncio.get_running_loop()
        raw.setblocking(False)
        connecting = loop.create_task(loop.sock_connect(raw, listener.getsockname()))
        conn, _ = await loop.sock_accept(listener)
        await connecting
        raw.settimeout(10)
    finally:
        listener.close()
    return IOStream(conn), raw


async def dribble(stream: IOStream, data: bytes) -> None:
    """Write ``data`` one byte at a time, letting the loop run in between."""
    for i in range(len(data)):
        await stream.write(data[i : i + 1])
        await asyncio.sleep(0)


# -- reading -----------------------------------------------------------------------------


def test_read_until_read_bytes_and_partial(kind: str) -> None:
    async def main() -> list[bytes]:
        client, server = await tcp_pair()
        await client.write(b"line one\nline two\n12345")
        got = [await server.read_until(b"\n"), await server.read_until(b"\n")]
        got.append(await server.read_bytes(3))
        got.append(await server.read_bytes(100, partial=True))
        got.append(await server.read_bytes(0))
        client.close()
        server.close()
        return got

    assert run(main, kind) == [b"line one\n", b"line two\n", b"123", b"45", b""]


def test_reads_complete_when_data_dribbles_in_byte_by_byte(kind: str) -> None:
    async def main() -> list[Any]:
        client, server = await tcp_pair()
        header = server.read_until(b"\r\n\r\n")
        await dribble(client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY")
        results: list[Any] = [await header]
        results.append(await server.read_bytes(4))
        reading = server.read_until_regex(rb"[0-9]+;")
        await dribble(client, b"abc123;rest")
        results.append(await reading)
        buf = bytearray(4)
        into = server.read_into(buf)
        await dribble(client, b"st")  # "rest" arrives split across two reads
        results.append((await into, bytes(buf)))
        client.close()
        server.close()
        return results

    head, body, regex, into = run(main, kind)
    assert head == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert body == b"BODY"
    assert regex == b"abc123;"
    assert into == (4, b"rest")


def test_read_into_partial_fills_what_is_available(kind: str) -> None:
    async def main() -> tuple[int, bytes]:
        client, server = await tcp_pair()
        buf = bytearray(10)
        reading = server.read_into(buf, partial=True)
        await client.write(b"xyz")
        n = await reading
        client.close()
        server.close()
        return n, bytes(buf)

    assert run(main, kind) == (3, b"xyz" + bytes(7))


def test_read_until_close_returns_everything_after_the_peer_closes(kind: str) -> None:
    async def main() -> tuple[bytes, bytes, bool]:
        client, server = await tcp_pair()
        reading = server.read_until_close()
        for i in range(5):
            client.write(b"%d," % i)
        await client.write(b"end")
        client.close()
        data = await reading
        again = await server.read_until_close()
        return data, again, server.closed()

    assert run(main, kind) == (b"0,1,2,3,4,end", b"", True)


def test_second_concurrent_read_is_an_assertion_error() -> None:
    async def main() -> None:
        client, server = await tcp_pair()
        pending = server.read_bytes(1)
        with pytest.raises(AssertionError, match="Already reading"):
            server.read_bytes(1)
        client.write(b"!")
        assert await pending == b"!"
        client.close()
        server.close()

    run(main)


def test_cancelled_read_leaves_the_data_for_the_next_read() -> None:
    async def main() -> bytes:
        client, server = await tcp_pair()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(server.read_until(b"\n"), 0.05)
        await client.write(b"late line\n")
        line = await server.read_until(b"\n")
        client.close()
        server.close()
        return line

    assert run(main) == b"late line\n"


# -- limits ------------------------------------------------------------------------------


def test_read_until_max_bytes_closes_with_unsatisfiable_read(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[BaseException, bool, BaseException | None]:
        client, server = await tcp_pair()
        await client.write(b"0123456789abcdef")
        with pytest.raises(StreamClosedError) as info:
            await server.read_until(b"\n", max_bytes=8)
        client.close()
        assert info.value.real_error is not None
        return info.value.real_error, server.closed(), server.error

    with caplog.at_level(logging.INFO, logger="dualweb.general"):
        real, closed, error = run(main, kind)
    assert isinstance(real, UnsatisfiableReadError)
    assert "not found within 8 bytes" in str(real)
    assert closed and error is real
    assert "Unsatisfiable read, closing connection" in caplog.text


def test_read_until_max_bytes_allows_a_delimiter_ending_exactly_at_the_limit() -> None:
    async def main() -> bytes:
        client, server = await tcp_pair()
        await client.write(b"1234567\nnext")
        line = await server.read_until(b"\n", max_bytes=8)
        client.close()
        server.close()
        return line

    assert run(main) == b"1234567\n"


def test_read_until_max_bytes_fails_when_the_delimiter_ends_past_the_limit() -> None:
    async def main() -> BaseException | None:
        client, server = await tcp_pair()
        reading = server.read_until_regex(rb"\r?\n", max_bytes=4)
        await client.write(b"1234\n")  # the match ends at byte 5, one past the limit
        with pytest.raises(StreamClosedError) as info:
            await reading
        client.close()
        return info.value.real_error

    assert isinstance(run(main), UnsatisfiableReadError)


def test_read_needing_more_than_max_buffer_size_closes_with_buffer_full(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> BaseException | None:
        client, server = await tcp_pair()
        server.max_buffer_size = 1000
        reading = server.read_bytes(5000)
        client.write(b"x" * 5000)
        with pytest.raises(StreamClosedError) as info:
            await reading
        client.close()
        return info.value.real_error

    assert isinstance(run(main, kind), StreamBufferFullError)
    assert "Reached maximum read buffer size" in caplog.text


def test_read_until_close_beyond_max_buffer_size_fails() -> None:
    async def main() -> BaseException | None:
        client, server = await tcp_pair()
        server.max_buffer_size = 1000
        reading = server.read_until_close()
        client.write(b"y" * 4000)
        with pytest.raises(StreamClosedError) as info:
            await reading
        client.close()
        return info.value.real_error

    assert isinstance(run(main), StreamBufferFullError)


def test_max_write_buffer_size_refuses_to_buffer_more() -> None:
    async def main() -> None:
        stream, raw = await raw_pair()
        stream.max_write_buffer_size = 1024 * 1024
        chunk = b"z" * (256 * 1024)
        with pytest.raises(StreamBufferFullError, match="maximum write buffer size"):
            for _ in range(100):  # the peer never reads, so the kernel buffers fill
                stream.write(chunk)
                await asyncio.sleep(0)
        stream.close()
        raw.close()

    run(main)


# -- closing -----------------------------------------------------------------------------


def test_pending_read_fails_with_stream_closed_when_the_peer_closes(kind: str) -> None:
    async def main() -> tuple[BaseException | None, bytes]:
        client, server = await tcp_pair()
        reading = server.read_until(b"\n")
        await client.write(b"partial")
        client.close()
        with pytest.raises(StreamClosedError) as info:
            await reading
        # What was buffered is still readable after the close.
        leftover = await server.read_bytes(7)
        return info.value.real_error, leftover

    assert run(main, kind) == (None, b"partial")


def test_reads_and_writes_on_a_closed_stream_raise_stream_closed() -> None:
    async def main() -> None:
        client, server = await tcp_pair()
        server.close()
        assert server.closed()
        with pytest.raises(StreamClosedError):
            server.write(b"x")
        with pytest.raises(StreamClosedError):
            await server.read_bytes(1)
        assert await server.read_until_close() == b""
        client.close()

    run(main)


def test_close_callback_runs_once_after_the_close(kind: str) -> None:
    async def main() -> tuple[list[str], list[str]]:
        client, server = await tcp_pair()
        calls: list[str] = []
        server.set_close_callback(lambda: calls.append("server"))
        client.set_close_callback(lambda: calls.append("client"))
        client.close()
        assert calls == []  # never synchronously inside close()
        for _ in range(100):
            if len(calls) == 2:
                break
            await asyncio.sleep(0.01)
        first = list(calls)
        server.close()
        await asyncio.sleep(0.05)
        late: list[str] = []
        server.set_close_callback(lambda: late.append("late"))  # already closed: still runs
        await asyncio.sleep(0.05)
        return first + calls[2:], late

    calls, late = run(main, kind)
    assert sorted(calls) == ["client", "server"]
    assert late == ["late"]


def test_exception_in_close_callback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        client, server = await tcp_pair()

        def broken() -> None:
            raise RuntimeError("callback bug")

        server.set_close_callback(broken)
        server.close()
        client.close()
        await asyncio.sleep(0.05)

    run(main)
    records = [r for r in caplog.records if r.name == "dualweb.application"]
    assert records and "close callback" in records[0].getMessage()
    assert records[0].exc_info is not None and "callback bug" in str(records[0].exc_info[1])


def test_connection_reset_is_the_real_error(kind: str) -> None:
    async def main() -> BaseException | None:
        stream, raw = await raw_pair()
        reading = stream.read_bytes(10)
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()
        with pytest.raises(StreamClosedError) as info:
            await reading
        return info.value.real_error

    assert isinstance(run(main, kind), ConnectionResetError)


def test_close_with_exc_info_records_the_error() -> None:
    async def main() -> tuple[BaseException | None, BaseException | None]:
        client, server = await tcp_pair()
        reading = server.read_bytes(1)
        problem = ValueError("protocol violation")
        server.close(exc_info=problem)
        with pytest.raises(StreamClosedError) as info:
            await reading
        client.close()
        return server.error, info.value.real_error

    error, real = run(main)
    assert isinstance(error, ValueError) and real is error


# -- writing -----------------------------------------------------------------------------


def test_large_write_applies_back_pressure_until_the_peer_reads(kind: str) -> None:
    payload = os.urandom(1024) * (24 * 1024)  # 24 MiB: far more than socket buffers hold

    async def main() -> tuple[bool, bool, str]:
        stream, raw = await raw_pair()
        flushed = stream.write(payload)
        await asyncio.sleep(0.1)
        blocked = not flushed.done() and stream.writing()
        loop = asyncio.get_running_loop()
        raw.setblocking(False)
        digest = hashlib.sha256()
        received = 0
        while received < len(payload):
            data = await loop.sock_recv(raw, 1 << 20)
            assert data, "peer closed early"
            digest.update(data)
            received += len(data)
        await flushed
        done = flushed.done() and not stream.writing()
        stream.close()
        raw.close()
        return blocked, done, digest.hexdigest()

    blocked, done, digest = run(main, kind)
    assert blocked, "write() should not complete while the peer is not reading"
    assert done
    assert digest == hashlib.sha256(payload).hexdigest()


def test_small_write_future_is_done_at_once(kind: str) -> None:
    async def main() -> bool:
        client, server = await tcp_pair()
        future = client.write(b"tiny")
        done = future.done()
        assert await server.read_bytes(4) == b"tiny"
        client.close()
        server.close()
        return done

    assert run(main, kind)


def test_unflushed_write_fails_when_the_stream_closes() -> None:
    async def main() -> BaseException | None:
        stream, raw = await raw_pair()
        future = stream.write(b"q" * (16 * 1024 * 1024))
        await asyncio.sleep(0.05)
        assert not future.done()
        stream.close()
        with pytest.raises(StreamClosedError):
            await future
        raw.close()
        return None

    run(main)


def test_writes_before_connect_completes_are_queued() -> None:
    async def main() -> bytes:
        [listener] = bind_sockets(0, "127.0.0.1")
        loop = asyncio.get_running_loop()
        stream = IOStream(socket.socket())
        connecting = stream.connect(listener.getsockname())
        sent = stream.write(b"early bird")
        conn, _ = await loop.sock_accept(listener)
        assert await connecting is stream
        await sent
        data = await loop.sock_recv(conn, 100)
        for sock in (conn, listener):
            sock.close()
        stream.close()
        return data

    assert run(main) == b"early bird"


def test_set_nodelay_sets_the_socket_option() -> None:
    async def main() -> tuple[int, int]:
        client, server = await tcp_pair()
        client.set_nodelay(True)
        on = client.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        client.set_nodelay(False)
        off = client.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        client.close()
        server.close()
        return on, off

    on, off = run(main)
    assert on != 0 and off == 0


def test_reading_and_writing_report_pending_operations() -> None:
    async def main() -> None:
        client, server = await tcp_pair()
        assert not server.reading() and not server.writing()
        pending = server.read_bytes(2)
        assert server.reading()
        await client.write(b"ok")
        await pending
        assert not server.reading()
        client.close()
        server.close()

    run(main)


# -- connect -----------------------------------------------------------------------------


def test_connect_to_a_closed_port_fails_with_the_real_error(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    address = ("127.0.0.1", free_port())  # nothing listens here

    async def main() -> tuple[BaseException | None, bool]:
        stream = IOStream(socket.socket())
        with pytest.raises(StreamClosedError) as info:
            await stream.connect(address)
        return info.value.real_error, stream.closed()

    real, closed = run(main, kind)
    assert isinstance(real, ConnectionRefusedError)
    assert closed
    assert "Connect error" in caplog.text


# -- TLS ---------------------------------------------------------------------------------


def test_start_tls_upgrades_both_ends(kind: str, cert: tuple[str, str]) -> None:
    certfile, keyfile = cert

    async def main() -> tuple[bytes, bytes, bool, list[str]]:
        client, server = await tcp_pair()
        await client.write(b"STARTTLS\n")
        assert await server.read_until(b"\n") == b"STARTTLS\n"
        closes: list[str] = []
        server.set_close_callback(lambda: closes.append("server"))
        server_tls = server.start_tls(True, {"certfile": certfile, "keyfile": keyfile})
        client_ctx = ssl.create_default_context(cafile=certfile)
        client_tls = client.start_tls(False, client_ctx, server_hostname="localhost")
        tls_server, tls_client = await asyncio.gather(server_tls, client_tls)
        assert isinstance(tls_server, SSLIOStream) and isinstance(tls_client, SSLIOStream)
        await tls_client.write(b"secret\n")
        got = await tls_server.read_until(b"\n")
        await tls_server.write(b"x" * 3_000_000)
        big = await tls_client.read_bytes(3_000_000)
        handshake = await tls_client.wait_for_handshake()
        tls_client.close()
        await asyncio.sleep(0.05)
        tls_server.close()
        await asyncio.sleep(0.05)
        return got, big[:3], handshake is tls_client, closes

    got, big, same, closes = run(main, kind)
    assert got == b"secret\n" and big == b"xxx" and same
    assert closes == ["server"]  # the close callback moved to the TLS stream


def test_start_tls_with_an_untrusted_certificate_fails(cert: tuple[str, str]) -> None:
    certfile, keyfile = cert

    async def main() -> BaseException | None:
        client, server = await tcp_pair()
        server_tls = asyncio.ensure_future(
            server.start_tls(True, {"certfile": certfile, "keyfile": keyfile})
        )
        with pytest.raises(StreamClosedError) as info:
            # The default client context trusts the system CAs, not our self-signed cert.
            await client.start_tls(False, server_hostname="localhost")
        await asyncio.gather(server_tls, return_exceptions=True)
        return info.value.real_error

    assert isinstance(run(main), ssl.SSLCertVerificationError)


def test_start_tls_on_a_busy_stream_is_refused() -> None:
    async def main() -> None:
        client, server = await tcp_pair()
        server.read_bytes(1)
        with pytest.raises(ValueError, match="not idle"):
            server.start_tls(True, {})
        client.close()
        server.close()

    run(main)


def test_ssl_iostream_connects_and_adopts_a_connected_socket(
    kind: str, cert: tuple[str, str]
) -> None:
    certfile, keyfile = cert

    async def main() -> bytes:
        [listener] = bind_sockets(0, "127.0.0.1")
        loop = asyncio.get_running_loop()
        client = SSLIOStream(
            socket.socket(), ssl_options={"ca_certs": certfile}
        )
        connecting = client.connect(listener.getsockname(), server_hostname="localhost")
        conn, _ = await loop.sock_accept(listener)
        server = SSLIOStream(conn, ssl_options={"certfile": certfile, "keyfile": keyfile})
        await asyncio.gather(connecting, server.wait_for_handshake())
        await client.write(b"over tls\n")
        line = await server.read_until(b"\n")
        client.close()
        server.close()
        listener.close()
        return line

    assert run(main, kind) == b"over tls\n"


# -- pipes -------------------------------------------------------------------------------


def test_pipe_streams_carry_data_and_report_eof(kind: str) -> None:
    async def main() -> tuple[bytes, bytes]:
        read_fd, write_fd = os.pipe()
        reader, writer = PipeIOStream(read_fd), PipeIOStream(write_fd)
        first = reader.read_until(b"\n")
        big = b"p" * (1024 * 1024)  # more than a pipe holds: exercises the writer buffer
        writer.write(b"hello pipe\n")
        done = writer.write(big)
        line = await first
        rest = reader.read_until_close()
        await done
        writer.close()
        return line, await rest

    line, rest = run(main, kind)
    assert line == b"hello pipe\n"
    assert rest == b"p" * (1024 * 1024)


def test_pipe_write_to_a_closed_reader_fails() -> None:
    async def main() -> BaseException | None:
        read_fd, write_fd = os.pipe()
        os.close(read_fd)
        writer = PipeIOStream(write_fd)
        future = writer.write(b"nobody listens")
        with pytest.raises(StreamClosedError) as info:
            await future
        return info.value.real_error

    assert isinstance(run(main), BrokenPipeError)


def test_socketpair_unix_streams_work() -> None:
    async def main() -> bytes:
        left, right = socket.socketpair()
        a, b = IOStream(left), IOStream(right)
        await a.write(b"unix\n")
        line = await b.read_until(b"\n")
        a.close()
        b.close()
        return line

    assert run(main) == b"unix\n"


def test_unread_data_pushes_back_on_the_sender(kind: str) -> None:
    async def main() -> tuple[int, int, bool]:
        stream, raw = await raw_pair()
        raw.setblocking(False)
        chunk = b"r" * 65536
        sent = 0
        # Nobody reads from ``stream``: once it has buffered its share, the kernel
        # buffers fill up and the sender is blocked.
        for _ in range(2000):
            try:
                sent += raw.send(chunk)
            except BlockingIOError:
                await asyncio.sleep(0.02)
                try:
                    sent += raw.send(chunk)
                except BlockingIOError:
                    break
            await asyncio.sleep(0)
        buffered = len(stream._buf)
        data = await stream.read_bytes(sent)
        stream.close()
        raw.close()
        return sent, buffered, data == b"r" * sent

    sent, buffered, intact = run(main, kind)
    assert sent < 2000 * 65536, "the sender was never blocked"
    assert buffered <= 1024 * 1024  # the stream stopped reading instead of buffering it all
    assert intact


def test_dropped_write_futures_of_a_closed_stream_are_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import gc

    async def main() -> None:
        stream, raw = await raw_pair()
        stream.write(b"w" * (8 * 1024 * 1024))  # not flushed: the peer does not read
        stream.close()  # fails the pending write future, which nobody awaits
        raw.close()
        await asyncio.sleep(0.01)
        gc.collect()

    run(main)
    gc.collect()
    assert "never retrieved" not in caplog.text


def test_io_loop_fd_error_and_close_fd() -> None:
    from dualweb.ioloop import IOLoop

    async def main() -> None:
        client, server = await tcp_pair()
        assert client.io_loop is IOLoop.current()
        assert client.get_fd_error() is None
        assert client.fileno() == client.socket.fileno()
        client.close_fd()  # abrupt: the peer sees the connection end
        assert await server.read_until_close() == b""
        client.close()

    run(main)


def test_subclass_overriding_tornado_fd_hooks_is_told_they_are_not_used() -> None:
    with pytest.raises(TypeError, match=r"MyStream\.read_from_fd: .*asyncio transports"):

        class MyStream(IOStream):
            def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
                return 0

    with pytest.raises(NotImplementedError, match="asyncio"):
        IOStream.write_to_fd(None, memoryview(b""))  # type: ignore[arg-type]


def test_an_ssl_socket_is_refused_with_directions() -> None:
    left, right = socket.socketpair()
    wrapped = ssl.create_default_context().wrap_socket(
        left, server_hostname="localhost", do_handshake_on_connect=False
    )
    try:
        with pytest.raises(TypeError, match=r"SSLIOStream\(sock, ssl_options=\.\.\.\)"):
            IOStream(wrapped)
    finally:
        wrapped.close()
        right.close()
