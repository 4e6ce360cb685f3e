"""The response body as a client sees it, in both drivers: ``write``, status,
Etags and 304, ``flush`` and gzip.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from typing import Any

import pytest

from dualweb.web import RequestHandler

from .web_support import HelloHandler, app_with, make_handler

# -- write --------------------------------------------------------------------


def test_write_dict_is_json(client_for: Any) -> None:
    class J(RequestHandler):
        def get(self) -> None:
            self.write({"a": 1, "html": "</script>"})

    client = client_for(app_with((r"/", J)))
    resp = client.get("/")
    assert resp.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert resp.json() == {"a": 1, "html": "</script>"}
    assert b"</" not in resp.body


def test_write_list_is_type_error_with_explanation(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class L(RequestHandler):
        def get(self) -> None:
            self.write([1, 2])  # type: ignore[arg-type]

    client = client_for(app_with((r"/", L)))
    with caplog.at_level(logging.ERROR):
        resp = client.get("/")
    assert resp.status == 500
    assert "Lists not accepted for security reasons" in caplog.text


def test_write_after_finish_is_runtime_error(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[str] = []

    class Late(RequestHandler):
        def get(self) -> None:
            self.finish("first")
            try:
                self.write("second")
            except RuntimeError as e:
                errors.append(str(e))
            try:
                self.finish()
            except RuntimeError as e:
                errors.append(str(e))

    client = client_for(app_with((r"/", Late)))
    assert client.get("/").body == b"first"
    assert errors == ["Cannot write() after finish()", "finish() called twice"]


def test_unicode_body(client_for: Any) -> None:
    class U(RequestHandler):
        def get(self) -> None:
            self.write("héllo ☃")

    resp = client_for(app_with((r"/", U))).get("/")
    assert resp.text == "héllo ☃"
    assert resp.headers["Content-Length"] == str(len("héllo ☃".encode()))

# -- status -------------------------------------------------------------------


def test_set_status_reason_and_unknown_code(client_for: Any) -> None:
    class S(RequestHandler):
        def get(self) -> None:
            code = int(self.get_argument("code"))
            reason = self.get_argument("reason", None)
            self.set_status(code, reason)
            self.write(f"{self.get_status()} {self._reason}")

    client = client_for(app_with((r"/", S)))
    resp = client.get("/?code=299")
    assert resp.status == 299
    assert resp.text == "299 Unknown"
    resp = client.get("/?code=299&reason=Custom+Thing")
    assert resp.status == 299
    assert resp.reason == "Custom Thing"
    resp = client.get("/?code=200&reason=%3Cb%3E")
    assert resp.text == "200 Unknown"


def test_set_status_reason_with_newline_is_value_error() -> None:
    handler = make_handler(HelloHandler)
    with pytest.raises(ValueError, match="Unsafe reason phrase"):
        handler.set_status(200, "OK\r\nX-Injected: 1")


def test_204_drops_content_type_and_refuses_body(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class NoContent(RequestHandler):
        def get(self) -> None:
            self.set_status(204)

        def post(self) -> None:
            self.set_status(204)
            self.write("not allowed")

    client = client_for(app_with((r"/", NoContent)))
    resp = client.get("/")
    assert resp.status == 204
    assert resp.body == b""
    assert "Content-Type" not in resp.headers
    with caplog.at_level(logging.ERROR):
        resp = client.post("/", body=b"")
    assert resp.status == 500
    assert "Cannot send body with status code HTTP204" in caplog.text

# -- etags --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{etag}", 304),
        ("W/{etag}", 304),
        ('"other", {etag}', 304),
        ("*", 304),
        ('"other"', 200),
        ("garbage without quotes", 200),
    ],
)
def test_etag_conditional_get(client_for: Any, if_none_match: str, status: int) -> None:
    client = client_for(app_with((r"/", HelloHandler)))
    etag = client.get("/").headers["Etag"]
    resp = client.get("/", headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert resp.status == status
    if status == 304:
        assert resp.body == b""
        assert "Content-Type" not in resp.headers
        assert resp.headers["Etag"] == etag
    else:
        assert resp.body == b"Hello, world"


def test_etag_and_length_cover_the_whole_body(client_for: Any) -> None:
    class Parts(RequestHandler):
        def get(self) -> None:
            for part in ("a", "bc", "", "def"):
                self.write(part)

        head = get

    class Empty(RequestHandler):
        def get(self) -> None:
            pass

    class Preset(RequestHandler):
        def get(self) -> None:
            self.set_header("Etag", '"mine"')
            self.write("body")

    client = client_for(app_with((r"/parts", Parts), (r"/empty", Empty), (r"/preset", Preset)))
    resp = client.get("/parts")
    assert (resp.body, resp.headers["Content-Length"]) == (b"abcdef", "6")
    assert resp.headers["Etag"] == f'"{hashlib.sha1(b"abcdef").hexdigest()}"'
    head = client.request("HEAD", "/parts")
    assert (head.status, head.body, head.headers["Etag"]) == (200, b"", resp.headers["Etag"])
    assert client.get("/parts", headers={"If-None-Match": resp.headers["Etag"]}).status == 304
    empty = client.get("/empty")
    assert (empty.body, empty.headers["Content-Length"]) == (b"", "0")
    assert empty.headers["Etag"] == f'"{hashlib.sha1(b"").hexdigest()}"'
    preset = client.get("/preset")
    assert preset.headers["Etag"] == '"mine"'
    # As in Tornado: a handler-set Etag is sent as is, without the 304 check.
    assert client.get("/preset", headers={"If-None-Match": '"mine"'}).status == 200


def test_no_etag_for_post_or_non_200(client_for: Any) -> None:
    class P(RequestHandler):
        def post(self) -> None:
            self.write("posted")

        def get(self) -> None:
            self.set_status(201)
            self.write("created")

    client = client_for(app_with((r"/", P)))
    assert "Etag" not in client.post("/", body=b"").headers
    assert "Etag" not in client.get("/").headers


def test_compute_etag_override(client_for: Any) -> None:
    class NoTag(RequestHandler):
        def compute_etag(self) -> str | None:
            return None

        def get(self) -> None:
            self.write("x")

    class Fixed(RequestHandler):
        def compute_etag(self) -> str | None:
            return '"v1"'

        def get(self) -> None:
            self.write("x")

    client = client_for(app_with((r"/none", NoTag), (r"/fixed", Fixed)))
    assert "Etag" not in client.get("/none").headers
    assert client.get("/fixed", headers={"If-None-Match": '"v1"'}).status == 304

# -- flush --------------------------------------------------------------------


def test_flush_then_finish(client_for: Any) -> None:
    class Chunks(RequestHandler):
        def get(self) -> None:
            self.write("part1,")
            result = self.flush()
            assert hasattr(result, "__await__")
            self.write("part2")

    resp = client_for(app_with((r"/", Chunks))).get("/")
    assert resp.status == 200
    assert resp.body == b"part1,part2"


def test_flush_under_wsgi_commits_the_head() -> None:
    # As natively (issue 6 item 14): the head is written at flush(); the WSGI
    # adapter adds the Content-Length of the whole body when it sends it.
    handler = make_handler(HelloHandler, supports_async=False)
    handler.write("abc")
    awaitable = handler.flush()
    assert awaitable.done() is True  # type: ignore[attr-defined]
    conn = handler.request.connection
    assert conn.body == b"abc"  # type: ignore[union-attr]
    handler.finish("def")
    assert "Content-Length" not in conn.headers  # type: ignore[union-attr]
    assert conn.body == b"abcdef"  # type: ignore[union-attr]


# -- gzip ---------------------------------------------------------------------


def test_compress_response(client_for: Any, mode: str) -> None:
    class Big(RequestHandler):
        def get(self) -> None:
            self.write("x" * 5000)

    client = client_for(app_with((r"/", Big), compress_response=True))
    resp = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Vary"] == "Accept-Encoding"
    # Both modes: the WSGI client reports what the adapter sent (not webtest's decoded view).
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Content-Length"] == str(len(resp.body))
    assert gzip.decompress(resp.body) == b"x" * 5000
    plain = client.get("/")
    assert "Content-Encoding" not in plain.headers
    assert plain.body == b"x" * 5000


def test_gzip_transform_output_bytes() -> None:
    class Big(RequestHandler):
        def get(self) -> None:
            self.write("y" * 3000)

    from dualweb.web import GZipContentEncoding

    handler = make_handler(Big)
    handler.request.headers["Accept-Encoding"] = "gzip, deflate"
    assert handler._execute([GZipContentEncoding(handler.request)]) is None
    conn: Any = handler.request.connection
    body = conn.body
    assert conn.headers["Content-Encoding"] == "gzip"
    assert conn.headers["Content-Length"] == str(len(body))
    assert gzip.decompress(body) == b"y" * 3000


def test_small_responses_are_not_compressed(client_for: Any) -> None:
    client = client_for(app_with((r"/", HelloHandler), gzip=True))
    resp = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in resp.headers
    assert resp.body == b"Hello, world"
