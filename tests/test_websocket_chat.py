"""examples/chat: WebSocket and long-polling clients share one room; shutdown closes with 1001."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dualweb.websocket import websocket_connect
from tests.ws_support import run

ROOT = Path(__file__).resolve().parent.parent
CHAT = ROOT / "examples" / "chat" / "chat.py"


@pytest.fixture
def chat() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(CHAT), "--port", str(port)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, "the chat example exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the chat example did not listen"
                time.sleep(0.05)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def fetch(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def send_form(port: int, text: str) -> tuple[int, bytes]:
    return fetch(port, "POST", "/send", urllib.parse.urlencode({"body": text}).encode())


def test_pages_are_served(chat: tuple[subprocess.Popen[bytes], int]) -> None:
    _, port = chat
    status, body = fetch(port, "GET", "/")
    assert status == 200 and b"new WebSocket" in body
    status, body = fetch(port, "GET", "/poll")
    assert status == 200 and b"/updates?cursor=" in body


def test_websocket_and_long_polling_share_the_room_and_shutdown_closes_with_1001(
    chat: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = chat

    async def go() -> None:
        dual = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
        assert json.loads(await dual.read_message()) == {"history": []}  # type: ignore[arg-type]
        async with connect(f"ws://127.0.0.1:{port}/ws") as other:
            assert json.loads(await other.recv()) == {"history": []}
            # A long poll from the start waits for the first message.
            poll = asyncio.ensure_future(asyncio.to_thread(fetch, port, "GET", "/updates?cursor=0"))
            await asyncio.sleep(0.1)
            assert not poll.done()
            await dual.write_message("hi from dualweb")
            first = {"id": 1, "body": "hi from dualweb"}
            assert json.loads(await other.recv()) == first
            assert json.loads(await dual.read_message()) == first  # type: ignore[arg-type]
            status, body = await poll
            assert status == 200 and json.loads(body) == {"messages": [first]}
            # A message posted by a polling client reaches both sockets.
            status, _ = await asyncio.to_thread(send_form, port, "hi from a poller")
            assert status == 200
            second = {"id": 2, "body": "hi from a poller"}
            assert json.loads(await other.recv()) == second
            assert json.loads(await dual.read_message()) == second  # type: ignore[arg-type]
            status, body = await asyncio.to_thread(fetch, port, "GET", "/updates?cursor=1")
            assert json.loads(body) == {"messages": [second]}
            # A new socket gets the history.
            async with connect(f"ws://127.0.0.1:{port}/ws") as late:
                assert json.loads(await late.recv()) == {"history": [first, second]}
            # Shutdown: every socket closes with 1001, waiting polls are answered.
            poll = asyncio.ensure_future(asyncio.to_thread(fetch, port, "GET", "/updates?cursor=2"))
            await asyncio.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as info:
                await other.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001
            assert await dual.read_message() is None
            assert dual.close_code == 1001
            status, body = await poll
            assert status == 200 and json.loads(body) == {"messages": []}

    run(go)
    assert proc.wait(10) == 0


def test_bad_input_gets_4xx_and_the_room_keeps_working(
    chat: tuple[subprocess.Popen[bytes], int],
) -> None:
    _, port = chat
    assert send_form(port, "   ")[0] == 400
    assert fetch(port, "GET", "/updates?cursor=abc")[0] == 400

    async def go() -> Any:
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.recv()
            await ws.send("x" * 5000)
            assert "error" in json.loads(await ws.recv())
            await ws.send(b"binary")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1003

    run(go)
    assert send_form(port, "still fine")[0] == 200
