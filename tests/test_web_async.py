"""The asynchronous side of the lifecycle on the native server (WSGI refusals: test_wsgi.py).

Coroutine verbs and prepare, @asynchronous finishing later, @stream_request_body
with a gated prepare, flush() streaming and on_connection_close when the client
goes away.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

import pytest

from dualweb.web import Application, HTTPError, RequestHandler, asynchronous, stream_request_body
from tests.harness import wait_until


def test_coroutine_verb_with_awaits(native_client_for: Any) -> None:
    class Slow(RequestHandler):
        async def get(self) -> None:
            self.write("a")
            await asyncio.sleep(0.01)
            self.write("b")

    assert native_client_for(Application([(r"/", Slow)])).get("/").body == b"ab"


def test_coroutine_raising_http_error(native_client_for: Any) -> None:
    class Denied(RequestHandler):
        async def get(self) -> None:
            await asyncio.sleep(0)
            raise HTTPError(403, reason="Nope")

    resp = native_client_for(Application([(r"/", Denied)])).get("/")
    assert (resp.status, resp.reason) == (403, "Nope")


def test_coroutine_exception_is_logged(
    native_client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Boom(RequestHandler):
        async def post(self) -> None:
            await asyncio.sleep(0)
            raise KeyError("missing-key")

    with caplog.at_level(logging.ERROR):
        resp = native_client_for(Application([(r"/", Boom)])).post("/", body=b"x=1")
    assert resp.status == 500
    assert "Uncaught exception POST / (127.0.0.1)" in caplog.text
    assert "missing-key" in caplog.text


def test_async_prepare_finishing_skips_verb(native_client_for: Any) -> None:
    called: list[str] = []

    class Gate(RequestHandler):
        async def prepare(self) -> None:
            await asyncio.sleep(0)
            self.redirect("/elsewhere")

        def get(self) -> None:
            called.append("get")

    resp = native_client_for(Application([(r"/", Gate)])).get("/")
    assert resp.status == 302
    assert called == []


def test_asynchronous_finishes_later(native_client_for: Any) -> None:
    class Later(RequestHandler):
        @asynchronous
        def get(self) -> None:
            asyncio.get_running_loop().call_later(0.02, self.finish, "finished later")

    resp = native_client_for(Application([(r"/", Later)])).get("/")
    assert resp.body == b"finished later"


def test_asynchronous_with_coroutine_finishes_when_done(native_client_for: Any) -> None:
    class Later(RequestHandler):
        @asynchronous
        async def get(self) -> None:
            await asyncio.sleep(0.01)
            self.write("auto-finished")

    assert native_client_for(Application([(r"/", Later)])).get("/").body == b"auto-finished"


def test_flush_streams_chunks(native_client_for: Any) -> None:
    class Stream(RequestHandler):
        async def get(self) -> None:
            for i in range(3):
                self.write(f"chunk{i};")
                await self.flush()

    resp = native_client_for(Application([(r"/", Stream)])).get("/")
    assert resp.body == b"chunk0;chunk1;chunk2;"
    assert "Content-Length" not in resp.headers


def test_stream_request_body_prepare_gates_data(native_client_for: Any) -> None:
    events: list[str] = []

    @stream_request_body
    class Upload(RequestHandler):
        async def prepare(self) -> None:
            events.append("prepare-start")
            await asyncio.sleep(0.02)
            events.append("prepare-end")
            self.total = 0

        def data_received(self, chunk: bytes) -> None:
            if events[-1] != "data":
                events.append("data")
            self.total += len(chunk)

        def put(self) -> None:
            events.append("put")
            self.write({"total": self.total, "body": len(self.request.body)})

    body = b"z" * 200_000
    resp = native_client_for(Application([(r"/", Upload)])).request("PUT", "/", body=body)
    assert resp.json() == {"total": 200_000, "body": 0}
    assert events == ["prepare-start", "prepare-end", "data", "put"]


def test_stream_request_body_prepare_can_reject(native_client_for: Any) -> None:
    @stream_request_body
    class Upload(RequestHandler):
        def prepare(self) -> None:
            raise HTTPError(413)

        def data_received(self, chunk: bytes) -> None:
            raise AssertionError("no data after a rejecting prepare")

        def put(self) -> None:
            raise AssertionError("not reached")

    resp = native_client_for(Application([(r"/", Upload)])).request("PUT", "/", body=b"x" * 1000)
    assert resp.status == 413


def test_on_connection_close_when_client_goes_away(native_client_for: Any) -> None:
    closed = threading.Event()
    started = threading.Event()

    class LongPoll(RequestHandler):
        async def get(self) -> None:
            started.set()
            self.waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            await self.waiter

        def on_connection_close(self) -> None:
            closed.set()
            if not self.waiter.done():
                self.waiter.set_result(None)

    client = native_client_for(Application([(r"/", LongPoll)]))
    sock = socket.create_connection(("127.0.0.1", client.port), timeout=5)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert started.wait(5)
    finally:
        sock.close()
    assert closed.wait(5), "on_connection_close was not called"
    # The server is still healthy.
    wait_until(lambda: client.get("/nowhere").status == 404, 5)
    assert client.get("/nowhere").status == 404


def test_error_after_flush_ends_the_partial_response(
    native_client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Partial(RequestHandler):
        async def get(self) -> None:
            self.write("partial;")
            await self.flush()
            raise RuntimeError("late failure")

    client = native_client_for(Application([(r"/", Partial)]))
    with caplog.at_level(logging.ERROR):
        resp = client.get("/")
    assert (resp.status, resp.body) == (200, b"partial;")
    assert "Cannot send error response after headers written" in caplog.text
    assert "late failure" in caplog.text
    assert client.get("/").body == b"partial;"  # the server keeps serving
