"""Response header names are RFC 9110 tokens; values stay latin-1 without CR/LF/controls.

A bad name given to ``set_header``/``add_header``/``clear_header`` raises
``ValueError`` in the handler, so the client gets a ``500`` through the usual
error path and the server goes on (natively such a name used to leave the
connection silent until the idle timeout).
"""

from __future__ import annotations

import http.client
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest
import webtest

from dualweb.web import Application, RequestHandler
from dualweb.wsgi import WSGIAdapter
from tests.support import Client

ClientFor = Callable[..., Client]

BAD_NAMES = [
    "X-A\r\nInjected",
    "X-A\nInjected: 1",
    "X-Caf\u00e9",
    "X-\u20ac",
    "X A",
    "X:A",
    "X-A\x00",
    "",
]
METHODS = ["set_header", "add_header", "clear_header"]


class Headers(RequestHandler):
    """``/?m=set_header&n=<name>&v=<value>`` calls that method, then writes "ok"."""

    def get(self) -> None:
        # Raw values: get_argument's control-character filter would hide what we test.
        query = {k: v[0].decode("utf-8") for k, v in self.request.query_arguments.items()}
        method, name = query["m"], query["n"]
        if method == "clear_header":
            self.clear_header(name)
        else:
            value: Any = query.get("v", "v")
            if "bytes" in query:
                value = value.encode("latin-1")
            getattr(self, method)(name, value)
        self.write("ok")


def _path(method: str, name: str, value: str | None = None, as_bytes: bool = False) -> str:
    from urllib.parse import urlencode

    query = {"m": method, "n": name}
    if value is not None:
        query["v"] = value
    if as_bytes:
        query["bytes"] = "1"
    return "/?" + urlencode(query)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_header_name_is_a_500_naming_the_header(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture, method: str, name: str
) -> None:
    client = client_for(Application([(r"/", Headers)]))
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        response = client.get(_path(method, name))
    assert (response.status, response.reason) == (500, "Internal Server Error")
    assert "Injected" not in response.headers
    assert f"Headers.{method}({name!r}, ...): invalid header name {name!r}" in caplog.text
    assert "RFC 9110 token" in caplog.text
    # The same client goes on being served.
    assert client.get(_path(method, "X-Fine")).text == "ok"


@pytest.mark.parametrize(
    "name", ["X-Custom_Header", "x-lower", "A", "X!#$%&'*+-.^_`|~1", "Cache-Control"]
)
def test_token_names_are_accepted(client_for: ClientFor, mode: str, name: str) -> None:
    app = Application([(r"/", Headers)])
    if mode == "wsgi" and not name.replace("-", "").replace("_", "").isalnum():
        # wsgiref.validate (in the harness) and webtest's lint allow only
        # [A-Za-z0-9_-] names, stricter than RFC 9110: go through webtest unchecked.
        test_app = webtest.TestApp(WSGIAdapter(app), lint=False)
        for method in METHODS:
            wsgi_response = test_app.get(_path(method, name, "v1"))
            assert (wsgi_response.status_int, wsgi_response.text) == (200, "ok")
        assert test_app.get(_path("set_header", name, "v1")).headers[name] == "v1"
        return
    client = client_for(app)
    for method in METHODS:
        response = client.get(_path(method, name, "v1"))
        assert (response.status, response.text) == (200, "ok")
    assert client.get(_path("set_header", name, "v1")).headers[name] == "v1"


@pytest.mark.parametrize("as_bytes", [False, True])
def test_latin1_values_pass_through(client_for: ClientFor, as_bytes: bool) -> None:
    response = client_for(Application([(r"/", Headers)])).get(
        _path("set_header", "X-V", "caf\u00e9", as_bytes)
    )
    assert response.status == 200
    # Both http.client and WSGI decode header bytes as latin-1.
    assert response.headers["X-V"] == "caf\u00e9"


@pytest.mark.parametrize("value", ["\u20ac", "a\r\nX-Injected: 1", "a\x00b", "a\x7f"])
@pytest.mark.parametrize("method", ["set_header", "add_header"])
def test_unsafe_values_are_refused_like_tornado(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture, method: str, value: str
) -> None:
    client = client_for(Application([(r"/", Headers)]))
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        response = client.get(_path(method, "X-V", value))
    assert response.status == 500
    assert "X-Injected" not in response.headers
    assert "Unsafe header value" in caplog.text


def test_tornado_also_refuses_non_latin1_values() -> None:
    tornado_web = pytest.importorskip("tornado.web")
    with pytest.raises(ValueError, match="Unsafe header value"):
        tornado_web.RequestHandler._convert_header_value(None, "\u20ac")  # type: ignore[arg-type]
    assert tornado_web.RequestHandler._convert_header_value(None, "caf\u00e9") == "caf\u00e9"  # type: ignore[arg-type]


def test_bad_name_in_set_default_headers(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(RequestHandler):
        def set_default_headers(self) -> None:
            self.set_header("Bad Name", "x")

        def get(self) -> None:
            self.write("never")

    client = client_for(Application([(r"/broken", Broken), (r"/", Headers)]))
    with caplog.at_level(logging.ERROR):
        response = client.get("/broken")
    assert response.status == 500
    assert "Broken.set_header('Bad Name', ...): invalid header name" in caplog.text
    assert client.get(_path("set_header", "X-Fine")).text == "ok"


def _exchange(sock: socket.socket, path: str) -> bytes:
    """Send one keep-alive GET on ``sock``; return the status line and headers it got back."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    return f"{response.status} {response.reason}".encode()


def test_native_connection_answers_at_once_and_keeps_serving(
    native_client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    client = native_client_for(Application([(r"/", Headers)]))
    port = client.port  # type: ignore[attr-defined]
    with caplog.at_level(logging.CRITICAL):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            # A hang would end in socket.timeout after 5 s instead of an answer.
            assert _exchange(sock, _path("set_header", "X-A\r\nInjected")) == (
                b"500 Internal Server Error"
            )
            # The same keep-alive connection serves the next request.
            assert _exchange(sock, _path("set_header", "X-Ok")) == b"200 OK"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert _exchange(sock, _path("add_header", "X-\u20ac")) == b"500 Internal Server Error"
    assert client.get(_path("set_header", "X-Ok")).text == "ok"
