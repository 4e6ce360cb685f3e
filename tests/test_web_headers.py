"""Response headers and redirects as a client sees them, in both drivers.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from dualweb.web import HTTPError, RequestHandler

from .web_support import HelloHandler, app_with, make_handler

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

def test_is_absolute() -> None:
    from dualweb.web import is_absolute

    assert is_absolute("/x") and is_absolute("http://a") and is_absolute("https://a")
    assert not is_absolute("x/y") and not is_absolute("ftp://a")
