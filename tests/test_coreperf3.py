"""The per-request shortcuts of the core and the WSGI adapter, in both drivers.

* A complete response goes to the driver in one ``write_response()`` call;
  a connection without it (duck-typed) gets ``write_headers`` + ``finish``.
* Etags of small bodies are remembered; ``Content-Length`` values of small
  bodies come from ``headers.SMALL_LENGTHS``: the values a client sees are
  the ones computed in full.
* The WSGI adapter marks its ``__call__`` as a synchronous request entry
  instead of setting ``SYNC_REQUEST`` per request; ``SYNC_REQUEST`` still works.
* ``HTTPServerRequest.from_start_line`` builds what the constructor builds.
* ``_new_cookies`` is made with the first cookie.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from dualweb import connection as seam
from dualweb.connection import (
    COMPLETED,
    SYNC_REQUEST,
    HTTPConnection,
    RequestStartLine,
    in_sync_request,
    refuse_in_sync_request,
)
from dualweb.headers import SMALL_LENGTHS, HTTPHeaders
from dualweb.httputil import HTTPServerRequest
from dualweb.web import Application, RequestHandler
from dualweb.web.output import body_etag
from dualweb.wsgi import WSGIAdapter
from tests.support import Client
from tests.wsgi_calls import call_wsgi, wsgi_environ


def _sha1_tag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest() + '"'


class Sized(RequestHandler):
    def get(self, size: str) -> None:
        self.write(b"x" * int(size))


class Parts(RequestHandler):
    def get(self) -> None:
        self.write("one, ")
        self.write(b"two")


class WithCookie(RequestHandler):
    def get(self) -> None:
        self.set_cookie("a", "1")
        self.set_cookie("b", "2")
        self.write("cookies")


class Empty(RequestHandler):
    def get(self) -> None:
        pass


class SyncState(RequestHandler):
    def get(self) -> None:
        self.write({"driver": in_sync_request()})


class WrongLength(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Length", "3")
        self.write("four")


def _app() -> Application:
    return Application(
        [
            (r"/size/(\d+)", Sized),
            (r"/parts", Parts),
            (r"/cookies", WithCookie),
            (r"/empty", Empty),
            (r"/sync", SyncState),
        ]
    )


@pytest.mark.parametrize("size", [0, 1, 12, 255, 256, 257, 1023, 1024, 1025, 70_000])
def test_length_and_etag_of_every_size(
    client_for: Callable[..., Client], size: int
) -> None:
    client = client_for(_app())
    body = b"x" * size
    for _ in range(2):  # the second answer comes from the remembered values
        response = client.get(f"/size/{size}")
        assert response.status == 200
        assert response.body == body
        assert response.headers["Content-Length"] == str(size)
        assert response.headers["Etag"] == _sha1_tag(body)
    assert client.get(f"/size/{size}", headers={"If-None-Match": _sha1_tag(body)}).status == 304


def test_body_in_parts_and_empty_body(client_for: Callable[..., Client]) -> None:
    client = client_for(_app())
    response = client.get("/parts")
    assert (response.body, response.headers["Content-Length"]) == (b"one, two", "8")
    assert response.headers["Etag"] == _sha1_tag(b"one, two")
    response = client.get("/empty")
    assert (response.status, response.body, response.headers["Content-Length"]) == (200, b"", "0")
    assert client.head("/parts").headers["Content-Length"] == "8"


def test_cookies_become_headers(client_for: Callable[..., Client]) -> None:
    response = client_for(_app()).get("/cookies")
    assert response.cookies() == {"a": "1", "b": "2"}
    assert response.text == "cookies"


def test_wsgi_marks_its_request_natively_not(client_for: Callable[..., Client], mode: str) -> None:
    response = client_for(_app()).get("/sync")
    assert response.json() == {"driver": "WSGIAdapter" if mode == "wsgi" else None}
    assert in_sync_request() is None  # nothing left behind once the request is over


@pytest.mark.parametrize("extra", [{}, {"RAW_URI": "/", "HTTP_HOST": "h"}])  # general, fast
def test_wrong_content_length_still_refused_under_wsgi(extra: dict[str, str]) -> None:
    adapter = WSGIAdapter(Application([(r"/", WrongLength)]))
    status, _headers, _body = call_wsgi(adapter, wsgi_environ("GET", "/", **extra))
    assert status.startswith("500")


def test_sync_request_var_and_entries() -> None:
    token = SYNC_REQUEST.set("SomeDriver")
    try:
        assert in_sync_request() == "SomeDriver"
        with pytest.raises(seam.AsyncUnavailableError):
            refuse_in_sync_request("IOLoop.add_callback()")
    finally:
        SYNC_REQUEST.reset(token)

    @seam.sync_request_entry("Marked")
    def entry(inner: Callable[[], Any]) -> Any:
        return inner()

    assert entry(in_sync_request) == "Marked"
    assert entry(lambda: [in_sync_request()]) == ["Marked"]  # deeper frames too
    assert in_sync_request() is None
    refuse_in_sync_request("IOLoop.add_callback()")  # outside: nothing raised


def test_small_lengths_table() -> None:
    assert all(text == str(n) for n, text in enumerate(SMALL_LENGTHS))


def test_body_etag_remembered_values_are_exact() -> None:
    for body in (b"", b"a", b"b", b"x" * 256, b"x" * 257, bytes(range(200))):
        assert body_etag(body) == _sha1_tag(body)
        assert body_etag(bytes(body)) == _sha1_tag(body)
    for n in range(600):  # more distinct bodies than are kept
        body = str(n).encode()
        assert body_etag(body) == _sha1_tag(body)


def test_from_start_line_is_the_constructor() -> None:
    headers = HTTPHeaders({"Host": "example.com:8080"})
    line = RequestStartLine("POST", "/a/b?x=1&y=2", "HTTP/1.1")
    built = HTTPServerRequest.from_start_line(line, headers, None, "server")
    made = HTTPServerRequest(
        headers=headers, start_line=line, server_connection="server"
    )
    names = ("method", "uri", "version", "path", "query", "body", "host", "host_name",
             "connection", "server_connection", "query_arguments", "remote_ip", "protocol")
    assert {n: getattr(built, n) for n in names} == {n: getattr(made, n) for n in names}
    assert built.headers is headers
    assert abs(built.request_time() - made.request_time()) < 5.0


def test_new_cookies_made_with_the_first() -> None:
    request = HTTPServerRequest(uri="/", headers=HTTPHeaders({"Host": "h"}))
    handler = RequestHandler(Application(), request)
    assert handler._new_cookies is None
    handler.set_cookie("k", "v")
    assert handler._new_cookies is not None and "k" in handler._new_cookies


class _DuckTyped:
    """A connection that is not an HTTPConnection (as Tornado tests build them)."""

    supports_async = True

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.context = seam.ConnectionContext("127.0.0.1", "http")

    def write_headers(self, start_line: Any, headers: Any, chunk: Any = None) -> Any:
        self.calls.append(("write_headers", start_line.code, chunk))
        return COMPLETED

    def write(self, chunk: bytes) -> Any:
        self.calls.append(("write", chunk))
        return COMPLETED

    def finish(self) -> None:
        self.calls.append(("finish",))

    def set_close_callback(self, callback: Any) -> None:
        pass


class _Recording(_DuckTyped, HTTPConnection):
    """The same, as an HTTPConnection (write_response is the base class's default)."""


@pytest.mark.parametrize("make", [_Recording, _DuckTyped])
def test_whole_response_reaches_any_connection(make: Callable[[], Any]) -> None:
    connection = make()
    request = HTTPServerRequest(
        "GET", "/parts", headers=HTTPHeaders({"Host": "h"}), connection=connection
    )
    assert Application([(r"/parts", Parts)])(request) is None
    assert connection.calls == [("write_headers", 200, b"one, two"), ("finish",)]


def test_flushed_response_still_streams() -> None:
    class Flushing(RequestHandler):
        def get(self) -> None:
            self.write("a")
            self.flush()
            self.write("b")

    connection = _Recording()
    request = HTTPServerRequest(
        "GET", "/", headers=HTTPHeaders({"Host": "h"}), connection=connection
    )
    Application([(r"/", Flushing)])(request)
    assert connection.calls == [("write_headers", 200, b"a"), ("write", b"b"), ("finish",)]


def test_whole_response_is_one_call_for_a_driver_that_takes_it() -> None:
    class OneCall(_Recording):
        __slots__ = ()

        def write_response(self, start_line: Any, headers: Any, body: bytes) -> Any:
            self.calls.append(("write_response", start_line.code, headers["Etag"], body))
            return COMPLETED

    connection = OneCall()
    request = HTTPServerRequest(
        "HEAD", "/parts", headers=HTTPHeaders({"Host": "h"}), connection=connection
    )
    Application([(r"/parts", Parts)])(request)
    # HEAD: the headers of the GET, no body.
    assert connection.calls == [("write_response", 200, _sha1_tag(b"one, two"), b"")]


class Override(RequestHandler):
    """X-HTTP-Method-Override in prepare(): the verb is looked up after prepare."""

    def prepare(self) -> None:
        override = self.request.headers.get("X-Http-Method-Override")
        if override:
            self.request.method = override

    def get(self) -> None:
        self.write("get")

    def delete(self) -> None:
        self.write("delete")


def test_verb_follows_a_method_changed_in_prepare(client_for: Callable[..., Client]) -> None:
    client = client_for(Application([(r"/", Override)]))
    assert client.get("/").text == "get"
    assert client.get("/", headers={"X-HTTP-Method-Override": "DELETE"}).text == "delete"
    assert client.request("PATCH", "/").status == 405  # the method check still runs first
