"""A response cut short because the client went away ends quietly (natively).

The client of a large static file (``Content-Length`` set, streamed in chunks)
disconnects mid-download: nothing is logged as an error, ``on_finish`` still
runs, and the file's descriptor and the connection are released.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from dualweb.web import Application, RequestHandler, StaticFileHandler
from tests.harness import wait_until as _wait_for

SIZE = 32 * 1024 * 1024  # far more than the socket buffers hold


def _open_fds_to(path: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed between listdir and readlink
        if target == str(path):
            found.append(fd)
    return found


def _download_and_leave(port: int, path: str, reset: bool) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received or len(received) < 16_384:
            chunk = sock.recv(65536)
            assert chunk, "the server closed before sending enough"
            received += chunk
        if reset:
            # An abortive close (RST), as a browser tab that is closed mid-download.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()
    return received


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(SIZE)  # sparse: cheap to create, read as zeros
    return path


@pytest.mark.parametrize("reset", [True, False], ids=["rst", "fin"])
def test_client_leaving_mid_download_of_a_static_file_ends_quietly(
    native_client_for: Any, big_file: Path, caplog: pytest.LogCaptureFixture, reset: bool
) -> None:
    finished: list[int] = []

    class Tracked(StaticFileHandler):
        def on_finish(self) -> None:
            finished.append(self.get_status())

    app = Application([(r"/files/(.*)", Tracked, {"path": str(big_file.parent)})])
    client = native_client_for(app)
    with caplog.at_level(logging.DEBUG):
        head = _download_and_leave(client.port, "/files/big.bin", reset)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert f"Content-Length: {SIZE}\r\n".encode() in head
        assert _wait_for(lambda: finished == [200]), finished
        assert _wait_for(lambda: not _open_fds_to(big_file)), _open_fds_to(big_file)
        assert _wait_for(lambda: client.running.connections() == 0)
        # The server still serves.
        assert client.get("/files/missing.bin").status == 404
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, caplog.text
    assert "LocalProtocolError" not in caplog.text
    assert "Traceback" not in caplog.text


def test_coroutine_handler_whose_client_left_during_a_flush_finishes_quietly(
    native_client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The same rule for any handler: a response with Content-Length cut short by the
    # client's departure may still be finish()ed, with on_finish run and nothing logged.
    events: list[str] = []
    chunk = b"y" * 65536

    class Streamer(RequestHandler):
        async def get(self) -> None:
            self.set_header("Content-Length", str(len(chunk) * 1000))
            try:
                for _ in range(1000):
                    self.write(chunk)
                    await self.flush()
            except Exception as exc:  # the client went away mid-response
                events.append(type(exc).__name__)
            await asyncio.sleep(0)
            # Tornado code awaits finish(); with nobody to send to, it completes.
            await self.finish()
            events.append("finish returned")

        def on_connection_close(self) -> None:
            events.append("on_connection_close")

        def on_finish(self) -> None:
            events.append("on_finish")

    client = native_client_for(Application([(r"/stream", Streamer)]))
    with caplog.at_level(logging.DEBUG):
        _download_and_leave(client.port, "/stream", reset=True)
        assert _wait_for(lambda: "finish returned" in events), events
        assert _wait_for(lambda: client.running.connections() == 0)
    # The failed flush and the close callback come in either order (the write may fail
    # while the connection's connection_lost() is still queued); sleep(0) lets both happen.
    assert sorted(events[:2]) == ["StreamClosedError", "on_connection_close"]
    assert events[2:] == ["on_finish", "finish returned"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, caplog.text


def test_finish_right_after_the_connection_closed_is_quiet(
    native_client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The connection is closing but its connection_lost() has not run yet (it is
    # scheduled for the next loop iteration): the state a handler sees when the
    # client's reset was read during this iteration. Tornado code closes the
    # stream itself the same way (request.connection.stream.close()).
    events: list[str] = []

    class Closer(RequestHandler):
        async def get(self) -> None:
            self.set_header("Content-Length", "1000")
            self.write(b"x" * 10)
            await self.flush()
            self.request.connection.stream.close()  # type: ignore[union-attr]
            try:
                self.write(b"y" * 10)
                await self.flush()
            except Exception as exc:
                events.append(type(exc).__name__)
            self.finish()
            events.append("finish returned")

        def on_finish(self) -> None:
            events.append("on_finish")

    client = native_client_for(Application([(r"/close", Closer)]))
    with caplog.at_level(logging.DEBUG):
        sock = socket.create_connection(("127.0.0.1", client.port), timeout=5)
        try:
            sock.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _wait_for(lambda: "finish returned" in events or len(events) >= 2), events
        finally:
            sock.close()
        assert _wait_for(lambda: client.running.connections() == 0)
    assert events == ["StreamClosedError", "on_finish", "finish returned"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, caplog.text
