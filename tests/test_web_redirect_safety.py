"""Open redirects: RedirectHandler, addslash/removeslash, @authenticated's ``next``, redirect().

A browser reads ``//host``, ``///host``, ``/\\host`` and ``/<TAB>/host`` as another
site, so none of them may reach a ``Location`` header from request input. The
statuses are Tornado 6.6.1's; ``test_same_answers_as_tornado`` checks them against
a live Tornado server.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

import dualweb.web
from dualweb.web.output import browser_authority
from tests.harness import tornado_server
from tests.support import Client

ClientFor = Callable[..., Client]


def make_app(web: ModuleType) -> Any:
    """The same routes for dualweb and Tornado (only the ``web`` module differs)."""

    class Add(web.RequestHandler):  # type: ignore[name-defined,misc]
        @web.addslash
        def get(self, *args: str) -> None:
            self.write("add")

    class Remove(web.RequestHandler):  # type: ignore[name-defined,misc]
        @web.removeslash
        def get(self, *args: str) -> None:
            self.write("remove")

    class Private(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get_current_user(self) -> None:
            return None

        @web.authenticated
        def get(self, *args: str) -> None:
            self.write("private")

    redirect = web.RedirectHandler
    return web.Application(
        [
            (r"/r/(.*)", redirect, {"url": "/{0}"}),
            (r"/host/(.*)", redirect, {"url": "https://{0}/"}),
            (r"/on/(.*)", redirect, {"url": "https://example.com/{0}"}),
            (r"/any/(.*)", redirect, {"url": "{0}"}),
            (r"/(?P<name>n.*)", redirect, {"url": "/x/{name}", "permanent": False}),
            (r"(/[/\\]a.*)", Add),
            (r"(/[/\\]*p.*)", Private),
            (r"(/[/\\].*/)", Remove),
            (r"/add(/.*)?", Add),
            (r"/rm/(.*)", Remove),
        ],
        login_url="/login",
    )


# (path, status, Location): what Tornado 6.6.1 answers, and so must we.
REDIRECTS: list[tuple[str, int, str | None]] = [
    ("/r//evil.example/", 400, None),
    ("/r/%2F%2Fevil.example/", 400, None),
    ("/r/%2f%2fevil.example/", 400, None),
    ("/r/%5Cevil.example/", 400, None),
    ("/r/%5C%5Cevil.example/", 400, None),
    ("/r/%2F%5Cevil.example/", 400, None),
    ("/r/%09/evil.example/", 400, None),
    ("/r/%0D%0ASet-Cookie:%20a=b", 400, None),
    ("/r/ok/path?x=1&x=2", 301, "/ok/path?x=1&x=2"),
    ("/r/a%3Ab", 301, "/a:b"),
    ("/nice", 302, "/x/nice"),
    ("/host/evil.example", 400, None),
    ("/on//evil.example", 301, "https://example.com//evil.example"),
    ("/on/x?q=1", 301, "https://example.com/x?q=1"),
    ("/any/http://evil.example/", 400, None),
    ("/any/https:evil.example", 400, None),
    ("/any/javascript:alert(1)", 400, None),
    ("/any//ok", 301, "/ok"),
    ("/add/x", 301, "/add/x/"),
    ("//aevil.example", 403, None),
    ("//evil.example/", 403, None),
    ("/rm/x/", 301, "/rm/x"),
    ("/rm//", 301, "/rm"),
]


@pytest.mark.parametrize(("path", "status", "location"), REDIRECTS)
def test_redirects_never_leave_the_site(
    client_for: ClientFor, path: str, status: int, location: str | None
) -> None:
    response = client_for(make_app(dualweb.web)).get(path)
    assert (response.status, response.headers.get("Location")) == (status, location)
    if status >= 400:
        assert response.reason == http.client.responses[status]


def test_refused_redirect_is_logged(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(make_app(dualweb.web))
    with caplog.at_level(logging.WARNING, logger="dualweb.general"):
        assert client.get("/r/%5Cevil.example/").status == 400
        assert client.get("/r/%0D%0Ax").status == 400
        assert client.get("//evil.example/").status == 403
    messages = [r.getMessage() for r in caplog.records if r.name == "dualweb.general"]
    assert len(messages) == 3, messages
    assert "Redirect target '/\\\\evil.example/' would change the scheme or host" in messages[0]
    assert "Redirect target '/\\r\\nx' contains unsafe characters" in messages[1]
    assert "Refusing to redirect '//evil.example'" in messages[2]


@pytest.mark.parametrize("path", ["/\\evil.example/", "/\\aevil.example"])
def test_backslash_paths_are_refused_natively(native_client_for: ClientFor, path: str) -> None:
    # A raw backslash reaches routing only natively (under WSGI the adapter quotes it).
    assert native_client_for(make_app(dualweb.web)).get(path).status == 403


@pytest.mark.parametrize(
    ("path", "next_url"),
    [
        ("//pevil.example/x?y=1", "/pevil.example/x?y=1"),
        ("///pevil.example/x", "/pevil.example/x"),
        ("/ppage?y=1", "/ppage?y=1"),
    ],
)
def test_authenticated_next_stays_on_the_site(
    client_for: ClientFor, path: str, next_url: str
) -> None:
    from urllib.parse import parse_qs, urlsplit

    response = client_for(make_app(dualweb.web)).get(path)
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": [next_url]}
    assert browser_authority(next_url) == ("", "")


def test_authenticated_next_with_backslash_natively(native_client_for: ClientFor) -> None:
    response = native_client_for(make_app(dualweb.web)).get("/\\pevil.example/x")
    assert response.headers["Location"] == "/login?next=%2Fpevil.example%2Fx"


class NextHandler(dualweb.web.RequestHandler):
    def get(self) -> None:
        self.redirect(self.get_argument("next", strip=False))


@pytest.mark.parametrize(
    ("target", "status", "location"),
    [
        ("/home", 302, "/home"),
        ("https://example.com/x", 302, "https://example.com/x"),
        # Tornado's redirect() honours a plain protocol-relative URL; so do we.
        ("//cdn.example/x", 302, "//cdn.example/x"),
        # Disguised hosts: a browser goes to evil.example, the text does not say so.
        ("/\\evil.example/", 500, None),
        ("\\\\evil.example/", 500, None),
        ("///evil.example/", 500, None),
        ("https:evil.example", 500, None),
        ("https:///evil.example", 500, None),
        ("/\t/evil.example", 500, None),
        (" //evil.example", 500, None),
    ],
)
def test_redirect_refuses_disguised_hosts(
    client_for: ClientFor,
    caplog: pytest.LogCaptureFixture,
    target: str,
    status: int,
    location: str | None,
) -> None:
    from urllib.parse import quote

    client = client_for(dualweb.web.Application([(r"/go", NextHandler)]))
    with caplog.at_level(logging.ERROR):
        response = client.get("/go?next=" + quote(target, safe=""))
    assert (response.status, response.headers.get("Location")) == (status, location)
    if status == 500:
        assert "NextHandler.redirect(" in caplog.text
        assert "a browser would send the client to 'evil.example'" in caplog.text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/a/b?c#d", ("", "")),
        ("a/b", ("", "")),
        ("?x=//evil", ("", "")),
        ("/a//b", ("", "")),
        ("/ok\\path", ("", "")),
        ("//Evil.Example:8080/x", ("", "evil.example:8080")),
        ("///evil.example", ("", "evil.example")),
        ("/\\evil.example", ("", "evil.example")),
        ("\\/evil.example", ("", "evil.example")),
        ("/\t/evil.example", ("", "evil.example")),
        ("\x00 //evil.example", ("", "evil.example")),
        ("//user@evil.example/", ("", "user@evil.example")),
        ("HTTPS://Example.com/x", ("https", "example.com")),
        ("https:evil.example", ("https", "evil.example")),
        ("http:\\\\evil.example", ("http", "evil.example")),
        ("https://", ("https", "")),
        ("mailto:a@b.example", ("mailto", "")),
        ("foo://h/x", ("foo", "h")),
        ("java\tscript:alert(1)", ("javascript", "")),
        ("http://[::1", ("http", "[::1")),
    ],
)
def test_browser_authority(url: str, expected: tuple[str, str]) -> None:
    assert browser_authority(url) == expected


# -- the same answers as Tornado -------------------------------------------------------------


@pytest.fixture(scope="module")
def tornado_port() -> Iterator[int]:
    tornado_web = pytest.importorskip("tornado.web")
    with tornado_server(make_app(tornado_web)) as port:
        yield port


def _fetch(port: int, path: str) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    finally:
        conn.close()


def test_same_answers_as_tornado(tornado_port: int, native_client_for: ClientFor) -> None:
    ours = native_client_for(make_app(dualweb.web))
    paths = [path for path, _, _ in REDIRECTS] + ["/\\evil.example/", "/\\aevil.example"]
    for path in paths:
        response = ours.get(path)
        assert (response.status, response.headers.get("Location")) == _fetch(tornado_port, path)
