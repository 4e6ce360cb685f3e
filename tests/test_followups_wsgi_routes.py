"""WSGIAdapter's route inspection sees native-only features that come from mixins.

A plain ``def`` handler that inherits a dualweb.auth mixin needs the event loop for the
mixin's calls to the login provider; the adapter lists its route like a coroutine's.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from dualweb.auth import (
    FacebookGraphMixin,
    GoogleOAuth2Mixin,
    OpenIdMixin,
    TwitterMixin,
)
from dualweb.connection import AsyncUnavailableError
from dualweb.web import Application, RequestHandler
from dualweb.wsgi import AsyncRouteInfo, AsyncRoutesWarning, WSGIAdapter


class GoogleLogin(RequestHandler, GoogleOAuth2Mixin):
    def get(self) -> None:
        self.authorize_redirect(redirect_uri="http://x/login", client_id="id")


class Plain(RequestHandler):
    def get(self) -> None:
        self.write("plain")


def routes_of(app: Application) -> list[AsyncRouteInfo]:
    with pytest.warns(AsyncRoutesWarning) as record:
        adapter = WSGIAdapter(app)
    assert len(record) == 1
    return list(adapter.async_routes())


def test_plain_def_handler_with_an_auth_mixin_is_listed() -> None:
    routes = routes_of(Application([("/login", GoogleLogin), ("/plain", Plain)]))
    assert routes == [
        AsyncRouteInfo(
            "/login",
            "GoogleLogin",
            (
                "GoogleLogin inherits GoogleOAuth2Mixin (a dualweb.auth mixin): its calls to the "
                "login provider (get_authenticated_user, oauth2_request) need the event loop",
            ),
        )
    ]


def test_strict_adapter_refuses_the_auth_route() -> None:
    app = Application([("/login", GoogleLogin), ("/plain", Plain)])
    with pytest.raises(AsyncUnavailableError, match=r"/login -> GoogleLogin: GoogleLogin inherits"):
        WSGIAdapter(app, strict=True)


@pytest.mark.parametrize(
    ("mixin", "methods"),
    [
        (OpenIdMixin, "get_authenticated_user"),
        (TwitterMixin, "authenticate_redirect, authorize_redirect, get_authenticated_user, "
                       "twitter_request"),
        (FacebookGraphMixin, "facebook_request, get_authenticated_user, oauth2_request"),
    ],
)
def test_each_mixin_gives_one_reason_naming_itself(mixin: type, methods: str) -> None:
    handler = type("Login", (RequestHandler, mixin), {"get": lambda self: None})
    [route] = routes_of(Application([("/auth", handler)]))
    # One sentence: the mixin's bases (OAuthMixin, OAuth2Mixin, ...) are not listed again.
    assert route.reasons == (
        f"Login inherits {mixin.__name__} (a dualweb.auth mixin): its calls to the login provider "
        f"({methods}) need the event loop",
    )


def test_a_users_mixin_built_on_an_auth_mixin_is_named() -> None:
    class CompanySSOMixin(GoogleOAuth2Mixin):
        _OAUTH_AUTHORIZE_URL = "https://sso.example/authorize"

    class SSOLogin(CompanySSOMixin, RequestHandler):  # mixin first: also seen
        def get(self) -> None:
            pass

    [route] = routes_of(Application([("/sso", SSOLogin)]))
    assert route.reasons == (
        "SSOLogin inherits CompanySSOMixin (a dualweb.auth mixin): its calls to the login provider "
        "(get_authenticated_user, oauth2_request) need the event loop",
    )


def test_mixin_reasons_come_after_the_handlers_own() -> None:
    class AsyncLogin(RequestHandler, OpenIdMixin):
        async def get(self) -> None:
            pass

    [route] = routes_of(Application([("/openid", AsyncLogin)]))
    assert route.reasons == (
        "AsyncLogin.get is a coroutine",
        "AsyncLogin inherits OpenIdMixin (a dualweb.auth mixin): its calls to the login provider "
        "(get_authenticated_user) need the event loop",
    )


def test_any_mixin_may_declare_a_native_only_feature() -> None:
    class HoldsASocket:
        _native_only_feature = "{handler} keeps a socket open between requests"

    class Feed(RequestHandler, HoldsASocket):
        def get(self) -> None:
            pass

    [route] = routes_of(Application([("/feed", Feed)]))
    assert route.reasons == ("Feed keeps a socket open between requests",)


def test_handlers_without_such_mixins_are_not_listed() -> None:
    class Helper:
        def helper(self) -> str:
            return "x"

    class Sync(RequestHandler, Helper):
        def get(self) -> None:
            self.write(self.helper())

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapter = WSGIAdapter(Application([("/sync", Sync), ("/plain", Plain)]))
    assert list(adapter.async_routes()) == []


def test_the_auth_route_answers_500_with_the_reason_logged(caplog: Any) -> None:
    # What the warning predicts: the provider call fails under WSGI, naming the handler.
    from tests.support import WSGIClient

    class Callback(RequestHandler, GoogleOAuth2Mixin):
        def get(self) -> None:
            self.get_authenticated_user(redirect_uri="http://x/cb", code="c")

    with pytest.warns(AsyncRoutesWarning):
        client = WSGIClient(Application([("/cb", Callback)]))
    assert client.get("/cb").status == 500
    assert "Callback.get_authenticated_user" in caplog.text
