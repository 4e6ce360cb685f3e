"""HEAD is GET without the body (RFC 9110 9.3.2) when a handler defines get() but not head()."""

from __future__ import annotations

from typing import Any

from dualweb.web import Application, RequestHandler


class Page(RequestHandler):
    def get(self, name: str) -> None:
        if name == "moved":
            self.redirect("/page/new")
            return
        if name == "missing":
            self.send_error(404)
            return
        self.set_header("X-Page", name)
        self.write(f"page {name}")


class OwnHead(RequestHandler):
    def get(self) -> None:
        self.write("body")

    def head(self) -> None:
        self.set_header("X-Own", "head")


class PostOnly(RequestHandler):
    def post(self) -> None:
        self.write("posted")


def _app() -> Application:
    return Application([(r"/page/(\w+)", Page), (r"/own", OwnHead), (r"/post", PostOnly)])


def _same_but_body(get: Any, head: Any) -> None:
    assert head.status == get.status
    assert head.body == b""
    skip = {"date"}
    assert sorted((k, v) for k, v in head.header_list if k.lower() not in skip) == sorted(
        (k, v) for k, v in get.header_list if k.lower() not in skip
    )


def test_head_answers_like_get_without_the_body(client_for: Any) -> None:
    client = client_for(_app())
    for path in ("/page/one", "/page/moved", "/page/missing"):
        _same_but_body(client.get(path), client.head(path))
    head = client.head("/page/one")
    assert head.headers["Content-Length"] == str(len("page one"))
    assert head.headers["X-Page"] == "one"


def test_allow_lists_head(client_for: Any) -> None:
    client = client_for(_app())
    resp = client.request("DELETE", "/page/one")
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET, HEAD"
    post_only = client.head("/post")
    assert post_only.status == 405
    assert client.request("PUT", "/post").headers["Allow"] == "POST"


def test_an_own_head_method_is_used(client_for: Any) -> None:
    client = client_for(_app())
    resp = client.head("/own")
    assert (resp.status, resp.headers["X-Own"], resp.body) == (200, "head", b"")
