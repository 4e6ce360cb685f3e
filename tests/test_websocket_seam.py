"""WebSockets ride the seam's upgrade channel, pushed natively or read through an adapter."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

import dualweb._websocket_channel as websocket_channel
from dualweb.httpclient import HTTPClientError, HTTPRequest
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
