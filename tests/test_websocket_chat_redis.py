"""examples/chat scaled out: two chat processes share their messages through a real redis-server.

A message posted to one process reaches the WebSocket and long-poll clients of the
other. Uses test_broadcast's ``redis_server`` fixture (skipped without ``redis-server``).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from dualweb.websocket import WebSocketClientConnection, websocket_connect
from tests.harness import ROOT, ServerProcess, free_port, run
from tests.test_broadcast import RedisServer, redis_server  # noqa: F401  (a fixture)

CHAT = ROOT / "examples" / "chat" / "chat.py"


@pytest.fixture
def two_chats(redis_server: RedisServer) -> Iterator[list[ServerProcess]]:  # noqa: F811
    chats: list[ServerProcess] = []
    try:
        for _ in range(2):
            port = free_port()
            args = [str(CHAT), "--port", str(port), "--broadcast", redis_server.url]
            chats.append(ServerProcess(args, port, cwd=ROOT))
        yield chats
    finally:
        for chat in chats:
            chat.stop()


def post(chat: ServerProcess, text: str) -> int:
    body = urllib.parse.urlencode({"body": text}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return chat.request("POST", "/send", body=body, headers=headers)[0]


async def next_message(conn: WebSocketClientConnection, timeout: float) -> Any:
    try:
        raw = await asyncio.wait_for(conn.read_message(), timeout)
    except asyncio.TimeoutError:
        return None
    assert isinstance(raw, str), f"the socket closed or sent bytes: {raw!r}"
    return json.loads(raw)


def test_a_post_to_one_process_reaches_the_clients_of_the_other(
    two_chats: list[ServerProcess],
) -> None:
    one, other = two_chats

    async def go() -> None:
        conn = await websocket_connect(f"ws://127.0.0.1:{other.port}/ws")
        try:
            assert await next_message(conn, 5) == {"history": []}
            # A message reaches only the subscriptions that exist in Redis when it is
            # published: repeat (bounded) until the other process has subscribed.
            received = None
            for attempt in range(20):
                assert await asyncio.to_thread(post, one, f"hello {attempt}") == 200
                received = await next_message(conn, 0.5)
                if received is not None:
                    break
            assert received is not None, "no message posted to one process reached the other"
            assert received["body"].startswith("hello ")
            # The other process's long-poll clients see it too, in its history.
            status, _, body = await asyncio.to_thread(other.request, "GET", "/updates?cursor=0")
            assert status == 200 and received in json.loads(body)["messages"]
            # And the other way round: a WebSocket message posted on `other` reaches a
            # long poll waiting on `one` (started after everything `one` already has).
            status, _, body = await asyncio.to_thread(one.request, "GET", "/updates?cursor=0")
            cursor = max(m["id"] for m in json.loads(body)["messages"])
            await conn.write_message("hi back")
            path = f"/updates?cursor={cursor}"
            status, _, body = await asyncio.to_thread(one.request, "GET", path)
            assert status == 200
            assert [m["body"] for m in json.loads(body)["messages"]] == ["hi back"]
            # The sender's own socket gets it too (after any late "hello" repeats).
            for _ in range(25):
                echoed = await next_message(conn, 5)
                if echoed is None or echoed["body"] == "hi back":
                    break
            assert echoed is not None and echoed["body"] == "hi back"
        finally:
            conn.close()
            await conn.read_message()

    run(go, timeout=60)
