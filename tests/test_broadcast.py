"""dualweb.broadcast: publish/subscribe in memory and over a real redis-server.

The Redis tests start ``redis-server`` (Debian package ``redis-server``) on a free
port of 127.0.0.1, and the scale-out test runs two real dualweb server processes
connected to it: a message posted to one reaches a long-poll client of the other,
also after redis-server was killed and started again on the same port.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dualweb.broadcast import (
    Broadcast,
    BroadcastError,
    BroadcastUnavailableError,
    Event,
    SubscriptionClosed,
)
from dualweb.connection import AsyncUnavailableError
from dualweb.web import Application, RequestHandler
from tests.harness import ServerProcess, free_port, run
from tests.support import make_client

# --- in memory ---------------------------------------------------------------------------


def test_iterator_subscribers_get_str_bytes_and_json(kind: str) -> None:
    async def main() -> list[Any]:
        async with Broadcast("memory://") as broadcast:
            async with broadcast.subscribe("chat") as first, broadcast.subscribe("chat") as second:
                other = broadcast.subscribe("news")
                await broadcast.publish("chat", "héllo")
                await broadcast.publish("chat", b"\x00\xff")
                await broadcast.publish_json("chat", {"n": 1})
                received = [await first.get() for _ in range(3)]
                assert [await second.get() for _ in range(3)] == received
                counts = [broadcast.subscriber_count(name) for name in ("chat", "news")]
                assert counts == [2, 1]
                other.close()
                assert other.closed
                assert broadcast.subscriber_count("news") == 0
                return [received[0].message, received[1].data, received[2].json(), received[0]]

    text, data, value, event = run(main, kind)
    assert (text, data, value) == ("héllo", b"\x00\xff", {"n": 1})
    assert event == Event("chat", "héllo".encode())


def test_async_for_ends_when_the_subscription_closes() -> None:
    async def main() -> tuple[list[str], str]:
        async with Broadcast("memory://") as broadcast:
            subscription = broadcast.subscribe("chat")
            await broadcast.publish("chat", "one")
            await broadcast.publish("chat", "two")
            subscription.close()
            seen = [event.message async for event in subscription]  # the queue drains, then ends
            with pytest.raises(SubscriptionClosed) as info:
                await subscription.get()
            return seen, info.value.reason

    assert run(main) == (["one", "two"], "closed")


def test_disconnect_ends_every_subscription() -> None:
    async def main() -> tuple[list[str], str | None]:
        broadcast = Broadcast("memory://")
        await broadcast.connect()
        subscription = broadcast.subscribe("chat")

        async def read() -> list[str]:
            return [event.message async for event in subscription]

        reader = asyncio.ensure_future(read())
        await broadcast.publish("chat", "last")
        await asyncio.sleep(0)
        await broadcast.disconnect()
        return await reader, subscription.close_reason

    assert run(main) == (["last"], "disconnected")


def test_callback_subscriptions_fit_handler_open_and_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    received: list[str] = []

    async def main() -> None:
        async with Broadcast("memory://") as broadcast:

            def broken(event: Event) -> None:
                raise RuntimeError("boom")

            async def slow(event: Event) -> None:
                await asyncio.sleep(0)
                received.append("async " + event.message)

            failing = broadcast.subscribe("chat", broken)
            handler = broadcast.subscribe("chat", lambda event: received.append(event.message))
            coroutine = broadcast.subscribe("chat", slow)
            await broadcast.publish("chat", "hi")
            await asyncio.sleep(0.01)
            for subscription in (failing, handler, coroutine):
                subscription.close()  # what on_close() / on_connection_close() does
            await broadcast.publish("chat", "after close")
            with pytest.raises(BroadcastError, match="on_message callback"):
                await handler.get()

    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        run(main)
    assert received == ["hi", "async hi"]
    assert any("on_message callback" in r.getMessage() and "'chat'" in r.getMessage()
               for r in caplog.records)


def test_slow_subscriber_drops_oldest_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[list[str], int]:
        async with Broadcast("memory://", max_queue=3) as broadcast:
            subscription = broadcast.subscribe("chat")
            for n in range(6):
                await broadcast.publish("chat", str(n))
            seen = [(await subscription.get()).message for _ in range(3)]
            return seen, subscription.dropped

    with caplog.at_level(logging.WARNING, logger="dualweb.general"):
        assert run(main) == (["3", "4", "5"], 3)
    warnings = [r.getMessage() for r in caplog.records if "fell behind" in r.getMessage()]
    assert len(warnings) == 1
    assert "'chat'" in warnings[0] and "dropping its oldest events" in warnings[0]


def test_slow_subscriber_is_closed_with_overflow_close(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[list[str], str | None]:
        async with Broadcast("memory://") as broadcast:
            subscription = broadcast.subscribe("chat", max_queue=2, overflow="close")
            for n in range(3):
                await broadcast.publish("chat", str(n))
            return [e.message async for e in subscription], subscription.close_reason

    with caplog.at_level(logging.WARNING, logger="dualweb.general"):
        assert run(main) == (["0", "1"], "overflow")
    assert any("closing its subscription" in r.getMessage() for r in caplog.records)


def test_programming_errors_are_explained() -> None:
    with pytest.raises(ValueError, match="unsupported scheme 'kafka'"):
        Broadcast("kafka://localhost")
    with pytest.raises(ValueError, match="overflow must be one of"):
        Broadcast(overflow="block")  # type: ignore[arg-type]

    async def main() -> None:
        broadcast = Broadcast("memory://")
        with pytest.raises(BroadcastError, match=r"not connected: await broadcast\.connect"):
            broadcast.subscribe("chat")
        async with broadcast:
            with pytest.raises(TypeError, match="takes str or bytes, got dict"):
                broadcast.publish("chat", {"a": 1})  # type: ignore[arg-type]
            with pytest.raises(BroadcastError, match="already connected"):
                await broadcast.connect()

    run(main)


class PublishHandler(RequestHandler):
    broadcast = Broadcast("memory://")

    def post(self) -> None:
        self.broadcast.publish("chat", self.request.body)


def test_under_wsgi_it_raises_async_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(Application([("/publish", PublishHandler)]), "wsgi")
    try:
        with caplog.at_level(logging.ERROR, logger="dualweb.application"):
            response = client.post("/publish", body=b"hi")
    finally:
        client.close()
    assert response.status == 500
    expected = (
        "Broadcast.publish('chat') was called with no running event loop; dualweb.broadcast "
        "channels need dualweb's native server (app.listen() or HTTPServer) and are disabled "
        "under WSGIAdapter."
    )
    assert any(expected in r.getMessage() or expected in str(r.exc_info and r.exc_info[1])
               for r in caplog.records)
    with pytest.raises(AsyncUnavailableError, match=r"Broadcast.subscribe\('chat'\)"):
        PublishHandler.broadcast.subscribe("chat")


# --- Redis -------------------------------------------------------------------------------


class RedisServer:
    """A redis-server on 127.0.0.1:``port`` with persistence off; start/kill at will."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers_ping():
            assert self.proc.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not answer PING in 10 s"
            time.sleep(0.05)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16) == b"+PONG\r\n"
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_redis_fans_out_between_broadcasts(redis_server: RedisServer, kind: str) -> None:
    async def main() -> list[Any]:
        async with Broadcast(redis_server.url) as one, Broadcast(redis_server.url) as two:
            async with two.subscribe("chat") as subscription:
                await one.publish("chat", "from one")
                await one.publish_json("chat", [1, 2])
                await one.publish("other", "not for us")
                first = await subscription.get()
                second = await subscription.get()
            return [first.message, second.json()]

    assert run(main, kind) == ["from one", [1, 2]]


def test_redis_unreachable_is_a_clear_error(redis_server: RedisServer) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    async def main() -> None:
        with pytest.raises(BroadcastUnavailableError, match=f"cannot connect to Redis at {url}"):
            await Broadcast(url).connect()
        async with Broadcast(redis_server.url) as broadcast:
            redis_server.kill()
            with pytest.raises(BroadcastUnavailableError, match="the message was not sent"):
                await broadcast.publish("chat", "lost")

    run(main)


def test_publish_works_at_once_after_a_redis_restart(redis_server: RedisServer) -> None:
    async def main() -> None:
        async with Broadcast(redis_server.url) as broadcast:
            await broadcast.publish("chat", "before")
            redis_server.kill()
            redis_server.start()  # same port; the pooled connection is now stale
            await broadcast.publish("chat", "after")

    run(main)


APP = '''
import asyncio, logging, sys
from dualweb.broadcast import Broadcast, BroadcastUnavailableError
from dualweb.web import Application, RequestHandler

broadcast = Broadcast(sys.argv[2], reconnect_delay=0.05, max_reconnect_delay=0.5)


class Ready(RequestHandler):
    def get(self):
        self.write("ok")


class Count(RequestHandler):
    def get(self):
        self.write(str(broadcast.subscriber_count("chat")))


class Publish(RequestHandler):
    async def post(self):
        try:
            await broadcast.publish("chat", self.request.body)
        except BroadcastUnavailableError as exc:
            self.set_status(503)
            self.write(str(exc))


class Poll(RequestHandler):
    """Long polling, iterator style: the next message, or 204 after 'timeout' seconds."""

    async def get(self):
        timeout = float(self.get_argument("timeout"))
        async with broadcast.subscribe("chat") as subscription:
            try:
                event = await asyncio.wait_for(subscription.get(), timeout)
            except asyncio.TimeoutError:
                self.set_status(204)
                return
        self.write(event.data)


class Wait(RequestHandler):
    """Long polling, callback style: subscribe in prepare(), unsubscribe when done."""

    def prepare(self):
        self.arrived = asyncio.get_running_loop().create_future()
        self.subscription = broadcast.subscribe("chat", self.on_event)

    def on_event(self, event):
        if not self.arrived.done():
            self.arrived.set_result(event.data)

    async def get(self):
        try:
            self.write(await asyncio.wait_for(self.arrived, float(self.get_argument("timeout"))))
        except asyncio.TimeoutError:
            self.set_status(204)

    def on_finish(self):
        self.subscription.close()

    def on_connection_close(self):
        self.subscription.close()


async def main():
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    async with broadcast:
        app = Application([
            ("/", Ready), ("/count", Count), ("/publish", Publish), ("/poll", Poll), ("/wait", Wait)
        ])
        app.listen(int(sys.argv[1]), "127.0.0.1")
        await asyncio.Event().wait()

asyncio.run(main())
'''


def _deliver(sender: ServerProcess, receiver: ServerProcess, path: str, text: bytes) -> bytes:
    """Long-poll ``path`` on ``receiver`` while posting ``text`` to ``sender`` until it arrives.

    Publishing repeats because a message reaches only the subscriptions that exist
    when it is published (and, after a Redis restart, once the receiver reconnected).
    """
    result: list[tuple[int, bytes]] = []

    def poll() -> None:
        for _ in range(30):
            status, _, body = receiver.request("GET", f"{path}?timeout=1")
            if status == 200:
                result.append((status, body))
                return

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for _ in range(300):
            if result:
                break
            sender.request("POST", "/publish", body=text)
            time.sleep(0.1)
    finally:
        poller.join(40)
    assert result, f"{text!r} never reached {path} on the other process"
    return result[0][1]


def _client_goes_away(server: ServerProcess, path: str) -> None:
    """Start a long poll on ``server``, hang up once it is subscribed, wait for the unsubscribe."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        for _ in range(100):
            if server.request("GET", "/count")[2] == b"1":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the long poll never subscribed")
    for _ in range(100):
        if server.request("GET", "/count")[2] == b"0":
            return
        time.sleep(0.05)
    raise AssertionError("the subscription outlived its client")


def test_two_server_processes_share_messages_through_redis(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(APP)
    servers: list[ServerProcess] = []
    try:
        for _ in range(2):
            port = free_port()
            servers.append(ServerProcess(["app.py", str(port), redis_server.url], port, tmp_path))
        one, two = servers
        assert _deliver(one, two, "/poll", b"hello from one") == b"hello from one"
        assert _deliver(two, one, "/wait", b"hello from two") == b"hello from two"

        assert two.request("GET", "/count")[2] == b"0"
        _client_goes_away(two, "/wait?timeout=30")  # on_connection_close() unsubscribes

        redis_server.kill()
        for server in servers:
            assert "broadcast: lost the connection to Redis at " + redis_server.url in (
                server.wait_for_stderr("lost the connection", timeout=10)
            )
        status, _, body = one.request("POST", "/publish", body=b"while down")
        assert status == 503
        assert b"is unreachable" in body and b"the message was not sent" in body
        assert one.request("GET", "/")[0] == 200  # still serving

        redis_server.start()  # the same port
        for server in servers:
            log = server.wait_for_stderr("reconnected to Redis", timeout=15)
            recovered = "INFO dualweb.general broadcast: reconnected to Redis at "
            assert recovered + redis_server.url in log
        assert _deliver(one, two, "/poll", b"after restart") == b"after restart"
        assert _deliver(two, one, "/wait", b"back again") == b"back again"
    finally:
        logs = [server.stop() for server in servers]
    for log in logs:
        assert "WARNING dualweb.general broadcast: lost the connection to Redis" in log
        assert "Traceback" not in log, log
