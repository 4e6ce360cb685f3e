"""Request building and proxy headers: one function each, the same answers in both drivers."""

from __future__ import annotations

from typing import Any

import pytest

from dualweb.connection import ConnectionContext, RequestSettings
from dualweb.httputil import HTTPHeaders
from dualweb.intake import build_request, request_context, resolve_proxy_headers
from dualweb.web import Application, RequestHandler
from dualweb.wsgi import WSGIAdapter
from tests.wsgi_calls import call_wsgi, wsgi_environ

TRUSTED = frozenset({"10.0.0.9"})

# (request headers, expected (remote_ip, protocol)) for a peer 127.0.0.1 over http.
PROXY_CASES: list[tuple[dict[str, str], tuple[str, str]]] = [
    ({}, ("127.0.0.1", "http")),
    ({"X-Real-Ip": "4.4.4.4"}, ("4.4.4.4", "http")),
    ({"X-Real-Ip": "4.4.4.4", "X-Forwarded-For": "5.5.5.5"}, ("4.4.4.4", "http")),
    # The two cases the drivers used to disagree on:
    ({"X-Real-Ip": "", "X-Forwarded-For": "1.2.3.4"}, ("1.2.3.4", "http")),
    ({"X-Scheme": "", "X-Forwarded-Proto": "https"}, ("127.0.0.1", "https")),
    ({"X-Forwarded-For": "1.2.3.4, 10.0.0.9"}, ("1.2.3.4", "http")),
    ({"X-Forwarded-For": "9.9.9.9, 1.2.3.4"}, ("1.2.3.4", "http")),
    ({"X-Forwarded-For": "not-an-ip"}, ("127.0.0.1", "http")),
    ({"X-Real-Ip": "bogus"}, ("127.0.0.1", "http")),
    ({"X-Real-Ip": "::1"}, ("::1", "http")),
    ({"X-Forwarded-Proto": "https"}, ("127.0.0.1", "https")),
    ({"X-Forwarded-Proto": "http, https"}, ("127.0.0.1", "https")),
    ({"X-Scheme": "https", "X-Forwarded-Proto": "http"}, ("127.0.0.1", "https")),
    ({"X-Scheme": "gopher"}, ("127.0.0.1", "http")),
    ({"X-Scheme": "HTTPS"}, ("127.0.0.1", "https")),
]


@pytest.mark.parametrize(("headers", "expected"), PROXY_CASES)
def test_resolve_proxy_headers_table(headers: dict[str, str], expected: tuple[str, str]) -> None:
    assert resolve_proxy_headers(HTTPHeaders(headers), "127.0.0.1", "http", TRUSTED) == expected


class Peer(RequestHandler):
    def get(self) -> None:
        self.write(f"{self.request.remote_ip} {self.request.protocol}")


def test_proxy_table_in_both_drivers(client_for: Any) -> None:
    client = client_for(
        Application([(r"/peer", Peer)]), xheaders=True, trusted_downstream=list(TRUSTED)
    )
    # The socket's own address: 127.0.0.1 natively, what webtest gives (none) under WSGI.
    peer = client.get("/peer").text.split(" ")[0]
    for headers, (ip, protocol) in PROXY_CASES:
        ip = peer if ip == "127.0.0.1" else ip
        assert client.get("/peer", headers=headers).text == f"{ip} {protocol}", headers


def test_proxy_headers_ignored_without_xheaders(client_for: Any) -> None:
    client = client_for(Application([(r"/peer", Peer)]))
    peer = client.get("/peer").text
    resp = client.get("/peer", headers={"X-Real-Ip": "4.4.4.4", "X-Scheme": "https"})
    assert resp.text == peer and peer.endswith(" http")


def test_request_context_leaves_the_connection_context_alone() -> None:
    settings = RequestSettings(xheaders=True)
    context = ConnectionContext("127.0.0.1", "http", ("127.0.0.1", 5), settings)
    resolved = request_context(context, HTTPHeaders({"X-Real-Ip": "4.4.4.4"}))
    assert (resolved.remote_ip, resolved.address, resolved.settings) == (
        "4.4.4.4",
        ("127.0.0.1", 5),
        settings,
    )
    assert context.remote_ip == "127.0.0.1"
    plain = ConnectionContext("127.0.0.1", "http")
    assert request_context(plain, HTTPHeaders({"X-Real-Ip": "4.4.4.4"})) is plain


def test_build_request_from_plain_values() -> None:
    headers = HTTPHeaders({"Host": "example.com:8080", "Cookie": "a=1"})
    request = build_request("POST", "/p/q?x=1&x=2", "HTTP/1.1", headers, body=b"data")
    assert (request.method, request.path, request.query, request.version) == (
        "POST",
        "/p/q",
        "x=1&x=2",
        "HTTP/1.1",
    )
    assert request.arguments == {"x": [b"1", b"2"]}
    assert (request.host, request.host_name, request.body) == (
        "example.com:8080",
        "example.com",
        b"data",
    )
    assert request.cookies["a"].value == "1"
    assert (request.remote_ip, request.protocol) == (None, "http")


# -- routing sees the raw target under WSGI when the server gives it ----------------------


class Admin(RequestHandler):
    def get(self, rest: str) -> None:
        self.write(f"admin {rest}")


def _admin_app() -> Application:
    return Application([(r"/admin/(.*)", Admin)])


def _environ(path_info: str, raw_uri: str | None) -> dict[str, Any]:
    environ = wsgi_environ("GET", path_info)
    if raw_uri is not None:
        environ["RAW_URI"] = raw_uri
    return environ


def _call(adapter: WSGIAdapter, environ: dict[str, Any]) -> tuple[str, bytes]:
    status, _, body = call_wsgi(adapter, environ)
    return status, body


@pytest.mark.parametrize("raw", ["/admin%2Fx", "/%61dmin/x"])
def test_encoded_paths_route_the_same_in_both_drivers(client_for: Any, mode: str, raw: str) -> None:
    if mode == "native":
        resp = client_for(_admin_app()).get(raw)
        assert resp.status == 404
        return
    adapter = WSGIAdapter(_admin_app())
    # gunicorn decodes PATH_INFO to "/admin/x" but passes the raw target in RAW_URI.
    status, _ = _call(adapter, _environ("/admin/x", raw))
    assert status.startswith("404")
    environ = _environ("/admin/x", None)
    environ["REQUEST_URI"] = raw
    assert _call(adapter, environ)[0].startswith("404")
    # Without a raw target the decoded PATH_INFO is all there is.
    assert _call(adapter, _environ("/admin/x", None)) == ("200 OK", b"admin x")


def test_raw_target_keeps_query_and_script_name() -> None:
    adapter = WSGIAdapter(Application([(r"/app/admin/(.*)", Admin)]))
    environ = _environ("/admin/a%20b", "/app/admin/a%20b?q=1")
    environ["SCRIPT_NAME"] = "/app"
    assert _call(adapter, environ) == ("200 OK", b"admin a b")


def test_headers_methods_take_tornados_signatures() -> None:
    import inspect

    for name in ("add", "parse_line", "parse"):
        parameters = inspect.signature(getattr(HTTPHeaders, name)).parameters
        assert parameters["_chars_are_bytes"].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters["_chars_are_bytes"].default is True
    headers = HTTPHeaders.parse("A: 1\r\nB: \u00e9\r\n", _chars_are_bytes=False)
    headers.parse_line("C: 3", _chars_are_bytes=True)
    headers.add("A", "2", _chars_are_bytes=False)
    assert headers.get_list("A") == ["1", "2"] and headers["B"] == "\u00e9" and headers["C"] == "3"
