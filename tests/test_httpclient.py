"""dualweb.httpclient's API: requests, responses, errors, instance caching, configure,
the blocking client, the legacy forms, the seed's fetch examples, and WSGI mode."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dualweb import gen, web
from dualweb.connection import AsyncUnavailableError
from dualweb.httpclient import (
    AsyncHTTPClient,
    HTTPClient,
    HTTPClientError,
    HTTPError,
    HTTPRequest,
    HTTPResponse,
)
from dualweb.simple_httpclient import SimpleAsyncHTTPClient
from dualweb.testing import AsyncHTTPTestCase
from dualweb.wsgi import AsyncRoutesWarning
from tests.client_support import gunicorn, stdlib_server
from tests.harness import ServerThread, free_port, run
from tests.support import make_client
from tests.test_examples import start_example

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FETCHED = b"Fetched 3 entries from the FriendFeed API"


# --------------------------------------------------------------------------- a JSON feed


class _Feed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"entries": [1, 2, 3]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def feed_url() -> Iterator[str]:
    with stdlib_server(_Feed) as base:
        yield base + "/v2/feed/bret"


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/feed"


# --------------------------------------------------------------------------- plain objects


def test_request_defaults_and_conversions() -> None:
    request = HTTPRequest("http://h/", body="é", headers={"a": "1"})
    assert request.method == "GET"
    assert request.body == "é".encode()
    assert request.headers["A"] == "1"
    assert request.connect_timeout is None  # the client's default applies
    assert HTTPRequest._DEFAULTS["request_timeout"] == 20.0
    assert HTTPRequest("http://h/", use_gzip=False).decompress_response is False
    stamped = HTTPRequest("http://h/", if_modified_since=0)
    assert stamped.headers["If-Modified-Since"] == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_response_error_and_rethrow() -> None:
    request = HTTPRequest("http://h/x")
    ok = HTTPResponse(request, 200, buffer=io.BytesIO(b"body"))
    assert (ok.body, ok.error, ok.effective_url, ok.reason) == (b"body", None, "http://h/x", "OK")
    ok.rethrow()
    missing = HTTPResponse(request, 404)
    assert isinstance(missing.error, HTTPClientError)
    assert missing.error.code == 404 and missing.error.response is missing
    assert str(missing.error) == "HTTP 404: Not Found"
    assert missing.body == b""
    with pytest.raises(HTTPError):
        missing.rethrow()
    assert HTTPError is HTTPClientError
    assert HTTPClientError(599).message == "Unknown"


# --------------------------------------------------------------------------- instances


def test_one_instance_per_loop_and_force_instance() -> None:
    async def pair() -> tuple[AsyncHTTPClient, AsyncHTTPClient, AsyncHTTPClient]:
        forced = AsyncHTTPClient(force_instance=True)
        forced.close()
        return AsyncHTTPClient(), AsyncHTTPClient(), forced

    first, again, forced = run(pair)
    assert first is again
    assert forced is not first
    assert isinstance(first, SimpleAsyncHTTPClient)
    other, _, _ = run(pair)
    assert other is not first


def test_close_forgets_the_shared_instance() -> None:
    async def main() -> None:
        client = AsyncHTTPClient()
        client.close()
        assert AsyncHTTPClient() is not client
        with pytest.raises(RuntimeError, match="closed AsyncHTTPClient"):
            client.fetch("http://127.0.0.1/")

    run(main)


class _Custom(SimpleAsyncHTTPClient):
    pass


def test_configure_implementation_and_defaults() -> None:
    saved = AsyncHTTPClient._save_configuration()
    try:
        AsyncHTTPClient.configure(None, max_clients=3, defaults={"user_agent": "conf/1"})

        async def make() -> AsyncHTTPClient:
            return AsyncHTTPClient(force_instance=True)

        client = run(make)
        assert isinstance(client, SimpleAsyncHTTPClient)
        assert client.max_clients == 3
        assert client.defaults["user_agent"] == "conf/1"
        assert client.defaults["connect_timeout"] == 20.0
        AsyncHTTPClient.configure("tests.test_httpclient._Custom")
        assert type(run(make)) is _Custom
        with pytest.raises(ValueError, match="subclass of AsyncHTTPClient"):
            AsyncHTTPClient.configure(dict)  # type: ignore[arg-type]
    finally:
        AsyncHTTPClient._restore_configuration(saved)


# --------------------------------------------------------------------------- the legacy forms


class Target(web.RequestHandler):
    def get(self) -> None:
        self.write("target")


class LegacyCallback(web.RequestHandler):
    @web.asynchronous
    def get(self) -> None:
        AsyncHTTPClient().fetch(self.get_argument("url"), callback=self.on_response)

    def on_response(self, response: HTTPResponse) -> None:
        if response.error:
            raise web.HTTPError(502)
        self.finish(b"got " + response.body)


class YieldFetch(web.RequestHandler):
    @gen.coroutine
    def get(self):  # type: ignore[no-untyped-def]
        response = yield AsyncHTTPClient().fetch(self.get_argument("url"))
        self.write(b"yielded " + response.body)


class LegacyFormsTest(AsyncHTTPTestCase):
    def get_app(self) -> web.Application:
        return web.Application(
            [("/target", Target), ("/callback", LegacyCallback), ("/yield", YieldFetch)]
        )

    def test_callback_gets_the_response(self) -> None:
        response = self.fetch("/callback?url=" + self.get_url("/target"))
        self.assertEqual(response.body, b"got target")

    def test_callback_error_is_on_response_error(self) -> None:
        # The callback's HTTPError becomes the handler's error page.
        response = self.fetch("/callback?url=" + self.get_url("/missing"))
        self.assertEqual(response.code, 502)
        response = self.fetch("/callback?url=" + closed_port_url())
        self.assertEqual(response.code, 502)

    def test_yield_in_gen_coroutine(self) -> None:
        response = self.fetch("/yield?url=" + self.get_url("/target"))
        self.assertEqual(response.body, b"yielded target")


# --------------------------------------------------------------------------- the blocking client


class Hello(web.RequestHandler):
    def get(self) -> None:
        self.write("hello")


def test_blocking_client_in_a_script() -> None:
    server = ServerThread(web.Application([("/", Hello)]))
    client = HTTPClient()
    try:
        url = f"http://127.0.0.1:{server.port}/"
        assert client.fetch(url).body == b"hello"
        assert client.fetch(url).body == b"hello"  # the pooled connection
        with pytest.raises(HTTPClientError) as info:
            client.fetch(url + "missing")
        assert info.value.code == 404
        assert client.fetch(url + "missing", raise_error=False).code == 404
    finally:
        client.close()
        server.close()
    with pytest.raises(RuntimeError, match="closed HTTPClient"):
        client.fetch("http://127.0.0.1/")


def test_blocking_client_refuses_a_running_loop() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="await AsyncHTTPClient"):
            HTTPClient()

    run(main)


# --------------------------------------------------------------------------- WSGI mode


class AsyncClientInPlainDef(web.RequestHandler):
    def get(self) -> None:
        AsyncHTTPClient().fetch("http://127.0.0.1:1/")


class BlockingInPlainDef(web.RequestHandler):
    def get(self) -> None:
        client = HTTPClient()
        try:
            self.write(client.fetch(self.get_argument("url")).body)
        finally:
            client.close()


def test_async_client_under_wsgi_points_to_httpclient(
    caplog: pytest.LogCaptureFixture, feed_url: str
) -> None:
    app = web.Application([("/async", AsyncClientInPlainDef), ("/sync", BlockingInPlainDef)])
    client = make_client(app, "wsgi")
    with caplog.at_level(logging.ERROR):
        response = client.get("/async")
    assert response.status == 500
    message = "\n".join(record.getMessage() for record in caplog.records)
    assert "AsyncHTTPClient.fetch() was called with no running event loop" in message
    assert "Use dualweb.httpclient.HTTPClient (blocking) in plain def handlers" in message
    response = client.get("/sync?url=" + feed_url)
    assert (response.status, response.json()) == (200, {"entries": [1, 2, 3]})


def test_fetch_without_a_loop_raises_async_unavailable() -> None:
    client = SimpleAsyncHTTPClient(force_instance=True)
    with pytest.raises(AsyncUnavailableError, match="disabled under WSGIAdapter"):
        client.fetch("http://127.0.0.1:1/")


def _load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fetch_example_under_webtest(feed_url: str) -> None:
    with pytest.warns(AsyncRoutesWarning, match="3 route"):
        example = _load_example("fetch_feed")
        client = make_client(example.make_app(), "wsgi")
    example.FEED_URL = feed_url
    assert client.get("/").body == b"Hello, world"
    assert client.get("/blocking").body == b"Fetched 3 entries (blocking client)"
    for path in ("/coroutine", "/callback", "/await"):
        assert client.get(path).status == 500


# --------------------------------------------------------------------------- the seed's examples


def test_seed_fetch_examples_run_natively(feed_url: str) -> None:
    served = start_example("fetch_feed.py", "--feed-url", feed_url)
    try:
        for path in ("/coroutine", "/callback", "/await"):
            status, _, body = served.request("GET", path)
            assert (status, body) == (200, FETCHED), path
        # HTTPClient refuses to block the native server's loop.
        assert served.request("GET", "/blocking")[0] == 500
    finally:
        log = served.stop()
    assert "HTTPClient() blocks" in log


def test_seed_fetch_examples_report_a_dead_feed() -> None:
    served = start_example("fetch_feed.py", "--feed-url", closed_port_url())
    try:
        for path in ("/coroutine", "/callback", "/await"):
            assert served.request("GET", path)[0] == 500, path
    finally:
        served.stop()


def test_fetch_example_under_gunicorn(feed_url: str) -> None:
    with gunicorn("fetch_feed:wsgi", EXAMPLES, {"FEED_URL": feed_url}) as served:
        assert served.request("GET", "/")[::2] == (200, b"Hello, world")
        for _ in range(2):
            status, _, body = served.request("GET", "/blocking")
            assert (status, body) == (200, b"Fetched 3 entries (blocking client)")
        for path in ("/coroutine", "/await", "/callback"):
            assert served.request("GET", path)[0] == 500
        log = served.stderr()
    assert "need dualweb's native server" in log


