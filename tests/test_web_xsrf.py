"""XSRF protection through RequestHandler, over both drivers, and Tornado token compatibility."""

from __future__ import annotations

import binascii
import datetime
import email.utils
import logging
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
import tornado.util
import tornado.web

from dualweb.web import Application, RequestHandler
from dualweb.web.xsrf import decode_xsrf_token
from tests.support import Client, Response

ClientFor = Callable[..., Client]
FORM_INPUT = re.compile(r'<input type="hidden" name="_xsrf" value="([^"]*)"/>')
V2_TOKEN = re.compile(r"2\|[0-9a-f]{8}\|[0-9a-f]{32}\|\d+")


class Form(RequestHandler):
    def get(self) -> None:
        self.write("<form method=post>" + self.xsrf_form_html() + "</form>")

    def post(self) -> None:
        self.write("posted")

    def put(self) -> None:
        self.write("put")

    def delete(self) -> None:
        self.write("deleted")

    def options(self) -> None:
        self.write("options")

    def head(self) -> None:
        self.set_header("X-Head", "yes")


def make_app(handler: type[RequestHandler] = Form, **settings: Any) -> Application:
    settings.setdefault("xsrf_cookies", True)
    return Application([(r"/", handler)], **settings)


def fetch_form(client: Client, cookie: str | None = None) -> tuple[str, str, Response]:
    """GET the form; return (cookie header value to send back, form token, response)."""
    response = client.get("/", headers={"Cookie": cookie} if cookie else None)
    assert response.status == 200
    match = FORM_INPUT.search(response.text)
    assert match, response.text
    if cookie is None:
        cookie = "_xsrf=" + response.cookies()["_xsrf"]
    return cookie, match.group(1), response


def test_form_contains_the_token_and_sets_the_cookie(client_for: ClientFor) -> None:
    client = client_for(make_app())
    cookie, token, _ = fetch_form(client)
    assert V2_TOKEN.fullmatch(token), token
    cookie_value = cookie.partition("=")[2]
    assert V2_TOKEN.fullmatch(cookie_value), cookie_value
    # Same secret, different mask: the page token is not the cookie verbatim.
    assert decode_xsrf_token(token)[1] == decode_xsrf_token(cookie_value)[1]
    # A client that already has the cookie keeps it, and gets a freshly masked token.
    _, token2, response2 = fetch_form(client, cookie)
    assert "Set-Cookie" not in response2.headers
    assert token2 != token
    assert decode_xsrf_token(token2)[1] == decode_xsrf_token(token)[1]


def test_form_post_with_token_passes(client_for: ClientFor) -> None:
    client = client_for(make_app())
    cookie, token, _ = fetch_form(client)
    response = client.post("/", {"_xsrf": token, "x": "1"}, headers={"Cookie": cookie})
    assert (response.status, response.text) == (200, "posted")
    # The token may also come in the query string.
    from urllib.parse import quote

    response = client.post(f"/?_xsrf={quote(token)}", b"", headers={"Cookie": cookie})
    assert (response.status, response.text) == (200, "posted")


@pytest.mark.parametrize("header", ["X-XSRFToken", "X-CSRFToken", "x-xsrftoken"])
def test_token_in_header(client_for: ClientFor, header: str) -> None:
    client = client_for(make_app())
    cookie, token, _ = fetch_form(client)
    response = client.request("PUT", "/", b"", headers={"Cookie": cookie, header: token})
    assert (response.status, response.text) == (200, "put")
    response = client.request("DELETE", "/", headers={"Cookie": cookie, header: token})
    assert (response.status, response.text) == (200, "deleted")


def assert_forbidden(response: Response, detail: str) -> None:
    # As in Tornado: the standard reason phrase; the detail goes to the log only.
    assert (response.status, response.reason) == (403, "Forbidden")
    assert "403: Forbidden" in response.text
    assert detail not in response.text and detail.replace("'", "&#x27;") not in response.text


def test_missing_token_is_403_with_reason(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(make_app())
    cookie, _, _ = fetch_form(client)
    with caplog.at_level(logging.WARNING):
        response = client.post("/", {"x": "1"}, headers={"Cookie": cookie})
    assert_forbidden(response, "'_xsrf' argument missing from POST")
    assert "'_xsrf' argument missing from POST" in caplog.text
    assert_forbidden(client.request("DELETE", "/"), "'_xsrf' argument missing from POST")


def test_mismatch_is_403_with_reason(client_for: ClientFor) -> None:
    client = client_for(make_app())
    cookie, token, _ = fetch_form(client)
    other_cookie, other_token, _ = fetch_form(client)
    mismatch = "XSRF cookie does not match POST argument"
    # Token from another session.
    assert_forbidden(client.post("/", {"_xsrf": other_token}, headers={"Cookie": cookie}),
                     mismatch)
    # No cookie at all.
    assert_forbidden(client.post("/", {"_xsrf": token}), mismatch)
    # Cookie tampered with.
    assert_forbidden(
        client.post("/", {"_xsrf": token}, headers={"Cookie": "_xsrf=00112233445566778899"}),
        mismatch,
    )
    # Each pair on its own is fine.
    assert client.post("/", {"_xsrf": other_token}, headers={"Cookie": other_cookie}).status == 200


@pytest.mark.parametrize("token", ["2|zz|00|1", "2|00|0011|1", "2|0011223344|0011|1",
                                   "2|00112233||1", "3|1|2|3", "2|00112233|0011|x"])
def test_malformed_token_is_403(client_for: ClientFor, token: str) -> None:
    client = client_for(make_app())
    cookie, _, _ = fetch_form(client)
    response = client.post("/", {"_xsrf": token}, headers={"Cookie": cookie})
    assert_forbidden(response, "'_xsrf' argument has invalid format")


def test_safe_methods_are_not_checked(client_for: ClientFor) -> None:
    client = client_for(make_app())
    assert client.get("/").status == 200
    assert client.head("/").headers["X-Head"] == "yes"
    assert client.request("OPTIONS", "/").text == "options"


def test_no_check_without_the_setting(client_for: ClientFor) -> None:
    client = client_for(make_app(xsrf_cookies=False))
    assert client.post("/", {"x": "1"}).text == "posted"


def test_version_1_cookie_and_tokens(client_for: ClientFor) -> None:
    raw = os.urandom(16)
    hex_token = binascii.b2a_hex(raw).decode()
    client = client_for(make_app())
    cookie = f"_xsrf={hex_token}"
    # An old-style cookie is accepted as is (not replaced) ...
    _, token, response = fetch_form(client, cookie)
    assert "Set-Cookie" not in response.headers
    assert decode_xsrf_token(token)[1] == raw
    # ... with the masked token or the raw hex one.
    assert client.post("/", {"_xsrf": token}, headers={"Cookie": cookie}).status == 200
    assert client.post("/", {"_xsrf": hex_token}, headers={"Cookie": cookie}).status == 200


def test_xsrf_cookie_version_1_setting(client_for: ClientFor) -> None:
    client = client_for(make_app(xsrf_cookie_version=1))
    cookie, token, _ = fetch_form(client)
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert cookie == "_xsrf=" + token
    assert client.post("/", {"_xsrf": token}, headers={"Cookie": cookie}).status == 200


def test_cookie_name_and_kwargs_settings(client_for: ClientFor) -> None:
    settings = {"httponly": True, "samesite": "Strict", "path": "/app"}
    app = make_app(xsrf_cookie_name="csrf", xsrf_cookie_kwargs=settings)
    client = client_for(app)
    response = client.get("/")
    header = response.headers["Set-Cookie"]
    assert header.startswith("csrf=2|") or header.startswith('csrf="2|')
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/app" in header
    assert "Expires" not in header
    assert settings == {"httponly": True, "samesite": "Strict", "path": "/app"}
    token = FORM_INPUT.search(response.text)
    assert token
    cookie = "csrf=" + response.cookies()["csrf"]
    assert client.post("/", {"_xsrf": token.group(1)}, headers={"Cookie": cookie}).status == 200
    # The default name is not consulted any more.
    wrong = "_xsrf=" + response.cookies()["csrf"]
    assert client.post("/", {"_xsrf": token.group(1)}, headers={"Cookie": wrong}).status == 403


def test_logged_in_users_get_a_30_day_cookie(client_for: ClientFor) -> None:
    class UserForm(Form):
        def get_current_user(self) -> str:
            return "alice"

    response = client_for(make_app(UserForm)).get("/")
    expires = email.utils.parsedate_to_datetime(
        response.headers["Set-Cookie"].split("Expires=")[1].split(";")[0]
    )
    left = expires - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=29) < left <= datetime.timedelta(days=30, seconds=60)


def test_xsrf_form_html_escapes_the_token() -> None:
    class Fake(RequestHandler):
        pass

    handler = Fake.__new__(Fake)
    handler._xsrf_token = b'2|"<&>'  # as if a subclass produced an odd token
    assert handler.xsrf_form_html() == (
        '<input type="hidden" name="_xsrf" value="2|&quot;&lt;&amp;&gt;"/>'
    )


def test_check_can_be_overridden(client_for: ClientFor) -> None:
    class Exempt(Form):
        def check_xsrf_cookie(self) -> None:
            pass

    assert client_for(make_app(Exempt)).post("/", {"x": "1"}).text == "posted"


# ---------------------------------------------------------------- Tornado interop


def test_tornado_reads_our_tokens(client_for: ClientFor) -> None:
    cookie, token, _ = fetch_form(client_for(make_app()))
    decode = tornado.web.RequestHandler._decode_xsrf_token
    _, their_from_cookie, _ = decode(None, cookie.partition("=")[2])  # type: ignore[arg-type]
    _, their_from_form, _ = decode(None, token)  # type: ignore[arg-type]
    assert their_from_cookie == their_from_form == decode_xsrf_token(token)[1]


def test_we_read_tornado_tokens(client_for: ClientFor) -> None:
    raw = os.urandom(16)
    mask = os.urandom(4)
    tornado_token = "|".join(
        ["2", mask.hex(), tornado.util._websocket_mask(mask, raw).hex(), "1700000000"]
    )
    assert decode_xsrf_token(tornado_token) == (2, raw, 1700000000.0)
    client = client_for(make_app())
    other_mask = os.urandom(4)
    tornado_form_token = "|".join(
        ["2", other_mask.hex(), tornado.util._websocket_mask(other_mask, raw).hex(), "1"]
    )
    response = client.post(
        "/", {"_xsrf": tornado_form_token}, headers={"Cookie": f"_xsrf={tornado_token}"}
    )
    assert response.status == 200
