"""WebSockets ride the seam's upgrade channel, pushed natively or read through an adapter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import dualweb._websocket_channel as websocket_channel
import dualweb.shutdown
from dualweb.httpclient import HTTPClientError, HTTPRequest
from dualweb.httpserver import HTTPServer
from dualweb.netutil import bind_sockets
from dualweb.websocket import WebSocketError, WebSocketHandshakeError, websocket_connect
from tests.test_websocket import EchoHandler, Events, app_with
from tests.ws_support import run, serve


@pytest.mark.parametrize("adapter", [False, True], ids=["native-push", "pull-adapter"])
def test_echo_and_close_over_the_upgrade_channel(
    adapter: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if adapter:
        # A driver whose upgrade() channel only offers read(): the adapter's path.
        class NotNative:
            pass

        monkeypatch.setattr(websocket_channel, "NativeChannel", NotNative)
    events = Events()

    async def go() -> None:
        async with serve(app_with(EchoHandler, events)) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                for text in ("one", "two" * 1000):
                    await ws.send(text)
                    assert await ws.recv() == text
                await ws.close(4002, "bye")
            await asyncio.wait_for(events.closed.wait(), 5)

    run(go)
    assert events.log[-1] == ("close", 4002, "bye")
    assert ("message", "one") in events.log



def test_refused_handshake_raises_http_client_error_with_the_status() -> None:
    events = Events()

    async def go() -> None:
        async with serve(app_with(EchoHandler, events)) as port:
            with pytest.raises(HTTPClientError) as missing:
                await websocket_connect(f"ws://127.0.0.1:{port}/nowhere")
            assert missing.value.code == 404
            assert isinstance(missing.value, WebSocketError)
            assert isinstance(missing.value, WebSocketHandshakeError)
            cross_origin = HTTPRequest(
                f"ws://127.0.0.1:{port}/ws", headers={"Origin": "http://elsewhere.example"}
            )
            with pytest.raises(HTTPClientError) as refused:
                await websocket_connect(cross_origin)
            assert refused.value.code == 403
            assert str(refused.value).startswith("HTTP 403: WebSocket handshake failed")

    run(go)


def test_graceful_shutdown_closes_every_open_websocket_with_1001() -> None:
    events = Events()
    closed: list[Any] = []

    class Recorded(EchoHandler):
        def on_close(self) -> None:
            closed.append(self.close_code)
            super().on_close()

    async def go() -> None:
        server = HTTPServer(app_with(Recorded, events))
        sockets = bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        try:
            clients = [await connect(f"ws://127.0.0.1:{port}/ws") for _ in range(3)]
            for ws in clients:
                await ws.send("hi")
                assert await ws.recv() == "hi"
            assert await dualweb.shutdown.graceful_shutdown([server], timeout=5) is True
            for ws in clients:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1001
                assert ws.close_reason == "server shutting down"
            # Every socket is gone: a later shutdown has nothing of theirs to close.
            assert closed == [1001, 1001, 1001]
            assert await dualweb.shutdown.graceful_shutdown([], timeout=1) is True
        finally:
            server.stop()
            await server.close_all_connections()

    run(go)
