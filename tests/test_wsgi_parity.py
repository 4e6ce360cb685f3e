"""The same request gets the same answer natively and under WSGI (review fixes of the seam work)."""

from __future__ import annotations

import gzip
import io
import json
import logging
from typing import Any

import pytest

from dualweb.connection import ResponseStartLine
from dualweb.headers import HTTPHeaders
from dualweb.httputil import HTTPServerRequest
from dualweb.routing import RuleRouter
from dualweb.web import Application, RequestHandler

_TEXT = ("dualweb " * 250).encode()  # 2000 bytes, compressible


class Text(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(_TEXT)


def test_compress_response_gzips_in_both_modes(client_for: Any) -> None:
    client = client_for(Application([(r"/", Text)], compress_response=True))
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.headers.get("Content-Encoding") == "gzip"
    assert gzip.decompress(response.body) == _TEXT
    assert response.headers["Content-Length"] == str(len(response.body))
    assert "Accept-Encoding" in (response.headers.get("Vary") or "")


def test_compress_response_leaves_clients_without_gzip_alone(client_for: Any) -> None:
    client = client_for(Application([(r"/", Text)], compress_response=True))
    response = client.get("/", headers={"Accept-Encoding": "identity"})
    assert response.headers.get("Content-Encoding") is None
    assert response.body == _TEXT


# -- the path routing sees -------------------------------------------------------


class Backslash(RequestHandler):
    def get(self, rest: str) -> None:
        self.write({"route": "backslash", "path": self.request.path, "rest": rest})


class Other(RequestHandler):
    def get(self, rest: str) -> None:
        self.write({"route": "other", "path": self.request.path, "rest": rest})


def _routes() -> Application:
    return Application([(r"/\\(.*)", Backslash), (r"/(.*)", Other)])


def test_a_raw_backslash_routes_the_same_in_both_modes(client_for: Any) -> None:
    response = client_for(_routes()).get("/\\evil")
    assert response.status == 200
    assert response.json() == {"route": "backslash", "path": "/\\evil", "rest": "evil"}


def _wsgi_get(app: Application, environ: dict[str, Any]) -> tuple[str, bytes]:
    from dualweb.wsgi import WSGIAdapter

    base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
    }
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)

    body = b"".join(WSGIAdapter(app)({**base, **environ}, start_response))
    return statuses[0], body


@pytest.mark.parametrize(
    "environ",
    [
        {"PATH_INFO": "/\\evil"},
        {"PATH_INFO": "/\\evil", "RAW_URI": "/\\evil"},
        {"PATH_INFO": "/\\evil", "REQUEST_URI": "/\\evil"},
    ],
    ids=["path-info", "raw-uri", "request-uri"],
)
def test_a_raw_backslash_reaches_routing_as_is_under_wsgi(environ: dict[str, Any]) -> None:
    status, body = _wsgi_get(_routes(), environ)
    assert status == "200 OK"
    assert json.loads(body) == {"route": "backslash", "path": "/\\evil", "rest": "evil"}


def test_other_unsafe_path_bytes_are_still_requoted_under_wsgi() -> None:
    # A decoded "%25" or space in PATH_INFO cannot have been sent raw: it is re-quoted.
    status, body = _wsgi_get(_routes(), {"PATH_INFO": "/a b%c"})
    assert status == "200 OK"
    assert json.loads(body)["path"] == "/a%20b%25c"


# -- plain callables --------------------------------------------------------------


def echo_arguments(request: HTTPServerRequest) -> None:
    text = repr(sorted(request.arguments)).encode()
    request.connection.write_headers(  # type: ignore[union-attr]
        ResponseStartLine("HTTP/1.1", 200, "OK"),
        HTTPHeaders({"Content-Length": str(len(text)), "Content-Type": "text/plain"}),
        text,
    )
    request.connection.finish()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b"--x\r\nno boundary given\r\n--x--\r\n"),
        ("multipart/form-data; boundary=x", b"not a multipart body at all"),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--\r\n",
        ),
        (
            "application/x-www-form-urlencoded",
            b"&".join(b"a%d=1" % i for i in range(1200)),  # over max_arguments
        ),
    ],
)
@pytest.mark.parametrize("where", ["alone", "routed", "app-rule"])
def test_a_malformed_form_body_is_400_for_a_plain_callable(
    client_for: Any,
    where: str,
    content_type: str,
    body: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target: Any = echo_arguments
    if where == "routed":
        target = RuleRouter([(r"/.*", echo_arguments)])
    elif where == "app-rule":
        target = Application([(r"/.*", echo_arguments)])
    client = client_for(target)
    with caplog.at_level(logging.INFO):
        response = client.post("/", body=body, headers={"Content-Type": content_type})
    assert response.status == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_good_form_body_reaches_a_plain_callable(client_for: Any) -> None:
    client = client_for(echo_arguments)
    response = client.post(
        "/", body=b"a=1&b=2", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 200
    assert response.body == b"['a', 'b']"
