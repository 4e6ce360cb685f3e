"""The one entry into the core: both drivers, every kind of route target, fast vs general path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import pytest

from dualweb.connection import (
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from dualweb.httputil import HTTPHeaders, HTTPServerRequest
from dualweb.routing import AnyMatches, PathMatches, Router, Rule, RuleRouter
from dualweb.web import Application, RequestHandler
from tests.support import Response, shout_after_upgrade

# -- delegates and targets -----------------------------------------------------------


class EchoMessage(HTTPMessageDelegate):
    """A raw message delegate: answers with what it received, through the connection."""

    def __init__(self, connection: HTTPConnection, label: str) -> None:
        self.connection = connection
        self.label = label
        self.calls: list[str] = []
        self.body = b""

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> None:
        assert isinstance(start_line, RequestStartLine)
        self.calls.append(f"headers {start_line.method} {start_line.path}")

    def data_received(self, chunk: bytes) -> None:
        self.calls.append("data")
        self.body += chunk

    def finish(self) -> None:
        self.calls.append("finish")
        text = f"{self.label}: {' / '.join(self.calls)}; body={self.body.decode()}".encode()
        self.connection.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(text)), "Content-Type": "text/plain"}),
            text,
        )
        self.connection.finish()


class ServerDelegate(HTTPServerConnectionDelegate):
    """A raw server delegate used as a route target (Tornado's routing allows it)."""

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> EchoMessage:
        return EchoMessage(request_conn, "server delegate")


class MessageRouter(Router):
    """A custom router whose find_handler returns a raw HTTPMessageDelegate."""

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> HTTPMessageDelegate:
        assert request.connection is not None
        return EchoMessage(request.connection, f"message delegate for {request.path}")


def plain_callable(request: HTTPServerRequest, **kwargs: Any) -> None:
    assert request.connection is not None
    text = f"callable {request.method} {request.path} {request.arguments}".encode()
    request.connection.write_headers(
        ResponseStartLine("HTTP/1.1", 200, "OK"),
        HTTPHeaders({"Content-Length": str(len(text)), "Content-Type": "text/plain"}),
        text,
    )
    request.connection.finish()


class Hello(RequestHandler):
    def get(self) -> None:
        self.write("hello")


def target_app() -> Application:
    return Application(
        [
            (r"/hello", Hello),
            Rule(PathMatches(r"/server.*"), ServerDelegate()),
            Rule(PathMatches(r"/message.*"), MessageRouter()),
            Rule(PathMatches(r"/callable.*"), plain_callable),
        ]
    )


# -- every kind of target works in both drivers ---------------------------------------


def test_server_delegate_target(client_for: Any) -> None:
    client = client_for(target_app())
    resp = client.post("/server/x", body=b"abc")
    assert resp.status == 200
    assert resp.text == "server delegate: headers POST /server/x / data / finish; body=abc"
    resp = client.get("/server")
    assert resp.text == "server delegate: headers GET /server / finish; body="


def test_message_delegate_target(client_for: Any) -> None:
    client = client_for(target_app())
    resp = client.post("/message/y", body=b"xyz")
    assert resp.status == 200
    assert resp.text.startswith("message delegate for /message/y: ")
    assert resp.text.endswith("data / finish; body=xyz")


def test_callable_target(client_for: Any) -> None:
    client = client_for(target_app())
    resp = client.get("/callable/z?a=1")
    assert resp.status == 200
    assert resp.text == "callable GET /callable/z {'a': [b'1']}"


def test_router_and_callable_as_the_whole_application(client_for: Any) -> None:
    router = RuleRouter([(r"/raw", ServerDelegate()), (r"/fn", plain_callable)])
    client = client_for(router)
    assert client.get("/raw").text == "server delegate: headers GET /raw / finish; body="
    assert client.get("/fn").text == "callable GET /fn {}"
    # The router's 404 (one implementation, whichever driver).
    missing = client.get("/nothing")
    assert (missing.status, missing.body) == (404, b"")
    only = client_for(plain_callable)
    assert only.post("/any", body=b"a=2", headers={
        "Content-Type": "application/x-www-form-urlencoded"
    }).text == "callable POST /any {'a': [b'2']}"


# -- the drivers make the same calls ----------------------------------------------------


class Recorder(HTTPServerConnectionDelegate):
    def __init__(self) -> None:
        self.log: list[str] = []

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        self.log.append("start_request")
        recorder = self

        class Message(EchoMessage):
            def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
                recorder.log.append("headers_received")
                super().headers_received(start_line, headers)

            def data_received(self, chunk: bytes) -> None:
                recorder.log.append("data_received")
                super().data_received(chunk)

            def finish(self) -> None:
                recorder.log.append("finish")
                super().finish()

        return Message(request_conn, "recorded")


def test_both_drivers_enter_through_start_request(client_for: Any) -> None:
    recorder = Recorder()
    client = client_for(recorder)
    assert client.post("/p", body=b"body").status == 200
    assert client.get("/g").status == 200
    assert recorder.log == [
        "start_request", "headers_received", "data_received", "finish",
        "start_request", "headers_received", "finish",
    ]


# -- under WSGI, an awaitable is refused loudly ------------------------------------------


class AwaitableFromPlainDef(RequestHandler):
    def get(self) -> Awaitable[None]:
        return asyncio.sleep(0)


class CoroutineHandler(RequestHandler):
    async def get(self) -> None:
        self.write("natively fine")


def test_plain_def_returning_an_awaitable_is_named_as_such(
    client_for: Any, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = Application([(r"/a", AwaitableFromPlainDef), (r"/c", CoroutineHandler)])
    with pytest.warns(Warning) if mode == "wsgi" else _nothing():
        client = client_for(app)
    with caplog.at_level(logging.ERROR):
        plain = client.get("/a")
        coroutine = client.get("/c")
    if mode == "native":
        assert plain.status == 200 and coroutine.text == "natively fine"
        return
    assert plain.status == 500 and coroutine.status == 500
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "AwaitableFromPlainDef.get returned an awaitable" in messages
    assert "AwaitableFromPlainDef.get is a coroutine" not in messages
    assert "CoroutineHandler.get is a coroutine" in messages


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_raw_delegate_returning_an_awaitable_under_wsgi(
    client_for: Any, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Later(HTTPServerConnectionDelegate):
        def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Any:
            class Message(EchoMessage):
                def finish(self) -> Any:  # type: ignore[override]
                    async def later() -> None:
                        EchoMessage.finish(self)

                    return later()

            return Message(request_conn, "later")

    client = client_for(Later())
    with caplog.at_level(logging.ERROR):
        resp = client.get("/x")
    if mode == "native":
        assert resp.text == "later: headers GET /x / finish; body="
    else:
        assert resp.status == 500
        assert "returned an awaitable" in caplog.text


# -- fast path and general path give the same answers -------------------------------------


class Rich(RequestHandler):
    def prepare(self) -> None:
        self.set_header("X-Prepared", "yes")

    def get(self, name: str) -> None:
        if name == "boom":
            raise RuntimeError("boom")
        if name == "redirect":
            self.redirect("/elsewhere")
            return
        self.set_cookie("c", "v")
        self.write({"name": name, "args": sorted(self.request.arguments)})

    def post(self, name: str) -> None:
        self.write(f"posted {name} {self.get_body_argument('x')}")


def _app() -> Application:
    return Application([(r"/r/(\w+)", Rich)])


REQUESTS = [
    ("GET", "/r/one?a=1&b=2", None, {}),
    ("HEAD", "/r/one", None, {}),
    ("GET", "/r/boom", None, {}),
    ("GET", "/r/redirect", None, {}),
    ("POST", "/r/two", b"x=42", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("DELETE", "/r/one", None, {}),
    ("GET", "/missing", None, {}),
    ("GET", "/r/one", None, {"If-None-Match": '"nope"'}),
]


def _comparable(resp: Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in resp.header_list if k.lower() != "date")
    return resp.status, headers, resp.body


def test_fast_path_and_general_path_agree(client_for: Any) -> None:
    """The application served directly (its own intake, the plain-handler fast path) and
    mounted in a RuleRouter (the generic intake, then the application's delegate)."""
    direct = client_for(_app())
    mounted = client_for(RuleRouter([Rule(AnyMatches(), _app())]))
    for method, path, body, headers in REQUESTS:
        a = direct.request(method, path, body=body, headers=headers)
        b = mounted.request(method, path, body=body, headers=headers)
        assert _comparable(a) == _comparable(b), (method, path)
    assert direct.get("/r/one").json() == {"name": "one", "args": []}


# -- a response head the codec refuses: 500 and close at once (native) ---------------------


class BadLength(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Length", "abc")
        self.write("x")


def test_refused_response_head_answers_500_and_closes(
    native_client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    client = native_client_for(Application([(r"/bad", BadLength), (r"/hello", Hello)]))
    with caplog.at_level(logging.ERROR):
        with socket.create_connection(("127.0.0.1", client.port), timeout=5) as sock:
            # Pipelined: the second request must not be served on this connection.
            sock.sendall(
                b"GET /bad HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            data = b""
            while True:
                chunk = sock.recv(65536)  # a hang would hit the 5 s socket timeout
                if not chunk:
                    break
                data += chunk
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"Connection: close" in data and b"hello" not in data
    assert "Response head refused" in caplog.text


# -- the upgrade capability: a transport-neutral byte channel -------------------------------


class Shout(HTTPServerConnectionDelegate):
    """Upgrades to a protocol that answers every chunk in upper case, through a ByteChannel."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Any:
        shout = self

        class Message(HTTPMessageDelegate):
            def finish(self) -> None:
                from dualweb.connection import AsyncUnavailableError

                if not request_conn.supports_async:
                    try:
                        request_conn.upgrade()
                    except AsyncUnavailableError as exc:
                        text = str(exc).encode()
                        request_conn.write_headers(
                            ResponseStartLine("HTTP/1.1", 501, "Not Implemented"),
                            HTTPHeaders(
                                {"Content-Length": str(len(text)), "Content-Type": "text/plain"}
                            ),
                            text,
                        )
                        request_conn.finish()
                    return
                request_conn.write_headers(
                    ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"),
                    HTTPHeaders({"Upgrade": "shout", "Connection": "Upgrade"}),
                )
                request_conn.finish()
                channel = request_conn.upgrade()
                shout.tasks.append(asyncio.ensure_future(serve(channel)))

        async def serve(channel: Any) -> None:
            while True:
                data = await channel.read()
                if not data:
                    break
                await channel.write(data.upper())
            channel.close()

        return Message()


def test_upgrade_hands_over_a_byte_channel(client_for: Any, mode: str) -> None:

    delegate = Shout()
    client = client_for(delegate)
    if mode == "wsgi":
        resp = client.get("/")
        assert resp.status == 501
        assert "takes over the connection" in resp.text and "protocol upgrades" in resp.text
        return
    shout_after_upgrade(
        client.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n"
    )
