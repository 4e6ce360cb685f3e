"""Clients that go away: long polls end cleanly, a pipelined client that leaves is noticed."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from typing import Any

import pytest

from dualweb.web import Application, RequestHandler
from tests.harness import wait_until


def _long_poll_app(events: list[str]) -> Application:
    class LongPoll(RequestHandler):
        async def get(self) -> None:
            events.append("waiting")
            try:
                await asyncio.Event().wait()  # nobody will ever set it
            except asyncio.CancelledError:
                events.append("cancelled")
                raise

        def on_connection_close(self) -> None:
            events.append("closed")

    class Quick(RequestHandler):
        def get(self) -> None:
            self.write("quick")

    return Application([(r"/poll", LongPoll), (r"/quick", Quick)])


def test_long_poll_is_cancelled_after_on_connection_close(
    native_client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []
    client = native_client_for(_long_poll_app(events))
    with caplog.at_level(logging.DEBUG):
        sock = socket.create_connection(("127.0.0.1", client.port), timeout=5)
        sock.sendall(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wait_until(lambda: events == ["waiting"])
        sock.close()
        assert wait_until(lambda: events == ["waiting", "closed", "cancelled"])
        assert wait_until(lambda: not client.running.connections())
        gc.collect()
    assert "Task was destroyed but it is pending" not in caplog.text
    assert "Uncaught exception" not in caplog.text
    # Nobody was there to receive an error page, and none was logged as sent.
    assert "500 GET /poll" not in caplog.text


def test_client_leaving_with_a_pipelined_request_queued_is_noticed(native_client_for: Any) -> None:
    events: list[str] = []
    client = native_client_for(_long_poll_app(events))
    sock = socket.create_connection(("127.0.0.1", client.port), timeout=5)
    sock.sendall(
        b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert wait_until(lambda: events == ["waiting"])
    sock.close()
    # The slow handler is told, and the connection (its file descriptor) is released.
    assert wait_until(lambda: "closed" in events)
    assert wait_until(lambda: not client.running.connections())


def test_pipelined_requests_still_answered_in_order(native_client_for: Any) -> None:
    class Slow(RequestHandler):
        async def get(self) -> None:
            await asyncio.sleep(0.2)
            self.write("slow")

    class Quick(RequestHandler):
        def get(self) -> None:
            self.write("quick")

    client = native_client_for(Application([(r"/slow", Slow), (r"/quick", Quick)]))
    with socket.create_connection(("127.0.0.1", client.port), timeout=5) as sock:
        sock.sendall(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /quick HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.index(b"slow") < data.index(b"quick")
    assert data.count(b"HTTP/1.1 200 OK") == 2
