"""The request core's fast path for plain handlers, against the general path, in both drivers.

An ``Application`` served directly routes plain handler classes with
``RuleRouter.find_route`` and runs them with ``run_handler`` (no
``HandlerDelegate``); mounted in a ``RuleRouter``, or with ``find_handler``
overridden, it takes the general path. Both must answer the same for every
hook a handler may override.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest

from dualweb.httputil import HTTPHeaders, HTTPServerRequest
from dualweb.routing import AnyMatches, PathMatches, Rule, RuleRouter
from dualweb.web import Application, HTTPError, RequestHandler, asynchronous
from tests.support import Response


class Hello(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class Args(RequestHandler):
    def get(self, first: str, second: str | None = None) -> None:
        self.write({"first": first, "second": second})


class Named(RequestHandler):
    def get(self, year: str, slug: str) -> None:
        self.write(f"{year}/{slug}")


class Init(RequestHandler):
    def initialize(self, greeting: str) -> None:
        self.greeting = greeting

    def get(self, name: str) -> None:
        self.write(f"{self.greeting} {name}")


class Hooks(RequestHandler):
    calls: list[str] = []

    def set_default_headers(self) -> None:
        self.set_header("X-Default", "1")

    def prepare(self) -> None:
        self.set_header("X-Prepared", "yes")
        if self.get_argument("stop", None):
            self.finish("stopped in prepare")

    def on_finish(self) -> None:
        Hooks.calls.append(f"on_finish {self.get_status()}")

    def get(self) -> None:
        self.write("hooks")


class CustomError(RequestHandler):
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(f"custom {status_code}")

    def get(self) -> None:
        raise HTTPError(418)


class Flushing(RequestHandler):
    def get(self) -> None:
        self.write("part one, ")
        self.flush()
        self.write("part two")


class CustomEtag(RequestHandler):
    def compute_etag(self) -> str | None:
        return '"fixed"'

    def get(self) -> None:
        self.write("tagged")


class NoEtagCheck(RequestHandler):
    def check_etag_header(self) -> bool:
        return False

    def get(self) -> None:
        self.write("never 304")


class Decoding(RequestHandler):
    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        return value.decode("latin-1").upper()

    def get(self, word: str) -> None:
        self.write(word)


class Poster(RequestHandler):
    def post(self) -> None:
        self.write(f"x={self.get_body_argument('x')} q={self.get_query_argument('q', '-')}")


class Cookies(RequestHandler):
    def get(self) -> None:
        self.set_cookie("made", "here")
        self.write(f"sent={self.get_cookie('sent', '-')}")


class NotPlain(RequestHandler):
    def __init__(self, application: Any, request: HTTPServerRequest, **kwargs: Any) -> None:
        super().__init__(application, request, **kwargs)
        self.set_header("X-Own-Init", "yes")

    def get(self) -> None:
        self.write("own __init__")


class Status(RequestHandler):
    def get(self) -> None:
        self.set_status(201)
        self.write("created")


def _rules() -> list[Any]:
    return [
        (r"/", Hello),
        (r"/args/([A-Za-z%0-9]+)(?:/([0-9]+))?", Args),
        (r"/named/(?P<year>[0-9]{4})/(?P<slug>[^/]+)", Named),
        (r"/init/(\w+)", Init, {"greeting": "hi"}),
        (r"/hooks", Hooks),
        (r"/error", CustomError),
        (r"/flush", Flushing),
        (r"/etag", CustomEtag),
        (r"/noetag", NoEtagCheck),
        (r"/decode/(\w+)", Decoding),
        (r"/post", Poster),
        (r"/cookies", Cookies),
        (r"/own-init", NotPlain),
        (r"/status", Status),
        (r"/item[0-9]+", Hello),
    ]


class Overriding(Application):
    """find_handler overridden (through super): the intake must take the general path."""

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
        return super().find_handler(request, **kwargs)


REQUESTS: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("GET", "/", None, {}),
    ("HEAD", "/", None, {}),
    ("GET", "/", None, {"If-None-Match": '"' + hashlib.sha1(b"Hello, world").hexdigest() + '"'}),
    ("GET", "/args/abc", None, {}),
    ("GET", "/args/abc/42", None, {}),
    ("GET", "/args/a%2Fb", None, {}),
    ("GET", "/args/a%7Ab", None, {}),
    ("GET", "/args/%ff", None, {}),
    ("GET", "/named/2024/post%20one", None, {}),
    ("GET", "/init/bob", None, {}),
    ("GET", "/hooks", None, {}),
    ("GET", "/hooks?stop=1", None, {}),
    ("POST", "/hooks", b"", {}),
    ("GET", "/error", None, {}),
    ("GET", "/flush", None, {}),
    ("GET", "/etag", None, {"If-None-Match": '"fixed"'}),
    ("GET", "/noetag", None, {"If-None-Match": "*"}),
    ("GET", "/decode/abc", None, {}),
    ("POST", "/post?q=7", b"x=42", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("GET", "/cookies", None, {"Cookie": "sent=yes"}),
    ("GET", "/own-init", None, {}),
    ("GET", "/status", None, {}),
    ("GET", "/item12", None, {}),
    ("GET", "/missing", None, {}),
    ("PUT", "/", b"", {}),
]


def _comparable(resp: Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in resp.header_list if k.lower() != "date")
    return resp.status, headers, resp.body


def test_fast_and_general_paths_answer_the_same(client_for: Any) -> None:
    direct = client_for(Application(_rules()))
    mounted = client_for(RuleRouter([Rule(AnyMatches(), Application(_rules()))]))
    overriding = client_for(Overriding(_rules()))
    for method, path, body, headers in REQUESTS:
        a = direct.request(method, path, body=body, headers=headers)
        b = mounted.request(method, path, body=body, headers=headers)
        c = overriding.request(method, path, body=body, headers=headers)
        assert _comparable(a) == _comparable(b) == _comparable(c), (method, path)


def test_what_the_fast_path_answers(client_for: Any, mode: str) -> None:
    client = client_for(Application(_rules()))
    hello = client.get("/")
    assert (hello.status, hello.body) == (200, b"Hello, world")
    assert hello.headers["Etag"] == '"' + hashlib.sha1(b"Hello, world").hexdigest() + '"'
    assert hello.headers["Content-Length"] == "12"
    assert client.get("/", headers={"If-None-Match": hello.headers["Etag"]}).status == 304
    assert client.get("/args/abc").json() == {"first": "abc", "second": None}
    assert client.get("/args/abc/42").json() == {"first": "abc", "second": "42"}
    assert client.get("/args/a%7Ab").json() == {"first": "azb", "second": None}
    if mode == "native":
        # (webtest decodes the path itself and sends no raw target.)
        assert client.get("/args/a%2Fb").json() == {"first": "a/b", "second": None}
        assert client.get("/args/%ff").status == 400
    assert client.get("/named/2024/post%20one").text == "2024/post one"
    assert client.get("/init/bob").text == "hi bob"
    assert client.get("/decode/abc").text == "ABC"
    assert client.get("/own-init").headers["X-Own-Init"] == "yes"
    error = client.get("/error")
    assert (error.status, error.text) == (418, "custom 418")
    assert client.get("/flush").text == "part one, part two"
    assert client.get("/etag", headers={"If-None-Match": '"fixed"'}).status == 304
    assert client.get("/noetag", headers={"If-None-Match": "*"}).text == "never 304"
    posted = client.post("/post?q=7", body={"x": "42"})
    assert posted.text == "x=42 q=7"
    cookies = client.get("/cookies", headers={"Cookie": "sent=yes"})
    assert cookies.text == "sent=yes" and cookies.cookies() == {"made": "here"}


def test_hooks_run_on_the_fast_path(client_for: Any) -> None:
    Hooks.calls.clear()
    client = client_for(Application(_rules()))
    response = client.get("/hooks")
    assert response.text == "hooks"
    assert response.headers["X-Default"] == "1" and response.headers["X-Prepared"] == "yes"
    stopped = client.get("/hooks?stop=1")
    assert stopped.text == "stopped in prepare"
    assert client.request("POST", "/hooks", body=b"").status == 405
    assert Hooks.calls == ["on_finish 200", "on_finish 200", "on_finish 405"]


def test_etag_digest_for_small_and_large_bodies(client_for: Any) -> None:
    class Sized(RequestHandler):
        def get(self, size: str) -> None:
            # Several writes: the Etag covers the whole body.
            data = bytes(range(256)) * (int(size) // 256 + 1)
            body = data[: int(size)]
            self.write(body[:3])
            self.write(body[3:])

    client = client_for(Application([(r"/(\d+)", Sized)]))
    for size in (0, 12, 256, 257, 5000):
        response = client.get(f"/{size}")
        expected = '"' + hashlib.sha1(response.body).hexdigest() + '"'
        assert len(response.body) == size
        assert response.headers["Etag"] == expected, size


def test_default_compute_etag_matches_the_inline_one() -> None:
    request = HTTPServerRequest("GET", "/", headers=HTTPHeaders())
    handler = Hello(Application(), request)
    handler.write("Hello, ")
    handler.write("world")
    assert handler.compute_etag() == '"' + hashlib.sha1(b"Hello, world").hexdigest() + '"'


def test_access_log_lines_on_the_fast_path(
    client_for: Any, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(Application(_rules()))
    with caplog.at_level(logging.INFO, logger="dualweb.access"):
        client.get("/")
        client.get("/error")
    lines = [r.getMessage() for r in caplog.records if r.name == "dualweb.access"]
    peer = "127.0.0.1" if mode == "native" else ""  # webtest sends no REMOTE_ADDR
    assert len(lines) == 2
    assert lines[0].startswith(f"200 GET / ({peer}) ") and lines[0].endswith("ms")
    assert lines[1].startswith(f"418 GET /error ({peer}) ")
    assert [r.levelno for r in caplog.records if r.name == "dualweb.access"] == [
        logging.INFO,
        logging.WARNING,
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dualweb.access"):
        client.get("/")
    assert not [r for r in caplog.records if r.name == "dualweb.access"]


def test_log_function_setting_sees_every_request(client_for: Any) -> None:
    seen: list[tuple[int, str]] = []

    def log_function(handler: RequestHandler) -> None:
        seen.append((handler.get_status(), handler.request.path))

    client = client_for(Application(_rules(), log_function=log_function))
    client.get("/")
    client.get("/init/bob")
    client.get("/missing")
    assert seen == [(200, "/"), (200, "/init/bob"), (404, "/missing")]


class Inspect(RequestHandler):
    def get(self) -> None:
        request = self.request
        request.custom = "attached"  # type: ignore[attr-defined]
        self.write(
            {
                "arguments": sorted(request.arguments),
                "query_arguments": sorted(request.query_arguments),
                "body_arguments": request.body_arguments,
                "files": request.files,
                "cookies": sorted(request.cookies),
                "host": request.host,
                "host_name": request.host_name,
                "remote_ip": request.remote_ip,
                "protocol": request.protocol,
                "custom": request.custom,  # type: ignore[attr-defined]
                "has_nothing": hasattr(request, "nothing_here"),
            }
        )


def test_request_attributes_computed_on_first_use(client_for: Any, mode: str) -> None:
    client = client_for(Application([(r"/i", Inspect)]))
    data = client.get("/i?b=1&a=2&a=3", headers={"Cookie": "k=v; z=1"}).json()
    assert data["arguments"] == ["a", "b"] and data["query_arguments"] == ["a", "b"]
    assert data["body_arguments"] == {} and data["files"] == {}
    assert data["cookies"] == ["k", "z"]
    assert data["host_name"] == data["host"].split(":")[0].lower()
    assert data["remote_ip"] == ("127.0.0.1" if mode == "native" else "")
    assert data["protocol"] == "http"
    assert data["custom"] == "attached" and data["has_nothing"] is False


def test_request_built_directly_keeps_tornado_attributes() -> None:
    request = HTTPServerRequest("GET", "/p?x=1&x=2", headers=HTTPHeaders({"Host": "Ex.COM:81"}))
    assert request.arguments == {"x": [b"1", b"2"]}
    assert request.query_arguments == {"x": [b"1", b"2"]}
    request.arguments["y"] = [b"3"]
    assert request.arguments["y"] == [b"3"] and "y" not in request.query_arguments
    assert (request.host, request.host_name) == ("Ex.COM:81", "ex.com")
    assert (request.remote_ip, request.protocol) == (None, "http")
    assert request.files == {} and request.body_arguments == {}
    assert HTTPServerRequest("GET", "/", host="given").host == "given"
    request.remote_ip = "10.0.0.1"
    assert request.remote_ip == "10.0.0.1"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        request.nope  # type: ignore[attr-defined]  # noqa: B018


def test_request_time_without_a_finish_time() -> None:
    request = HTTPServerRequest("GET", "/")
    assert request.request_time() >= 0.0


def test_find_route_keeps_first_match_order() -> None:
    first, second, shadow = object(), object(), object()
    table: list[Any] = [(rf"/item{i}/([0-9]+)", object()) for i in range(1000)]
    table.insert(0, (r"/item999/7", first))
    table.append((r"/item[0-9]+/([0-9]+)", shadow))
    table.append((r"/exact", second))
    router = RuleRouter(table)

    def route(path: str) -> Any:
        found = router.find_route(HTTPServerRequest("GET", path))
        return None if found is None else (found[0].target, found[1])

    assert route("/item999/7") == (first, None)
    target, captured = route("/item999/12345")
    assert target is router.rules[1000].target
    assert captured == ("12345",)  # the raw groups, as in the path
    assert route("/item1000/5") == (shadow, ("5",))
    assert route("/exact") == (second, None)
    assert route("/nothing") is None


def test_find_route_captures_in_the_cheapest_form() -> None:
    from dualweb.routing import Matcher

    class Custom(Matcher):
        def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
            return {"path_args": [b"custom"], "extra": 1} if request.path == "/c" else None

    router = RuleRouter(
        [
            (r"/opt/([a-z]+)(?:/([0-9]+))?", object()),
            (r"/named/(?P<n>[^/]+)", object()),
            (r"/nogroups/[a-z]+", object()),
            (Custom(), object()),
        ]
    )

    def captured(path: str) -> Any:
        found = router.find_route(HTTPServerRequest("GET", path))
        assert found is not None
        return found[1]

    assert captured("/opt/ab") == ("ab", None)
    assert captured("/opt/ab/9") == ("ab", "9")
    assert captured("/named/a%20b") == {"path_args": [], "path_kwargs": {"n": b"a b"}}
    assert captured("/nogroups/xyz") is None
    assert captured("/c") == {"path_args": [b"custom"], "extra": 1}


def test_routes1000_table_serves_the_last_route(client_for: Any) -> None:
    class Item(RequestHandler):
        index = -1

        def get(self, number: str) -> None:
            self.write(f"item {self.index} {number}")

    class Shadowed(RequestHandler):
        def get(self, number: str) -> None:
            self.write("shadowed")

    handlers: list[Any] = [
        (rf"/item{i}/([0-9]+)", type(f"Item{i}", (Item,), {"index": i})) for i in range(1000)
    ]
    handlers.append((r"/item[0-9]+/([0-9]+)", Shadowed))
    client = client_for(Application(handlers))
    assert client.get("/item999/12345").text == "item 999 12345"
    assert client.get("/item0/1").text == "item 0 1"
    assert client.get("/item1000/1").text == "shadowed"


def test_asynchronous_handler_hears_the_client_leave(native_client_for: Any) -> None:
    import socket
    import time

    closed: list[str] = []

    class Waits(RequestHandler):
        @asynchronous
        def get(self) -> None:
            self.write("never finished")

        def on_connection_close(self) -> None:
            closed.append("closed")

    client = native_client_for(Application([(r"/wait", Waits), (r"/", Hello)]))
    with socket.create_connection(("127.0.0.1", client.port), timeout=5) as sock:
        sock.sendall(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while not closed and time.monotonic() < deadline:
        client.get("/")  # the server runs in the background; poll it
        time.sleep(0.05)
    assert closed == ["closed"]


def test_rules_attribute_assigned_or_edited_reroutes() -> None:
    first, second = object(), object()
    router = RuleRouter([(r"/a", first)])

    def target(path: str) -> Any:
        found = router.find_route(HTTPServerRequest("GET", path))
        return None if found is None else found[0].target

    assert target("/a") is first
    router.rules = [Rule(PathMatches(r"/b"), second)]
    assert (target("/a"), target("/b")) == (None, second)
    router.rules.insert(0, Rule(PathMatches(r"/b"), first))
    assert target("/b") is first
    del router.rules[0]
    assert target("/b") is second


def test_host_rules_added_later_take_the_general_path(client_for: Any) -> None:
    class Host(RequestHandler):
        def get(self) -> None:
            self.write("host rule")

    app = Application([(r"/", Hello)])
    client = client_for(app)
    assert client.get("/").text == "Hello, world"
    app.add_handlers(r".*", [(r"/", Host)])
    assert client.get("/").text == "host rule"
