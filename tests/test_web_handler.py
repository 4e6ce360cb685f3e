"""RequestHandler as a client sees it, through both drivers (the ``mode`` fixture)."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import logging
from typing import Any

import pytest

from dualweb.web import (
    Application,
    AsyncUnavailableError,
    Finish,
    HTTPError,
    MissingArgumentError,
    RequestHandler,
)

from .support import Client


def app_with(*routes: Any, **settings: Any) -> Application:
    return Application(list(routes), **settings)


# -- the basics ---------------------------------------------------------------


class HelloHandler(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


def test_hello_world_headers(client_for: Any) -> None:
    client: Client = client_for(app_with((r"/", HelloHandler)))
    resp = client.get("/")
    assert resp.status == 200
    assert resp.body == b"Hello, world"
    assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert resp.headers["Content-Length"] == "12"
    assert resp.headers["Server"].startswith("DualwebServer/")
    assert resp.headers["Etag"] == f'"{hashlib.sha1(b"Hello, world").hexdigest()}"'
    date = resp.headers["Date"]
    assert date.endswith(" GMT")
    parsed = datetime.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S GMT")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - parsed).total_seconds()) < 5


def test_head_keeps_content_length_without_body(client_for: Any) -> None:
    class Both(RequestHandler):
        def get(self) -> None:
            self.write("twelve bytes")

        def head(self) -> None:
            self.get()

    client = client_for(app_with((r"/", Both)))
    resp = client.head("/")
    assert resp.status == 200
    assert resp.body == b""
    assert resp.headers["Content-Length"] == "12"


def test_unimplemented_verb_is_405_with_allow(client_for: Any) -> None:
    class GetPost(RequestHandler):
        def get(self) -> None:
            self.write("g")

        def post(self) -> None:
            self.write("p")

    client = client_for(app_with((r"/", GetPost)))
    resp = client.request("DELETE", "/")
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET, HEAD, POST"  # HEAD is served by get()
    assert b"405: Method Not Allowed" in resp.body


def test_method_outside_supported_methods_is_405(client_for: Any) -> None:
    class OnlyGet(RequestHandler):
        SUPPORTED_METHODS = ("GET",)

        def get(self) -> None:
            self.write("g")

        def post(self) -> None:
            self.write("never")

    client = client_for(app_with((r"/", OnlyGet)))
    resp = client.post("/", body=b"x")
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET"


def test_options_implemented(client_for: Any) -> None:
    class Opt(RequestHandler):
        def options(self) -> None:
            self.set_header("Access-Control-Allow-Methods", "GET")
            self.set_status(204)

    client = client_for(app_with((r"/", Opt)))
    resp = client.request("OPTIONS", "/")
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Methods"] == "GET"
    assert resp.body == b""


# -- lifecycle order ----------------------------------------------------------


def test_lifecycle_order_and_initialize_kwargs(client_for: Any) -> None:
    calls: list[str] = []

    class Tracker(RequestHandler):
        def initialize(self, tag: str) -> None:
            calls.append(f"initialize:{tag}")

        def prepare(self) -> None:
            calls.append("prepare")

        def get(self, word: str) -> None:
            calls.append(f"get:{word}")
            self.write(word)

        def on_finish(self) -> None:
            calls.append("on_finish")

    client = client_for(app_with((r"/say/(\w+)", Tracker, {"tag": "t1"})))
    resp = client.get("/say/hi")
    assert resp.body == b"hi"
    assert calls == ["initialize:t1", "prepare", "get:hi", "on_finish"]


def test_hooks_from_mixins_and_argumentless_initialize_run(client_for: Any) -> None:
    # The core skips the base no-op hooks; overrides anywhere in the MRO must still run.
    calls: list[str] = []

    class HooksMixin:
        def set_default_headers(self) -> None:
            calls.append("set_default_headers")
            self.set_header("X-Mixin", "1")  # type: ignore[attr-defined]

        def prepare(self) -> None:
            calls.append("prepare")

        def on_finish(self) -> None:
            calls.append("on_finish")

    class Handler(HooksMixin, RequestHandler):
        def initialize(self) -> None:
            calls.append("initialize")

        def get(self) -> None:
            calls.append("get")
            self.write("ok")

    resp = client_for(app_with((r"/", Handler))).get("/")
    assert (resp.status, resp.body, resp.headers["X-Mixin"]) == (200, b"ok", "1")
    assert calls == ["set_default_headers", "initialize", "prepare", "get", "on_finish"]


def test_prepare_finishing_skips_verb(client_for: Any) -> None:
    seen: list[str] = []

    class Gate(RequestHandler):
        def prepare(self) -> None:
            self.finish("stopped in prepare")

        def get(self) -> None:
            seen.append("get")

    client = client_for(app_with((r"/", Gate)))
    resp = client.get("/")
    assert resp.body == b"stopped in prepare"
    assert seen == []


def test_rule_kwargs_without_initialize_is_a_clear_error(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(app_with((r"/", HelloHandler, {"db": 1})))
    with caplog.at_level(logging.ERROR):
        resp = client.get("/")
    assert resp.status == 500
    assert "HelloHandler got keyword arguments ['db']" in caplog.text


def test_finish_exception(client_for: Any) -> None:
    class Early(RequestHandler):
        def get(self) -> None:
            self.set_status(201)
            raise Finish("done early")

    client = client_for(app_with((r"/", Early)))
    resp = client.get("/")
    assert resp.status == 201
    assert resp.body == b"done early"


def test_on_finish_after_explicit_finish(client_for: Any) -> None:
    seen: list[int] = []

    class Explicit(RequestHandler):
        def get(self) -> None:
            self.finish("x")

        def on_finish(self) -> None:
            seen.append(self.get_status())

    client = client_for(app_with((r"/", Explicit)))
    assert client.get("/").body == b"x"
    assert seen == [200]


# -- write --------------------------------------------------------------------


def test_write_dict_is_json(client_for: Any) -> None:
    class J(RequestHandler):
        def get(self) -> None:
            self.write({"a": 1, "html": "</script>"})

    client = client_for(app_with((r"/", J)))
    resp = client.get("/")
    assert resp.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert resp.json() == {"a": 1, "html": "</script>"}
    assert b"</" not in resp.body


def test_write_list_is_type_error_with_explanation(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class L(RequestHandler):
        def get(self) -> None:
            self.write([1, 2])  # type: ignore[arg-type]

    client = client_for(app_with((r"/", L)))
    with caplog.at_level(logging.ERROR):
        resp = client.get("/")
    assert resp.status == 500
    assert "Lists not accepted for security reasons" in caplog.text


def test_write_after_finish_is_runtime_error(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[str] = []

    class Late(RequestHandler):
        def get(self) -> None:
            self.finish("first")
            try:
                self.write("second")
            except RuntimeError as e:
                errors.append(str(e))
            try:
                self.finish()
            except RuntimeError as e:
                errors.append(str(e))

    client = client_for(app_with((r"/", Late)))
    assert client.get("/").body == b"first"
    assert errors == ["Cannot write() after finish()", "finish() called twice"]


def test_unicode_body(client_for: Any) -> None:
    class U(RequestHandler):
        def get(self) -> None:
            self.write("héllo ☃")

    resp = client_for(app_with((r"/", U))).get("/")
    assert resp.text == "héllo ☃"
    assert resp.headers["Content-Length"] == str(len("héllo ☃".encode()))


# -- headers ------------------------------------------------------------------


def test_header_types_and_multi_values(client_for: Any) -> None:
    when = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)

    class H(RequestHandler):
        def get(self) -> None:
            self.set_header("X-Str", "s")
            self.set_header("X-Bytes", b"b")
            self.set_header("X-Int", 42)
            self.set_header("X-Date", when)
            self.add_header("X-Multi", "1")
            self.add_header("X-Multi", "2")
            self.set_header("X-Gone", "x")
            self.clear_header("X-Gone")
            self.clear_header("X-Never-Set")

    resp = client_for(app_with((r"/", H))).get("/")
    assert resp.headers["X-Str"] == "s"
    assert resp.headers["X-Bytes"] == "b"
    assert resp.headers["X-Int"] == "42"
    assert resp.headers["X-Date"] == "Thu, 02 Jan 2020 03:04:05 GMT"
    assert resp.headers.get_all("X-Multi") == ["1", "2"]
    assert "X-Gone" not in resp.headers


@pytest.mark.parametrize(
    "value",
    [
        "a\r\nSet-Cookie: evil=1",
        "a\nX-Injected: 1",
        "a\rb",
        "nul\x00byte",
        b"bytes\r\nX-Injected: 1",
    ],
)
def test_header_injection_is_value_error(client_for: Any, value: Any) -> None:
    outcome: list[str] = []

    class Inject(RequestHandler):
        def get(self) -> None:
            try:
                self.set_header("X-Test", value)
            except ValueError:
                outcome.append("set_header")
            try:
                self.add_header("X-Test", value)
            except ValueError:
                outcome.append("add_header")
            self.set_header("X-Test", value)  # uncaught: the client gets a 500

    resp = client_for(app_with((r"/", Inject))).get("/")
    assert outcome == ["set_header", "add_header"]
    assert resp.status == 500
    assert "X-Injected" not in resp.headers
    assert "evil" not in resp.cookies()
    assert "X-Test" not in resp.headers


def test_unsupported_header_type_is_type_error() -> None:
    handler = make_handler(HelloHandler)
    with pytest.raises(TypeError, match="Unsupported header value"):
        handler.set_header("X", 1.5)  # type: ignore[arg-type]


def test_redirect_url_injection_is_refused(client_for: Any) -> None:
    class R(RequestHandler):
        def get(self) -> None:
            self.redirect("/ok\r\nX-Injected: 1")

    resp = client_for(app_with((r"/", R))).get("/")
    assert resp.status == 500
    assert "X-Injected" not in resp.headers
    assert "Location" not in resp.headers


def test_set_default_headers_survive_errors(client_for: Any) -> None:
    class Custom(RequestHandler):
        def set_default_headers(self) -> None:
            self.set_header("Server", "MyServer")
            self.set_header("X-Frame-Options", "DENY")

        def get(self) -> None:
            raise HTTPError(404)

    resp = client_for(app_with((r"/", Custom))).get("/")
    assert resp.status == 404
    assert resp.headers["Server"] == "MyServer"
    assert resp.headers["X-Frame-Options"] == "DENY"


# -- status -------------------------------------------------------------------


def test_set_status_reason_and_unknown_code(client_for: Any) -> None:
    class S(RequestHandler):
        def get(self) -> None:
            code = int(self.get_argument("code"))
            reason = self.get_argument("reason", None)
            self.set_status(code, reason)
            self.write(f"{self.get_status()} {self._reason}")

    client = client_for(app_with((r"/", S)))
    resp = client.get("/?code=299")
    assert resp.status == 299
    assert resp.text == "299 Unknown"
    resp = client.get("/?code=299&reason=Custom+Thing")
    assert resp.status == 299
    assert resp.reason == "Custom Thing"
    resp = client.get("/?code=200&reason=%3Cb%3E")
    assert resp.text == "200 Unknown"


def test_set_status_reason_with_newline_is_value_error() -> None:
    handler = make_handler(HelloHandler)
    with pytest.raises(ValueError, match="Unsafe reason phrase"):
        handler.set_status(200, "OK\r\nX-Injected: 1")


def test_204_drops_content_type_and_refuses_body(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class NoContent(RequestHandler):
        def get(self) -> None:
            self.set_status(204)

        def post(self) -> None:
            self.set_status(204)
            self.write("not allowed")

    client = client_for(app_with((r"/", NoContent)))
    resp = client.get("/")
    assert resp.status == 204
    assert resp.body == b""
    assert "Content-Type" not in resp.headers
    with caplog.at_level(logging.ERROR):
        resp = client.post("/", body=b"")
    assert resp.status == 500
    assert "Cannot send body with status code HTTP204" in caplog.text


# -- etags --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{etag}", 304),
        ("W/{etag}", 304),
        ('"other", {etag}', 304),
        ("*", 304),
        ('"other"', 200),
        ("garbage without quotes", 200),
    ],
)
def test_etag_conditional_get(client_for: Any, if_none_match: str, status: int) -> None:
    client = client_for(app_with((r"/", HelloHandler)))
    etag = client.get("/").headers["Etag"]
    resp = client.get("/", headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert resp.status == status
    if status == 304:
        assert resp.body == b""
        assert "Content-Type" not in resp.headers
        assert resp.headers["Etag"] == etag
    else:
        assert resp.body == b"Hello, world"


def test_etag_and_length_cover_the_whole_body(client_for: Any) -> None:
    class Parts(RequestHandler):
        def get(self) -> None:
            for part in ("a", "bc", "", "def"):
                self.write(part)

        head = get

    class Empty(RequestHandler):
        def get(self) -> None:
            pass

    class Preset(RequestHandler):
        def get(self) -> None:
            self.set_header("Etag", '"mine"')
            self.write("body")

    client = client_for(app_with((r"/parts", Parts), (r"/empty", Empty), (r"/preset", Preset)))
    resp = client.get("/parts")
    assert (resp.body, resp.headers["Content-Length"]) == (b"abcdef", "6")
    assert resp.headers["Etag"] == f'"{hashlib.sha1(b"abcdef").hexdigest()}"'
    head = client.request("HEAD", "/parts")
    assert (head.status, head.body, head.headers["Etag"]) == (200, b"", resp.headers["Etag"])
    assert client.get("/parts", headers={"If-None-Match": resp.headers["Etag"]}).status == 304
    empty = client.get("/empty")
    assert (empty.body, empty.headers["Content-Length"]) == (b"", "0")
    assert empty.headers["Etag"] == f'"{hashlib.sha1(b"").hexdigest()}"'
    preset = client.get("/preset")
    assert preset.headers["Etag"] == '"mine"'
    # As in Tornado: a handler-set Etag is sent as is, without the 304 check.
    assert client.get("/preset", headers={"If-None-Match": '"mine"'}).status == 200


def test_no_etag_for_post_or_non_200(client_for: Any) -> None:
    class P(RequestHandler):
        def post(self) -> None:
            self.write("posted")

        def get(self) -> None:
            self.set_status(201)
            self.write("created")

    client = client_for(app_with((r"/", P)))
    assert "Etag" not in client.post("/", body=b"").headers
    assert "Etag" not in client.get("/").headers


def test_compute_etag_override(client_for: Any) -> None:
    class NoTag(RequestHandler):
        def compute_etag(self) -> str | None:
            return None

        def get(self) -> None:
            self.write("x")

    class Fixed(RequestHandler):
        def compute_etag(self) -> str | None:
            return '"v1"'

        def get(self) -> None:
            self.write("x")

    client = client_for(app_with((r"/none", NoTag), (r"/fixed", Fixed)))
    assert "Etag" not in client.get("/none").headers
    assert client.get("/fixed", headers={"If-None-Match": '"v1"'}).status == 304


# -- errors -------------------------------------------------------------------


def test_uncaught_exception_is_logged_500(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Boom(RequestHandler):
        def get(self) -> None:
            raise ZeroDivisionError("kaboom")

    client = client_for(app_with((r"/boom", Boom)))
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        resp = client.get("/boom?x=1")
    assert resp.status == 500
    assert resp.body == (
        b"<html><title>500: Internal Server Error</title>"
        b"<body>500: Internal Server Error</body></html>"
    )
    records = [r for r in caplog.records if r.name == "dualweb.application"]
    assert len(records) == 1
    assert records[0].getMessage().startswith("Uncaught exception GET /boom?x=1 (")
    assert "ZeroDivisionError: kaboom" in caplog.text
    assert b"kaboom" not in resp.body
    # The server keeps serving.
    assert client.get("/boom").status == 500


def test_serve_traceback_shows_traceback(client_for: Any) -> None:
    class Boom(RequestHandler):
        def get(self) -> None:
            raise ZeroDivisionError("visible in debug")

    resp = client_for(app_with((r"/", Boom), serve_traceback=True)).get("/")
    assert resp.status == 500
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert "Traceback (most recent call last)" in resp.text
    assert "ZeroDivisionError: visible in debug" in resp.text


def test_http_error_reason_and_log_message(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Teapot(RequestHandler):
        def get(self) -> None:
            raise HTTPError(418, "brewing %s", "tea", reason="I'm a teapot")

    with caplog.at_level(logging.WARNING):
        resp = client_for(app_with((r"/", Teapot))).get("/")
    assert resp.status == 418
    assert resp.reason == "I'm a teapot"
    assert b"418: I&#x27;m a teapot" in resp.body or b"418: I&#39;m a teapot" in resp.body
    warnings = [r for r in caplog.records if r.name == "dualweb.general"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith("418 GET / (")
    assert message.endswith("): brewing tea")
    assert not [r for r in caplog.records if r.name == "dualweb.application"]


def test_http_error_str() -> None:
    assert str(HTTPError(404)) == "HTTP 404: Not Found"
    assert str(HTTPError(400, "bad %s", "thing")) == "HTTP 400: Bad Request (bad thing)"
    assert str(HTTPError(400, "100% literal")) == "HTTP 400: Bad Request (100% literal)"
    assert str(HTTPError(599)) == "HTTP 599: Unknown"
    assert str(MissingArgumentError("q")) == "HTTP 400: Bad Request (Missing argument q)"
    assert MissingArgumentError("q").arg_name == "q"


def test_custom_write_error(client_for: Any) -> None:
    class Json(RequestHandler):
        def write_error(self, status_code: int, **kwargs: Any) -> None:
            self.finish({"code": status_code, "reason": self._reason})

        def get(self) -> None:
            raise HTTPError(403)

    resp = client_for(app_with((r"/", Json))).get("/")
    assert resp.status == 403
    assert resp.json() == {"code": 403, "reason": "Forbidden"}


def test_broken_write_error_still_answers(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(RequestHandler):
        def write_error(self, status_code: int, **kwargs: Any) -> None:
            raise RuntimeError("write_error is broken")

        def get(self) -> None:
            raise HTTPError(400)

    with caplog.at_level(logging.ERROR):
        resp = client_for(app_with((r"/", Broken))).get("/")
    assert resp.status == 400
    assert "Uncaught exception in write_error" in caplog.text


def test_failing_error_handling_still_answers_500(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Hopeless(RequestHandler):
        def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
            raise RuntimeError("send_error is broken too")

        def get(self) -> None:
            raise ValueError("first failure")

    client = client_for(app_with((r"/", Hopeless)))
    with caplog.at_level(logging.ERROR):
        resp = client.get("/")
    assert resp.status == 500
    assert resp.body == b""
    assert "Exception in exception handler" in caplog.text
    assert client.get("/").status == 500  # and the server keeps serving


def test_send_error_with_reason(client_for: Any) -> None:
    class E(RequestHandler):
        def get(self) -> None:
            self.set_header("X-Dropped", "1")
            self.write("dropped body")
            self.send_error(503, reason="Down for maintenance")

    resp = client_for(app_with((r"/", E))).get("/")
    assert resp.status == 503
    assert resp.reason == "Down for maintenance"
    assert "X-Dropped" not in resp.headers
    assert b"dropped body" not in resp.body


def test_require_setting_names_handler_and_setting(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class NeedsSecret(RequestHandler):
        def get(self) -> None:
            self.require_setting("cookie_secret", "secure cookies")

    with caplog.at_level(logging.ERROR):
        resp = client_for(app_with((r"/", NeedsSecret))).get("/")
    assert resp.status == 500
    assert (
        "NeedsSecret: you must define the 'cookie_secret' setting in your application "
        "to use secure cookies" in caplog.text
    )


# -- arguments ----------------------------------------------------------------


class ArgsHandler(RequestHandler):
    def get(self) -> None:
        self.write(
            {
                "a": self.get_argument("a", None),
                "all": self.get_arguments("a"),
                "nostrip": self.get_argument("a", None, strip=False),
                "query": self.get_query_arguments("a"),
            }
        )

    def post(self) -> None:
        self.write(
            {
                "a": self.get_argument("a"),
                "all": self.get_arguments("a"),
                "body": self.get_body_arguments("a"),
                "body_one": self.get_body_argument("a", None),
                "query": self.get_query_argument("a", None),
            }
        )


def test_query_arguments(client_for: Any) -> None:
    client = client_for(app_with((r"/", ArgsHandler)))
    assert client.get("/?a=1&a=%20two%20").json() == {
        "a": "two",
        "all": ["1", "two"],
        "nostrip": " two ",
        "query": ["1", "two"],
    }
    assert client.get("/").json() == {"a": None, "all": [], "nostrip": None, "query": []}


def test_body_and_query_arguments(client_for: Any) -> None:
    client = client_for(app_with((r"/", ArgsHandler)))
    resp = client.post("/?a=q", body={"a": "b"})
    assert resp.json() == {
        "a": "b",
        "all": ["q", "b"],
        "body": ["b"],
        "body_one": "b",
        "query": "q",
    }


def test_missing_argument_is_400(client_for: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = client_for(app_with((r"/", ArgsHandler)))
    with caplog.at_level(logging.WARNING):
        resp = client.post("/", body={"other": "x"})
    assert resp.status == 400
    assert b"400: Bad Request" in resp.body
    assert "Missing argument a" in caplog.text


def test_control_characters_are_replaced(client_for: Any) -> None:
    client = client_for(app_with((r"/", ArgsHandler)))
    assert client.get("/?a=x%00y%07z%09w").json()["a"] == "x y z\tw"


@pytest.mark.parametrize("query", ["a=%ff%fe", "a=ok&a=%c3%28"])
def test_invalid_utf8_argument_is_400(client_for: Any, query: str) -> None:
    client = client_for(app_with((r"/", ArgsHandler)))
    resp = client.get("/?" + query)
    assert resp.status == 400
    assert resp.reason == "Invalid unicode in a"


def test_invalid_utf8_path_argument_is_400(client_for: Any) -> None:
    class P(RequestHandler):
        def get(self, part: str) -> None:
            self.write(part)

    client = client_for(app_with((r"/p/(.*)", P)))
    assert client.get("/p/%E2%98%83").text == "☃"
    resp = client.get("/p/%ff")
    assert resp.status == 400
    assert resp.reason == "Invalid unicode in url"


def test_hostile_argument_name_not_echoed_in_reason(client_for: Any) -> None:
    class Any_(RequestHandler):
        def get(self) -> None:
            self.get_arguments("<script>")

    client = client_for(app_with((r"/", Any_)))
    resp = client.get("/?%3Cscript%3E=%ff")
    assert resp.status == 400
    assert "<" not in resp.reason
    assert resp.reason == "Invalid unicode in argument"


@pytest.mark.parametrize(
    "query", ["&&&", "=", "a", "a=1=2", "%", "%zz=1", "a=%", ";;", "a=1;b=2", "a&&b=&"]
)
def test_malformed_query_strings_never_crash(client_for: Any, query: str) -> None:
    client = client_for(app_with((r"/", ArgsHandler)))
    resp = client.get("/?" + query)
    assert resp.status == 200, resp.body


def test_named_path_arguments(client_for: Any) -> None:
    class Named(RequestHandler):
        def get(self, year: str, slug: str) -> None:
            self.write({"year": year, "slug": slug, "kwargs": self.path_kwargs})

    client = client_for(app_with((r"/(?P<year>\d+)/(?P<slug>[^/]+)", Named)))
    assert client.get("/2024/hello%20there").json() == {
        "year": "2024",
        "slug": "hello there",
        "kwargs": {"year": "2024", "slug": "hello there"},
    }


def test_optional_path_group_is_none(client_for: Any) -> None:
    class Opt(RequestHandler):
        def get(self, first: str, second: str | None = None) -> None:
            self.write({"first": first, "second": second})

    client = client_for(app_with((r"/opt/(\w+)/?(\w+)?", Opt)))
    assert client.get("/opt/a").json() == {"first": "a", "second": None}
    assert client.get("/opt/a/b").json() == {"first": "a", "second": "b"}


def test_decode_argument_override(client_for: Any) -> None:
    class Latin1(RequestHandler):
        def decode_argument(self, value: bytes, name: str | None = None) -> str:
            return value.decode("latin-1")

        def get(self) -> None:
            self.write(self.get_argument("a"))

    assert client_for(app_with((r"/", Latin1))).get("/?a=%e9").text == "é"


# -- redirects ----------------------------------------------------------------


def test_redirect_statuses(client_for: Any) -> None:
    class R(RequestHandler):
        def get(self) -> None:
            kind = self.get_argument("kind")
            if kind == "temp":
                self.redirect("/target")
            elif kind == "perm":
                self.redirect("/target", permanent=True)
            else:
                self.redirect("/target", status=int(kind))

    client = client_for(app_with((r"/", R)))
    for kind, status in [("temp", 302), ("perm", 301), ("303", 303), ("307", 307)]:
        resp = client.get(f"/?kind={kind}")
        assert resp.status == status
        assert resp.headers["Location"] == "/target"
        assert resp.body == b""
    assert client.get("/?kind=200").status == 500


def test_redirect_after_flush_is_error() -> None:
    handler = make_handler(HelloHandler, supports_async=True)
    handler.flush()
    with pytest.raises(RuntimeError, match="Cannot redirect after headers have been written"):
        handler.redirect("/x")


# -- clear() keeps cookies ----------------------------------------------------


def test_cookies_survive_send_error(client_for: Any) -> None:
    class C(RequestHandler):
        def get(self) -> None:
            self.set_cookie("kept", "yes")
            raise HTTPError(400)

    resp = client_for(app_with((r"/", C))).get("/")
    assert resp.status == 400
    assert resp.cookies() == {"kept": "yes"}


# -- current_user / locale / login url -----------------------------------------------------------


def test_current_user_cached_and_settable(client_for: Any) -> None:
    calls: list[int] = []

    class U(RequestHandler):
        def get_current_user(self) -> str:
            calls.append(1)
            return "ada"

        def get(self) -> None:
            first = self.current_user
            second = self.current_user
            self.current_user = "grace"
            self.write(f"{first} {second} {self.current_user}")

    assert client_for(app_with((r"/", U))).get("/").text == "ada ada grace"
    assert calls == [1]


def test_browser_locale(client_for: Any) -> None:
    class L(RequestHandler):
        def get(self) -> None:
            self.write(self.locale.code)

    client = client_for(app_with((r"/", L)))
    assert client.get("/", headers={"Accept-Language": "fr;q=0.5, en-US"}).text == "en_US"
    assert client.get("/", headers={"Accept-Language": "en;q=garbage,,;q=1"}).text == "en_US"
    assert client.get("/").text == "en_US"


def test_get_login_url_requires_setting(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class L(RequestHandler):
        def get(self) -> None:
            self.write(self.get_login_url())

    client = client_for(app_with((r"/", L), login_url="/login"))
    assert client.get("/").text == "/login"
    with caplog.at_level(logging.ERROR):
        resp = client_for(app_with((r"/", L))).get("/")
    assert resp.status == 500
    assert "L: you must define the 'login_url' setting" in caplog.text


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


# -- flush --------------------------------------------------------------------


def test_flush_then_finish(client_for: Any) -> None:
    class Chunks(RequestHandler):
        def get(self) -> None:
            self.write("part1,")
            result = self.flush()
            assert hasattr(result, "__await__")
            self.write("part2")

    resp = client_for(app_with((r"/", Chunks))).get("/")
    assert resp.status == 200
    assert resp.body == b"part1,part2"


def test_flush_under_wsgi_commits_the_head() -> None:
    # As natively (issue 6 item 14): the head is written at flush(); the WSGI
    # adapter adds the Content-Length of the whole body when it sends it.
    handler = make_handler(HelloHandler, supports_async=False)
    handler.write("abc")
    awaitable = handler.flush()
    assert awaitable.done() is True  # type: ignore[attr-defined]
    conn = handler.request.connection
    assert b"".join(conn.written) == b"abc"  # type: ignore[union-attr]
    handler.finish("def")
    assert "Content-Length" not in conn.headers  # type: ignore[union-attr]
    assert b"".join(conn.written) == b"abcdef"  # type: ignore[union-attr]


# -- gzip ---------------------------------------------------------------------


def test_compress_response(client_for: Any, mode: str) -> None:
    class Big(RequestHandler):
        def get(self) -> None:
            self.write("x" * 5000)

    client = client_for(app_with((r"/", Big), compress_response=True))
    resp = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Vary"] == "Accept-Encoding"
    if mode == "native":
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.headers["Content-Length"] == str(len(resp.body))
        assert gzip.decompress(resp.body) == b"x" * 5000
    else:
        assert resp.body == b"x" * 5000  # webtest decodes gzip itself
    plain = client.get("/")
    assert "Content-Encoding" not in plain.headers
    assert plain.body == b"x" * 5000


def test_gzip_transform_output_bytes() -> None:
    class Big(RequestHandler):
        def get(self) -> None:
            self.write("y" * 3000)

    from dualweb.web import GZipContentEncoding

    handler = make_handler(Big)
    handler.request.headers["Accept-Encoding"] = "gzip, deflate"
    assert handler._execute([GZipContentEncoding(handler.request)]) is None
    conn: Any = handler.request.connection
    body = b"".join(conn.written)
    assert conn.headers["Content-Encoding"] == "gzip"
    assert conn.headers["Content-Length"] == str(len(body))
    assert gzip.decompress(body) == b"y" * 3000


def test_small_responses_are_not_compressed(client_for: Any) -> None:
    client = client_for(app_with((r"/", HelloHandler), gzip=True))
    resp = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in resp.headers
    assert resp.body == b"Hello, world"


# -- helpers ------------------------------------------------------------------


class _RecordingConnection:
    """A minimal HTTPConnection recording what the handler sends."""

    def __init__(self, supports_async: bool) -> None:
        from dualweb.httputil import HTTPHeaders

        self.supports_async = supports_async
        self.start_line: Any = None
        self.headers: HTTPHeaders = HTTPHeaders()
        self.written: list[bytes] = []
        self.finished = False
        self.context = type("Ctx", (), {"remote_ip": "127.0.0.1", "protocol": "http"})()

    def write_headers(self, start_line: Any, headers: Any, chunk: bytes | None = None) -> Any:
        from dualweb.connection import COMPLETED

        self.start_line = start_line
        self.headers = headers
        if chunk:
            self.written.append(chunk)
        return COMPLETED

    def write(self, chunk: bytes) -> Any:
        from dualweb.connection import COMPLETED

        self.written.append(chunk)
        return COMPLETED

    def finish(self) -> None:
        self.finished = True

    def set_close_callback(self, callback: Any) -> None:
        pass


def make_handler(
    cls: type[RequestHandler], supports_async: bool = False, uri: str = "/", **settings: Any
) -> RequestHandler:
    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

    request = HTTPServerRequest(
        method="GET",
        uri=uri,
        headers=HTTPHeaders({"Host": "example.com"}),
        connection=_RecordingConnection(supports_async),  # type: ignore[arg-type]
    )
    return cls(Application(**settings), request)


def test_sync_handler_runs_without_event_loop_or_coroutine() -> None:
    """The fast path: app(request) for a plain def handler returns None, no loop needed."""
    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

    conn = _RecordingConnection(supports_async=True)
    request = HTTPServerRequest(
        method="GET", uri="/", headers=HTTPHeaders({"Host": "h"}), connection=conn  # type: ignore[arg-type]
    )
    app = app_with((r"/", HelloHandler))
    assert app(request) is None
    assert conn.finished
    assert conn.start_line.code == 200
    assert b"".join(conn.written) == b"Hello, world"


def test_coroutine_handler_returns_awaitable_natively() -> None:
    import asyncio

    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

    conn = _RecordingConnection(supports_async=True)
    request = HTTPServerRequest(
        method="GET", uri="/", headers=HTTPHeaders({"Host": "h"}), connection=conn  # type: ignore[arg-type]
    )
    pending = app_with((r"/", AsyncGet))(request)
    assert pending is not None
    assert not conn.finished
    asyncio.run(pending)  # type: ignore[arg-type]
    assert conn.finished
    assert b"".join(conn.written) == b"async hello"


def test_async_unavailable_error_is_exported() -> None:
    from dualweb import connection

    assert AsyncUnavailableError is connection.AsyncUnavailableError


# -- cross-origin protection (Tornado 6.6) -------------------------------------


class Form(RequestHandler):
    def post(self) -> None:
        self.write("accepted")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),  # a non-browser client
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}, 403),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://trusted.test"}, 200),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "https://evil.test"}, 403),
        ({"Origin": "http://app.test"}, 200),  # matches Host
        ({"Origin": "https://trusted.test"}, 200),
    ],
)
def test_cross_origin_protection(
    client_for: Any, headers: dict[str, str], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_with(
        (r"/", Form), cross_origin_protection=True, trusted_origins=["https://trusted.test"]
    )
    with caplog.at_level(logging.WARNING):
        resp = client_for(app).post("/", body=b"", headers={"Host": "app.test", **headers})
    assert resp.status == status
    if status == 403:
        assert "not allowed" in caplog.text
    else:
        assert resp.body == b"accepted"


def test_cross_origin_protection_off_by_default(client_for: Any) -> None:
    resp = client_for(app_with((r"/", Form))).post(
        "/", body=b"", headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}
    )
    assert resp.status == 200


def test_http_error_messages() -> None:
    err = HTTPError(400, "bad %s", "input")
    assert err.get_message() == "bad input"
    assert err.log_message == "bad %s"
    literal = HTTPError(400, "50% off")
    assert literal.get_message() == "50% off"
    assert literal.log_message == "50%% off"
    assert HTTPError(404).get_message() is None


def test_is_absolute() -> None:
    from dualweb.web import is_absolute

    assert is_absolute("/x") and is_absolute("http://a") and is_absolute("https://a")
    assert not is_absolute("x/y") and not is_absolute("ftp://a")


def test_detach_under_wsgi_is_clear_error() -> None:
    handler = make_handler(HelloHandler, supports_async=False)
    with pytest.raises(AsyncUnavailableError, match=r"HelloHandler\.detach\(\) takes over"):
        handler.detach()
