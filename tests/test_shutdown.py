"""Graceful shutdown (dualweb.shutdown) over real sockets, in-process and in a subprocess."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import textwrap
import time
from pathlib import Path

import pytest

import dualweb.shutdown
import dualweb.web
from tests.harness import ServerProcess, free_port, run, serving


class SlowHandler(dualweb.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("s", "0.3")))
        self.write("slow done")


class FastHandler(dualweb.web.RequestHandler):
    def get(self) -> None:
        self.write("fast")


class LongPollHandler(dualweb.web.RequestHandler):
    async def get(self) -> None:
        event: asyncio.Event = self.settings["poll_event"]
        await event.wait()
        self.write("poll ended by shutdown")


class HangingHandler(dualweb.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(3600)


def make_app(**settings: object) -> dualweb.web.Application:
    return dualweb.web.Application(
        [("/slow", SlowHandler), ("/fast", FastHandler), ("/poll", LongPollHandler),
         ("/hang", HangingHandler)],
        **settings,
    )


async def send(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one response, then the connection must be closed by the server."""
    data = await asyncio.wait_for(reader.read(), 10)
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_in_flight_request_finishes_and_its_connection_closes() -> None:
    async def main() -> None:
        async with serving(make_app()) as (server, port):
            reader, writer = await send(port, "/slow?s=0.3")
            await asyncio.sleep(0.1)  # the handler is now sleeping
            clean = await dualweb.shutdown.graceful_shutdown([server], timeout=5)
            head, body = await read_response(reader)
            writer.close()
            assert clean is True
            assert head.startswith(b"HTTP/1.1 200")
            assert b"Connection: close" in head
            assert body == b"slow done"
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", port)

    run(main, timeout=20)


def test_idle_keep_alive_connection_is_closed_at_once() -> None:
    async def main() -> None:
        async with serving(make_app()) as (server, port):
            reader, writer = await send(port, "/fast")
            first = await asyncio.wait_for(reader.readuntil(b"fast"), 5)
            assert first.startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            assert await dualweb.shutdown.graceful_shutdown([server], timeout=5) is True
            assert await asyncio.wait_for(reader.read(), 5) == b""
            # Neither the timeout nor the 1 s a new connection gets for its first request.
            assert time.monotonic() - started < 0.8
            writer.close()

    run(main, timeout=20)


def test_connection_accepted_before_the_stop_still_gets_its_answer() -> None:
    # A client connected just before the shutdown began and its request had
    # not been read yet: it must be answered, not see the connection closed
    # (found as a failed request during a zero-downtime SIGHUP restart).
    async def main() -> None:
        async with serving(make_app()) as (server, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.sleep(0.1)  # the server has accepted the connection
            shutdown = asyncio.ensure_future(
                dualweb.shutdown.graceful_shutdown([server], timeout=5)
            )
            await asyncio.sleep(0.1)  # draining has begun
            writer.write(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
            head, body = await read_response(reader)
            writer.close()
            assert head.startswith(b"HTTP/1.1 200")
            assert b"Connection: close" in head
            assert body == b"fast"
            assert await shutdown is True

    run(main, timeout=20)


def test_silent_new_connection_does_not_hold_the_drain() -> None:
    async def main() -> None:
        async with serving(make_app()) as (server, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.sleep(0.1)
            started = time.monotonic()
            assert await dualweb.shutdown.graceful_shutdown([server], timeout=5) is True
            assert await asyncio.wait_for(reader.read(), 5) == b""
            assert time.monotonic() - started < 3  # about the 1 s grace, not the timeout
            writer.close()

    run(main, timeout=20)


def test_requests_past_the_timeout_are_cut_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with serving(make_app()) as (server, port):
            reader, writer = await send(port, "/hang")
            await asyncio.sleep(0.1)
            with caplog.at_level(logging.WARNING, logger="dualweb.general"):
                clean = await dualweb.shutdown.graceful_shutdown([server], timeout=0.3)
            assert clean is False
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()

    run(main, timeout=20)
    assert "Closing connections with requests still in flight after 0.3s" in caplog.text


def test_shutdown_callbacks_end_long_polls_and_failures_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    async def main() -> None:
        event = asyncio.Event()

        async def end_polls() -> None:
            calls.append("async")
            event.set()

        def broken() -> None:
            calls.append("broken")
            raise RuntimeError("boom in callback")

        dualweb.shutdown.add_shutdown_callback(broken)
        dualweb.shutdown.add_shutdown_callback(end_polls)
        try:
            async with serving(make_app(poll_event=event)) as (server, port):
                reader, writer = await send(port, "/poll")
                await asyncio.sleep(0.1)
                assert await dualweb.shutdown.graceful_shutdown([server], timeout=5) is True
                head, body = await read_response(reader)
                writer.close()
                assert head.startswith(b"HTTP/1.1 200")
                assert body == b"poll ended by shutdown"
        finally:
            dualweb.shutdown.remove_shutdown_callback(broken)
            dualweb.shutdown.remove_shutdown_callback(end_polls)
            dualweb.shutdown.remove_shutdown_callback(end_polls)  # absent: no error

    with caplog.at_level(logging.ERROR):
        run(main, timeout=20)
    assert calls == ["broken", "async"]
    assert "Error in shutdown callback" in caplog.text
    assert "boom in callback" in caplog.text


def test_ctrl_c_on_hello_example_prints_one_line_and_exits_0() -> None:
    port = free_port()
    server = ServerProcess(["hello.py", "--port", str(port)], port, http=False)
    err = server.stop(signal.SIGINT)
    assert server.proc.returncode == 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["Received SIGINT: shutting down (requests in flight get up to 30s)"]


SLOW_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    import dualweb.shutdown, dualweb.web

    class Slow(dualweb.web.RequestHandler):
        async def get(self):
            await asyncio.sleep(1.0)
            self.write("finished after SIGTERM")

    async def main():
        server = dualweb.web.Application([("/", Slow)]).listen(int(sys.argv[1]), "127.0.0.1")
        await dualweb.shutdown.serve_until_signal(server, timeout=10)
        print("main returned", file=sys.stderr)

    asyncio.run(main())
    """
)


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    script = tmp_path / "slow_server.py"
    script.write_text(SLOW_SERVER)
    port = free_port()
    server = ServerProcess([str(script), str(port)], port, http=False)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.3)
            os.kill(server.proc.pid, signal.SIGTERM)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        server.proc.wait(15)
    finally:
        err = server.stop()
    response = b"".join(chunks)
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(b"finished after SIGTERM")
    assert server.proc.returncode == 0
    assert err.splitlines()[-1] == "main returned"
    assert "Traceback" not in err
