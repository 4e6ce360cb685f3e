"""Tests for dualweb.routing: rule order, matchers, targets, reversing, the fast index."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualweb.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from dualweb.routing import (
    AnyMatches,
    DefaultHostMatches,
    HostMatches,
    Matcher,
    PathMatches,
    ReversibleRuleRouter,
    Rule,
    RuleRouter,
    URLSpec,
    url,
)
from tests.web_support import RecordingConnection

# --------------------------------------------------------------------------- helpers


def make_request(
    uri: str, host: str = "example.com", method: str = "GET", **headers: str
) -> HTTPServerRequest:
    all_headers = {"Host": host}
    all_headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    return HTTPServerRequest(method=method, uri=uri, headers=HTTPHeaders(all_headers))


class L:
    """A target label (plain strings would be imported as dotted names by Rule)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return other == self.name if isinstance(other, str) else other is self

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return self.name


class Picked(HTTPMessageDelegate):
    """What PickRouter returns: which target was chosen and with which parameters."""

    def __init__(self, target: Any, params: dict[str, Any]) -> None:
        self.target = target
        self.params = params


class PickRouter(RuleRouter):
    """Targets are plain labels; a None target declines (the next rule gets a chance)."""

    def get_target_delegate(
        self, target: Any, request: HTTPServerRequest, **target_params: Any
    ) -> HTTPMessageDelegate | None:
        if isinstance(target, RuleRouter):
            return target.find_handler(request, **target_params)
        if target is None:
            return None
        return Picked(target, target_params)


def pick(router: RuleRouter, uri: str, **kwargs: Any) -> Any:
    """The label of the target chosen for ``uri`` (None when nothing matches)."""
    delegate = router.find_handler(make_request(uri, **kwargs))
    if delegate is None:
        return None
    assert isinstance(delegate, Picked)
    return delegate.target


def params_for(router: RuleRouter, uri: str) -> dict[str, Any]:
    delegate = router.find_handler(make_request(uri))
    assert isinstance(delegate, Picked)
    return delegate.params


def drive(
    delegate: HTTPServerConnectionDelegate,
    method: str,
    uri: str,
    body: bytes = b"",
    **headers: str,
) -> RecordingConnection:
    """Send one request through ``start_request`` like a driver does."""
    conn = RecordingConnection()
    message = delegate.start_request(object(), conn)
    all_headers = {"Host": "example.com"}
    all_headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    message.headers_received(RequestStartLine(method, uri, "HTTP/1.1"), HTTPHeaders(all_headers))
    if body:
        message.data_received(body[:3])
        message.data_received(body[3:])
    message.finish()
    return conn


# --------------------------------------------------------------------------- order semantics


def test_exact_and_regex_rules_keep_declaration_order() -> None:
    router = PickRouter([("/x.*", L("regex")), ("/xy", L("exact"))])
    assert pick(router, "/xy") == "regex"
    router = PickRouter([("/xy", L("exact")), ("/x.*", L("regex"))])
    assert pick(router, "/xy") == "exact"
    assert pick(router, "/xz") == "regex"
    assert pick(router, "/y") is None


def test_interleaved_table_first_match_wins() -> None:
    router = PickRouter(
        [
            ("/a", L("a")),
            (r"/a/(\d+)", L("a-num")),
            ("/a/new", L("a-new")),  # shadowed for digits only
            (r"/a/([^/]+)", L("a-any")),
            ("/a/new", L("a-new-again")),
            ("/.*", L("catch-all")),
            ("/b", L("b-unreachable")),
        ]
    )
    assert pick(router, "/a") == "a"
    assert pick(router, "/a/12") == "a-num"
    assert pick(router, "/a/new") == "a-new"
    assert pick(router, "/a/other") == "a-any"
    assert pick(router, "/b") == "catch-all"
    assert pick(router, "/") == "catch-all"
    assert pick(router, "nope") is None


def test_duplicate_patterns_first_wins_and_declining_target_falls_through() -> None:
    router = PickRouter([("/p", L("first")), ("/p", L("second"))])
    assert pick(router, "/p") == "first"
    router = PickRouter([("/p", None), (r"/(p)", None), ("/p", L("third"))])
    assert pick(router, "/p") == "third"


def test_patterns_are_anchored_at_both_ends() -> None:
    router = PickRouter([("/abc", L("abc")), (r"/n/\d+", L("num"))])
    assert pick(router, "/abcd") is None
    assert pick(router, "/ab") is None
    assert pick(router, "/x/abc") is None
    assert pick(router, "/n/12x") is None
    assert pick(router, "/n/12") == "num"


def test_prefix_index_is_not_fooled_by_optional_or_alternative_characters() -> None:
    router = PickRouter(
        [
            (r"/items?/list", L("optional-s")),
            (r"/v1|/v2", L("alternation")),
            (r"/x\.json", L("escaped-dot")),
            (r"/y.json", L("any-char")),
            (re.compile(r"/CASE", re.IGNORECASE), L("ignorecase")),
            (r"/(?:a|b)c", L("group-first")),
            (r"/z{2}", L("counted")),
        ]
    )
    assert pick(router, "/item/list") == "optional-s"
    assert pick(router, "/items/list") == "optional-s"
    assert pick(router, "/v2") == "alternation"
    assert pick(router, "/x.json") == "escaped-dot"
    assert pick(router, "/xjson") is None
    assert pick(router, "/y-json") == "any-char"
    assert pick(router, "/case") == "ignorecase"
    assert pick(router, "/bc") == "group-first"
    assert pick(router, "/zz") == "counted"
    assert pick(router, "/z") is None


def test_exact_rule_matches_before_a_trailing_newline_like_re_dollar() -> None:
    # Tornado matches with re.match(pattern + "$"), and "$" accepts a final "\n".
    router = PickRouter([("/a", L("exact")), ("/a.*", L("regex"))])
    assert pick(router, "/a\n") == "exact"
    assert pick(router, "/a\n\n") is None
    assert pick(router, "/ab") == "regex"


def test_compiled_pattern_without_dollar_is_a_prefix_match() -> None:
    router = PickRouter([(re.compile("/static"), L("static")), ("/other", L("other"))])
    assert pick(router, "/static/app.js") == "static"
    assert pick(router, "/other/more") is None


def test_rules_added_later_and_edited_in_place_are_used() -> None:
    router = PickRouter([("/a", L("a"))])
    assert pick(router, "/b") is None
    router.add_rules([("/b", L("b"))])
    assert pick(router, "/b") == "b"
    router.rules.insert(0, Rule(PathMatches("/.*"), L("inserted")))
    assert pick(router, "/a") == "inserted"
    del router.rules[0]
    assert pick(router, "/a") == "a"
    router.rules = [Rule(PathMatches("/c"), L("replaced"))]
    assert pick(router, "/a") is None
    assert pick(router, "/c") == "replaced"


def test_host_rules_are_tried_in_order_with_path_rules() -> None:
    a_router = PickRouter([("/", L("a-home"))])
    router = PickRouter(
        [
            ("/health", L("health")),
            Rule(HostMatches(r"a\.example\.com"), a_router),
            Rule(HostMatches(r".*\.example\.com"), L("wildcard-host")),
            ("/", L("default-home")),
        ]
    )
    assert pick(router, "/", host="a.example.com") == "a-home"
    assert pick(router, "/", host="A.Example.com:8080") == "a-home"
    assert pick(router, "/missing", host="a.example.com") == "wildcard-host"
    assert pick(router, "/", host="b.example.com") == "wildcard-host"
    assert pick(router, "/", host="example.com") == "default-home"
    assert pick(router, "/health", host="a.example.com") == "health"
    # HostMatches is anchored: a suffix does not count.
    assert pick(router, "/", host="a.example.com.evil") == "default-home"


def test_default_host_matches_only_without_x_real_ip() -> None:
    class App:
        default_host = "main.example.com"

    router = PickRouter(
        [Rule(DefaultHostMatches(App(), re.compile(r"main\.example\.com$")), L("default"))]
    )
    assert pick(router, "/", host="10.0.0.1") == "default"
    assert pick(router, "/", host="10.0.0.1", X_Real_Ip="1.2.3.4") is None


def test_custom_matcher_is_consulted_in_order() -> None:
    class MethodMatches(Matcher):
        def __init__(self, method: str) -> None:
            self.method = method

        def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
            return {} if request.method == self.method else None

    router = PickRouter(
        [("/only-get", L("get")), Rule(MethodMatches("POST"), L("post")), ("/.*", L("any"))]
    )
    assert pick(router, "/only-get", method="POST") == "get"
    assert pick(router, "/x", method="POST") == "post"
    assert pick(router, "/x", method="GET") == "any"


def test_nested_routers_receive_path_params_and_fall_through() -> None:
    seen: dict[str, Any] = {}

    class Inner(PickRouter):
        def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
            seen.update(kwargs)
            return super().find_handler(request, **kwargs)

    inner = Inner([(r"/api/v1/users", L("users"))])
    router = PickRouter([(r"/api/(v\d)/.*", inner), ("/api/v1/other", L("outer"))])
    assert pick(router, "/api/v1/users") == "users"
    assert seen["path_args"] == [b"v1"]
    # The nested router finds nothing, so the outer table continues.
    assert pick(router, "/api/v1/other") == "outer"


def test_target_kwargs_are_passed_only_when_present() -> None:
    router = PickRouter(
        [("/a", L("a"), {"x": 1}), ("/b", L("b")), ("/c/(.*)", L("c"), {}, "c-name")]
    )
    assert params_for(router, "/a") == {"target_kwargs": {"x": 1}}
    assert params_for(router, "/b") == {}
    assert params_for(router, "/c/z") == {"path_args": [b"z"], "path_kwargs": {}}


def test_only_candidate_rules_are_matched_with_a_thousand_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = PickRouter([(rf"/item{i}/([0-9]+)", i) for i in range(1000)])
    calls = 0
    original = PathMatches.match

    def counting(self: PathMatches, request: HTTPServerRequest) -> dict[str, Any] | None:
        nonlocal calls
        calls += 1
        return original(self, request)

    monkeypatch.setattr(PathMatches, "match", counting)
    assert pick(router, "/item999/42") == 999
    assert pick(router, "/item5/42") == 5
    assert pick(router, "/item5/x") is None
    assert pick(router, "/nothing") is None
    assert calls == 3


# --------------------------------------------------------------------------- path arguments


def test_path_args_are_unescaped_bytes_with_plus_kept() -> None:
    router = PickRouter([(r"/f/([^/]*)/(.*)", L("f"))])
    params = params_for(router, "/f/a%2Fb+c/%C3%A9%20x")
    assert params == {"path_args": [b"a/b+c", "\u00e9 x".encode()], "path_kwargs": {}}


def test_named_groups_become_path_kwargs_and_unmatched_groups_none() -> None:
    router = PickRouter(
        [(r"/u/(?P<user>[^/]+)(?P<tail>/.*)?", L("named")), (r"/o/(\d+)(/x)?", L("positional"))]
    )
    assert params_for(router, "/u/bob%21") == {
        "path_args": [],
        "path_kwargs": {"user": b"bob!", "tail": None},
    }
    assert params_for(router, "/o/7") == {"path_args": [b"7", None], "path_kwargs": {}}


def test_mixed_named_and_unnamed_groups_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"mixes named and unnamed.*\(\?:\.\.\.\)"):
        PathMatches(r"/(?P<a>\w+)/(\d+)")


def test_bad_rule_tuples_are_rejected_with_the_router_name() -> None:
    with pytest.raises(TypeError, match="PickRouter: a rule given as a tuple"):
        PickRouter([("/a",)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="expected a Rule"):
        PickRouter(["/a"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="or a Matcher, got target in"):
        PickRouter([(L("target"), "/swapped")])  # type: ignore[list-item]


# --------------------------------------------------------------------------- reversing


def reversible() -> ReversibleRuleRouter:
    return ReversibleRuleRouter(
        [
            url(r"/", L("home"), name="home"),
            url(r"/user/([^/]+)/post/(\d+)", L("post"), name="post"),
            url(r"/file\.txt/(.*)", L("file"), name="file"),
            url(r"/any/.*", L("wild"), name="wild"),
            url(r"/nc/(?:a|b)/(\d+)", L("noncapturing"), name="noncapturing"),
            url(r"/class/(\d+)\d", L("class"), name="class-outside"),
            Rule(
                PathMatches("/sub/.*"), ReversibleRuleRouter([url("/sub/(x+)", L("x"), name="x")])
            ),
        ]
    )


def test_reverse_url_fills_groups_with_escaped_values() -> None:
    router = reversible()
    assert router.reverse_url("home") == "/"
    assert router.reverse_url("post", "a b/c?", 42) == "/user/a%20b/c%3F/post/42"
    assert router.reverse_url("post", "\u00e9", b"7") == "/user/%C3%A9/post/7"
    assert router.reverse_url("file", "d/e") == "/file.txt/d/e"
    assert router.reverse_url("x", "xx") == "/sub/xx"
    assert router.reverse_url("missing") is None


def test_reverse_errors() -> None:
    router = reversible()
    with pytest.raises(ValueError, match="needs 2 argument"):
        router.reverse_url("post", "only-one")
    with pytest.raises(ValueError, match="needs 0 argument"):
        router.reverse_url("home", "extra")
    with pytest.raises(ValueError, match="Cannot reverse url regex"):
        router.reverse_url("noncapturing", 1)
    with pytest.raises(ValueError, match="Cannot reverse url regex"):
        router.reverse_url("class-outside", 1)


def test_reverse_keeps_literal_text_like_tornado() -> None:
    # Tornado copies regex text outside groups as is; dualweb does the same.
    assert reversible().reverse_url("wild") == "/any/.*"
    assert PathMatches(r"/(\d+)/?").reverse(5) == "/5/?"
    assert PathMatches(r"/100%/(\d+)").reverse(5) == "/100%/5"


def test_duplicate_names_warn_and_keep_the_later_rule(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        router = ReversibleRuleRouter(
            [url("/one", L("a"), name="n"), url("/two", L("b"), name="n")]
        )
    assert router.reverse_url("n") == "/two"
    assert "Multiple handlers named n; replacing previous value" in caplog.text


def test_urlspec_attributes_and_repr() -> None:
    spec = URLSpec(r"/x/(\d+)", L("handler"), {"a": 1}, name="x")
    assert spec.regex.pattern == r"/x/(\d+)$"
    assert spec.handler_class == "handler" == spec.target
    assert spec.kwargs == {"a": 1} == spec.target_kwargs
    assert spec.reverse(3) == "/x/3"
    assert repr(spec) == "URLSpec('/x/(\\\\d+)$', handler, kwargs={'a': 1}, name='x')"
    bare = URLSpec("/y", L("h"))
    assert bare.kwargs is None and bare.target_kwargs == {}
    assert url is URLSpec


def test_string_target_is_imported() -> None:
    rule = Rule(AnyMatches(), "dualweb.routing.AnyMatches")
    assert rule.target is AnyMatches


# --------------------------------------------------------------------------- targets and delegates


def test_unrouted_request_gets_404_through_start_request() -> None:
    router = RuleRouter([("/here", lambda request: None)])
    conn = drive(router, "GET", "/elsewhere")
    assert conn.start_line is not None and conn.start_line.code == 404
    assert conn.finished


def test_callable_target_gets_request_with_parsed_body_and_params() -> None:
    calls: list[tuple[HTTPServerRequest, dict[str, Any]]] = []

    def target(request: HTTPServerRequest, **params: Any) -> None:
        calls.append((request, params))
        assert request.connection is not None
        request.connection.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders(), request.body
        )
        request.connection.finish()

    router = RuleRouter([(r"/form/(\w+)", target, {"k": "v"})])
    conn = drive(
        router,
        "POST",
        "/form/abc?q=1",
        b"name=value&x=%2B",
        Content_Type="application/x-www-form-urlencoded",
    )
    assert conn.start_line is not None and conn.start_line.code == 200
    assert conn.body == b"name=value&x=%2B"
    ((request, params),) = calls
    assert params == {"path_args": [b"abc"], "path_kwargs": {}, "target_kwargs": {"k": "v"}}
    assert request.body_arguments["x"] == [b"+"]
    assert request.arguments["q"] == [b"1"]
    assert request.arguments["name"] == [b"value"]


def test_connection_delegate_target_is_started_on_the_request_connection() -> None:
    started: list[tuple[object, HTTPConnection]] = []

    class Echo(HTTPServerConnectionDelegate):
        def start_request(
            self, server_conn: object, request_conn: HTTPConnection
        ) -> HTTPMessageDelegate:
            started.append((server_conn, request_conn))

            class Reply(HTTPMessageDelegate):
                def finish(self) -> None:
                    request_conn.write_headers(
                        ResponseStartLine("HTTP/1.1", 201, "Created"), HTTPHeaders(), b"made"
                    )
                    request_conn.finish()

            return Reply()

    router = RuleRouter([("/make", Echo())])
    conn = drive(router, "POST", "/make")
    assert conn.start_line is not None and conn.start_line.code == 201
    assert conn.body == b"made"
    assert started and started[0][1] is conn


def test_nested_router_target_routes_through_start_request() -> None:
    hits: list[str] = []
    inner = RuleRouter([("/in/b", lambda request, **kw: hits.append(request.path))])
    router = RuleRouter([(r"/in/.*", inner)])
    assert drive(router, "GET", "/in/b").start_line is None  # the callable answered nothing
    assert hits == ["/in/b"]
    conn = drive(router, "GET", "/in/c")
    assert conn.start_line is not None and conn.start_line.code == 404


def test_callable_delegate_finish_serves_a_request_built_elsewhere() -> None:
    # A delegate found for a request whose body is already in place: finish() serves it.
    seen: list[bytes] = []
    router = RuleRouter([("/x", lambda request, **kw: seen.append(request.body))])
    request = make_request("/x", method="POST")
    request.body = b"already read"
    delegate = router.find_handler(request)
    assert delegate is not None
    assert delegate.finish() is None
    assert seen == [b"already read"]


def test_async_callable_target_is_returned_for_the_driver_to_run() -> None:
    seen: list[str] = []

    async def target(request: HTTPServerRequest) -> None:
        seen.append(request.path)

    router = RuleRouter([("/async", target)])
    delegate = router.find_handler(make_request("/async"))
    assert delegate is not None
    delegate.headers_received(RequestStartLine("GET", "/async", "HTTP/1.1"), HTTPHeaders())
    awaitable = delegate.finish()
    assert awaitable is not None and seen == []
    asyncio.run(awaitable)  # type: ignore[arg-type]
    assert seen == ["/async"]


def test_bytes_pattern_is_rejected_with_the_fix() -> None:
    with pytest.raises(TypeError, match="compile the pattern from a str"):
        PathMatches(re.compile(b"/a"))  # type: ignore[arg-type]


def test_unknown_target_type_gives_no_delegate() -> None:
    router = RuleRouter([("/a", 42)])
    assert router.find_handler(make_request("/a")) is None


# ---------------------------------------------------------------- property: fast == naive

LITERALS = ["/", "/a", "/a/b", "/ab", "/b", "/a/", "/a.b", "/a\n"]
REGEXES = [
    r"/a/([^/]+)",
    r"/a.*",
    r"/(a|b)",
    r"/ab?",
    r"/[ab]/b",
    r"/a\.b",
    r"(?i)/A",
    r"/a/b/?",
    r"/a|/b",
    r"/(?P<x>a)(?P<y>/b)?",
    r"/a{1,2}",
    r"/a\/b",
    r"^/b$",
    r".*",
]
PATHS = ["/", "/a", "/a/", "/a/b", "/ab", "/aa", "/b", "/a.b", "/axb", "/A", "/a/b/", "/a\n", "/c"]
HOSTS = ["a.com", "b.com"]


def naive(router: RuleRouter, request: HTTPServerRequest) -> tuple[Any, Any] | None:
    """Tornado's linear scan over ``router.rules``."""
    for rule in router.rules:
        params = rule.matcher.match(request)
        if params is not None and rule.target[1] is not None:
            return rule.target, params
    return None


rule_spec = st.one_of(
    st.tuples(st.just("literal"), st.sampled_from(LITERALS), st.booleans()),
    st.tuples(st.just("regex"), st.sampled_from(REGEXES), st.booleans()),
    st.tuples(st.just("host"), st.sampled_from(HOSTS), st.booleans()),
    st.tuples(st.just("any"), st.just(""), st.booleans()),
)


class TupleTargetRouter(RuleRouter):
    def get_target_delegate(
        self, target: Any, request: HTTPServerRequest, **target_params: Any
    ) -> HTTPMessageDelegate | None:
        return None if target[1] is None else Picked(target, target_params)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(rule_spec, max_size=12),
    st.lists(rule_spec, max_size=4),
    st.sampled_from(PATHS),
    st.sampled_from(HOSTS),
)
def test_fast_router_picks_the_same_rule_as_a_linear_scan(
    first: list[tuple[str, str, bool]],
    later: list[tuple[str, str, bool]],
    path: str,
    host: str,
) -> None:
    def build(specs: list[tuple[str, str, bool]], offset: int) -> list[Rule]:
        rules = []
        for i, (kind, text, declines) in enumerate(specs, offset):
            target = (i, None if declines else "ok")
            if kind in ("literal", "regex"):
                matcher: Matcher = PathMatches(text)
            elif kind == "host":
                matcher = HostMatches(re.escape(text))
            else:
                matcher = AnyMatches()
            rules.append(Rule(matcher, target))
        return rules

    router = TupleTargetRouter(build(first, 0))
    router.add_rules(build(later, len(first)))
    request = make_request(path, host=host)
    delegate = router.find_handler(request)
    expected = naive(router, make_request(path, host=host))
    if expected is None:
        assert delegate is None
    else:
        assert isinstance(delegate, Picked)
        assert (delegate.target, delegate.params) == expected


# ---------------------------------------------------------------- through the real drivers


def test_application_routes_in_declaration_order_in_both_drivers(client_for: Any) -> None:
    from dualweb.web import Application, RequestHandler

    class Show(RequestHandler):
        def initialize(self, label: str) -> None:
            self.label = label

        def get(self, *args: str, **kwargs: str) -> None:
            self.write({"label": self.label, "args": list(args), "kwargs": kwargs})

    class Link(RequestHandler):
        def get(self) -> None:
            self.write(self.reverse_url("file", "a b/c.txt"))

    app = Application(
        [
            url(r"/a/new", Show, {"label": "exact-first"}),
            url(r"/a/(\d+)", Show, {"label": "digits"}),
            url(r"/a/([^/]+)", Show, {"label": "any"}),
            url(r"/a/other", Show, {"label": "shadowed"}),
            url(r"/files/(?P<path>.+)", Show, {"label": "file"}, name="file"),
            url(r"/link", Link),
        ]
        + [url(rf"/item{i}/([0-9]+)", Show, {"label": f"item{i}"}) for i in range(300)]
    )
    client = client_for(app)
    assert client.get("/a/new").json() == {"label": "exact-first", "args": [], "kwargs": {}}
    assert client.get("/a/42").json()["label"] == "digits"
    assert client.get("/a/other").json() == {"label": "any", "args": ["other"], "kwargs": {}}
    assert client.get("/files/x%2Fy+z").json() == {
        "label": "file",
        "args": [],
        "kwargs": {"path": "x/y+z"},
    }
    assert client.get("/item299/7").json() == {"label": "item299", "args": ["7"], "kwargs": {}}
    assert client.get("/item299/x").status == 404
    assert client.get("/link").text == "/files/a%20b/c.txt"


def test_router_as_server_delegate_over_a_real_socket() -> None:
    pytest.importorskip("dualweb.httpserver")
    from dualweb.web import Application, RequestHandler
    from tests.support import NativeClient

    class Api(RequestHandler):
        def get(self) -> None:
            self.write("api app")

    def plain(request: HTTPServerRequest, **params: Any) -> None:
        assert request.connection is not None
        body = b"plain " + request.body + b" " + repr(params.get("path_args")).encode()
        request.connection.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        request.connection.finish()

    router = RuleRouter(
        [
            Rule(HostMatches(r"api\..*"), Application([url("/", Api)])),
            (r"/plain/(\w+)", plain),
        ]
    )
    client = NativeClient(router)
    try:
        api = client.get("/", headers={"Host": "api.example.com"})
        assert (api.status, api.text) == (200, "api app")
        posted = client.post("/plain/xyz", body=b"data", headers={"Host": "www.example.com"})
        assert (posted.status, posted.body) == (200, b"plain data [b'xyz']")
        missing = client.get("/", headers={"Host": "www.example.com"})
        assert missing.status == 404
        assert missing.body == b""
    finally:
        client.close()


# ---------------------------------------------------------------- parity with tornado.routing

PARITY_PATTERNS = [
    r"/",
    r"/a/b",
    r"^/a/b$",
    r"/a/([^/]+)",
    r"/a/(\d+)/(\w+)",
    r"/files/(?P<path>.*)",
    r"/o/(\d+)(/x)?",
    r"/x\.json",
    r"/v1|/v2",
    r"/items?/(\d+)",
    r"/(?:a|b)/(\d+)",
    r"/s/(.*)/?",
]
PARITY_PATHS = ["/", "/a/b", "/a/x%2Fy", "/a/12/ab", "/files/p/q+r%20s", "/o/5", "/o/5/x"]
PARITY_PATHS += ["/x.json", "/xajson", "/v2", "/item/3", "/items/3", "/b/7", "/s/%E2%9C%93/"]


@pytest.mark.parametrize("pattern", PARITY_PATTERNS)
def test_path_matching_and_reversing_agree_with_tornado(pattern: str) -> None:
    tornado_routing = pytest.importorskip("tornado.routing")
    ours, theirs = PathMatches(pattern), tornado_routing.PathMatches(pattern)
    for path in PARITY_PATHS:
        request = make_request(path)
        assert ours.match(request) == theirs.match(request), path
    try:
        expected: Any = theirs.reverse(*["v"] * theirs.regex.groups)
    except ValueError:
        expected = ValueError
    if expected is ValueError:
        with pytest.raises(ValueError):
            ours.reverse(*["v"] * ours.regex.groups)
    else:
        assert ours.reverse(*["v"] * ours.regex.groups) == expected
