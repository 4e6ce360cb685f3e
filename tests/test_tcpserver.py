"""dualweb.tcpserver: serving streams over real sockets, TLS, stop(), and start(n) with fork."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest

from dualweb.iostream import IOStream, SSLIOStream, StreamClosedError
from dualweb.netutil import bind_sockets
from dualweb.tcpserver import TCPServer
from tests.harness import ServerProcess, free_port, run, serve_tcp


class EchoServer(TCPServer):
    """Echoes lines upper-cased; remembers what kind of stream it was given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.streams: list[IOStream] = []

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.streams.append(stream)
        try:
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(line.upper())
        except StreamClosedError:
            pass


async def talk(port: int, lines: list[bytes], ssl_ctx: ssl.SSLContext | None = None) -> list[bytes]:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ssl_ctx, server_hostname="localhost" if ssl_ctx else None
    )
    replies = []
    for line in lines:
        writer.write(line)
        replies.append(await reader.readline())
    writer.close()
    await writer.wait_closed()
    return replies


def test_echo_server_with_many_concurrent_clients(kind: str) -> None:
    async def main() -> list[list[bytes]]:
        server = EchoServer()
        port = serve_tcp(server)
        results = await asyncio.gather(
            *(talk(port, [b"client %d line %d\n" % (c, i) for i in range(5)]) for c in range(50))
        )
        server.stop()
        return list(results)

    results = run(main, kind)
    assert len(results) == 50
    for c, replies in enumerate(results):
        assert replies == [b"CLIENT %d LINE %d\n" % (c, i) for i in range(5)]


def test_listen_on_a_port_then_stop_refuses_new_connections_but_keeps_old_ones(kind: str) -> None:
    async def main() -> tuple[bytes, bytes]:
        port = free_port()
        server = EchoServer()
        server.listen(port, "127.0.0.1")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"before\n")
        before = await reader.readline()
        server.stop()
        server.stop()  # idempotent
        await asyncio.sleep(0.05)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"after stop\n")
        after = await reader.readline()
        writer.close()
        return before, after

    assert run(main, kind) == (b"BEFORE\n", b"AFTER STOP\n")


def test_sockets_added_before_the_loop_runs_serve_once_it_does() -> None:
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    result: list[Any] = []

    def thread_main() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            server = EchoServer()
            server.add_sockets(sockets)  # no loop is running yet
            result.append(loop.run_until_complete(asyncio.wait_for(talk(port, [b"hi\n"]), 10)))
            server.stop()
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    thread = threading.Thread(target=thread_main)
    thread.start()
    thread.join(15)
    assert result == [[b"HI\n"]]


def test_bind_and_start_in_one_process_with_ioloop_current_start() -> None:
    from dualweb.ioloop import IOLoop

    result: list[Any] = []

    def thread_main() -> None:
        server = EchoServer()
        server.bind(0, "127.0.0.1")
        port = server._pending_sockets[0].getsockname()[1]
        server.start(1)  # no fork
        io_loop = IOLoop.current()

        async def client() -> None:
            try:
                result.append(await asyncio.wait_for(talk(port, [b"ioloop\n"]), 10))
            finally:
                server.stop()
                io_loop.stop()

        io_loop.add_callback(client)
        io_loop.start()
        io_loop.close(all_fds=True)

    thread = threading.Thread(target=thread_main)
    thread.start()
    thread.join(15)
    assert result == [[b"IOLOOP\n"]]


def test_start_twice_is_an_error() -> None:
    server = EchoServer()

    async def main() -> None:
        server.start()
        with pytest.raises(RuntimeError, match=r"EchoServer\.start\(\) called twice"):
            server.start()
        server.stop()

    run(main)


def test_handle_stream_errors_are_logged_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Flaky(TCPServer):
        async def handle_stream(self, stream: IOStream, address: Any) -> None:
            line = await stream.read_until(b"\n")
            if line == b"boom\n":
                raise ValueError("handler bug")
            await stream.write(b"fine\n")

    class SyncBroken(TCPServer):
        def handle_stream(self, stream: IOStream, address: Any) -> None:
            raise KeyError("sync bug")

    async def main() -> tuple[bytes, list[bytes], bytes]:
        server, broken = Flaky(), SyncBroken()
        port, broken_port = serve_tcp(server), serve_tcp(broken)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"boom\n")
        await asyncio.sleep(0.05)
        writer.close()
        replies = await talk(port, [b"ok\n"])
        reader, writer = await asyncio.open_connection("127.0.0.1", broken_port)
        eof = await reader.read()  # the stream is closed after the failure
        writer.close()
        server.stop()
        broken.stop()
        return b"", replies, eof

    _, replies, eof = run(main)
    assert replies == [b"fine\n"]
    assert eof == b""
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("Flaky.handle_stream" in m for m in messages)
    assert any("SyncBroken.handle_stream" in m for m in messages)
    # dualweb's own loggers, never Tornado's names.
    names = {r.name for r in caplog.records if r.levelno >= logging.ERROR}
    assert names and names <= {"dualweb.application", "dualweb.general"}, names


def test_peer_hanging_up_is_not_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    class Reader(TCPServer):
        async def handle_stream(self, stream: IOStream, address: Any) -> None:
            await stream.read_until(b"\n")  # raises StreamClosedError when the peer leaves

    async def main() -> None:
        server = Reader()
        port = serve_tcp(server)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"no newline")
        writer.close()
        await asyncio.sleep(0.1)
        server.stop()

    run(main)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_base_handle_stream_explains_it_must_be_overridden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        server = TCPServer()
        port = serve_tcp(server)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.read()
        writer.close()
        server.stop()

    run(main)
    assert "TCPServer must override handle_stream" in caplog.text


def test_tls_server_hands_over_ssl_streams(kind: str, cert: tuple[str, str]) -> None:
    certfile, keyfile = cert

    async def main() -> tuple[list[bytes], bool]:
        server = EchoServer(ssl_options={"certfile": certfile, "keyfile": keyfile})
        port = serve_tcp(server)
        ctx = ssl.create_default_context(cafile=certfile)
        replies = await talk(port, [b"secure\n", b"again\n"], ssl_ctx=ctx)
        server.stop()
        return replies, isinstance(server.streams[0], SSLIOStream)

    replies, is_ssl = run(main, kind)
    assert replies == [b"SECURE\n", b"AGAIN\n"]
    assert is_ssl


def test_tls_server_accepts_an_ssl_context(cert: tuple[str, str]) -> None:
    certfile, keyfile = cert
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)

    async def main() -> list[bytes]:
        server = EchoServer(ssl_options=context)
        port = serve_tcp(server)
        replies = await talk(port, [b"ctx\n"], ssl.create_default_context(cafile=certfile))
        server.stop()
        return replies

    assert run(main) == [b"CTX\n"]


def test_ssl_options_problems_are_reported_at_construction(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="certfile"):
        TCPServer(ssl_options={"keyfile": "k.pem"})
    with pytest.raises(ValueError, match="does not exist"):
        TCPServer(ssl_options={"certfile": str(tmp_path / "missing.pem")})


def test_protocol_factory_override_replaces_the_stream_layer(kind: str) -> None:
    class Shout(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            # uvloop's transports are not asyncio.Transport subclasses, hence the cast.
            cast(asyncio.Transport, self.transport).write(data.upper())

    class RawServer(TCPServer):
        def _protocol_factory(self) -> asyncio.BaseProtocol:
            return Shout()

    async def main() -> list[bytes]:
        server = RawServer()
        port = serve_tcp(server)
        replies = await talk(port, [b"raw\n"])
        server.stop()
        return replies

    assert run(main, kind) == [b"RAW\n"]


def test_add_sockets_rejects_the_same_socket_twice() -> None:
    async def main() -> None:
        server = EchoServer()
        sockets = bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        with pytest.raises(ValueError, match="added twice"):
            server.add_socket(sockets[0])
        server.stop()

    run(main)


# -- the example and multi-process mode ---------------------------------------------------


def _ask(port: int, line: bytes, deadline: float) -> bytes:
    """Send ``line`` and return the reply line, retrying while the server starts."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(line)
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = sock.recv(100)
                    if not chunk:
                        break
                    reply += chunk
                return reply
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_echo_server_example_runs_as_a_program() -> None:
    port = free_port()
    args = ["echo_server.py", "--port", str(port), "--address", "127.0.0.1"]
    proc = ServerProcess(args, port, http=False)
    try:
        deadline = time.monotonic() + 15
        assert _ask(port, b"echo me\n", deadline) == b"echo me\n"
        assert _ask(port, b"x" * 1000 + b"\n", deadline) == b"x" * 1000 + b"\n"
    finally:
        stderr = proc.stop(signal.SIGINT)
    assert proc.proc.returncode == 0, stderr


MULTI_SCRIPT = """
import os, sys
from dualweb.ioloop import IOLoop
from dualweb.process import task_id
from dualweb.tcpserver import TCPServer

class Who(TCPServer):
    async def handle_stream(self, stream, address):
        line = await stream.read_until(b"\\n")
        if line == b"crash\\n":
            os._exit(3)
        await stream.write(b"%d %d\\n" % (os.getpid(), task_id()))
        stream.close()

server = Who()
server.bind(int(sys.argv[1]), "127.0.0.1")
server.start(2)
IOLoop.current().start()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_start_2_forks_two_workers_on_one_port_restarts_crashes_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    script = tmp_path / "multi.py"
    script.write_text(MULTI_SCRIPT)
    port = free_port()
    server = ServerProcess([str(script), str(port)], port, http=False)
    proc = server.proc
    try:
        deadline = time.monotonic() + 15
        workers: dict[int, int] = {}  # pid -> task id
        for _ in range(300):
            pid, task = map(int, _ask(port, b"who\n", deadline).split())
            workers[pid] = task
            if len(workers) == 2 or time.monotonic() > deadline:
                break
        assert sorted(workers.values()) == [0, 1], workers
        assert proc.pid not in workers  # the parent only supervises

        # A worker that dies is replaced by a new process with the same task id.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"crash\n")
            assert sock.recv(10) == b""
        replaced: dict[int, int] = {}
        for _ in range(300):
            pid, task = map(int, _ask(port, b"who\n", deadline).split())
            if pid not in workers:
                replaced[pid] = task
                break
            if time.monotonic() > deadline:
                break
        assert len(replaced) == 1 and set(replaced.values()) <= {0, 1}
        survivors = [pid for pid in workers if _alive(pid)]
        assert len(survivors) == 1
    finally:
        stderr = server.stop()
    assert proc.returncode == 0, stderr
    assert "exited with status 3, restarting" in stderr
    deadline = time.monotonic() + 5
    children = list(workers) + list(replaced)
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in children)


def test_serves_a_unix_socket(tmp_path: Path) -> None:
    from dualweb.netutil import bind_unix_socket

    path = str(tmp_path / "echo.sock")

    async def main() -> bytes:
        server = EchoServer()
        server.add_socket(bind_unix_socket(path))
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"local\n")
        reply = await reader.readline()
        writer.close()
        server.stop()
        return reply

    assert run(main) == b"LOCAL\n"
