"""Async features (coroutines, ``@asynchronous``, ``@stream_request_body``) in both
drivers: they run natively and are refused with a clear error under WSGI.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dualweb.web import AsyncUnavailableError, RequestHandler

from .web_support import HelloHandler, RecordingConnection, app_with, make_handler

# -- async handlers -----------------------------------------------------------


class AsyncGet(RequestHandler):
    async def get(self) -> None:
        self.write("async hello")


class AsyncPrepare(RequestHandler):
    async def prepare(self) -> None:
        self.current_user = "from-prepare"

    def get(self) -> None:
        self.write(f"user={self.current_user}")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_async_verb(client_for: Any, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    client = client_for(app_with((r"/", AsyncGet)))
    with caplog.at_level(logging.ERROR):
        resp = client.get("/")
    if mode == "native":
        assert resp.status == 200
        assert resp.body == b"async hello"
        return
    assert resp.status == 500
    assert b"coroutine" not in resp.body  # only shown with serve_traceback
    assert (
        "AsyncGet.get is a coroutine; coroutines need dualweb's native server "
        "(app.listen() or HTTPServer) and are disabled under WSGIAdapter. "
        "Use a plain def, or run natively." in caplog.text
    )
    assert "never awaited" not in caplog.text


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_async_prepare(client_for: Any, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    client = client_for(app_with((r"/", AsyncPrepare), serve_traceback=True))
    with caplog.at_level(logging.ERROR):
        resp = client.get("/")
    if mode == "native":
        assert resp.text == "user=from-prepare"
        return
    assert resp.status == 500
    assert "AsyncPrepare.prepare is a coroutine" in resp.text  # serve_traceback shows it
    assert "AsyncPrepare.prepare is a coroutine" in caplog.text


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_gen_coroutine_handler(
    client_for: Any, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    gen = pytest.importorskip("dualweb.gen")

    ran: list[str] = []

    class Legacy(RequestHandler):
        @gen.coroutine  # type: ignore[untyped-decorator,misc,unused-ignore]
        def get(self) -> Any:
            ran.append("body")
            yield gen.sleep(0.001)
            self.write("from gen.coroutine")

    with caplog.at_level(logging.ERROR):
        resp = client_for(app_with((r"/", Legacy))).get("/")
    if mode == "native":
        assert resp.body == b"from gen.coroutine"
    else:
        assert resp.status == 500
        assert "Legacy.get is a coroutine; coroutines need dualweb's native server" in caplog.text
        # Refused before the call: no task (or event loop) was started for it.
        assert ran == []
    assert Legacy._async_feature_reasons() == ["Legacy.get is a coroutine"]


def test_async_unavailable_leaves_no_never_awaited_warning(
    recwarn: pytest.WarningsRecorder,
) -> None:
    handler = make_handler(AsyncGet, supports_async=False)
    assert handler._execute(()) is None
    assert handler.get_status() == 500
    import gc

    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_verb_returning_a_value_is_a_clear_error(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Returns(RequestHandler):
        def get(self) -> str:
            return "oops"

    with caplog.at_level(logging.ERROR):
        resp = client_for(app_with((r"/", Returns))).get("/")
    assert resp.status == 500
    assert "Returns.get returned str; verb methods and prepare() must return None" in caplog.text


def test_async_feature_reasons() -> None:
    from dualweb.web import asynchronous, authenticated, stream_request_body

    class Plain(RequestHandler):
        def get(self) -> None:
            pass

    class Mixed(RequestHandler):
        async def prepare(self) -> None:
            pass

        @authenticated
        async def post(self) -> None:
            pass

        @asynchronous
        def get(self) -> None:
            pass

    @stream_request_body
    class Streamer(RequestHandler):
        def put(self) -> None:
            pass

    class Socket(RequestHandler):
        _native_only_feature = "Socket is a WebSocketHandler"

    assert Plain._async_feature_reasons() == []
    assert Mixed._async_feature_reasons() == [
        "Mixed.prepare is a coroutine",
        "Mixed.get uses @asynchronous",
        "Mixed.post is a coroutine",
    ]
    assert Streamer._async_feature_reasons() == ["Streamer uses @stream_request_body"]
    assert Socket._async_feature_reasons() == ["Socket is a WebSocketHandler"]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_asynchronous_under_wsgi_is_clear_error(
    client_for: Any, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    from dualweb.web import asynchronous

    class Legacy(RequestHandler):
        @asynchronous
        def get(self) -> None:
            self.finish("finished by hand")

    with caplog.at_level(logging.ERROR):
        resp = client_for(app_with((r"/", Legacy))).get("/")
    if mode == "native":
        assert resp.text == "finished by hand"
        return
    assert resp.status == 500
    assert "Legacy.get uses @asynchronous; @asynchronous handlers need dualweb's native" in (
        caplog.text
    )


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_stream_request_body_under_wsgi_is_clear_error(
    client_for: Any, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    from dualweb.web import stream_request_body

    @stream_request_body
    class Upload(RequestHandler):
        def prepare(self) -> None:
            self.received = b""

        def data_received(self, chunk: bytes) -> None:
            self.received += chunk

        def put(self) -> None:
            self.write(f"got {len(self.received)}")

    with caplog.at_level(logging.ERROR):
        resp = client_for(app_with((r"/", Upload))).request("PUT", "/", body=b"x" * 5000)
    if mode == "native":
        assert resp.text == "got 5000"
        return
    assert resp.status == 500
    assert "Upload uses @stream_request_body; streaming request bodies need" in caplog.text


def test_stream_request_body_rejects_non_handlers() -> None:
    from dualweb.web import stream_request_body

    with pytest.raises(TypeError, match="RequestHandler subclass"):
        stream_request_body(object)  # type: ignore[type-var]

def test_sync_handler_runs_without_event_loop_or_coroutine() -> None:
    """The fast path: app(request) for a plain def handler returns None, no loop needed."""
    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

    conn = RecordingConnection(supports_async=True)
    request = HTTPServerRequest(
        method="GET", uri="/", headers=HTTPHeaders({"Host": "h"}), connection=conn  # type: ignore[arg-type]
    )
    app = app_with((r"/", HelloHandler))
    assert app(request) is None
    assert conn.finished
    assert conn.start_line.code == 200
    assert conn.body == b"Hello, world"


def test_coroutine_handler_returns_awaitable_natively() -> None:
    import asyncio

    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

    conn = RecordingConnection(supports_async=True)
    request = HTTPServerRequest(
        method="GET", uri="/", headers=HTTPHeaders({"Host": "h"}), connection=conn  # type: ignore[arg-type]
    )
    pending = app_with((r"/", AsyncGet))(request)
    assert pending is not None
    assert not conn.finished
    asyncio.run(pending)  # type: ignore[arg-type]
    assert conn.finished
    assert conn.body == b"async hello"


def test_async_unavailable_error_is_exported() -> None:
    from dualweb import connection

    assert AsyncUnavailableError is connection.AsyncUnavailableError


def test_detach_under_wsgi_is_clear_error() -> None:
    handler = make_handler(HelloHandler, supports_async=False)
    with pytest.raises(AsyncUnavailableError, match=r"HelloHandler\.detach\(\) takes over"):
        handler.detach()
