"""The JSON and path-argument routes and the routing table, after their fast paths.

``json_encode`` reuses its C encoders (a pool, see dualweb/escape.py),
``RuleRouter.find_route`` probes the exact paths inline: these tests pin what a
client sees through both drivers (``mode``), and what ``json_encode`` returns
when encoders are reused after errors, re-entered, or used from two threads.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from dualweb.escape import json_encode
from dualweb.httputil import HTTPServerRequest
from dualweb.routing import RuleRouter
from dualweb.web import Application, RequestHandler
from tests.support import Response

JSON_UTF8 = "application/json; charset=UTF-8"
SHARED: dict[str, Any] = {"items": [1, 2, 3]}


class Json(RequestHandler):
    def get(self) -> None:
        self.write({"message": "Hello, world", "items": [1, 2, 3], "tag": "</script>"})


class Shared(RequestHandler):
    def get(self) -> None:
        self.write(SHARED)


class Unserializable(RequestHandler):
    def get(self) -> None:
        # The same containers as Shared's, with something JSON cannot encode inside.
        SHARED["items"].append(object())
        try:
            self.write(SHARED)
        finally:
            SHARED["items"].pop()


class Listed(RequestHandler):
    def get(self) -> None:
        self.write([1, 2])  # type: ignore[arg-type]


def test_json_route_sends_json_dumps_text_with_script_end_escaped(client_for: Any) -> None:
    client = client_for(Application([(r"/json", Json)]))
    expected = json.dumps(
        {"message": "Hello, world", "items": [1, 2, 3], "tag": "</script>"}
    ).replace("</", "<\\/")
    for _ in range(3):  # the reused encoder gives the same text every time
        response = client.get("/json")
        assert response.status == 200
        assert response.headers["Content-Type"] == JSON_UTF8
        assert response.text == expected
        assert "</script>" not in response.text


def test_json_route_after_a_failed_encoding_of_the_same_containers(client_for: Any) -> None:
    # A failed encoding leaves the ids of the containers it was in, in its
    # encoder's circular-reference markers: an encoder reused after that would
    # call SHARED circular. The client sees a 500, then the right answer.
    client = client_for(
        Application([(r"/shared", Shared), (r"/bad", Unserializable), (r"/list", Listed)])
    )
    assert client.get("/shared").json() == {"items": [1, 2, 3]}
    assert client.get("/bad").status == 500
    assert client.get("/list").status == 500  # write(list) is refused, as in Tornado
    response = client.get("/shared")
    assert (response.status, response.json()) == (200, {"items": [1, 2, 3]})
    assert response.headers["Content-Type"] == JSON_UTF8


class Recovers(RequestHandler):
    def get(self) -> None:
        try:
            self.write({"bad": object()})
        except TypeError:
            self.write("plain text after all")


def test_unencodable_dict_leaves_the_content_type_alone(client_for: Any) -> None:
    # As in Tornado, write(dict) encodes before it sets the JSON Content-Type:
    # a handler that recovers from the TypeError answers with its own type.
    response = client_for(Application([(r"/", Recovers)])).get("/")
    assert (response.status, response.text) == (200, "plain text after all")
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"


def test_json_encode_errors_leave_later_calls_exact() -> None:
    inner: list[Any] = [1]
    doc = {"inner": inner}
    inner.append(object())
    for _ in range(2):
        with pytest.raises(TypeError, match="not JSON serializable"):
            json_encode(doc)
    inner.pop()
    inner.append(doc)
    for _ in range(2):
        with pytest.raises(ValueError, match="Circular reference"):
            json_encode(doc)
    inner.pop()
    assert json_encode(doc) == '{"inner": [1]}'


def test_json_encode_from_two_threads_on_the_same_object() -> None:
    # Both threads are inside json_encode(doc) at once (they meet at the
    # barrier from the dict subclass's items(), which the C encoder calls):
    # with one shared encoder the second would find doc in the first one's
    # markers and report a circular reference, and the barrier would break.
    barrier = threading.Barrier(2, timeout=10)

    class Meets(dict[str, int]):
        def items(self) -> Any:
            barrier.wait()
            return super().items()

    doc = {"inner": Meets(a=1)}
    results: list[str] = []
    errors: list[BaseException] = []

    def encode() -> None:
        try:
            results.append(json_encode(doc))
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=encode) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert results == ['{"inner": {"a": 1}}'] * 2


def test_json_encode_reentered_while_encoding() -> None:
    # A call made while another one is encoding the same object (here from
    # items(), as a finalizer or a dict subclass could) gets an encoder of its
    # own, so it does not see the outer call's markers as a circular reference.
    seen: list[str] = []
    calls: list[int] = []

    class Reenters(dict[str, int]):
        def items(self) -> Any:
            calls.append(1)
            if len(calls) == 1:  # only the outer call re-enters
                seen.append(json_encode(outer))
            return super().items()

    outer = {"doc": {"a": [1, 2]}, "sub": Reenters(b=2)}
    text = '{"doc": {"a": [1, 2]}, "sub": {"b": 2}}'
    assert json_encode(outer) == text
    assert seen == [text]


class User(RequestHandler):
    def get(self, user_id: str) -> None:
        self.write("user " + user_id)


class Pair(RequestHandler):
    def get(self, first: str, second: str | None = None) -> None:
        self.write({"first": first, "second": second})


class Named(RequestHandler):
    def get(self, year: str, slug: str) -> None:
        self.write({"year": year, "slug": slug})


class Latin1(RequestHandler):
    seen: list[tuple[bytes, str | None]] = []

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        Latin1.seen.append((value, name))
        return value.decode("latin-1")

    def get(self, arg: str) -> None:
        self.write(arg)


def _get_raw(client: Any, mode: str, path: str) -> Any:
    """GET ``path`` as sent: under WSGI as gunicorn passes it (RAW_URI), which
    webtest does not (it puts the decoded path in PATH_INFO only)."""
    if mode == "native":
        return client.get(path)
    client.testapp.get(path, extra_environ={"RAW_URI": path}, expect_errors=True)
    code, _, reason = client.sent.status.partition(" ")
    return Response(int(code), reason, client.sent.headers, client.sent.body)


def test_path_arguments_are_unquoted_and_decoded(client_for: Any, mode: str) -> None:
    client = client_for(
        Application(
            [
                (r"/user/(\d+)", User),
                (r"/pair/([^/]+)(?:/([^/]+))?", Pair),
                (r"/named/(?P<year>[0-9]{4})/(?P<slug>[^/]+)", Named),
                (r"/latin1/(.+)", Latin1),
            ]
        )
    )

    def get(path: str) -> Any:
        return _get_raw(client, mode, path)

    assert get("/user/12345").text == "user 12345"
    assert get("/user/x").status == 404
    # unquote_to_bytes semantics: %2F is a slash in the argument, + stays a plus.
    assert get("/pair/a%2Fb+c").json() == {"first": "a/b+c", "second": None}
    assert get("/pair/%C3%A9/%20x").json() == {"first": "\u00e9", "second": " x"}
    assert get("/named/2024/a%3Fb").json() == {"year": "2024", "slug": "a?b"}
    assert get("/pair/%FF").status == 400  # not UTF-8
    Latin1.seen.clear()
    response = get("/latin1/%E9t%C3%A9")
    assert response.status == 200
    assert response.body == "\u00e9t\u00c3\u00a9".encode()
    assert Latin1.seen == [(b"\xe9t\xc3\xa9", None)]  # path arguments have no name


def _numbered(index: int) -> type[RequestHandler]:
    class Numbered(RequestHandler):
        def get(self, *args: str) -> None:
            self.write(f"{index} {' '.join(args)}".rstrip())

    return Numbered


# Overlapping patterns of every kind the index tells apart: literal paths,
# patterns with a literal prefix (short and long), patterns without one
# (alternation, a leading group, a flag), each shadowing a later rule.
OVERLAPPING = [
    r"/a/([0-9]+)",  # 0: shadows 2 and 4 for digits
    r"/(?:a|b)/x",  # 1: no safe prefix; shadows the literal 3
    r"/a/([0-9]+)$",  # 2: never reached (0 matches the same paths)
    r"/a/x",  # 3: never reached (1 matches it)
    r"/a/(.*)",  # 4: everything else under /a/
    r"(?i)/CASE/([a-z]+)",  # 5: a flag: no prefix, matches /case/...
    r"/case/literal",  # 6: shadowed by 5
    r"/long/prefix/here/([a-z]+)",  # 7
    r"/long/([a-z/]+)",  # 8: the shorter prefix, after the longer
    r"/(.*)",  # 9: the catch-all last
]


def test_first_match_order_with_overlapping_patterns(client_for: Any) -> None:
    table: list[Any] = [(pattern, _numbered(i)) for i, pattern in enumerate(OVERLAPPING)]
    client = client_for(Application(table))
    expected = {
        "/a/123": "0 123",
        "/a/x": "1",
        "/b/x": "1",
        "/a/xy": "4 xy",
        "/a/": "4",
        "/case/abc": "5 abc",
        "/CASE/abc": "5 abc",
        "/case/literal": "5 literal",
        "/long/prefix/here/abc": "7 abc",
        "/long/prefix/here/a1": "9 long/prefix/here/a1",
        "/long/prefix/x": "8 prefix/x",
        "/elsewhere": "9 elsewhere",
        "/": "9",
    }
    for path, body in expected.items():
        response = client.get(path)
        assert (path, response.status, response.text) == (path, 200, body)


def test_first_match_order_of_find_route_matches_a_linear_scan() -> None:
    table: list[Any] = [(pattern, object()) for pattern in OVERLAPPING]
    router = RuleRouter(table)
    paths = ["/a/1", "/a/x", "/b/x", "/a/q", "/case/x", "/CASE/literal", "/long/a/b"]
    paths += ["/long/prefix/here/z", "/long/prefix/here/", "/x", "/", "/a", "/a/x\n"]
    for path in paths:
        request = HTTPServerRequest("GET", path)
        first = next(rule for rule in router.rules if rule.matcher.match(request) is not None)
        found = router.find_route(request)
        assert found is not None and found[0] is first, path


def test_routes1000_table_first_match_and_misses(client_for: Any) -> None:
    handlers: list[Any] = [(r"/item999/7", _numbered(-1))]
    handlers += [(rf"/item{i}/([0-9]+)", _numbered(i)) for i in range(1000)]
    handlers += [(r"/item[0-9]+/([0-9]+)", _numbered(1000)), (r"/exact", _numbered(1001))]
    client = client_for(Application(handlers))
    assert client.get("/item999/7").text == "-1"  # the literal declared first wins
    assert client.get("/item999/8").text == "999 8"
    assert client.get("/item0/1").text == "0 1"
    assert client.get("/item1000/5").text == "1000 5"
    assert client.get("/exact").text == "1001"
    assert client.get("/item1/x").status == 404
    assert client.get("/nothing").status == 404
