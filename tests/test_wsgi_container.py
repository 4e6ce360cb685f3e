"""WSGIContainer hosting a real Flask app (and bare WSGI callables) next to native handlers.

Everything goes over a real socket to dualweb's native server (tests/harness.py's
ServerThread). Concurrency is shown by what the application records (threads,
the order things happened in), coordinated with events; never by timing.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

flask = pytest.importorskip("flask")

import dualweb.web  # noqa: E402
from dualweb.wsgi import WSGIContainer  # noqa: E402
from tests.harness import ServerThread  # noqa: E402

WAIT = 10  # seconds: the bound on every wait below (never reached when things work)


class NativeHandler(dualweb.web.RequestHandler):
    async def get(self) -> None:
        self.write(f"native on {threading.current_thread().name}")


def mounted(container: WSGIContainer) -> dualweb.web.Application:
    """The container behind a FallbackHandler, next to a native coroutine handler."""
    return dualweb.web.Application(
        [
            (r"/native", NativeHandler),
            (r".*", dualweb.web.FallbackHandler, {"fallback": container}),
        ]
    )


def get(port: int, path: str, method: str = "GET", body: bytes | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        resp.data = resp.read()
        return resp
    finally:
        conn.close()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# -- a real Flask application ---------------------------------------------------------------


class SlowLog:
    """What the slow Flask view records: who entered, on which thread, in which order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []  # (event, path), in the order they happened
        self.threads: set[int] = set()
        self.release = threading.Event()

    def note(self, event: str, path: str) -> None:
        with self.lock:
            self.events.append((event, path))

    def entered(self) -> int:
        with self.lock:
            return sum(1 for event, _ in self.events if event == "start")


def flask_app(slow: SlowLog, stream_gate: threading.Event, produced: list[str]) -> Any:
    app = flask.Flask("wsgi_container_test")

    @app.route("/hello")
    def hello() -> Any:
        return flask.jsonify(
            path=flask.request.path,
            args=dict(flask.request.args),
            multithread=flask.request.environ["wsgi.multithread"],
        )

    @app.route("/echo", methods=["POST"])
    def echo() -> Any:
        return flask.Response(b"got " + flask.request.get_data(), mimetype="text/plain")

    @app.route("/slow/<int:n>")
    def slow_view(n: int) -> str:
        path = flask.request.path
        slow.threads.add(threading.get_ident())
        slow.note("start", path)
        slow.release.wait(WAIT)
        time.sleep(0.3)
        slow.note("end", path)
        return f"slow {n}"

    @app.route("/stream")
    def stream() -> Any:
        def generate() -> Iterator[str]:
            produced.append("first")
            yield "first\n"
            stream_gate.wait(WAIT)
            produced.append("last")
            yield "last\n"

        return flask.Response(generate(), mimetype="text/plain")

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("flask view broke")

    return app


@pytest.fixture
def flask_server(kind: str) -> Iterator[tuple[ServerThread, SlowLog, threading.Event, list[str]]]:
    slow, gate, produced = SlowLog(), threading.Event(), []
    with ThreadPoolExecutor(8) as pool:
        container = WSGIContainer(flask_app(slow, gate, produced), executor=pool)
        server = ServerThread(mounted(container), kind)
        try:
            yield server, slow, gate, produced
        finally:
            slow.release.set()
            gate.set()
            server.close()


def test_flask_next_to_native_handler(flask_server: Any) -> None:
    server, *_ = flask_server
    native = get(server.port, "/native")
    assert (native.status, native.data) == (200, f"native on {server.thread.name}".encode())
    hello = get(server.port, "/hello?x=1")
    assert hello.status == 200
    assert hello.getheader("Content-Type") == "application/json"
    assert json.loads(hello.data) == {"path": "/hello", "args": {"x": "1"}, "multithread": True}
    assert hello.getheader("Content-Length") == str(len(hello.data))
    echo = get(server.port, "/echo", "POST", b"payload \xff")
    assert (echo.status, echo.data) == (200, b"got payload \xff")
    missing = get(server.port, "/nowhere")
    assert missing.status == 404 and b"Not Found" in missing.data  # Flask's own 404


def test_concurrent_slow_flask_requests_overlap_while_native_answers(flask_server: Any) -> None:
    server, slow, _, _ = flask_server
    n = 4
    results: dict[int, tuple[int, bytes]] = {}

    def fetch(i: int) -> None:
        resp = get(server.port, f"/slow/{i}")
        results[i] = (resp.status, resp.data)

    clients = [threading.Thread(target=fetch, args=(i,)) for i in range(n)]
    for client in clients:
        client.start()
    # All N are inside the Flask view at once, each on its own thread...
    wait_until(lambda: slow.entered() == n)
    # ... and the event loop still answers a native coroutine route meanwhile.
    native = get(server.port, "/native")
    assert native.status == 200
    slow.release.set()
    for client in clients:
        client.join(WAIT)
    assert results == {i: (200, f"slow {i}".encode()) for i in range(n)}
    assert len(slow.threads) == n
    # Every request started before any ended: they overlapped.
    kinds = [event for event, _ in slow.events]
    assert kinds == ["start"] * n + ["end"] * n


def test_flask_stream_arrives_in_pieces(flask_server: Any) -> None:
    server, _, gate, produced = flask_server
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        conn.request("GET", "/stream")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.readline() == b"first\n"
        # The client holds the first piece while the app has not produced the last one.
        assert produced == ["first"]
        gate.set()
        assert resp.read() == b"last\n"
        assert produced == ["first", "last"]
    finally:
        conn.close()


def test_flask_view_error_is_flask_500(flask_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    server, *_ = flask_server
    with caplog.at_level(logging.ERROR):
        resp = get(server.port, "/boom")
    assert resp.status == 500
    assert b"Internal Server Error" in resp.data
    assert "flask view broke" in caplog.text  # Flask logs it through app.logger


# -- bare WSGI callables: the PEP 3333 corners ----------------------------------------------


def serve(app: Any, executor: Any = "threads", kind: str = "asyncio") -> ServerThread:
    return ServerThread(mounted(WSGIContainer(app, executor=executor)), kind)


class Endless:
    """A response iterable that goes on until closed; records close()."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.produced = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(20_000):
            if self.closed.is_set():
                return
            self.produced += 1
            time.sleep(0.001)
            yield b"x" * 1024

    def close(self) -> None:
        self.closed.set()


@pytest.mark.parametrize("executor", ["threads", None])
def test_close_called_when_client_disconnects(executor: Any) -> None:
    body = Endless()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Endless:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return body

    server = serve(app, executor)
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # with linger 0: a reset, as a client that went away
        assert body.closed.wait(WAIT)
        assert body.produced < 20_000
        assert get(server.port, "/native").status == 200
    finally:
        server.close()


def test_close_called_after_a_complete_response() -> None:
    closed = threading.Event()

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"a"
            yield b""
            yield b"b"

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    server = serve(app)
    try:
        resp = get(server.port, "/")
        assert (resp.status, resp.data) == (200, b"ab")
        assert closed.is_set()
    finally:
        server.close()


@pytest.mark.parametrize("executor", ["threads", None])
def test_write_callable_and_input(executor: Any) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("201 Created", [("Content-Type", "text/plain")])
        write(b"read:")
        write(environ["wsgi.input"].read())
        return [b":done"]

    server = serve(app, executor)
    try:
        resp = get(server.port, "/", "POST", b"the body")
        assert (resp.status, resp.data) == (201, b"read:the body:done")
    finally:
        server.close()


def test_list_response_gets_content_length_and_defaults() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        return [b"one", b"two"]

    server = serve(app)
    try:
        resp = get(server.port, "/")
        assert (resp.status, resp.data) == (200, b"onetwo")
        assert resp.getheader("Content-Length") == "6"
        assert resp.getheader("Content-Type") == "text/html; charset=UTF-8"
        assert resp.getheader("Transfer-Encoding") is None
    finally:
        server.close()


def raises_in_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    raise RuntimeError("app broke at the call")


def raises_before_first_chunk(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b""
    raise RuntimeError("app broke before any byte")


def never_starts(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    return [b"no start_response"]


def starts_twice(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [])
    start_response("202 Accepted", [])
    return [b""]


@pytest.mark.parametrize(
    ("app", "logged"),
    [
        (raises_in_app, "app broke at the call"),
        (raises_before_first_chunk, "app broke before any byte"),
        (never_starts, "did not call start_response"),
        (starts_twice, "start_response() called twice without exc_info"),
    ],
)
@pytest.mark.parametrize("executor", ["threads", None])
def test_errors_are_logged_500(
    app: Any, logged: str, executor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(app, executor)
    try:
        with caplog.at_level(logging.ERROR):
            resp = get(server.port, "/err")
            assert resp.status == 500
            assert b"Internal Server Error" in resp.data
            assert get(server.port, "/native").status == 200
    finally:
        server.close()
    assert "Uncaught exception in WSGI application" in caplog.text
    assert logged in caplog.text
    assert "500 GET /err" in caplog.text  # the access log line


def test_exc_info_replaces_response_before_headers_are_sent() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("bad thing")
        except ValueError:
            start_response("503 Try Later", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"sorry"]

    server = serve(app)
    try:
        resp = get(server.port, "/")
        assert (resp.status, resp.reason, resp.data) == (503, "Try Later", b"sorry")
    finally:
        server.close()


def test_exc_info_after_headers_are_sent_reraises(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise ValueError("failed mid-stream")
        except ValueError:
            # Too late to change the response: PEP 3333 says this re-raises.
            start_response("500 Oops", [], sys.exc_info())
        yield b"never sent"

    server = serve(app)
    try:
        with caplog.at_level(logging.ERROR):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert resp.status == 200
            # The connection is closed without the last chunk: the client sees it cut short.
            with pytest.raises(http.client.IncompleteRead) as cut:
                resp.read()
            assert cut.value.partial == b"partial"
            conn.close()
            assert get(server.port, "/native").status == 200
    finally:
        server.close()
    assert "failed mid-stream" in caplog.text
    assert "Uncaught exception in WSGI application" in caplog.text


# -- without an executor: Tornado's default ----------------------------------------------


def test_without_executor_app_runs_on_loop_thread_one_at_a_time() -> None:
    # As in Tornado: the application runs on the event loop thread, so requests are
    # served one after the other (documented: pass an executor to avoid this).
    events: list[tuple[str, str]] = []
    threads: set[str] = set()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        threads.add(threading.current_thread().name)
        events.append(("start", environ["PATH_INFO"]))
        time.sleep(0.2)
        events.append(("end", environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(environ["wsgi.multithread"]).encode()]

    server = serve(app, None)
    try:
        results: list[bytes] = []
        clients = [
            threading.Thread(target=lambda p=p: results.append(get(server.port, p).data))
            for p in ("/a", "/b")
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(WAIT)
        assert results == [b"False", b"False"]
        assert threads == {server.thread.name}
        kinds = [event for event, _ in events]
        assert kinds == ["start", "end", "start", "end"]
    finally:
        server.close()


def test_executor_must_be_an_executor_or_threads() -> None:
    with pytest.raises(ValueError, match='"threads"'):
        WSGIContainer(raises_in_app, executor="processes")  # type: ignore[arg-type]


def test_flask_head_of_a_streamed_view_claims_no_length(flask_server: Any) -> None:
    server, _, gate, _ = flask_server
    gate.set()
    resp = get(server.port, "/stream", "HEAD")
    assert (resp.status, resp.data) == (200, b"")
    assert resp.getheader("Content-Length") is None
    hello = get(server.port, "/hello", "HEAD")
    assert hello.status == 200
    assert hello.getheader("Content-Length") == str(len(get(server.port, "/hello").data))


def test_slow_reader_pauses_the_iteration() -> None:
    # Back-pressure: with an executor, the next chunk is only asked for once the
    # previous one was handed to a transport that is not full.
    chunk, count = b"z" * 65536, 1000
    produced = [0]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        for _ in range(count):
            produced[0] += 1
            yield chunk

    server = serve(app)
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        # The client reads nothing for now: production stops well short of the end.
        seen, deadline = -1, time.monotonic() + WAIT
        while produced[0] != seen and time.monotonic() < deadline:
            seen = produced[0]
            time.sleep(0.3)
        assert produced[0] < count // 4
        received = 0
        while data := sock.recv(1 << 20):
            received += len(data)
        sock.close()
        assert produced[0] == count
        assert received > count * len(chunk)
    finally:
        server.close()
