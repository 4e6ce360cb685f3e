"""The WSGI adapter's fast path answers exactly like its general path.

``WSGIAdapter.__call__`` takes a fast path for a bodyless GET/HEAD whose
environ layout is *simple* (a raw request target such as gunicorn's
``RAW_URI``, a ``Host``, no body keys); every other request goes through
``_request_head``. Each test here serves the same request both ways — the
general path forced by an empty ``CONTENT_TYPE`` key, which changes nothing
else — and compares status, headers and body, plus what the handler saw.
Also covered: the per-adapter caches (layouts, peer contexts, the header
rule per ``SERVER_SOFTWARE``) stay correct when requests alternate.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import webtest

from dualweb.web import Application, HTTPError, RequestHandler
from dualweb.wsgi import WSGIAdapter
from dualweb.wsgi.adapter import WSGIAdapter as _Adapter
from tests.wsgi_calls import call_wsgi

GUNICORN = "gunicorn/27.0.1"


class Hello(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class Json(RequestHandler):
    def get(self) -> None:
        self.write({"message": "Hello, world", "q": self.get_query_argument("q", "")})


class Echo(RequestHandler):
    """Reports what the request looked like to the handler."""

    def get(self, *args: str) -> None:
        request = self.request
        self.write(
            {
                "args": list(args),
                "uri": request.uri,
                "path": request.path,
                "host": request.host,
                "remote_ip": request.remote_ip,
                "protocol": request.protocol,
                "version": request.version,
                "headers": sorted(request.headers.get_all()),
            }
        )


class Streamed(RequestHandler):
    def get(self) -> None:
        self.write("first,")
        self.flush()
        self.write("second,")
        self.flush()
        self.write("third")


class Failing(RequestHandler):
    def get(self) -> None:
        raise ValueError("boom")


class Missing(RequestHandler):
    def get(self) -> None:
        raise HTTPError(404)


class Headers(RequestHandler):
    def get(self) -> None:
        self.set_header("X-Latin", "caf\u00e9")
        self.add_header("X-Twice", "one")
        self.add_header("X-Twice", "two")
        self.set_cookie("a", "1")
        self.write("ok")


class WrongLength(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Length", "99")
        self.write("short")


class HopByHop(RequestHandler):
    def get(self) -> None:
        self.set_header("Connection", "close")
        self.set_header("Keep-Alive", "timeout=5")
        self.write("hop")


class Redirect(RequestHandler):
    def get(self) -> None:
        self.redirect("/elsewhere", status=302)


def make_app() -> Application:
    return Application(
        [
            (r"/", Hello),
            (r"/json", Json),
            (r"/echo/(.*)", Echo),
            (r"/streamed", Streamed),
            (r"/failing", Failing),
            (r"/missing", Missing),
            (r"/headers", Headers),
            (r"/wrong-length", WrongLength),
            (r"/hop", HopByHop),
            (r"/redirect", Redirect),
        ]
    )


def gunicorn_environ(
    target: str, method: str = "GET", path_info: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An environ like gunicorn's for ``method target`` (with ``RAW_URI``)."""
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": GUNICORN,
        "wsgi.input": io.BytesIO(b""),
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "RAW_URI": target,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "example.com:8000",
        "HTTP_USER_AGENT": "test",
        "HTTP_ACCEPT": "*/*",
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "192.0.2.1",
        "REMOTE_PORT": "50000",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "PATH_INFO": path if path_info is None else path_info,
        "SCRIPT_NAME": "",
    }
    environ.update(extra)
    return environ


@pytest.fixture
def general_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records the targets that went through the general path (``_request_head``)."""
    seen: list[str] = []
    original = _Adapter._request_head

    def spy(self: WSGIAdapter, environ: dict[str, Any], layout: Any) -> Any:
        seen.append(environ.get("RAW_URI") or environ.get("PATH_INFO", ""))
        return original(self, environ, layout)

    monkeypatch.setattr(_Adapter, "_request_head", spy)
    yield seen


def both_paths(
    adapter: WSGIAdapter, general_calls: list[str], environ: dict[str, Any]
) -> tuple[str, dict[str, str], bytes]:
    """Serve ``environ`` by the fast path, then by the general path; assert they agree."""
    before = len(general_calls)
    fast = call_wsgi(adapter, dict(environ))
    assert len(general_calls) == before, "expected the fast path"
    general = call_wsgi(adapter, {**environ, "CONTENT_TYPE": ""})
    assert len(general_calls) == before + 1, "expected the general path"
    for response in (fast, general):
        response[1].pop("Date", None)
    assert fast == general
    return fast


@pytest.fixture
def adapter() -> WSGIAdapter:
    return WSGIAdapter(make_app())


def test_hello_and_json_are_the_same_both_ways(
    adapter: WSGIAdapter, general_calls: list[str]
) -> None:
    status, headers, body = both_paths(adapter, general_calls, gunicorn_environ("/"))
    assert (status, body) == ("200 OK", b"Hello, world")
    assert headers["Content-Length"] == "12"
    assert headers["Content-Type"] == "text/html; charset=UTF-8"
    status, headers, body = both_paths(adapter, general_calls, gunicorn_environ("/json?q=x%20y"))
    assert (status, body) == ("200 OK", b'{"message": "Hello, world", "q": "x y"}')
    assert headers["Content-Type"] == "application/json; charset=UTF-8"


def test_gunicorn_gets_neither_server_nor_date_and_others_get_both(
    adapter: WSGIAdapter,
) -> None:
    # The rule is remembered per SERVER_SOFTWARE: alternating servers switch it.
    for software, expected in [(GUNICORN, False), ("waitress", True), (GUNICORN, False)]:
        _, headers, _ = call_wsgi(adapter, gunicorn_environ("/", SERVER_SOFTWARE=software))
        assert ("Server" in headers, "Date" in headers) == (expected, expected)
    environ = gunicorn_environ("/")
    del environ["SERVER_SOFTWARE"]
    _, headers, _ = call_wsgi(adapter, environ)
    assert "Server" in headers and "Date" in headers


def test_head_has_get_headers_and_no_body(adapter: WSGIAdapter, general_calls: list[str]) -> None:
    status, headers, body = both_paths(adapter, general_calls, gunicorn_environ("/", "HEAD"))
    assert (status, body) == ("200 OK", b"")
    assert headers["Content-Length"] == "12"
    assert "Etag" in headers


def test_not_modified(adapter: WSGIAdapter, general_calls: list[str]) -> None:
    _, headers, _ = call_wsgi(adapter, gunicorn_environ("/"))
    environ = gunicorn_environ("/", HTTP_IF_NONE_MATCH=headers["Etag"])
    status, headers, body = both_paths(adapter, general_calls, environ)
    assert (status, body) == ("304 Not Modified", b"")
    assert "Content-Length" not in headers


def test_flushed_response_is_joined_without_a_length(
    adapter: WSGIAdapter, general_calls: list[str]
) -> None:
    status, headers, body = both_paths(adapter, general_calls, gunicorn_environ("/streamed"))
    assert (status, body) == ("200 OK", b"first,second,third")
    # The length was not known when the headers were sent: the server frames it.
    assert "Content-Length" not in headers


def test_errors(adapter: WSGIAdapter, general_calls: list[str]) -> None:
    status, headers, body = both_paths(adapter, general_calls, gunicorn_environ("/failing"))
    assert status == "500 Internal Server Error"
    assert headers["Content-Length"] == str(len(body))
    status, _, _ = both_paths(adapter, general_calls, gunicorn_environ("/missing"))
    assert status == "404 Not Found"
    status, _, _ = both_paths(adapter, general_calls, gunicorn_environ("/no-such-route"))
    assert status == "404 Not Found"
    status, headers, _ = both_paths(adapter, general_calls, gunicorn_environ("/redirect"))
    assert (status, headers["Location"]) == ("302 Found", "/elsewhere")


def test_wrong_content_length_is_a_500(adapter: WSGIAdapter, general_calls: list[str]) -> None:
    status, _, _ = both_paths(adapter, general_calls, gunicorn_environ("/wrong-length"))
    assert status == "500 Internal Server Error"


def test_hop_by_hop_headers_are_left_to_the_server(
    adapter: WSGIAdapter, general_calls: list[str]
) -> None:
    status, headers, body = both_paths(adapter, general_calls, gunicorn_environ("/hop"))
    assert (status, body) == ("200 OK", b"hop")
    assert "Connection" not in headers and "Keep-Alive" not in headers


def test_repeated_and_non_ascii_response_headers(adapter: WSGIAdapter) -> None:
    sent: list[tuple[str, str]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        sent.extend(headers)

    fast = gunicorn_environ("/headers")
    for environ in (fast, {**fast, "CONTENT_TYPE": ""}):
        sent.clear()
        assert b"".join(adapter(environ, start_response)) == b"ok"
        assert ("X-Latin", "caf\u00e9") in sent
        assert [value for name, value in sent if name == "X-Twice"] == ["one", "two"]
        assert [name for name, _ in sent].count("Set-Cookie") == 1
        assert "Server" not in dict(sent)


def test_request_as_the_handler_sees_it(adapter: WSGIAdapter, general_calls: list[str]) -> None:
    # PEP 3333 hands non-ASCII header bytes over as latin-1 characters.
    environ = gunicorn_environ("/echo/a%2Fb?x=1", HTTP_X_NAME="caf\u00e9", HTTP_X_EMPTY="")
    _, _, body = both_paths(adapter, general_calls, environ)
    seen = webtest.TestResponse(body=body, content_type="application/json").json
    assert seen["args"] == ["a/b"]
    assert (seen["uri"], seen["path"]) == ("/echo/a%2Fb?x=1", "/echo/a%2Fb")
    assert (seen["host"], seen["remote_ip"]) == ("example.com:8000", "192.0.2.1")
    assert seen["protocol"] == "http"
    assert seen["version"] == "HTTP/1.1"
    assert ["X-Name", "caf\u00e9"] in seen["headers"]
    assert ["X-Empty", ""] in seen["headers"]
    assert ["Accept", "*/*"] in seen["headers"]


def test_raw_uri_routes_like_natively(adapter: WSGIAdapter) -> None:
    # gunicorn decodes PATH_INFO; RAW_URI keeps "%2F" distinct from "/".
    environ = gunicorn_environ("/echo/x%2Fy", path_info="/echo/x/y")
    status, _, body = call_wsgi(adapter, environ)
    assert status == "200 OK"
    assert b'"path": "/echo/x%2Fy"' in body


def test_absolute_form_and_odd_targets_take_the_general_path(
    adapter: WSGIAdapter, general_calls: list[str]
) -> None:
    # A proxy-style absolute target: routed by PATH_INFO, as before.
    environ = gunicorn_environ("/", RAW_URI="http://example.com/json?q=z", PATH_INFO="/json")
    environ["QUERY_STRING"] = "q=z"
    status, _, body = call_wsgi(adapter, environ)
    assert general_calls == ["http://example.com/json?q=z"]
    assert status == "200 OK" and b'"q": "z"' in body
    # An empty RAW_URI falls back to REQUEST_URI or PATH_INFO.
    status, _, body = call_wsgi(adapter, gunicorn_environ("/", RAW_URI="", PATH_INFO="/json"))
    assert len(general_calls) == 2
    assert status == "200 OK" and b"Hello, world" in body


def test_post_takes_the_general_path_and_reads_its_body(general_calls: list[str]) -> None:
    class Form(RequestHandler):
        def post(self) -> None:
            self.write(self.get_body_argument("a"))

    adapter = WSGIAdapter(Application([(r"/form", Form)]))
    environ = gunicorn_environ(
        "/form",
        "POST",
        CONTENT_TYPE="application/x-www-form-urlencoded",
        CONTENT_LENGTH="3",
    )
    environ["wsgi.input"] = io.BytesIO(b"a=1")
    assert call_wsgi(adapter, environ)[::2] == ("200 OK", b"1")
    assert general_calls == ["/form"]


def test_alternating_layouts_and_peers(adapter: WSGIAdapter, general_calls: list[str]) -> None:
    # The last layout and the per-address contexts are caches: requests that
    # alternate between layouts, addresses and schemes each see their own.
    plain = gunicorn_environ("/echo/")
    extra = gunicorn_environ("/echo/", HTTP_X_EXTRA="1")
    for index in range(6):
        environ = dict(plain if index % 2 else extra)
        environ["REMOTE_ADDR"] = f"192.0.2.{index % 3}"
        environ["wsgi.url_scheme"] = "https" if index % 4 == 0 else "http"
        _, _, body = call_wsgi(adapter, environ)
        seen = webtest.TestResponse(body=body, content_type="application/json").json
        assert (["X-Extra", "1"] in seen["headers"]) == (index % 2 == 0)
        assert seen["remote_ip"] == f"192.0.2.{index % 3}"
        assert seen["protocol"] == environ["wsgi.url_scheme"]
    assert general_calls == []


def test_peer_contexts_stay_bounded(adapter: WSGIAdapter) -> None:
    for index in range(1100):
        environ = gunicorn_environ("/echo/", REMOTE_ADDR=f"10.0.{index // 256}.{index % 256}")
        _, _, body = call_wsgi(adapter, environ)
        assert f'"remote_ip": "10.0.{index // 256}.{index % 256}"'.encode() in body
    assert len(adapter._contexts) <= 1024


def test_proxy_headers_on_the_fast_path(general_calls: list[str]) -> None:
    adapter = WSGIAdapter(Application([(r"/echo/(.*)", Echo)]), xheaders=True)
    environ = gunicorn_environ(
        "/echo/", HTTP_X_FORWARDED_FOR="203.0.113.7", HTTP_X_FORWARDED_PROTO="https"
    )
    _, _, body = both_paths(adapter, general_calls, environ)
    seen = webtest.TestResponse(body=body, content_type="application/json").json
    assert (seen["remote_ip"], seen["protocol"]) == ("203.0.113.7", "https")
    # Without them, the peer itself, even right after a proxied request.
    _, _, body = call_wsgi(adapter, gunicorn_environ("/echo/"))
    assert b'"remote_ip": "192.0.2.1"' in body and b'"protocol": "http"' in body


def test_webtest_with_a_raw_uri_matches_webtest_without(general_calls: list[str]) -> None:
    # webtest sends no RAW_URI (general path); given one, the fast path answers the same.
    general = webtest.TestApp(WSGIAdapter(make_app()))
    fast = webtest.TestApp(WSGIAdapter(make_app()))
    for path in ("/", "/json?q=1", "/echo/a", "/streamed", "/missing", "/headers"):
        expected = general.get(path, expect_errors=True)
        calls = len(general_calls)
        got = fast.get(path, expect_errors=True, extra_environ={"RAW_URI": path})
        assert len(general_calls) == calls, path
        assert (got.status, got.body) == (expected.status, expected.body)
        drop = {"Date"}
        assert [h for h in got.headerlist if h[0] not in drop] == [
            h for h in expected.headerlist if h[0] not in drop
        ]


def test_delegate_that_finishes_without_writing() -> None:
    # A bare server delegate (no Application) that ends the response without headers.
    from dualweb.connection import HTTPMessageDelegate, HTTPServerConnectionDelegate

    class Silent(HTTPMessageDelegate):
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def finish(self) -> None:
            self.connection.finish()

    class Server(HTTPServerConnectionDelegate):
        def start_request(self, server_conn: object, request_conn: Any) -> HTTPMessageDelegate:
            return Silent(request_conn)

    status, headers, body = call_wsgi(WSGIAdapter(Server()), gunicorn_environ("/"))
    assert (status, headers, body) == ("200 OK", {"Content-Length": "0"}, b"")
