"""WSGIAdapter and WSGIContainer: what a WSGI server and its clients see.

Requests go through ``wsgiref.validate.validator`` (PEP 3333 checked on every
call), either via webtest or with hand-built environs when a test needs exact
control over SCRIPT_NAME, PATH_INFO, wsgi.input and friends.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import warnings
import wsgiref.util
import wsgiref.validate
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualweb.connection import ResponseStartLine
from dualweb.httputil import HTTPHeaders, HTTPServerRequest
from dualweb.routing import PathMatches, Rule
from dualweb.web import Application, RequestHandler
from dualweb.wsgi import (
    AsyncRouteInfo,
    AsyncRoutesWarning,
    AsyncUnavailableError,
    WSGIAdapter,
    WSGIContainer,
)
from tests.support import MODES, WSGIClient, make_client
from tests.web_support import RecordingConnection

# -- handlers --------------------------------------------------------------------


class EchoHandler(RequestHandler):
    """Reports what the core saw of the request."""

    def get(self, *args: str) -> None:
        request = self.request
        self.write(
            {
                "method": request.method,
                "uri": request.uri,
                "path": request.path,
                "query": request.query,
                "args": list(args),
                "version": request.version,
                "host": request.host,
                "remote_ip": request.remote_ip,
                "protocol": request.protocol,
                "full_url": request.full_url(),
                "body": request.body.decode("latin-1"),
                "arguments": {
                    key: [v.decode("utf-8") for v in values]
                    for key, values in request.arguments.items()
                },
                "content_type": request.headers.get("Content-Type"),
                "user_agent": request.headers.get("User-Agent"),
            }
        )

    post = get
    put = get


class MainHandler(RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(0)
        self.write("only natively")


class OkHandler(RequestHandler):
    def get(self) -> None:
        self.write("ok")

    head = get


class HeadersHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Connection", "close")
        self.set_header("X-Latin", "caf\u00e9")
        self.set_cookie("a", "1")
        self.set_cookie("b", "2")
        self.write("headers")


class NoContentHandler(RequestHandler):
    def get(self) -> None:
        self.set_status(204)


class ErrorHandler(RequestHandler):
    def get(self) -> None:
        raise ValueError("boom in handler")


def echo_app(**settings: Any) -> Application:
    return Application(
        [
            (r"/echo", EchoHandler),
            (r"/app/echo", EchoHandler),
            (r"/files/(.*)", EchoHandler),
            (r"/headers", HeadersHandler),
            (r"/nocontent", NoContentHandler),
            (r"/error", ErrorHandler),
            (r"/ok", OkHandler),
        ],
        **settings,
    )


def async_app(**settings: Any) -> Application:
    return Application([(r"/", MainHandler), (r"/ok", OkHandler)], **settings)


# -- calling the adapter by hand ----------------------------------------------------


class Result:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.code = int(status.split(" ", 1)[0])
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: Callable[..., Iterable[bytes]],
    path: str = "/echo",
    method: str = "GET",
    body: bytes | None = None,
    validate: bool = True,
    drop: tuple[str, ...] = (),
    **environ_items: Any,
) -> Result:
    """Call a WSGI app with a hand-built environ (validated unless ``validate=False``)."""
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, QUERY_STRING="")
    if body is not None:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.update(environ_items)
    for key in drop:
        del environ[key]
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    target = wsgiref.validate.validator(app) if validate else app
    result = target(environ, start_response)
    try:
        data = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Result(captured["status"], captured["headers"], data)


@pytest.fixture
def adapter() -> WSGIAdapter:
    return WSGIAdapter(echo_app())


# -- the request the core sees --------------------------------------------------------


def test_script_name_and_path_info_make_the_path(adapter: WSGIAdapter) -> None:
    seen = call(adapter, SCRIPT_NAME="/app", PATH_INFO="/echo", QUERY_STRING="x=1").json()
    assert seen["path"] == "/app/echo"
    assert seen["uri"] == "/app/echo?x=1"
    assert seen["query"] == "x=1"
    assert seen["arguments"] == {"x": ["1"]}


def test_non_ascii_path_round_trips_as_utf8(adapter: WSGIAdapter) -> None:
    # PEP 3333: PATH_INFO carries the raw (unquoted) bytes decoded as latin-1.
    raw = "/files/\u00e9t\u00e9 \u2603".encode().decode("latin-1")
    seen = call(adapter, PATH_INFO=raw).json()
    assert seen["path"] == "/files/%C3%A9t%C3%A9%20%E2%98%83"
    assert seen["args"] == ["\u00e9t\u00e9 \u2603"]


def test_non_ascii_path_through_webtest() -> None:
    client = WSGIClient(echo_app())
    response = client.get("/files/%C3%A9t%C3%A9?q=%E2%98%83")
    assert response.status == 200
    assert response.json()["args"] == ["\u00e9t\u00e9"]
    assert response.json()["arguments"] == {"q": ["\u2603"]}


def test_both_drivers_see_the_same_request(client_for: Callable[..., Any]) -> None:
    client = client_for(echo_app())
    response = client.post(
        "/files/%C3%A9t%C3%A9%20x?q=%E2%98%83&q=2",
        body=b"a=1",
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "ua/1"},
    )
    assert response.status == 200
    seen = response.json()
    assert seen["path"] == "/files/%C3%A9t%C3%A9%20x"
    assert seen["uri"] == "/files/%C3%A9t%C3%A9%20x?q=%E2%98%83&q=2"
    assert seen["args"] == ["\u00e9t\u00e9 x"]
    assert seen["arguments"] == {"q": ["\u2603", "2"], "a": ["1"]}
    assert (seen["method"], seen["body"], seen["user_agent"]) == ("POST", "a=1", "ua/1")
    assert seen["protocol"] == "http"


def test_reserved_characters_in_path_are_kept(adapter: WSGIAdapter) -> None:
    seen = call(adapter, PATH_INFO="/files/a:b@c;d=e,f+g~h").json()
    assert seen["path"] == "/files/a:b@c;d=e,f+g~h"
    seen = call(adapter, PATH_INFO="/files/100%?#").json()
    assert seen["path"] == "/files/100%25%3F%23"
    assert seen["args"] == ["100%?#"]


def test_query_string_and_version(adapter: WSGIAdapter) -> None:
    seen = call(adapter, QUERY_STRING="a=1&a=2&b=%C3%A9", SERVER_PROTOCOL="HTTP/1.1").json()
    assert seen["arguments"] == {"a": ["1", "2"], "b": ["\u00e9"]}
    assert seen["version"] == "HTTP/1.1"


def test_headers_come_from_http_and_content_variables(adapter: WSGIAdapter) -> None:
    seen = call(
        adapter,
        method="POST",
        body=b"x=1",
        CONTENT_TYPE="application/x-www-form-urlencoded",
        HTTP_USER_AGENT="pytest-agent",
    ).json()
    assert seen["user_agent"] == "pytest-agent"
    assert seen["content_type"] == "application/x-www-form-urlencoded"
    assert seen["arguments"] == {"x": ["1"]}


class AllHeadersHandler(RequestHandler):
    """Answers with every request header as a list of pairs, in order."""

    def get(self) -> None:
        self.write({"headers": list(self.request.headers.get_all())})


def test_headers_stay_right_as_the_environ_layout_changes() -> None:
    # The adapter remembers each environ key layout; a later request with the
    # same layout but other values, or another layout, must see its own headers.
    adapter = WSGIAdapter(Application([(r"/", AllHeadersHandler)]))

    def seen(validate: bool = True, **items: str) -> list[list[str]]:
        result = call(adapter, path="/", validate=validate, drop=("HTTP_HOST",), **items)
        return [pair for pair in result.json()["headers"] if pair[0] != "Host"]

    first = seen(HTTP_X_A="1", HTTP_ACCEPT_LANGUAGE="fr")
    assert first == [["X-A", "1"], ["Accept-Language", "fr"]]
    second = seen(HTTP_X_A="2", HTTP_ACCEPT_LANGUAGE="de")
    assert second == [["X-A", "2"], ["Accept-Language", "de"]]
    assert seen(HTTP_X_A="3") == [["X-A", "3"]]
    assert seen(HTTP_X_A="4") == [["X-A", "4"]]
    assert seen() == []
    assert seen() == []
    # HTTP_CONTENT_* duplicates (added by some servers) never override CONTENT_*.
    assert seen(False, HTTP_CONTENT_TYPE="text/evil", CONTENT_TYPE="text/good") == [
        ["Content-Type", "text/good"]
    ]


def test_many_distinct_header_sets_stay_correct_and_bounded() -> None:
    # Clients may invent header names on every request: the per-layout memory
    # is bounded and requests past the bound are still read correctly.
    adapter = WSGIAdapter(Application([(r"/", AllHeadersHandler)]))
    for i in range(300):
        result = call(adapter, path="/", validate=False, **{f"HTTP_X_H{i}": str(i)}).json()
        assert ["X-H" + str(i), str(i)] in result["headers"]
    assert len(adapter._shapes) <= 256


def test_gunicorn_gets_no_server_or_date_header_from_the_app() -> None:
    # gunicorn writes its own Server and Date and discards the application's
    # (after validating them); other servers get the core's headers.
    adapter = WSGIAdapter(echo_app())
    under_gunicorn = call(adapter, path="/ok", SERVER_SOFTWARE="gunicorn/23.0.0")
    names = [name for name, _ in under_gunicorn.headers]
    assert under_gunicorn.body == b"ok"
    assert "Server" not in names and "Date" not in names
    assert names.count("Content-Length") == 1 and "Content-Type" in names
    elsewhere = call(adapter, path="/ok", SERVER_SOFTWARE="waitress")
    assert elsewhere.header("Server") is not None and elsewhere.header("Date") is not None
    cookies = call(adapter, path="/headers", SERVER_SOFTWARE="gunicorn/23.0.0")
    assert [v.split(";")[0] for k, v in cookies.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert cookies.header("Connection") is None and cookies.header("Server") is None


def test_host_falls_back_to_server_name_and_port(adapter: WSGIAdapter) -> None:
    assert call(adapter, HTTP_HOST="example.com:81").json()["host"] == "example.com:81"
    seen = call(adapter, drop=("HTTP_HOST",), SERVER_NAME="example.org", SERVER_PORT="8080")
    assert seen.json()["host"] == "example.org:8080"
    seen = call(adapter, drop=("HTTP_HOST",), SERVER_NAME="example.org", SERVER_PORT="80")
    assert seen.json()["host"] == "example.org"


# -- the body -----------------------------------------------------------------------


def test_body_is_read_by_content_length(adapter: WSGIAdapter) -> None:
    stream = io.BytesIO(b"hello, worldTRAILING")
    seen = call(
        adapter, method="POST", CONTENT_LENGTH="12", CONTENT_TYPE="text/plain", **{
            "wsgi.input": stream
        }
    ).json()
    assert seen["body"] == "hello, world"
    assert stream.read() == b"TRAILING"  # nothing read past Content-Length


def test_body_without_length_read_to_eof_only_when_input_terminated(
    adapter: WSGIAdapter,
) -> None:
    body = b"z" * 200_000
    seen = call(
        adapter, method="POST", **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True}
    ).json()
    assert seen["body"] == body.decode()
    seen = call(adapter, method="POST", **{"wsgi.input": io.BytesIO(b"ignored")}).json()
    assert seen["body"] == ""
    # A GET without length or chunking has no body (RFC 9112) and is not read;
    # a chunked one (the server de-chunks and terminates the input) is.
    terminated = {"wsgi.input": io.BytesIO(b"chunk"), "wsgi.input_terminated": True}
    assert call(adapter, **terminated).json()["body"] == ""
    terminated = {"wsgi.input": io.BytesIO(b"chunk"), "wsgi.input_terminated": True}
    seen = call(adapter, HTTP_TRANSFER_ENCODING="chunked", **terminated).json()
    assert seen["body"] == "chunk"


@pytest.mark.parametrize("length", ["abc", "-1", "+5", "1.5", " 7"])
def test_bad_content_length_is_400(
    adapter: WSGIAdapter, length: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dualweb.general"):
        result = call(adapter, method="POST", validate=False, CONTENT_LENGTH=length)
    assert result.code == 400
    assert b"400: Bad Request" in result.body
    assert "Content-Length" in caplog.text


def test_truncated_body_is_400(adapter: WSGIAdapter) -> None:
    result = call(
        adapter, method="POST", CONTENT_LENGTH="10", **{"wsgi.input": io.BytesIO(b"abc")}
    )
    assert result.code == 400


def test_body_read_error_is_400_and_next_request_served(adapter: WSGIAdapter) -> None:
    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise OSError("client went away")

    result = call(
        adapter, method="POST", validate=False, CONTENT_LENGTH="5", **{"wsgi.input": Broken()}
    )
    assert result.code == 400
    assert call(adapter, path="/ok").body == b"ok"


# -- scheme, address and proxy headers -------------------------------------------------


def test_url_scheme_sets_protocol_and_full_url(adapter: WSGIAdapter) -> None:
    seen = call(
        adapter, QUERY_STRING="a=b", HTTP_HOST="example.com", **{"wsgi.url_scheme": "https"}
    ).json()
    assert seen["protocol"] == "https"
    assert seen["full_url"] == "https://example.com/echo?a=b"


def test_remote_addr_is_remote_ip(adapter: WSGIAdapter) -> None:
    assert call(adapter, REMOTE_ADDR="10.1.2.3").json()["remote_ip"] == "10.1.2.3"


PROXY_HEADERS = {
    "REMOTE_ADDR": "10.0.0.1",
    "HTTP_X_FORWARDED_FOR": "203.0.113.7, 10.0.0.2",
    "HTTP_X_FORWARDED_PROTO": "https",
}


def test_proxy_headers_ignored_by_default(adapter: WSGIAdapter) -> None:
    seen = call(adapter, HTTP_X_REAL_IP="198.51.100.1", **PROXY_HEADERS).json()
    assert seen["remote_ip"] == "10.0.0.1"
    assert seen["protocol"] == "http"


def test_proxy_headers_honoured_with_xheaders() -> None:
    adapter = WSGIAdapter(echo_app(), xheaders=True)
    seen = call(adapter, **PROXY_HEADERS).json()
    assert seen["remote_ip"] == "10.0.0.2"  # the last hop, as HTTPServer(xheaders=True)
    assert seen["protocol"] == "https"
    assert seen["full_url"].startswith("https://")
    seen = call(adapter, HTTP_X_REAL_IP="198.51.100.1", HTTP_X_SCHEME="https").json()
    assert (seen["remote_ip"], seen["protocol"]) == ("198.51.100.1", "https")


def test_xheaders_skip_trusted_downstream() -> None:
    adapter = WSGIAdapter(echo_app(), xheaders=True, trusted_downstream=["10.0.0.2"])
    assert call(adapter, **PROXY_HEADERS).json()["remote_ip"] == "203.0.113.7"


def test_xheaders_reject_garbage() -> None:
    adapter = WSGIAdapter(echo_app(), xheaders=True)
    seen = call(
        adapter,
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="not-an-ip",
        HTTP_X_FORWARDED_PROTO="gopher",
    ).json()
    assert (seen["remote_ip"], seen["protocol"]) == ("10.0.0.1", "http")


# -- the response ---------------------------------------------------------------------


def test_response_status_headers_and_body() -> None:
    client = WSGIClient(echo_app())
    response = client.get("/headers")
    assert response.status == 200
    assert response.body == b"headers"
    assert response.headers["Content-Length"] == "7"
    assert response.headers["X-Latin"] == "caf\u00e9"
    assert "Connection" not in response.headers  # hop-by-hop: the server's business
    assert response.cookies() == {"a": "1", "b": "2"}


def test_head_has_headers_but_no_body() -> None:
    response = WSGIClient(echo_app()).head("/ok")
    assert response.status == 200
    assert response.headers["Content-Length"] == "2"
    assert response.body == b""


def test_204_has_no_content_length_and_no_body() -> None:
    response = WSGIClient(echo_app()).get("/nocontent")
    assert response.status == 204
    assert response.body == b""


def test_handler_exception_is_500_logged_and_next_request_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = WSGIClient(echo_app())
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        response = client.get("/error")
    assert response.status == 500
    assert b"boom in handler" not in response.body
    assert "boom in handler" in caplog.text
    assert client.get("/ok").body == b"ok"


def test_unknown_route_is_404() -> None:
    assert WSGIClient(echo_app()).get("/nope").status == 404


# -- async features under WSGI ----------------------------------------------------------


def test_async_route_is_500_with_logged_message_and_next_request_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.warns(AsyncRoutesWarning):
        client = WSGIClient(async_app())
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        response = client.get("/")
    assert response.status == 500
    assert b"MainHandler.get" not in response.body  # details only with serve_traceback
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("MainHandler.get is a coroutine" in m for m in errors), errors
    assert any("Use a plain def, or run natively." in m for m in errors), errors
    assert client.get("/ok").body == b"ok"


def test_async_route_message_shown_with_serve_traceback() -> None:
    with pytest.warns(AsyncRoutesWarning):
        client = WSGIClient(async_app(serve_traceback=True))
    response = client.get("/")
    assert response.status == 500
    assert b"MainHandler.get is a coroutine" in response.body


def test_construction_warns_once_listing_async_routes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dualweb.general"):
        with pytest.warns(AsyncRoutesWarning) as record:
            WSGIAdapter(async_app())
    assert len(record) == 1
    message = str(record[0].message)
    assert "/ -> MainHandler: MainHandler.get is a coroutine" in message
    assert "OkHandler" not in message
    assert record[0].filename == __file__  # points at the user's construction line
    # Printed once: the warning only, not a log line repeating it.
    assert [r.getMessage() for r in caplog.records if r.name == "dualweb.general"] == []


def test_sync_app_constructs_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapter = WSGIAdapter(echo_app())
    assert adapter.async_routes() == []


def test_strict_raises_listing_routes() -> None:
    with pytest.raises(AsyncUnavailableError, match=r"/ -> MainHandler") as excinfo:
        WSGIAdapter(async_app(), strict=True)
    assert "cannot run under WSGIAdapter" in str(excinfo.value)


def test_async_routes_covers_host_and_nested_rules() -> None:
    class Nested(RequestHandler):
        async def post(self) -> None:
            pass

    class HostOnly(RequestHandler):
        async def prepare(self) -> None:
            pass

    app = Application(
        [
            (r"/", MainHandler),
            (r"/ok", OkHandler),
            Rule(PathMatches(r"/sub/.*"), [(r"/sub/deep", Nested), (r"/sub/ok", OkHandler)]),
        ]
    )
    app.add_handlers(r"api\.example\.com", [(r"/hosted", HostOnly)])
    mounted = Application([(r"/mounted/inner", MainHandler)])
    app.wildcard_router.add_rules([(PathMatches(r"/mounted/.*"), mounted)])
    with pytest.warns(AsyncRoutesWarning):
        routes = WSGIAdapter(app).async_routes()
    by_pattern = {route.pattern: route for route in routes}
    assert by_pattern == {
        r"host api\.example\.com /hosted": AsyncRouteInfo(
            r"host api\.example\.com /hosted", "HostOnly", ("HostOnly.prepare is a coroutine",)
        ),
        "/": AsyncRouteInfo("/", "MainHandler", ("MainHandler.get is a coroutine",)),
        "/sub/.* /sub/deep": AsyncRouteInfo(
            "/sub/.* /sub/deep", "Nested", ("Nested.post is a coroutine",)
        ),
        "/mounted/.* /mounted/inner": AsyncRouteInfo(
            "/mounted/.* /mounted/inner", "MainHandler", ("MainHandler.get is a coroutine",)
        ),
    }


def test_gen_coroutine_handler_is_500_with_message(caplog: pytest.LogCaptureFixture) -> None:
    gen = pytest.importorskip("dualweb.gen")

    class GenHandler(RequestHandler):
        @gen.coroutine  # type: ignore[misc]
        def get(self) -> Any:
            yield gen.moment
            self.write("natively only")

    app = Application([(r"/gen", GenHandler), (r"/ok", OkHandler)])
    with pytest.warns(AsyncRoutesWarning, match="GenHandler"):
        client = WSGIClient(app)
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        response = client.get("/gen")
    assert response.status == 500
    assert "GenHandler.get is a coroutine" in caplog.text
    assert client.get("/ok").body == b"ok"


def test_asynchronous_decorator_is_500_with_message(caplog: pytest.LogCaptureFixture) -> None:
    from dualweb.web import asynchronous

    class LegacyHandler(RequestHandler):
        @asynchronous
        def get(self) -> None:
            self.write("would finish later")

    with pytest.warns(AsyncRoutesWarning, match="LegacyHandler.get uses @asynchronous"):
        client = WSGIClient(Application([(r"/legacy", LegacyHandler), (r"/ok", OkHandler)]))
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        response = client.get("/legacy")
    assert response.status == 500
    assert "LegacyHandler.get uses @asynchronous" in caplog.text
    assert client.get("/ok").body == b"ok"


class ForgetfulHandler(RequestHandler):
    closed: list[str] = []

    def get(self) -> None:
        # What a legacy handler did before finishing from a callback that,
        # under WSGI, never comes.
        self._auto_finish = False
        self.write("half a response")

    def on_connection_close(self) -> None:
        ForgetfulHandler.closed.append(self.request.path)


def test_handler_that_never_finishes_is_500_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    ForgetfulHandler.closed.clear()
    client = WSGIClient(Application([(r"/forgetful", ForgetfulHandler), (r"/ok", OkHandler)]))
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        response = client.get("/forgetful")
    assert response.status == 500
    assert b"half a response" not in response.body
    assert "ForgetfulHandler.get returned without finishing the response" in caplog.text
    assert ForgetfulHandler.closed == ["/forgetful"]  # told its client is gone
    assert client.get("/ok").body == b"ok"


def test_callable_that_never_finishes_is_500(caplog: pytest.LogCaptureFixture) -> None:
    def forgetful(request: HTTPServerRequest) -> None:
        assert request.connection is not None
        request.connection.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders(), b"partial"
        )

    adapter = WSGIAdapter(forgetful)
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        result = call(adapter)
    assert result.code == 500
    assert b"partial" not in result.body
    assert "returned without finishing the response" in caplog.text
    assert "Call self.finish()" in caplog.text


def test_callable_returning_awaitable_is_500_and_coroutine_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def coroutine_app(request: HTTPServerRequest) -> None:
        raise AssertionError("must never run")

    adapter = WSGIAdapter(coroutine_app)
    # An unclosed coroutine warns "was never awaited" as soon as it is dropped
    # (by reference count, so within the call).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with caplog.at_level(logging.ERROR, logger="dualweb.application"):
            result = call(adapter)
    assert not [w for w in caught if "never awaited" in str(w.message)]
    assert result.code == 500
    assert "returned an awaitable" in caplog.text


def test_reexported_error_is_the_seam_error() -> None:
    import dualweb.connection
    import dualweb.wsgi

    assert dualweb.wsgi.AsyncUnavailableError is dualweb.connection.AsyncUnavailableError


# -- WSGIContainer ------------------------------------------------------------------------


def environ_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """A WSGI app that answers with the interesting parts of its environ."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    keys = ["REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR", "SERVER_NAME"]
    keys += ["SERVER_PORT", "CONTENT_TYPE", "HTTP_X_TEST", "wsgi.url_scheme"]
    seen = {key: environ.get(key) for key in keys}
    seen["body"] = body.decode()
    start_response("201 Created", [("Content-Type", "application/json"), ("X-App", "yes")])
    return [json.dumps(seen).encode()]


def make_request(uri: str, body: bytes = b"", **headers: str) -> HTTPServerRequest:
    return HTTPServerRequest(
        method="POST",
        uri=uri,
        version="HTTP/1.1",
        headers=HTTPHeaders({"Host": "example.com:8443", **headers}),
        body=body,
        connection=RecordingConnection(remote_ip="192.0.2.5"),
    )


def test_container_builds_environ_and_writes_response() -> None:
    request = make_request(
        "/caf%C3%A9?x=1", b"data", **{"Content-Type": "text/plain", "X-Test": "t"}
    )
    WSGIContainer(environ_app)(request)
    connection = request.connection
    assert isinstance(connection, RecordingConnection)
    assert connection.finished
    assert connection.start_line is not None and connection.start_line.code == 201
    assert connection.headers is not None
    assert connection.headers["X-App"] == "yes"
    assert connection.headers["Content-Length"] == str(len(connection.body))
    seen = json.loads(connection.body)
    assert seen["PATH_INFO"] == "/caf\u00e9".encode().decode("latin-1")
    assert seen["QUERY_STRING"] == "x=1"
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("example.com", "8443")
    assert seen["REMOTE_ADDR"] == "192.0.2.5"
    assert (seen["CONTENT_TYPE"], seen["HTTP_X_TEST"], seen["body"]) == ("text/plain", "t", "data")


def test_container_runs_app_in_executor() -> None:
    request = make_request("/x")

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            WSGIContainer(environ_app, executor=pool)(request)
            connection = request.connection
            assert isinstance(connection, RecordingConnection)
            await asyncio.wait_for(connection.done.wait(), 5)

    asyncio.run(run())
    connection = request.connection
    assert isinstance(connection, RecordingConnection)
    assert connection.start_line is not None and connection.start_line.code == 201


def test_container_app_error_is_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise RuntimeError("wsgi app broke")

    request = make_request("/")
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        WSGIContainer(broken)(request)
    connection = request.connection
    assert isinstance(connection, RecordingConnection)
    assert connection.start_line is not None and connection.start_line.code == 500
    assert "wsgi app broke" in caplog.text


def test_container_around_adapter_round_trips_non_ascii_path() -> None:
    # WSGIContainer builds an environ, WSGIAdapter turns it back into a request.
    request = make_request("/files/%C3%A9t%C3%A9?a=%E2%98%83")
    request.method = "GET"
    WSGIContainer(WSGIAdapter(echo_app()))(request)
    connection = request.connection
    assert isinstance(connection, RecordingConnection)
    seen = json.loads(connection.body)
    assert seen["path"] == "/files/%C3%A9t%C3%A9"
    assert seen["args"] == ["\u00e9t\u00e9"]
    assert seen["arguments"] == {"a": ["\u2603"]}
    assert seen["remote_ip"] == "192.0.2.5"


@settings(max_examples=60, deadline=None)
@given(
    segment=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1
    ),
    query=st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
)
def test_any_path_round_trips_through_container_and_adapter(segment: str, query: str) -> None:
    from urllib.parse import quote as urlquote

    adapter = WSGIAdapter(echo_app())
    request = make_request(f"/files/{urlquote(segment, safe='')}?q={urlquote(query, safe='')}")
    request.method = "GET"
    WSGIContainer(adapter)(request)
    connection = request.connection
    assert isinstance(connection, RecordingConnection)
    seen = json.loads(connection.body)
    assert seen["args"] == [segment]
    assert seen["arguments"].get("q", [""]) == [query]


@pytest.mark.skipif("native" not in MODES, reason="native server not present")
def test_container_served_natively_over_a_socket() -> None:
    from dualweb.httpserver import HTTPServer  # noqa: F401 - present when MODES has it

    client = make_client(WSGIContainer(environ_app), "native")
    try:
        response = client.post(
            "/p%C3%A5th?k=v", body=b"payload", headers={"Content-Type": "text/x", "X-Test": "1"}
        )
    finally:
        client.close()
    assert response.status == 201
    assert response.headers["X-App"] == "yes"
    seen = response.json()
    assert seen["PATH_INFO"] == "/p\u00e5th".encode().decode("latin-1")
    assert (seen["QUERY_STRING"], seen["body"], seen["HTTP_X_TEST"]) == ("k=v", "payload", "1")
    assert seen["REMOTE_ADDR"] == "127.0.0.1"


@pytest.mark.skipif("native" not in MODES, reason="native server not present")
def test_container_with_executor_serves_concurrent_clients_natively() -> None:
    import threading

    gate = threading.Barrier(2, timeout=5)

    def waits_for_a_partner(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # Both requests must be inside the app at once: only an executor allows that.
        gate.wait()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    with ThreadPoolExecutor(2) as pool:
        client = make_client(WSGIContainer(waits_for_a_partner, executor=pool), "native")
        try:
            results: dict[str, bytes] = {}
            threads = [
                threading.Thread(target=lambda p=p: results.update({p: client.get(p).body}))
                for p in ("/one", "/two")
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
        finally:
            client.close()
    assert results == {"/one": b"/one", "/two": b"/two"}

