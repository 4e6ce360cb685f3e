"""WebSocketHandler over a real socket, with the ``websockets`` library as the independent peer."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
from typing import Any

import pytest
import websockets
import webtest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dualweb.web import Application, HTTPError, authenticated
from dualweb.websocket import WebSocketClosedError, WebSocketHandler
from dualweb.wsgi import AsyncRoutesWarning, WSGIAdapter
from tests.ws_support import RawClient, run, serve


class Events:
    """What the handlers saw, for the test to check."""

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.closed = asyncio.Event()


class EchoHandler(WebSocketHandler):
    def initialize(self, events: Events) -> None:
        self.events = events

    def open(self, *args: str, **kwargs: str) -> None:
        self.events.log.append(("open", args, kwargs))

    def on_message(self, message: str | bytes) -> None:
        self.events.log.append(("message", message))
        self.write_message(message, binary=isinstance(message, bytes))

    def on_ping(self, data: bytes) -> None:
        self.events.log.append(("ping", data))

    def on_pong(self, data: bytes) -> None:
        self.events.log.append(("pong", data))

    def on_close(self) -> None:
        self.events.log.append(("close", self.close_code, self.close_reason))
        self.events.closed.set()


def app_with(handler: type[WebSocketHandler], events: Events, **settings: Any) -> Application:
    return Application([(r"/ws(?:/(\w+))?", handler, {"events": events})], **settings)


def test_echo_text_and_binary_and_close_code() -> None:
    events = Events()

    async def go() -> None:
        async with serve(app_with(EchoHandler, events)) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws/room") as ws:
                await ws.send("héllo")
                assert await ws.recv() == "héllo"
                await ws.send(b"\x00\xff")
                assert await ws.recv() == b"\x00\xff"
                await ws.close(4001, "done")
            await asyncio.wait_for(events.closed.wait(), 5)

    run(go)
    assert events.log == [
        ("open", ("room",), {}),
        ("message", "héllo"),
        ("message", b"\x00\xff"),
        ("close", 4001, "done"),
    ]


def test_open_coroutine_delays_messages_and_on_message_coroutines_run_in_order() -> None:
    order: list[str] = []

    class Slow(WebSocketHandler):
        async def open(self) -> None:  # type: ignore[override]
            await asyncio.sleep(0.05)
            order.append("opened")

        async def on_message(self, message: str | bytes) -> None:  # type: ignore[override]
            assert isinstance(message, str)
            # Earlier messages sleep longer: order must still be kept.
            await asyncio.sleep(0.01 * (5 - int(message)))
            order.append(message)
            await self.write_message(message)

    async def go() -> None:
        async with serve(Application([("/ws", Slow)])) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                for i in range(5):
                    await ws.send(str(i))
                assert [await ws.recv() for _ in range(5)] == ["0", "1", "2", "3", "4"]

    run(go)
    assert order == ["opened", "0", "1", "2", "3", "4"]


def test_write_message_dict_is_json_and_closed_socket_raises() -> None:
    errors: list[BaseException] = []

    class Json(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            self.write_message({"got": message})
            self.close(1000, "bye")
            try:
                self.write_message("after close")
            except WebSocketClosedError as exc:
                errors.append(exc)

    async def go() -> None:
        async with serve(Application([("/ws", Json)])) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send("x")
                assert json.loads(await ws.recv()) == {"got": "x"}
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd is not None
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (1000, "bye")

    run(go)
    assert len(errors) == 1


def plain_get(port: int, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/ws", headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_plain_http_request_gets_400_with_clear_body() -> None:
    async def go() -> None:
        async with serve(app_with(EchoHandler, Events())) as port:
            status, _, body = await asyncio.to_thread(plain_get, port, {})
            assert status == 400
            assert body == b'Can "Upgrade" only to "WebSocket".\n'
            # Upgrade present but no "Connection: Upgrade": still a bad request.
            status, _, body = await asyncio.to_thread(
                plain_get, port, {"Upgrade": "websocket", "Connection": "keep-alive"}
            )
            assert status == 400
            assert b"Connection" in body

    run(go)


def test_handshake_errors_come_from_websockets_checks() -> None:
    async def go() -> None:
        async with serve(app_with(EchoHandler, Events())) as port:
            client = await RawClient.connect(port, headers={"Sec-WebSocket-Version": "8"})
            assert client.status == 426
            assert "sec-websocket-version: 13" in client.head.lower()
            await client.close()
            client = await RawClient.connect(port, headers={"Sec-WebSocket-Key": "short"})
            assert client.status == 400
            assert "Sec-WebSocket-Key" in (await client.reader.read(1000)).decode()
            await client.close()

    run(go)


def test_cross_origin_is_refused_by_default_and_check_origin_can_allow_it() -> None:
    class Open(EchoHandler):
        def check_origin(self, origin: str) -> bool:
            return origin == "https://friend.example"

    async def go() -> None:
        events = Events()
        async with serve(app_with(EchoHandler, events)) as port:
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{port}/ws", origin="http://evil.example"):  # type: ignore[arg-type]
                    pass
            assert info.value.response.status_code == 403
            assert b"Cross origin websockets not allowed" in info.value.response.body
            same = f"http://127.0.0.1:{port}"
            async with connect(f"ws://127.0.0.1:{port}/ws", origin=same) as ws:  # type: ignore[arg-type]
                await ws.send("ok")
                assert await ws.recv() == "ok"
        async with serve(app_with(Open, events)) as port:
            origin: Any = "https://friend.example"
            async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin) as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"

    run(go)


def test_subprotocol_selection() -> None:
    seen: list[list[str]] = []

    class Proto(EchoHandler):
        def select_subprotocol(self, subprotocols: list[str]) -> str | None:
            seen.append(subprotocols)
            return "chat.v2" if "chat.v2" in subprotocols else None

        def open(self, *args: str, **kwargs: str) -> None:
            self.events.log.append(("selected", self.selected_subprotocol))

    events = Events()

    async def go() -> None:
        async with serve(app_with(Proto, events)) as port:
            offered: Any = ["chat.v1", "chat.v2"]
            async with connect(f"ws://127.0.0.1:{port}/ws", subprotocols=offered) as ws:
                assert ws.subprotocol == "chat.v2"
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                assert ws.subprotocol is None

    run(go)
    assert seen == [["chat.v1", "chat.v2"], []]
    assert ("selected", "chat.v2") in events.log and ("selected", None) in events.log


def test_max_message_size_setting_closes_with_1009() -> None:
    events = Events()

    async def go() -> None:
        app = app_with(EchoHandler, events, websocket_max_message_size=1000)
        async with serve(app) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send("a" * 1000)
                assert await ws.recv() == "a" * 1000
                await ws.send("a" * 1001)
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd is not None and info.value.rcvd.code == 1009
            await asyncio.wait_for(events.closed.wait(), 5)

    run(go)


def test_default_max_message_size_is_10_mib() -> None:
    handler = WebSocketHandler.__new__(WebSocketHandler)
    handler.application = Application()
    assert handler.max_message_size == 10 * 1024 * 1024
    assert handler.ping_interval is None and handler.ping_timeout is None


def test_pings_and_pongs_reach_the_handler() -> None:
    events = Events()

    class Pinger(EchoHandler):
        def open(self, *args: str, **kwargs: str) -> None:
            self.ping(b"from-server")

    async def go() -> None:
        async with serve(app_with(Pinger, events)) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws", ping_interval=None) as ws:
                pong = await ws.ping(b"from-client")
                await asyncio.wait_for(pong, 5)
                await ws.send("sync")
                assert await ws.recv() == "sync"

    run(go)
    assert ("ping", b"from-client") in events.log
    assert ("pong", b"from-server") in events.log


def test_ping_interval_setting_sends_pings() -> None:
    events = Events()

    async def go() -> None:
        app = app_with(EchoHandler, events, websocket_ping_interval=0.02)
        async with serve(app) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws", ping_interval=None):
                for _ in range(200):
                    if sum(1 for e in events.log if e[0] == "pong") >= 2:
                        break
                    await asyncio.sleep(0.01)

    run(go)
    assert sum(1 for e in events.log if e[0] == "pong") >= 2


def test_ping_rejects_oversized_payload() -> None:
    failures: list[str] = []

    class Big(WebSocketHandler):
        def open(self) -> None:  # type: ignore[override]
            try:
                self.ping(b"x" * 126)
            except ValueError as exc:
                failures.append(str(exc))
            self.set_nodelay(True)
            self.write_message("ready")

    async def go() -> None:
        async with serve(Application([("/ws", Big)])) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                assert await ws.recv() == "ready"

    run(go)
    assert failures and "125" in failures[0]


def test_server_close_sends_code_and_reason() -> None:
    class Closer(WebSocketHandler):
        def open(self) -> None:  # type: ignore[override]
            self.close(4002, "go away")

    async def go() -> None:
        async with serve(Application([("/ws", Closer)])) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd is not None
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (4002, "go away")

    run(go)


def test_exception_in_on_message_is_logged_and_closes_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            raise RuntimeError("boom in handler")

    async def go() -> None:
        async with serve(Application([("/ws", Broken)])) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send("x")
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd is not None and info.value.rcvd.code == 1011

    with caplog.at_level(logging.ERROR):
        run(go)
    assert any("Uncaught exception in Broken" in r.getMessage() for r in caplog.records)
    assert any("boom in handler" in str(r.exc_info) for r in caplog.records)


def test_prepare_and_authenticated_run_before_the_upgrade() -> None:
    class Guarded(EchoHandler):
        def prepare(self) -> None:
            if self.get_argument("token", None) == "bad":
                raise HTTPError(403)

        def get_current_user(self) -> Any:
            return self.get_argument("user", None)

        @authenticated
        def get(self, *args: str, **kwargs: str) -> None:
            return super().get(*args, **kwargs)

    events = Events()

    async def go() -> None:
        app = app_with(Guarded, events, login_url="/login")
        async with serve(app) as port:
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{port}/ws?token=bad&user=u"):
                    pass
            assert info.value.response.status_code == 403
            client = await RawClient.connect(port, "/ws")
            assert client.status == 302
            assert "\r\nLocation: /login?next=" in client.head
            await client.close()
            async with connect(f"ws://127.0.0.1:{port}/ws?user=u") as ws:
                await ws.send("in")
                assert await ws.recv() == "in"

    run(go)


def test_permessage_deflate_is_negotiated_when_compression_options_are_given() -> None:
    class Compressed(EchoHandler):
        def get_compression_options(self) -> dict[str, Any] | None:
            return {"compression_level": 9, "server_max_window_bits": 10}

    events = Events()

    async def go() -> None:
        async with serve(app_with(Compressed, events)) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws", compression="deflate") as ws:
                assert ws.response is not None
                header = ws.response.headers["Sec-WebSocket-Extensions"]
                assert header.startswith("permessage-deflate")
                assert "server_max_window_bits=10" in header
                big = "compress me " * 5000
                await ws.send(big)
                assert await ws.recv() == big
        async with serve(app_with(EchoHandler, events)) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws", compression="deflate") as ws:
                assert ws.response is not None
                assert "Sec-WebSocket-Extensions" not in ws.response.headers

    run(go)


def test_client_no_context_takeover_and_window_bits_offer_is_honoured() -> None:
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    class Compressed(EchoHandler):
        def get_compression_options(self) -> dict[str, Any] | None:
            return {}

    async def go() -> None:
        offer = ClientPerMessageDeflateFactory(
            client_no_context_takeover=True, server_max_window_bits=12, client_max_window_bits=11
        )
        async with serve(app_with(Compressed, Events())) as port:
            async with connect(
                f"ws://127.0.0.1:{port}/ws", compression=None, extensions=[offer]
            ) as ws:
                assert ws.response is not None
                header = ws.response.headers["Sec-WebSocket-Extensions"]
                assert "client_no_context_takeover" in header
                assert "server_max_window_bits=12" in header
                assert "client_max_window_bits=11" in header
                for _ in range(3):
                    await ws.send("again " * 100)
                    assert await ws.recv() == "again " * 100

    run(go)


def test_websocket_route_under_wsgi_is_listed_and_refused(caplog: pytest.LogCaptureFixture) -> None:
    app = app_with(EchoHandler, Events())
    with pytest.warns(AsyncRoutesWarning, match="EchoHandler is a WebSocket endpoint"):
        adapter = WSGIAdapter(app)
    routes = adapter.async_routes()
    assert len(routes) == 1
    assert routes[0].reasons == ("EchoHandler is a WebSocket endpoint",)
    client = webtest.TestApp(adapter)
    with caplog.at_level(logging.ERROR):
        response = client.get("/ws", expect_errors=True)
    assert response.status_int == 500
    expected = (
        "EchoHandler.get is a WebSocket endpoint; WebSockets need dualweb's native server "
        "(app.listen() or HTTPServer) and are disabled under WSGIAdapter."
    )
    assert any(expected in r.getMessage() or expected in str(r.exc_info) for r in caplog.records)
    with pytest.raises(Exception, match="WebSocket endpoint"):
        WSGIAdapter(app, strict=True)


def test_client_leaving_without_close_frame_calls_on_close_with_no_code() -> None:
    events = Events()

    async def go() -> None:
        async with serve(app_with(EchoHandler, events)) as port:
            client = await RawClient.connect(port)
            assert client.status == 101
            await client.close()
            await asyncio.wait_for(events.closed.wait(), 5)

    run(go)
    assert events.log[-1] == ("close", None, None)


def test_websockets_version_is_recent_enough() -> None:
    # The sans-io API used here (ServerProtocol(state=...), accept()) is websockets >= 11.
    assert int(websockets.__version__.split(".")[0]) >= 11


def test_request_stays_readable_and_http_output_after_the_upgrade_fails_clearly() -> None:
    seen: list[Any] = []

    class Inspect(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            seen.append((self.request.remote_ip, self.request.path, self.get_argument("q")))
            try:
                self.flush()
            except RuntimeError as exc:
                seen.append(str(exc))
            self.write_message("ok")

    async def go() -> None:
        async with serve(Application([("/ws", Inspect)])) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws?q=1") as ws:
                await ws.send("x")
                assert await ws.recv() == "ok"

    run(go)
    assert seen[0] == ("127.0.0.1", "/ws", "1")
    assert "upgraded to a WebSocket" in seen[1]


def test_ws_connection_is_none_before_open_and_after_close() -> None:
    states: list[Any] = []

    class Watch(WebSocketHandler):
        def prepare(self) -> None:
            states.append(self.ws_connection)

        def open(self) -> None:  # type: ignore[override]
            states.append(self.ws_connection is not None)
            assert self.ws_connection is not None
            states.append(self.ws_connection.is_closing())

        def on_message(self, message: str | bytes) -> None:
            self.close()
            states.append(self.ws_connection)

    async def go() -> None:
        async with serve(Application([("/ws", Watch)])) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send("x")
                with pytest.raises(ConnectionClosed):
                    await ws.recv()

    run(go)
    assert states == [None, True, False, None]


def test_plain_get_to_a_websocket_route_in_both_modes(client_for: Any, mode: str) -> None:
    app = Application([("/ws", EchoHandler, {"events": Events()})])
    with pytest.warns(AsyncRoutesWarning) if mode == "wsgi" else contextlib.nullcontext():
        client = client_for(app)
    response = client.get("/ws")
    if mode == "native":
        assert response.status == 400
        assert response.text == 'Can "Upgrade" only to "WebSocket".\n'
    else:
        assert response.status == 500
