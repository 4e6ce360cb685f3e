"""Cookies and signed cookies through RequestHandler, over both drivers."""

from __future__ import annotations

import datetime
import email.utils
import logging
import re
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
import tornado.web
import werkzeug.http
from hypothesis import given, settings
from hypothesis import strategies as st

from dualweb.web import Application, HTTPError, RequestHandler
from dualweb.web.cookies import CookieMixin
from dualweb.web.signing import create_signed_value, get_signature_key_version
from tests.support import Client, Response

SECRET = "test-cookie-secret-0123456789"
ClientFor = Callable[..., Client]


def attributes(header: str) -> tuple[str, dict[str, str]]:
    """Split a Set-Cookie value into ("name=value", {lowercased attribute: value})."""
    first, *rest = (part.strip() for part in header.split(";"))
    attrs: dict[str, str] = {}
    for part in rest:
        key, _, value = part.partition("=")
        attrs[key.lower()] = value
    return first, attrs


def set_cookies(response: Response) -> dict[str, tuple[str, dict[str, str]]]:
    """Cookie name → (name=value, attributes) for every Set-Cookie header."""
    out = {}
    for header in response.headers.get_all("Set-Cookie"):
        first, attrs = attributes(header)
        out[first.partition("=")[0]] = (first, attrs)
    return out


def parse_date(value: str) -> datetime.datetime:
    return email.utils.parsedate_to_datetime(value)


def app_with(handler: type[RequestHandler], **settings: Any) -> Application:
    return Application([(r"/", handler)], **settings)


# ---------------------------------------------------------------- setting


def test_set_cookie_with_every_attribute(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("plain", "v")
            self.set_cookie(
                "full",
                "x",
                domain="example.com",
                path="/sub",
                max_age=60,
                httponly=True,
                secure=True,
                samesite="lax",
            )
            self.set_cookie("strict", "s", samesite="Strict")
            self.set_cookie("none", "n", samesite="None", secure=True)
            self.set_cookie("nopath", "p", path="")
            self.write("ok")

    response = client_for(app_with(Handler)).get("/")
    assert response.status == 200
    headers = response.headers.get_all("Set-Cookie")
    assert "plain=v; Path=/" in headers
    cookies = set_cookies(response)
    assert cookies["full"] == (
        "full=x",
        {"domain": "example.com", "max-age": "60", "secure": "", "httponly": "", "path": "/sub",
         "samesite": "Lax"},
    )
    assert cookies["strict"][1]["samesite"] == "Strict"
    assert cookies["none"][1] == {"samesite": "None", "secure": "", "path": "/"}
    assert cookies["nopath"] == ("nopath=p", {})


def test_expires_forms(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            when = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
            self.set_cookie("dt", "1", expires=when)
            self.set_cookie("naive", "1", expires=when.replace(tzinfo=None))
            self.set_cookie("ts", "1", expires=when.timestamp())
            self.set_cookie("tuple", "1", expires=when.utctimetuple())
            self.set_cookie("days", "1", expires_days=2)
            self.set_cookie("both", "1", expires=when, expires_days=2)

    before = datetime.datetime.now(datetime.timezone.utc)
    cookies = set_cookies(client_for(app_with(Handler)).get("/"))
    for name in ("dt", "naive", "ts", "tuple", "both"):
        assert cookies[name][1]["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT", name
    in_two_days = parse_date(cookies["days"][1]["expires"]) - before
    assert datetime.timedelta(days=2, seconds=-5) <= in_two_days <= datetime.timedelta(
        days=2, seconds=60
    )


def test_values_that_need_quoting_reach_the_client_intact(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("quoted", 'a"b,c;d\\e')
            self.set_cookie("bytes", "h\u00e9llo".encode())
            self.set_cookie("b64", "YWJj==/+")

    response = client_for(app_with(Handler)).get("/")
    jar = response.cookies()
    assert jar["quoted"] == 'a"b,c;d\\e'
    assert jar["b64"] == "YWJj==/+"
    # Non-ASCII is sent as octal escapes inside quotes, so the header stays ASCII.
    raw = set_cookies(response)["bytes"][0]
    assert raw.isascii() and raw.startswith('bytes="')


def test_later_set_or_clear_replaces_earlier(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("a", "1")
            self.set_cookie("a", "2")
            self.set_cookie("b", "1")
            self.clear_cookie("b")

    response = client_for(app_with(Handler)).get("/")
    headers = response.headers.get_all("Set-Cookie")
    assert len(headers) == 2
    assert "a=2; Path=/" in headers
    assert set_cookies(response)["b"][0] == "b="


def test_cookies_survive_send_error(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("seen", "yes")
            raise HTTPError(400)

    response = client_for(app_with(Handler)).get("/")
    assert response.status == 400
    assert response.cookies() == {"seen": "yes"}


# ---------------------------------------------------------------- reading


class Echo(RequestHandler):
    def get(self) -> None:
        self.write(
            {
                "names": sorted(self.cookies),
                "a": self.get_cookie("a"),
                "b": self.get_cookie("b"),
                "missing": self.get_cookie("missing", "dflt"),
            }
        )


def test_get_cookie_and_cookies(client_for: ClientFor) -> None:
    client = client_for(app_with(Echo))
    response = client.get("/", headers={"Cookie": 'a=1; b="two words"; c=3'})
    assert response.json() == {"names": ["a", "b", "c"], "a": "1", "b": "two words",
                               "missing": "dflt"}
    assert client.get("/").json() == {"names": [], "a": None, "b": None, "missing": "dflt"}


GARBAGE_COOKIE_HEADERS = [
    "a",
    "=",
    ";;;",
    "=;=;=",
    '"',
    'a="unterminated',
    "a=1; ; ; b",
    "a=\x01\x02",
    "\u00e9=\u00ff",
    "a=" + "x" * 4000,
    ";".join(f"k{i}=v{i}" for i in range(200)),
    "$Version=1; a=1; $Path=/",
    "a=1, b=2",
    "a=[1]; b=(2); c={3}",
]


@pytest.mark.parametrize("header", GARBAGE_COOKIE_HEADERS)
def test_garbage_cookie_headers_do_not_crash(client_for: ClientFor, header: str) -> None:
    client = client_for(app_with(Echo))
    response = client.get("/", headers={"Cookie": header})
    if response.status == 400:
        # The native server refuses control characters in any header value.
        assert any(ord(c) < 32 for c in header)
    else:
        assert response.status == 200
        assert response.json()["missing"] == "dflt"
    assert client.get("/", headers={"Cookie": "a=1"}).json()["a"] == "1"


# ---------------------------------------------------------------- clearing


def test_clear_cookie(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.clear_cookie("plain")
            self.clear_cookie("scoped", path="/app", domain="example.com")
            self.clear_cookie("cross", samesite="None", secure=True)

    now = datetime.datetime.now(datetime.timezone.utc)
    cookies = set_cookies(client_for(app_with(Handler)).get("/"))
    first, attrs = cookies["plain"]
    assert first == "plain="
    assert attrs["max-age"] == "0" and attrs["path"] == "/"
    assert parse_date(attrs["expires"]) < now - datetime.timedelta(days=300)
    assert cookies["scoped"][1]["path"] == "/app"
    assert cookies["scoped"][1]["domain"] == "example.com"
    assert cookies["cross"][1]["samesite"] == "None" and "secure" in cookies["cross"][1]


def test_clear_all_cookies(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.clear_all_cookies(path="/x")

    response = client_for(app_with(Handler)).get("/", headers={"Cookie": "a=1; b=2"})
    cookies = set_cookies(response)
    assert sorted(cookies) == ["a", "b"]
    assert all(attrs["path"] == "/x" and attrs["max-age"] == "0" for _, attrs in cookies.values())


def test_clear_cookie_rejects_expiry_arguments(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.clear_cookie("a", max_age=10)

    with caplog.at_level(logging.ERROR):
        response = client_for(app_with(Handler)).get("/")
    assert response.status == 500
    assert "Handler.clear_cookie() got an unexpected keyword argument 'max_age'" in caplog.text


# ---------------------------------------------------------------- bad input from the program


BAD_COOKIES: list[tuple[dict[str, Any], str]] = [
    ({"name": "a", "value": "has space"}, "invalid value for cookie 'a'"),
    ({"name": "a", "value": "line\r\nInjected: 1"}, "invalid value for cookie 'a'"),
    ({"name": "a", "value": "nul\x00"}, "invalid value for cookie 'a'"),
    ({"name": "bad name", "value": "v"}, "invalid cookie name 'bad name'"),
    ({"name": "semi;colon", "value": "v"}, "invalid cookie name"),
    ({"name": "", "value": "v"}, "invalid cookie name"),
    ({"name": "a", "value": "v", "domain": "x.com; Secure"}, "invalid domain"),
    ({"name": "a", "value": "v", "path": "/\r\nX: 1"}, "invalid path"),
    ({"name": "a", "value": "v", "samesite": "sometimes"}, "invalid samesite 'sometimes'"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_COOKIES)
def test_bad_cookie_is_a_value_error_and_a_500(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture, kwargs: dict[str, Any], message: str
) -> None:
    class BadCookieHandler(RequestHandler):
        def get(self) -> None:
            self.set_cookie(**kwargs)

    with caplog.at_level(logging.ERROR):
        response = client_for(app_with(BadCookieHandler)).get("/")
    assert response.status == 500
    assert "Set-Cookie" not in response.headers
    assert "ValueError: BadCookieHandler.set_cookie: " + message in caplog.text


def test_deprecated_keyword_attributes(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("a", "1", HttpOnly=True, **{"Max-Age": 5})

    with pytest.warns(DeprecationWarning, match="Deprecated arguments to set_cookie"):
        response = client_for(app_with(Handler)).get("/")
    attrs = set_cookies(response)["a"][1]
    assert attrs["max-age"] == "5" and "httponly" in attrs


def test_unknown_keyword_is_a_type_error(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("a", "1", colour="blue")

    with caplog.at_level(logging.ERROR):
        response = client_for(app_with(Handler)).get("/")
    assert response.status == 500
    assert "unexpected keyword argument 'colour' for cookie 'a'" in caplog.text


# ---------------------------------------------------------------- signed cookies


class Login(RequestHandler):
    def post(self) -> None:
        self.set_signed_cookie("user", self.get_argument("name"))
        self.redirect("/")


class Home(RequestHandler):
    def get(self) -> None:
        user = self.get_signed_cookie("user")
        if user is None:
            raise HTTPError(403)
        self.write("Hello " + user.decode())


def login_app(**settings: Any) -> Application:
    settings.setdefault("cookie_secret", SECRET)
    return Application([(r"/", Home), (r"/login", Login)], **settings)


def test_signed_cookie_login_flow(client_for: ClientFor) -> None:
    client = client_for(login_app())
    login = client.post("/login", {"name": "alice"})
    assert login.status == 302
    value = login.cookies()["user"]
    attrs = set_cookies(login)["user"][1]
    expires_in = parse_date(attrs["expires"]) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=29) < expires_in <= datetime.timedelta(days=30, seconds=60)

    assert client.get("/", headers={"Cookie": f"user={value}"}).text == "Hello alice"
    assert client.get("/").status == 403
    tampered = value.replace("YWxpY2U=", "bWFsbG9y")  # alice -> mallor
    assert client.get("/", headers={"Cookie": f"user={tampered}"}).status == 403
    # The same signed value under another cookie name does not log anyone in.
    other = create_signed_value(SECRET, "session", "alice")
    assert client.get("/", headers={"Cookie": f"user={other.decode()}"}).status == 403


def test_signed_cookie_expiry(client_for: ClientFor) -> None:
    client = client_for(login_app())
    old = create_signed_value(SECRET, "user", "bob", clock=lambda: time.time() - 32 * 86400)
    assert client.get("/", headers={"Cookie": f"user={old.decode()}"}).status == 403
    recent = create_signed_value(SECRET, "user", "bob", clock=lambda: time.time() - 30 * 86400)
    assert client.get("/", headers={"Cookie": f"user={recent.decode()}"}).text == "Hello bob"


def test_signed_value_and_max_age_days_arguments(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            token = self.create_signed_value("token", "t1")
            two_days_old = create_signed_value(
                SECRET, "token", "t2", clock=lambda: time.time() - 2 * 86400
            )
            self.write(
                {
                    "fresh": self.get_signed_cookie("token", token.decode()) == b"t1",
                    "old_ok": self.get_signed_cookie("token", two_days_old.decode()) == b"t2",
                    "old_rejected": self.get_signed_cookie(
                        "token", two_days_old.decode(), max_age_days=1
                    )
                    is None,
                    "v1": self.get_signed_cookie(
                        "token", self.create_signed_value("token", "x", version=1).decode(),
                        min_version=2,
                    )
                    is None,
                    "aliases": self.get_secure_cookie("token", token.decode()) == b"t1",
                }
            )

    body = client_for(app_with(Handler, cookie_secret=SECRET)).get("/").json()
    assert body == {"fresh": True, "old_ok": True, "old_rejected": True, "v1": True,
                    "aliases": True}


def test_secure_cookie_aliases_are_the_signed_methods() -> None:
    assert RequestHandler.get_secure_cookie is RequestHandler.get_signed_cookie
    assert RequestHandler.set_secure_cookie is RequestHandler.set_signed_cookie
    assert (
        RequestHandler.get_secure_cookie_key_version
        is RequestHandler.get_signed_cookie_key_version
    )


def test_missing_cookie_secret_is_explained(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = client_for(login_app(cookie_secret=None)).post("/login", {"name": "a"})
    assert response.status == 500
    assert "Login" in caplog.text and "'cookie_secret'" in caplog.text
    assert "secure cookies" in caplog.text


def test_key_rotation(client_for: ClientFor) -> None:
    keys = {1: "retired key", 2: "current key"}

    class Handler(RequestHandler):
        def get(self) -> None:
            user = self.get_signed_cookie("user")
            if user is not None and self.get_signed_cookie_key_version("user") != 2:
                self.set_signed_cookie("user", user)  # re-sign with the current key
            self.write({"user": user and user.decode()})

    client = client_for(app_with(Handler, cookie_secret=keys, key_version=2))
    old = create_signed_value(keys, "user", "carol", key_version=1).decode()
    response = client.get("/", headers={"Cookie": f"user={old}"})
    assert response.json() == {"user": "carol"}
    renewed = response.cookies()["user"]
    assert get_signature_key_version(renewed) == 2

    response = client.get("/", headers={"Cookie": f"user={renewed}"})
    assert response.json() == {"user": "carol"} and "Set-Cookie" not in response.headers
    unknown = create_signed_value({7: "x"}, "user", "eve", key_version=7).decode()
    assert client.get("/", headers={"Cookie": f"user={unknown}"}).json() == {"user": None}


def test_key_version_setting_is_required_with_a_key_dict(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = client_for(login_app(cookie_secret={1: "k"})).post("/login", {"name": "a"})
    assert response.status == 500
    assert "Login: the cookie_secret setting is a dict of key versions" in caplog.text
    assert "'key_version' setting" in caplog.text


def test_signed_cookies_interoperate_with_tornado(client_for: ClientFor) -> None:
    client = client_for(login_app())
    theirs = tornado.web.create_signed_value(SECRET, "user", "dave").decode()
    assert client.get("/", headers={"Cookie": f"user={theirs}"}).text == "Hello dave"
    ours = client.post("/login", {"name": "erin"}).cookies()["user"]
    assert tornado.web.decode_signed_value(SECRET, "user", ours) == b"erin"


def test_set_cookie_header_parses_with_the_stdlib(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("a", "1", domain="example.com", max_age=5, httponly=True,
                            secure=True, samesite="Lax", expires_days=1)

    header = client_for(app_with(Handler)).get("/").headers["Set-Cookie"]
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    morsel = jar["a"]
    assert (morsel.value, morsel["domain"], morsel["max-age"], morsel["path"]) == (
        "1", "example.com", "5", "/"
    )
    assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "Lax"
    assert morsel["expires"].endswith(" GMT")


def test_unicode_value_round_trips_through_the_next_request(client_for: ClientFor) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("u", "h\u00e9llo\u2603;\"x\"")
            self.write({"u": self.get_cookie("u")})

    client = client_for(app_with(Handler))
    first = client.get("/")
    sent = set_cookies(first)["u"][0]  # u="..." exactly as a browser would store it
    assert client.get("/", headers={"Cookie": sent}).json() == {"u": "h\u00e9llo\u2603;\"x\""}


# ---------------------------------------------------------------- properties of set_cookie


class _Bare(CookieMixin):
    """The mixin alone: set_cookie needs no request."""


_COOKIE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=" \x7f"),
    max_size=40,
).filter(lambda s: not any(ord(c) < 32 for c in s))


@settings(max_examples=200, deadline=None)
@given(value=_COOKIE_TEXT)
def test_any_accepted_value_parses_back(value: str) -> None:
    bare = _Bare()
    bare.set_cookie("k", value)
    header = bare._new_cookies["k"]
    assert "\r" not in header and "\n" not in header and header.isascii()
    assert werkzeug.http.parse_cookie(header.partition(";")[0])["k"] == value


def _idna_encodable(domain: str) -> bool:
    try:
        # dump_cookie encodes the host part alone: no ":port", no leading dots.
        domain.partition(":")[0].lstrip(".").encode("idna")
    except UnicodeError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=20), domain=st.text(max_size=10), path=st.text(max_size=10))
def test_set_cookie_never_emits_a_broken_header(value: str, domain: str, path: str) -> None:
    # The rules, stated independently: a value may not hold whitespace or control
    # characters, an attribute may not hold those or ";" either, and a domain must
    # be a host name IDNA can encode (werkzeug's dump_cookie sends it that way).
    refused = (
        bool(re.search(r"[\x00-\x20\x7f]", value))
        or any(re.search(r"[\x00-\x20;\x7f]", attribute) for attribute in (domain, path))
        or not _idna_encodable(domain)
    )
    bare = _Bare()
    try:
        bare.set_cookie("k", value, domain=domain or None, path=path)
    except ValueError:
        assert refused, (value, domain, path)
        return
    assert not refused, (value, domain, path)
    header = bare._new_cookies["k"]
    assert not any(ord(c) < 32 or ord(c) == 127 for c in header)
    # Exactly the attributes we asked for: nothing smuggled in through the values.
    names = [part.split("=")[0].strip() for part in header.split("; ")[1:]]
    assert names == [n for n, v in (("Domain", domain), ("Path", path)) if v]


@pytest.mark.parametrize("domain", ["a..b", "x" * 64 + ".example"])
def test_unencodable_domain_is_refused_naming_the_handler(domain: str) -> None:
    with pytest.raises(ValueError, match=r"_Bare\.set_cookie: invalid domain .* for cookie 'k'"):
        _Bare().set_cookie("k", "v", domain=domain)
