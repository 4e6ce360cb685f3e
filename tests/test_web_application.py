"""Application, routing to handlers, built-in handlers and decorators, as a client sees them."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dualweb.routing import URLSpec, url
from dualweb.web import (
    Application,
    ErrorHandler,
    FallbackHandler,
    HTTPError,
    RedirectHandler,
    RequestHandler,
    addslash,
    authenticated,
    removeslash,
)
from tests.harness import run


class Echo(RequestHandler):
    def initialize(self, name: str = "echo") -> None:
        self.name = name

    def get(self, *args: str) -> None:
        self.write({"name": self.name, "args": list(args), "host": self.request.host_name})


# -- routing ------------------------------------------------------------------


def test_routes_first_match_wins_and_unknown_is_404(client_for: Any) -> None:
    app = Application(
        [
            (r"/items/(\d+)", Echo, {"name": "digits"}),
            (r"/items/(.*)", Echo, {"name": "any"}),
            (r"/items/7", Echo, {"name": "exact-but-later"}),
        ]
    )
    client = client_for(app)
    assert client.get("/items/7").json()["name"] == "digits"
    body = client.get("/items/x").json()
    assert (body["name"], body["args"]) == ("any", ["x"])
    resp = client.get("/nowhere")
    assert resp.status == 404
    assert resp.body == (b"<html><title>404: Not Found</title><body>404: Not Found</body></html>")


def test_post_to_unknown_url_is_404_even_with_xsrf(client_for: Any) -> None:
    app = Application([(r"/", Echo)], xsrf_cookies=True, cookie_secret="s")
    assert client_for(app).post("/missing", body=b"").status == 404


def test_default_handler_class(client_for: Any) -> None:
    class NotFound(RequestHandler):
        def initialize(self, message: str) -> None:
            self.message = message

        def prepare(self) -> None:
            self.set_status(404)
            self.finish(self.message)

    app = Application(
        [(r"/", Echo)],
        default_handler_class=NotFound,
        default_handler_args={"message": "custom 404"},
    )
    resp = client_for(app).get("/missing")
    assert resp.status == 404
    assert resp.body == b"custom 404"


def test_nested_rule_lists_and_urlspec(client_for: Any) -> None:
    app = Application(
        [
            url(r"/a", Echo, {"name": "a"}, name="a"),
            URLSpec(r"/b/(\w+)", Echo, {"name": "b"}, name="b"),
        ]
    )
    client = client_for(app)
    assert client.get("/a").json()["name"] == "a"
    assert client.get("/b/zz").json()["args"] == ["zz"]
    assert app.reverse_url("b", "q r") == "/b/q%20r"
    with pytest.raises(KeyError, match="nope not found in named urls"):
        app.reverse_url("nope")


def test_reverse_url_from_handler(client_for: Any) -> None:
    class Link(RequestHandler):
        def get(self) -> None:
            self.write(self.reverse_url("item", 42))

    app = Application([url(r"/item/(\d+)", Echo, name="item"), (r"/", Link)])
    assert client_for(app).get("/").text == "/item/42"


def test_add_handlers_by_host(client_for: Any) -> None:
    app = Application([(r"/", Echo, {"name": "wildcard"})])
    app.add_handlers(r"api\.example\.com", [(r"/", Echo, {"name": "api"})])
    app.add_handlers(r".*\.example\.org", [(r"/", Echo, {"name": "org"})])
    client = client_for(app)
    assert client.get("/", headers={"Host": "api.example.com"}).json()["name"] == "api"
    assert client.get("/", headers={"Host": "API.example.com:8080"}).json()["name"] == "api"
    assert client.get("/", headers={"Host": "www.example.org"}).json()["name"] == "org"
    assert client.get("/", headers={"Host": "other.test"}).json()["name"] == "wildcard"


def test_default_host(client_for: Any) -> None:
    app = Application([(r"/", Echo, {"name": "wildcard"})], default_host="main.test")
    app.add_handlers(r"main\.test", [(r"/main", Echo, {"name": "main"})])
    client = client_for(app)
    # Any host reaches the default host's handlers when there is no X-Real-Ip.
    assert client.get("/main", headers={"Host": "elsewhere.test"}).json()["name"] == "main"
    behind_proxy = {"Host": "elsewhere.test", "X-Real-Ip": "1.2.3.4"}
    assert client.get("/main", headers=behind_proxy).status == 404


# -- settings -----------------------------------------------------------------


def test_debug_implies_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[bool] = []
    fake_start = staticmethod(lambda: started.append(True))
    monkeypatch.setattr(Application, "_start_autoreload", fake_start)
    app = Application(debug=True)
    assert started == [True]
    assert app.settings["serve_traceback"] is True
    assert app.settings["compiled_template_cache"] is False
    assert app.settings["static_hash_cache"] is False
    assert app.settings["autoreload"] is True
    explicit = Application(debug=True, serve_traceback=False, autoreload=False)
    assert explicit.settings["serve_traceback"] is False
    assert started == [True]  # autoreload=False wins over debug
    assert Application().settings == {}


# -- access log ---------------------------------------------------------------


def test_access_log_levels(client_for: Any, caplog: pytest.LogCaptureFixture) -> None:
    class Status(RequestHandler):
        def get(self, code: str) -> None:
            self.set_status(int(code))

    client = client_for(Application([(r"/(\d+)", Status)]))
    with caplog.at_level(logging.INFO, logger="dualweb.access"):
        for code in ("200", "404", "503"):
            client.get(f"/{code}?q=1")
    records = [r for r in caplog.records if r.name == "dualweb.access"]
    assert [r.levelno for r in records] == [logging.INFO, logging.WARNING, logging.ERROR]
    message = records[0].getMessage()
    assert message.startswith("200 GET /200?q=1 (")
    assert message.endswith("ms")
    assert float(message.split()[-1][:-2]) >= 0


def test_overridden_get_handler_delegate_is_used(client_for: Any) -> None:
    seen: list[tuple[str, Any, Any]] = []

    class Tracing(Application):
        def get_handler_delegate(self, request: Any, target_class: Any, target_kwargs: Any = None,
                                 path_args: Any = None, path_kwargs: Any = None) -> Any:
            seen.append((target_class.__name__, target_kwargs, path_args))
            return super().get_handler_delegate(
                request, target_class, target_kwargs, path_args, path_kwargs
            )

    client = client_for(Tracing([(r"/a/(\w+)", Echo, {"name": "n"}), (r"/", Echo)]))
    body = client.get("/a/x").json()
    assert (body["name"], body["args"]) == ("n", ["x"])
    body = client.get("/").json()
    assert (body["name"], body["args"]) == ("echo", [])
    assert seen == [("Echo", {"name": "n"}, [b"x"]), ("Echo", None, None)]


def test_log_function_setting(client_for: Any) -> None:
    seen: list[tuple[int, str]] = []

    def log_function(handler: RequestHandler) -> None:
        seen.append((handler.get_status(), handler.request.path))

    client_for(Application([(r"/", Echo)], log_function=log_function)).get("/")
    assert seen == [(200, "/")]


def test_log_request_skipped_when_disabled(caplog: pytest.LogCaptureFixture) -> None:
    class Handler:
        def get_status(self) -> int:
            return 200

        @property
        def request(self) -> Any:
            raise AssertionError("log_request must not build the line when INFO is off")

    logging.getLogger("dualweb.access").setLevel(logging.WARNING)
    try:
        Application().log_request(Handler())  # type: ignore[arg-type]
    finally:
        logging.getLogger("dualweb.access").setLevel(logging.NOTSET)


def test_access_log_follows_level_changes_between_requests(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # log_request reads logging's per-level cache: it must see every change.
    client = client_for(Application([(r"/", Echo)]))
    access = logging.getLogger("dualweb.access")

    def lines() -> int:
        return len([r for r in caplog.records if r.name == "dualweb.access"])

    with caplog.at_level(logging.INFO, logger="dualweb.access"):
        access.setLevel(logging.WARNING)
        client.get("/")
        assert lines() == 0
        access.setLevel(logging.INFO)
        client.get("/")
        assert lines() == 1
        access.disabled = True
        try:
            client.get("/")
        finally:
            access.disabled = False
        assert lines() == 1
        logging.disable(logging.INFO)
        try:
            client.get("/")
        finally:
            logging.disable(logging.NOTSET)
        assert lines() == 1
        client.get("/")
        assert lines() == 2


# -- built-in handlers ----------------------------------------------------------------------------


def test_redirect_handler(client_for: Any) -> None:
    app = Application(
        [
            (r"/old/(\w+)", RedirectHandler, {"url": "/new/{0}"}),
            (r"/temp/(?P<slug>\w+)", RedirectHandler, {"url": "/t/{slug}", "permanent": False}),
        ]
    )
    client = client_for(app)
    resp = client.get("/old/abc?x=1&y=2")
    assert resp.status == 301
    assert resp.headers["Location"] == "/new/abc?x=1&y=2"
    resp = client.get("/temp/zz")
    assert resp.status == 302
    assert resp.headers["Location"] == "/t/zz"


def test_error_handler(client_for: Any) -> None:
    client = client_for(Application([(r"/gone", ErrorHandler, {"status_code": 410})]))
    assert client.get("/gone").status == 410
    assert client.post("/gone", body=b"").status == 410


def test_fallback_handler(client_for: Any) -> None:
    from dualweb.connection import ResponseStartLine
    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

    def raw(request: HTTPServerRequest) -> None:
        body = f"raw {request.path}".encode()
        assert request.connection is not None
        request.connection.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(body)), "Content-Type": "text/plain"}),
            body,
        )
        request.connection.finish()

    app = Application([(r"/dw", Echo), (r".*", FallbackHandler, {"fallback": raw})])
    client = client_for(app)
    assert client.get("/other/path").body == b"raw /other/path"
    assert client.get("/dw").json()["name"] == "echo"


# -- decorators ---------------------------------------------------------------


class Private(RequestHandler):
    def get_current_user(self) -> str | None:
        return self.get_cookie("user")

    @authenticated
    def get(self) -> None:
        self.write(f"hi {self.current_user}")

    @authenticated
    def post(self) -> None:
        self.write("posted")


def test_authenticated(client_for: Any) -> None:
    client = client_for(Application([(r"/private", Private)], login_url="/login"))
    resp = client.get("/private?a=1")
    assert resp.status == 302
    assert resp.headers["Location"] == "/login?next=%2Fprivate%3Fa%3D1"
    assert client.post("/private", body=b"").status == 403
    assert client.get("/private", headers={"Cookie": "user=ada"}).text == "hi ada"


def test_authenticated_absolute_login_url(client_for: Any) -> None:
    app = Application([(r"/private", Private)], login_url="https://sso.test/login")
    resp = client_for(app).get("/private", headers={"Host": "app.test"})
    assert resp.headers["Location"] == "https://sso.test/login?next=http%3A%2F%2Fapp.test%2Fprivate"


def test_authenticated_login_url_with_query_is_kept(client_for: Any) -> None:
    app = Application([(r"/private", Private)], login_url="/login?from=app")
    assert client_for(app).get("/private").headers["Location"] == "/login?from=app"


def test_authenticated_without_login_url(client_for: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        resp = client_for(Application([(r"/private", Private)])).get("/private")
    assert resp.status == 500
    assert "Private: you must define the 'login_url' setting" in caplog.text
    assert "@dualweb.web.authenticated" in caplog.text


def test_addslash_and_removeslash(client_for: Any) -> None:
    class Add(RequestHandler):
        @addslash
        def get(self) -> None:
            self.write("with slash")

        @addslash
        def post(self) -> None:
            self.write("never")

    class Remove(RequestHandler):
        @removeslash
        def get(self) -> None:
            self.write("without slash")

        @removeslash
        def post(self) -> None:
            self.write("never")

    app = Application([(r"/add/?", Add), (r"/rm/*", Remove), (r"/+", Remove)])
    client = client_for(app)
    resp = client.get("/add?x=1")
    assert (resp.status, resp.headers["Location"]) == (301, "/add/?x=1")
    assert client.get("/add/").text == "with slash"
    assert client.post("/add", body=b"").status == 404
    resp = client.get("/rm/?x=1")
    assert (resp.status, resp.headers["Location"]) == (301, "/rm?x=1")
    assert client.get("/rm").text == "without slash"
    assert client.post("/rm/", body=b"").status == 404
    # "/" is not redirected to "" (and "//" not to a protocol-relative URL).
    assert client.get("/").text == "without slash"


def test_removeslash_never_redirects_off_site(client_for: Any) -> None:
    class Remove(RequestHandler):
        @removeslash
        def get(self, rest: str) -> None:
            self.write("ok")

    resp = client_for(Application([(r"/(.*)", Remove)])).get("//evil.example/")
    # Refused like Tornado 6.6.1 does (403), not redirected.
    assert resp.status == 403
    assert "Location" not in resp.headers


# -- listen -------------------------------------------------------------------


def test_listen_serves_natively() -> None:
    import asyncio
    import http.client
    import importlib.util

    if importlib.util.find_spec("dualweb.httpserver") is None:
        pytest.skip("native server not available")

    class Hello(RequestHandler):
        def get(self) -> None:
            self.write("native hello")

    async def main() -> bytes:
        app = Application([(r"/", Hello)])
        server = app.listen(0, "127.0.0.1")
        try:
            listening = next(iter(server._sockets.values()))
            port = listening.getsockname()[1]

            def fetch() -> bytes:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                data = conn.getresponse().read()
                conn.close()
                return data

            return await asyncio.get_running_loop().run_in_executor(None, fetch)
        finally:
            server.stop()

    assert run(main) == b"native hello"


def test_http_error_in_prepare_of_error_handler_subclass(client_for: Any) -> None:
    class Teapot(ErrorHandler):
        def write_error(self, status_code: int, **kwargs: Any) -> None:
            self.finish(f"custom {status_code}")

    resp = client_for(Application([(r"/", Teapot, {"status_code": 418})])).get("/")
    assert (resp.status, resp.body) == (418, b"custom 418")


def test_handler_raising_http_error_with_unsafe_reason(client_for: Any) -> None:
    class Bad(RequestHandler):
        def get(self) -> None:
            raise HTTPError(400, reason="bad\r\nX-Injected: 1")

    resp = client_for(Application([(r"/", Bad)])).get("/")
    assert resp.status == 400
    assert "X-Injected" not in resp.headers
    assert resp.reason == "Bad Request"


def test_nested_rule_list_target_and_reverse(client_for: Any) -> None:
    from dualweb.routing import PathMatches, Rule

    app = Application(
        [
            Rule(PathMatches(r"/api/.*"), [url(r"/api/v1/(\w+)", Echo, {"name": "v1"}, name="v1")]),
        ]
    )
    app.add_handlers(r"admin\.test", [url(r"/panel", Echo, {"name": "panel"}, name="panel")])
    client = client_for(app)
    body = client.get("/api/v1/users").json()
    assert (body["name"], body["args"]) == ("v1", ["users"])
    assert client.get("/api/v2/users").status == 404
    assert app.reverse_url("v1", "x") == "/api/v1/x"
    assert app.reverse_url("panel") == "/panel"


def test_add_transform(client_for: Any) -> None:
    from dualweb.web import OutputTransform

    class Shout(OutputTransform):
        def transform_first_chunk(
            self, status_code: int, headers: Any, chunk: bytes, finishing: bool
        ) -> tuple[int, Any, bytes]:
            headers["X-Shouted"] = "yes"
            if "Content-Length" in headers:
                headers["Content-Length"] = str(len(chunk))
            return status_code, headers, chunk.upper()

    app = Application([(r"/", Echo)], transforms=[])
    app.add_transform(Shout)
    resp = client_for(app).get("/")
    assert resp.headers["X-Shouted"] == "yes"
    assert b'"NAME": "ECHO"' in resp.body
