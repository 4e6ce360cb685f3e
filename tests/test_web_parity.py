"""Tornado parity for refused input: the standard reason for the client, the detail in the log.

XSRF failures answer ``403 Forbidden`` and undecodable arguments (query, body,
path) ``400 Bad Request``, with the cause logged at WARNING on
``dualweb.general``, as ``HTTPError(code, log_message)`` does in Tornado. Form
bodies that cannot be parsed (bad multipart framing, a part without a name, a
compressed form) are refused with 400 as in Tornado 6.5+; so is a multipart
field in a charset we cannot decode (Tornado ignores the charset; we convert
it to UTF-8, so one we cannot read is the client's error, not a 500).
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import dualweb.web
from tests.harness import tornado_server
from tests.support import Client, Response

ClientFor = Callable[..., Client]
MULTIPART = {"Content-Type": "multipart/form-data; boundary=1234"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def make_app(web: ModuleType) -> Any:
    """The same routes for dualweb and Tornado."""

    class Protected(web.RequestHandler):  # type: ignore[name-defined,misc]
        def post(self) -> None:
            self.write("posted")

    class Args(web.RequestHandler):  # type: ignore[name-defined,misc]
        def check_xsrf_cookie(self) -> None:
            pass

        def get(self, part: str = "") -> None:
            self.write(part + self.get_argument("a", ""))

        def post(self) -> None:
            self.write(self.get_argument("c", "-"))

    return web.Application(
        [
            (r"/xsrf", Protected),
            (r"/args", Args),
            (r"/p/(.*)", Args),
            (r"/n/(?P<part>.*)", Args),
        ],
        xsrf_cookies=True,
    )


def _multipart(part_headers: bytes, value: bytes = b"v") -> bytes:
    return b"--1234\r\n" + part_headers + b"\r\n" + value + b"\r\n--1234--\r\n"


_V1_COOKIE = {"Cookie": "_xsrf=00112233445566778899aabbccddeeff"}
_NAMED = b'Content-Disposition: form-data; name="c"\r\n'

# (method, path, body, headers, status, what the log says)
REFUSED: list[tuple[str, str, bytes | None, dict[str, str], int, str]] = [
    ("POST", "/xsrf", b"", {}, 403, "'_xsrf' argument missing from POST"),
    ("POST", "/xsrf?_xsrf=2%7Czz%7C00%7C1", b"", _V1_COOKIE, 403,
     "'_xsrf' argument has invalid format"),
    ("POST", "/xsrf?_xsrf=ffeeddccbbaa99887766554433221100", b"", _V1_COOKIE, 403,
     "XSRF cookie does not match POST argument"),
    ("GET", "/args?a=%ff", None, {}, 400, "Invalid unicode in a: b'\\xff'"),
    ("GET", "/args?a=ok&a=%c3%28", None, {}, 400, "Invalid unicode in a: b'\\xc3('"),
    ("POST", "/args", b"c=%ff", FORM, 400, "Invalid unicode in c: b'\\xff'"),
    ("GET", "/p/%ff", None, {}, 400, "Invalid unicode in url: b'\\xff'"),
    ("GET", "/n/%ff", None, {}, 400, "Invalid unicode in part: b'\\xff'"),
    ("GET", "/p/ok%c3%28", None, {}, 400, "Invalid unicode in url: b'ok\\xc3('"),
    ("POST", "/args", b"--1234\r\ntruncated", MULTIPART, 400, "no final boundary"),
    ("POST", "/args", _multipart(b"Content-Disposition: form-data\r\n"), MULTIPART, 400,
     "part without a form-data name"),
    ("POST", "/args", b"c=1", {**FORM, "Content-Encoding": "gzip"}, 400,
     "Unsupported Content-Encoding: gzip"),
]

# Deliberate differences from Tornado, which ignores a part's charset.
CHARSETS: list[tuple[str, str, bytes | None, dict[str, str], int, str]] = [
    ("POST", "/args", _multipart(_NAMED + b"Content-Type: text/plain; charset=" + charset + b"\r\n",
                                 value), MULTIPART, 400, message)
    for charset, value, message in [
        (b"bogus", b"v", "field 'c' in charset 'bogus'"),
        (b"rot13", b"v", "field 'c' in charset 'rot13'"),
        (b'"utf\x00"', b"v", "field 'c' in charset 'utf\\x00'"),
        (b"utf-16", b"\xe9", "field 'c' in charset 'utf-16'"),
    ]
]


def _send(client: Client, case: tuple[str, str, bytes | None, dict[str, str], int, str]) -> Any:
    method, path, body, headers, _, _ = case
    return client.request(method, path, body=body, headers=headers)


@pytest.mark.parametrize("case", REFUSED + CHARSETS, ids=lambda case: case[-1][:40])
def test_refusal_keeps_the_standard_reason_and_logs_the_detail(
    client_for: ClientFor,
    caplog: pytest.LogCaptureFixture,
    case: tuple[str, str, bytes | None, dict[str, str], int, str],
) -> None:
    status, detail = case[4], case[5]
    reason = http.client.responses[status]
    with caplog.at_level(logging.INFO, logger="dualweb.general"):
        response: Response = _send(client_for(make_app(dualweb.web)), case)
    assert (response.status, response.reason) == (status, reason)
    assert response.text == (
        f"<html><title>{status}: {reason}</title><body>{status}: {reason}</body></html>"
    )
    logged = [r.getMessage() for r in caplog.records if r.name == "dualweb.general"]
    assert any(detail in message for message in logged), logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_valid_charset_field_is_converted(client_for: ClientFor) -> None:
    body = _multipart(_NAMED + b"Content-Type: text/plain; charset=latin-1\r\n", b"\xe9t\xe9")
    response = client_for(make_app(dualweb.web)).post("/args", body=body, headers=MULTIPART)
    assert (response.status, response.text) == (200, "\u00e9t\u00e9")


def test_log_line_quotes_a_hostile_argument_name(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    class Named(dualweb.web.RequestHandler):
        def get(self) -> None:
            self.get_argument("a\nFAKE")

    client = client_for(dualweb.web.Application([(r"/", Named)]))
    with caplog.at_level(logging.WARNING, logger="dualweb.general"):
        assert client.get("/?a%0AFAKE=%ff").status == 400
    assert "Invalid unicode in 'a\\nFAKE': b'\\xff'" in caplog.text


def test_same_answers_as_tornado(client_for: ClientFor) -> None:
    tornado_web = pytest.importorskip("tornado.web")
    ours = client_for(make_app(dualweb.web))
    with tornado_server(make_app(tornado_web)) as port:
        for case in REFUSED:
            method, path, body, headers = case[:4]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request(method, path, body=body, headers=headers)
                theirs = conn.getresponse()
                expected = (theirs.status, theirs.reason, theirs.read())
            finally:
                conn.close()
            response = _send(ours, case)
            assert (response.status, response.reason, response.body) == expected, case
