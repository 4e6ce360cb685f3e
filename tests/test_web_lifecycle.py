"""What a client sees of the request lifecycle, in both drivers: verbs and 405,
hook order, ``finish``, and per-request state (current user, locale, login URL).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from typing import Any

import pytest

from dualweb.web import Finish, RequestHandler

from .support import Client
from .web_support import HelloHandler, app_with

# -- the basics ---------------------------------------------------------------


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
