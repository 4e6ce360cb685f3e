"""Query, body and path arguments as a handler sees them, in both drivers.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dualweb.web import RequestHandler

from .web_support import app_with

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
    assert resp.reason == "Bad Request"


def test_invalid_utf8_path_argument_is_400(client_for: Any) -> None:
    class P(RequestHandler):
        def get(self, part: str) -> None:
            self.write(part)

    client = client_for(app_with((r"/p/(.*)", P)))
    assert client.get("/p/%E2%98%83").text == "☃"
    resp = client.get("/p/%ff")
    assert resp.status == 400
    assert resp.reason == "Bad Request"


def test_hostile_argument_name_not_echoed_in_reason(client_for: Any) -> None:
    class Any_(RequestHandler):
        def get(self) -> None:
            self.get_arguments("<script>")

    client = client_for(app_with((r"/", Any_)))
    resp = client.get("/?%3Cscript%3E=%ff")
    assert resp.status == 400
    assert "<" not in resp.reason
    assert resp.reason == "Bad Request"


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
