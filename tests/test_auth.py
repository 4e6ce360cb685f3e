"""dualweb.auth end to end: a consumer app logs in against a fake provider, both on 127.0.0.1.

The provider is a second dualweb server on its own port, in the test's loop.
It checks what a real provider checks: OAuth 1.0a signatures (with the
independent RFC 5849 implementation below, not dualweb's), nonces, request
and access tokens and verifiers; OpenID ``check_authentication`` against the
assertion it signed; OAuth 2 client credentials, codes, redirect URIs and
Facebook's ``appsecret_proof``. Its error answers use each provider's own
error format, and the consumer must surface the message in an ``AuthError``.

The consumer handlers are written as an application would write them; the
provider URLs are the mixins' class attributes, pointed at the fake. The
last tests drive plain ``def`` handlers under WSGI (and natively): the
redirect-only methods work in both modes, the network ones are refused with
the standard message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import urllib.parse
import warnings
from typing import Any, NoReturn

import pytest

from dualweb.auth import (
    AuthError,
    FacebookGraphMixin,
    GoogleOAuth2Mixin,
    OAuthMixin,
    OpenIdMixin,
    TwitterMixin,
)
from dualweb.auth.oauth1 import oauth_signature
from dualweb.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse
from dualweb.httputil import url_concat
from dualweb.testing import AsyncHTTPTestCase, bind_unused_port
from dualweb.web import Application, Finish, RequestHandler
from tests.harness import start_server, stop_server

# --------------------------------------------------------------------------- RFC 5849, again

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def pct(text: str) -> str:
    """RFC 5849 section 3.6, byte by byte."""
    return "".join(chr(b) if b in UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def normalized_parameters(pairs: list[tuple[str, str]]) -> str:
    """Section 3.4.1.3.2: encode, sort by name then value, join."""
    encoded = sorted((pct(name), pct(value)) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def base_string(method: str, base_uri: str, pairs: list[tuple[str, str]]) -> str:
    """Section 3.4.1.1."""
    return "&".join([method.upper(), pct(base_uri), pct(normalized_parameters(pairs))])


def hmac_sha1(text: str, consumer_secret: str, token_secret: str) -> str:
    """Section 3.4.2."""
    key = f"{pct(consumer_secret)}&{pct(token_secret)}".encode("ascii")
    return base64.b64encode(hmac.new(key, text.encode("ascii"), "sha1").digest()).decode()


def test_rfc5849_example_parameters_normalize_as_the_rfc_prints_them() -> None:
    # Section 3.4.1.3: the request's query, form body and oauth_* parameters.
    pairs = [("b5", "=%3D"), ("a3", "a"), ("c@", ""), ("a2", "r b"), ("c2", ""), ("a3", "2 q")]
    pairs += [
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
    ]
    assert normalized_parameters(pairs) == (
        "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9djdj82h48djs9d2"
        "&oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1&oauth_timestamp=137131201"
        "&oauth_token=kkk9d7dh3k39sjv7"
    )
    # dualweb signs the query already in the URL together with the other parameters.
    ours = oauth_signature(
        {"secret": "j49sk3j29djd"},
        "POST",
        "http://EXAMPLE.com:80/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
        dict(pairs[4:]),
        {"secret": "dh893hdasih9"},
    )
    expected = hmac_sha1(
        base_string("POST", "http://example.com/request", pairs), "j49sk3j29djd", "dh893hdasih9"
    )
    assert ours == expected


def test_signature_matches_the_oauth_core_example() -> None:
    # OAuth Core 1.0 appendix A.5: the photos.example.net request.
    params = {
        "file": "vacation.jpg",
        "size": "original",
        "oauth_consumer_key": "dpf43f3p2l4k3l03",
        "oauth_token": "nnch734d00sl2jdk",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": "1191242096",
        "oauth_nonce": "kllo9940pd9333jh",
        "oauth_version": "1.0",
    }
    url = "http://photos.example.net/photos"
    ours = oauth_signature(
        {"secret": "kd94hf93k423kf44"}, "GET", url, params, {"secret": "pfkkdhi9sl3r4s00"}
    )
    theirs = hmac_sha1(
        base_string("GET", url, list(params.items())), "kd94hf93k423kf44", "pfkkdhi9sl3r4s00"
    )
    assert ours == theirs == "tR3+Ty81lMeYAr/Fid0kMTYa/WM="


# --------------------------------------------------------------------------- the fake provider

CONSUMER_KEY = "ck-dualweb"
CONSUMER_SECRET = "cs/secret&+="  # characters that must be percent-encoded in the HMAC key
GOOGLE_OAUTH = {"key": "g-client.apps", "secret": "g-secret"}
FB_APP_ID, FB_SECRET = "fb-app-1", "fb-secret"
OPENID_NS = "http://specs.openid.net/auth/2.0"
AX_NS = "http://openid.net/srv/ax/1.0"
AX_PROFILE = {
    "http://axschema.org/namePerson/first": "Alice",
    "http://axschema.org/namePerson/last": "Liddell",
    "http://axschema.org/contact/email": "alice@example.org",
    "http://axschema.org/pref/language": "en-GB",
    "http://axschema.org/namePerson/friendly": "alice",
}
FB_PROFILE = {
    "id": "1001",
    "name": "Alice Liddell",
    "first_name": "Alice",
    "last_name": "Liddell",
    "email": "alice@example.org",
    "link": "https://facebook.example/alice",
    "locale": "en_GB",
    "birthday": "05/04/1852",
}
TWITTER_AUTH_ERROR = {"errors": [{"code": 32, "message": "Could not authenticate you."}]}


class ProviderState:
    """What the fake provider issued, and which signed requests it accepted."""

    def __init__(self) -> None:
        self.serial = itertools.count(1)
        self.oauth_tokens = {"at-seeded": "ats/ecret"}  # token -> secret (request and access)
        self.callbacks: dict[str, str] = {}  # request token -> oauth_callback (1.0a)
        self.verifiers: dict[str, str] = {}
        self.nonces: set[str] = set()
        self.verified: list[str] = []
        self.codes: dict[str, str] = {}  # OAuth 2 code -> redirect_uri
        self.bearer_tokens = {"fa-seeded"}
        self.openid_requests: list[dict[str, str]] = []
        self.openid_key = b"association-secret"
        self.user_agents: list[str] = []


class ProviderHandler(RequestHandler):
    def initialize(self, state: ProviderState) -> None:
        self.state = state

    def reject(self, status: int, payload: dict[str, Any] | str) -> NoReturn:
        self.set_status(status)
        self.finish(payload)
        raise Finish()

    def pairs(self) -> list[tuple[str, str]]:
        """Query and form-body parameters, as the provider's own parser reads them."""
        found = urllib.parse.parse_qsl(self.request.query, keep_blank_values=True)
        if self.request.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            body = self.request.body.decode("utf-8")
            found += urllib.parse.parse_qsl(body, keep_blank_values=True)
        return found

    def check_oauth1(self, endpoint: str) -> dict[str, str]:
        """Verify an OAuth 1 signed request; answer 401 like Twitter when it is not right."""
        pairs = self.pairs()
        params = dict(pairs)
        token_secret = ""
        if "oauth_token" in params:
            if params["oauth_token"] not in self.state.oauth_tokens:
                self.reject(401, "Invalid request token.")
            token_secret = self.state.oauth_tokens[params["oauth_token"]]
        base_uri = f"{self.request.protocol}://{self.request.host}{self.request.path}"
        unsigned = [(k, v) for k, v in pairs if k != "oauth_signature"]
        expected = hmac_sha1(
            base_string(self.request.method, base_uri, unsigned), CONSUMER_SECRET, token_secret
        )
        if (
            params.get("oauth_consumer_key") != CONSUMER_KEY
            or params.get("oauth_signature_method") != "HMAC-SHA1"
            or params.get("oauth_version") != "1.0"
            or not params.get("oauth_timestamp", "").isdigit()
            or params.get("oauth_nonce", "") in self.state.nonces | {""}
            or not hmac.compare_digest(expected, params.get("oauth_signature", ""))
        ):
            self.reject(401, TWITTER_AUTH_ERROR)
        self.state.nonces.add(params["oauth_nonce"])
        self.state.verified.append(endpoint)
        return params

    def issue(self, prefix: str) -> tuple[str, str]:
        n = next(self.state.serial)
        token, secret = f"{prefix}-{n}", f"{prefix}s/{n}+"
        self.state.oauth_tokens[token] = secret
        return token, secret


class RequestTokenEndpoint(ProviderHandler):
    def get(self) -> None:
        params = self.check_oauth1("request_token")
        token, secret = self.issue("rt")
        answer = {"oauth_token": token, "oauth_token_secret": secret}
        if "oauth_callback" in params:  # OAuth 1.0a
            self.state.callbacks[token] = params["oauth_callback"]
            answer["oauth_callback_confirmed"] = "true"
        self.write(urllib.parse.urlencode(answer))


class BrokenTokenEndpoint(ProviderHandler):
    """Answers 200 without a token, as some providers do when they are unwell."""

    def get(self) -> None:
        self.write("oauth_problem=temporarily_unavailable")


class AuthorizePage(ProviderHandler):
    """The page where the user approves; approves at once and sends the browser back."""

    def get(self) -> None:
        token = self.get_argument("oauth_token")
        if token not in self.state.oauth_tokens:
            self.reject(400, "unknown request token")
        args = {"oauth_token": token}
        callback = self.state.callbacks.get(token)
        if callback is not None:
            args["oauth_verifier"] = self.state.verifiers[token] = f"v-{next(self.state.serial)}"
        else:
            callback = self.get_argument("oauth_callback")
        self.redirect(url_concat(callback, args))


class AccessTokenEndpoint(ProviderHandler):
    def get(self) -> None:
        params = self.check_oauth1("access_token")
        request_token = params["oauth_token"]
        del self.state.oauth_tokens[request_token]  # good for one exchange, even a failed one
        verifier = self.state.verifiers.pop(request_token, None)
        if verifier is not None and params.get("oauth_verifier") != verifier:
            self.reject(401, {"errors": [{"code": 89, "message": "Invalid oauth_verifier."}]})
        token, secret = self.issue("at")
        self.write(
            urllib.parse.urlencode(
                {
                    "oauth_token": token,
                    "oauth_token_secret": secret,
                    "user_id": "42",
                    "screen_name": "alice",
                }
            )
        )


class TwitterApi(ProviderHandler):
    def prepare(self) -> None:
        self.state.user_agents.append(self.request.headers.get("User-Agent", ""))

    def get(self, name: str) -> None:
        self.check_oauth1(name)
        if name == "account/verify_credentials":
            self.write({"id": 42, "screen_name": "alice", "name": "Alice"})
        else:
            self.write({"query": self.plain_args()})

    def post(self, name: str) -> None:
        self.check_oauth1(name)
        self.write({"posted": self.plain_args()})

    def plain_args(self) -> dict[str, str]:
        return {k: v for k, v in self.pairs() if not k.startswith("oauth_")}


def openid_signature(key: bytes, fields: dict[str, str], signed: str) -> str:
    text = "".join(f"{name}:{fields['openid.' + name]}\n" for name in signed.split(","))
    return base64.b64encode(hmac.new(key, text.encode("utf-8"), "sha256").digest()).decode()


class OpenIdEndpoint(ProviderHandler):
    def get(self) -> None:
        """checkid_setup: the user logs in, the browser goes back with a signed assertion."""
        request = {k: self.get_argument(k) for k in self.request.arguments}
        self.state.openid_requests.append(request)
        assertion = {
            "openid.ns": OPENID_NS,
            "openid.mode": "id_res",
            "openid.claimed_id": "https://openid.example/id/alice",
            "openid.identity": "https://openid.example/id/alice",
            "openid.return_to": request["openid.return_to"],
            "openid.response_nonce": f"2026-12-03T09:00:00Z{next(self.state.serial)}",
            "openid.assoc_handle": "handle-1",
            "openid.ns.ext1": AX_NS,
            "openid.ext1.mode": "fetch_response",
        }
        requested = [v for k, v in request.items() if k.startswith("openid.ax.type.")]
        # Aliases of the provider's choosing: the consumer must match type URIs.
        for i, type_uri in enumerate(t for t in requested if t in AX_PROFILE):
            assertion[f"openid.ext1.type.v{i}"] = type_uri
            assertion[f"openid.ext1.value.v{i}"] = AX_PROFILE[type_uri]
        signed = ",".join(name[len("openid.") :] for name in assertion)
        assertion["openid.signed"] = signed
        assertion["openid.sig"] = openid_signature(self.state.openid_key, assertion, signed)
        self.redirect(url_concat(request["openid.return_to"], assertion))

    def post(self) -> None:
        """check_authentication: is this assertion one I signed?"""
        fields = dict(self.pairs())
        if fields.get("openid.mode") != "check_authentication":
            self.reject(400, "error:expected check_authentication\n")
        # The consumer sends back every field of the assertion, only the mode changed.
        fields["openid.mode"] = "id_res"
        signature = openid_signature(self.state.openid_key, fields, fields["openid.signed"])
        valid = hmac.compare_digest(signature, fields["openid.sig"])
        self.set_header("Content-Type", "text/plain")
        self.write(f"ns:{OPENID_NS}\nis_valid:{'true' if valid else 'false'}\n")


class OAuth2AuthorizePage(ProviderHandler):
    def initialize(self, state: ProviderState, client_id: str) -> None:  # type: ignore[override]
        super().initialize(state)
        self.client_id = client_id

    def get(self) -> None:
        if self.get_argument("client_id") != self.client_id:
            self.reject(400, "unknown client")
        code = f"code-{next(self.state.serial)}"
        self.state.codes[code] = redirect_uri = self.get_argument("redirect_uri")
        self.redirect(url_concat(redirect_uri, {"code": code}))

    def issue_bearer(self, code: str, redirect_uri: str) -> str | None:
        if self.state.codes.pop(code, None) != redirect_uri:
            return None
        token = f"bearer-{next(self.state.serial)}"
        self.state.bearer_tokens.add(token)
        return token


class GoogleToken(OAuth2AuthorizePage):
    def post(self) -> None:
        if not self.request.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            self.reject(400, {"error": "invalid_request", "error_description": "form expected"})
        form = dict(self.pairs())
        if (form.get("client_id"), form.get("client_secret")) != (
            GOOGLE_OAUTH["key"],
            GOOGLE_OAUTH["secret"],
        ):
            self.reject(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        token = self.issue_bearer(form.get("code", ""), form.get("redirect_uri", ""))
        if form.get("grant_type") != "authorization_code" or token is None:
            self.reject(
                400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
            )
        self.write({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


class GoogleUserinfo(ProviderHandler):
    def get(self) -> None:
        if self.get_argument("access_token", "") not in self.state.bearer_tokens:
            self.reject(
                401,
                {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials.",
                        "status": "UNAUTHENTICATED",
                    }
                },
            )
        self.write({"id": "1", "email": "alice@example.org", "name": "Alice Liddell"})


def graph_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": 100}}


class FacebookToken(OAuth2AuthorizePage):
    def get(self) -> None:
        args = {k: self.get_argument(k, "") for k in ("client_id", "client_secret", "code")}
        if (args["client_id"], args["client_secret"]) != (FB_APP_ID, FB_SECRET):
            self.reject(400, graph_error("Error validating client secret."))
        token = self.issue_bearer(args["code"], self.get_argument("redirect_uri", ""))
        if token is None:
            self.reject(400, graph_error("Invalid verification code format."))
        self.write({"access_token": token, "token_type": "bearer", "expires_in": 5183944})


class FacebookGraph(ProviderHandler):
    def check(self) -> None:
        token = self.get_argument("access_token", "")
        if token not in self.state.bearer_tokens:
            self.reject(400, graph_error("Invalid OAuth access token."))
        proof = hmac.new(FB_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(proof, self.get_argument("appsecret_proof", "")):
            self.reject(400, graph_error("Invalid appsecret_proof provided in the API argument"))

    def get(self, path: str) -> None:
        self.check()
        fields = self.get_argument("fields", "id,name").split(",")
        self.write({name: FB_PROFILE[name] for name in fields if name in FB_PROFILE})

    def post(self, path: str) -> None:
        self.check()
        self.write({"id": "1001_7", "path": path, "message": self.get_argument("message")})


def provider_app(state: ProviderState) -> Application:
    s = {"state": state}
    return Application(
        [
            (r"/oauth/request_token", RequestTokenEndpoint, s),
            (r"/oauth/broken", BrokenTokenEndpoint, s),
            (r"/oauth/(?:authorize|authenticate)", AuthorizePage, s),
            (r"/oauth/access_token", AccessTokenEndpoint, s),
            (r"/1\.1/(.+)\.json", TwitterApi, s),
            (r"/openid", OpenIdEndpoint, s),
            (r"/google/auth", OAuth2AuthorizePage, {**s, "client_id": GOOGLE_OAUTH["key"]}),
            (r"/google/token", GoogleToken, {**s, "client_id": GOOGLE_OAUTH["key"]}),
            (r"/google/userinfo", GoogleUserinfo, s),
            (r"/fb/dialog", OAuth2AuthorizePage, {**s, "client_id": FB_APP_ID}),
            (r"/fb/token", FacebookToken, {**s, "client_id": FB_APP_ID}),
            (r"/fb/graph/(.+)", FacebookGraph, s),
        ]
    )


# --------------------------------------------------------------------------- the consumer app


class Consumer(RequestHandler):
    """Runs ``login()``; a failed login is answered 401 with the AuthError's message."""

    async def get(self) -> None:
        try:
            await self.login()
        except AuthError as exc:
            self.set_status(401)
            self.finish({"auth_error": str(exc)})

    async def login(self) -> None:
        raise NotImplementedError

    def own_url(self, path: str) -> str:
        return f"{self.request.protocol}://{self.request.host}{path}"


def consumer_app(provider: str, unreachable: str, client: AsyncHTTPClient) -> Application:
    class OpenIdLogin(Consumer, OpenIdMixin):
        _OPENID_ENDPOINT = provider + "/openid"

        async def login(self) -> None:
            if self.get_argument("openid.mode", None):
                self.finish({"user": await self.get_authenticated_user()})
            else:
                self.authenticate_redirect()

    class TwitterLogin(Consumer, TwitterMixin):
        _OAUTH_REQUEST_TOKEN_URL = provider + "/oauth/request_token"
        _OAUTH_ACCESS_TOKEN_URL = provider + "/oauth/access_token"
        _OAUTH_AUTHORIZE_URL = provider + "/oauth/authorize"
        _OAUTH_AUTHENTICATE_URL = provider + "/oauth/authenticate"
        _TWITTER_BASE_URL = provider + "/1.1"

        async def login(self) -> None:
            if self.get_argument("oauth_token", None):
                self.finish({"user": await self.get_authenticated_user()})
            else:
                await self.authorize_redirect(callback_uri="/twitter/login?next=%2Fhome%3Fa%3D1")

    class TwitterAuthenticate(TwitterLogin):
        async def login(self) -> None:
            await self.authenticate_redirect(callback_uri="/twitter/login")

    class TwitterOutOfBand(TwitterLogin):
        async def login(self) -> None:
            await self.authorize_redirect(callback_uri="oob")

    class TwitterBrokenProvider(TwitterLogin):
        _OAUTH_REQUEST_TOKEN_URL = provider + "/oauth/broken"

    class TwitterWrongSecret(TwitterLogin):
        def _oauth_consumer_token(self) -> dict[str, Any]:
            return {"key": CONSUMER_KEY, "secret": "not-the-secret"}

    class TwitterApiCalls(TwitterLogin):
        async def login(self) -> None:
            token = {"key": "at-seeded", "secret": self.get_argument("secret", "ats/ecret")}
            tweet = await self.twitter_request(
                "/statuses/update",
                access_token=token,
                post_args={"status": "Hello, wörld! 100% ~ok & more"},
                trim_user="true",
            )
            timeline = await self.twitter_request(
                "/statuses/home_timeline", access_token=token, count=2, q="a b&c=d/é"
            )
            self.finish({"tweet": tweet, "timeline": timeline})

    class TwitterTornadoStyle(TwitterLogin):
        """Code written for Tornado catches HTTPClientError around provider calls."""

        async def login(self) -> None:
            try:
                await self.twitter_request(
                    "/users/show/alice", access_token={"key": "at-seeded", "secret": "wrong"}
                )
            except HTTPClientError as exc:
                self.set_status(502)
                self.finish({"code": exc.code, "auth_error": isinstance(exc, AuthError)})

    class TwitterOwnClient(TwitterApiCalls):
        def get_auth_http_client(self) -> AsyncHTTPClient:
            return client

    class OAuth10Login(Consumer, OAuthMixin):
        """A generic OAuth 1.0 (not 1.0a) provider: no oauth_callback, no verifier."""

        _OAUTH_VERSION = "1.0"
        _OAUTH_REQUEST_TOKEN_URL = provider + "/oauth/request_token"
        _OAUTH_ACCESS_TOKEN_URL = provider + "/oauth/access_token"
        _OAUTH_AUTHORIZE_URL = provider + "/oauth/authorize"

        def _oauth_consumer_token(self) -> dict[str, Any]:
            return {"key": CONSUMER_KEY, "secret": CONSUMER_SECRET}

        async def _oauth_get_user_future(self, access_token: dict[str, Any]) -> dict[str, Any]:
            return {"name": access_token["screen_name"]}

        async def login(self) -> None:
            if self.get_argument("oauth_token", None):
                self.finish({"user": await self.get_authenticated_user()})
            else:
                await self.authorize_redirect(callback_uri="/oauth10/login")

    class GoogleLogin(Consumer, GoogleOAuth2Mixin):
        _OAUTH_AUTHORIZE_URL = provider + "/google/auth"
        _OAUTH_ACCESS_TOKEN_URL = provider + "/google/token"
        _OAUTH_USERINFO_URL = provider + "/google/userinfo"

        async def login(self) -> None:
            redirect_uri = self.own_url("/google/login")
            if self.get_argument("code", False):
                token = await self.get_authenticated_user(
                    redirect_uri=redirect_uri, code=self.get_argument("code")
                )
                access_token = self.get_argument("use_token", token["access_token"])
                user = await self.oauth2_request(
                    self._OAUTH_USERINFO_URL, access_token=access_token
                )
                self.finish({"token": token, "user": user})
            else:
                self.authorize_redirect(
                    redirect_uri=redirect_uri,
                    client_id=self.get_google_oauth_settings()["key"],
                    scope=["profile", "email"],
                    response_type="code",
                    extra_params={"approval_prompt": "auto"},
                )

    class GoogleUnreachable(GoogleLogin):
        _OAUTH_ACCESS_TOKEN_URL = unreachable + "/token"

    class FacebookLogin(Consumer, FacebookGraphMixin):
        _OAUTH_AUTHORIZE_URL = provider + "/fb/dialog"
        _OAUTH_ACCESS_TOKEN_URL = provider + "/fb/token"
        _FACEBOOK_BASE_URL = provider + "/fb/graph"

        async def login(self) -> None:
            redirect_uri = self.own_url("/facebook/login")
            if self.get_argument("code", False):
                user = await self.get_authenticated_user(
                    redirect_uri=redirect_uri,
                    client_id=self.settings["facebook_api_key"],
                    client_secret=self.settings["facebook_secret"],
                    code=self.get_argument("code"),
                    extra_fields=["email"],
                )
                self.finish({"user": user})
            else:
                self.authorize_redirect(
                    redirect_uri=redirect_uri,
                    client_id=self.settings["facebook_api_key"],
                    extra_params={"scope": "email,user_posts"},
                )

    class FacebookPost(FacebookLogin):
        async def login(self) -> None:
            proof = self.get_argument("proof", None)
            result = await self.facebook_request(
                "/me/feed",
                access_token="fa-seeded",
                post_args={"message": "Hello from dualweb"},
                **({"appsecret_proof": proof} if proof else {}),
            )
            self.finish(result)

    return Application(
        [
            (r"/openid/login", OpenIdLogin),
            (r"/twitter/login", TwitterLogin),
            (r"/twitter/authenticate", TwitterAuthenticate),
            (r"/twitter/wrong-secret", TwitterWrongSecret),
            (r"/twitter/oob", TwitterOutOfBand),
            (r"/twitter/broken", TwitterBrokenProvider),
            (r"/twitter/api", TwitterApiCalls),
            (r"/twitter/own-client", TwitterOwnClient),
            (r"/twitter/tornado-style", TwitterTornadoStyle),
            (r"/oauth10/login", OAuth10Login),
            (r"/google/login", GoogleLogin),
            (r"/google/unreachable", GoogleUnreachable),
            (r"/facebook/login", FacebookLogin),
            (r"/facebook/post", FacebookPost),
        ],
        twitter_consumer_key=CONSUMER_KEY,
        twitter_consumer_secret=CONSUMER_SECRET,
        google_oauth=GOOGLE_OAUTH,
        facebook_api_key=FB_APP_ID,
        facebook_secret=FB_SECRET,
    )


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def without_query(url: str) -> str:
    return url.partition("?")[0]


def request_token_cookies(response: HTTPResponse) -> list[str]:
    return [c for c in response.headers.get_list("Set-Cookie") if "_oauth_request_token" in c]


class AuthFlowTest(AsyncHTTPTestCase):
    """The consumer app on the test server; the provider on a second server, same loop."""

    fail_on_leaks = True

    def setUp(self) -> None:
        self.state = ProviderState()
        provider_socket, provider_port = bind_unused_port()
        self.provider = f"http://127.0.0.1:{provider_port}"
        closed, closed_port = bind_unused_port()
        closed.close()  # nothing listens there: connections are refused
        self.unreachable = f"http://127.0.0.1:{closed_port}"
        super().setUp()
        self.provider_server, _ = start_server(provider_app(self.state), [provider_socket])

    def tearDown(self) -> None:
        self.io_loop.run_sync(lambda: stop_server(self.provider_server))
        AsyncHTTPClient().close()  # the mixins' shared client keeps connections to the provider
        self.own_client.close()
        super().tearDown()

    def get_app(self) -> Application:
        self.own_client = AsyncHTTPClient(
            force_instance=True, defaults={"user_agent": "dualweb-login/1"}
        )
        return consumer_app(self.provider, self.unreachable, self.own_client)

    def step(self, url: str, cookie: str | None = None) -> HTTPResponse:
        """One browser request, redirects not followed."""
        headers = {"Cookie": cookie} if cookie else {}
        return self.fetch(url, follow_redirects=False, headers=headers)

    def redirected(self, url: str, to: str, cookie: str | None = None) -> str:
        response = self.step(url, cookie)
        assert response.code == 302, (response.code, response.body)
        location = response.headers["Location"]
        assert without_query(location) == to
        return location

    def login_result(self, url: str, cookie: str | None = None) -> dict[str, Any]:
        response = self.step(url, cookie)
        assert response.code == 200, (response.code, response.body)
        return json.loads(response.body)  # type: ignore[no-any-return]

    def auth_error(self, url: str, cookie: str | None = None) -> str:
        response = self.step(url, cookie)
        assert response.code == 401, (response.code, response.body)
        return str(json.loads(response.body)["auth_error"])

    # -- OpenID ------------------------------------------------------------

    def openid_callback(self) -> str:
        to_provider = self.redirected("/openid/login", self.provider + "/openid")
        return self.redirected(to_provider, self.get_url("/openid/login"))

    def test_openid_redirect_asks_for_the_ax_attributes(self) -> None:
        location = self.redirected("/openid/login?x=1", self.provider + "/openid")
        args = query(location)
        assert args["openid.mode"] == "checkid_setup"
        assert args["openid.ns"] == OPENID_NS
        assert args["openid.return_to"] == self.get_url("/openid/login?x=1")
        assert args["openid.realm"] == self.get_url("/")
        assert args["openid.claimed_id"] == args["openid.identity"]
        assert args["openid.ns.ax"] == AX_NS
        assert args["openid.ax.mode"] == "fetch_request"
        assert args["openid.ax.required"] == "firstname,fullname,lastname,email,language,username"
        assert args["openid.ax.type.email"] == "http://axschema.org/contact/email"
        assert args["openid.ax.type.fullname"] == "http://axschema.org/namePerson"

    def test_openid_login_verifies_with_the_provider_and_reads_ax(self) -> None:
        user = self.login_result(self.openid_callback())["user"]
        assert user == {
            "name": "Alice Liddell",  # no full name released: first + last
            "first_name": "Alice",
            "last_name": "Liddell",
            "email": "alice@example.org",
            "locale": "en-gb",
            "username": "alice",
            "claimed_id": "https://openid.example/id/alice",
        }

    def test_openid_tampered_assertion_is_refused_by_the_provider(self) -> None:
        callback = self.openid_callback().replace("alice%40example.org", "mallory%40example.org")
        message = self.auth_error(callback)
        assert message.startswith("Invalid OpenID response:")
        assert "is_valid:false" in message

    # -- OAuth 1.0a (Twitter) ------------------------------------------------

    def twitter_start(self, path: str = "/twitter/login") -> tuple[str, str]:
        response = self.step(path)
        assert response.code == 302, response.body
        cookies = request_token_cookies(response)
        assert len(cookies) == 1
        return response.headers["Location"], cookies[0].split(";")[0]

    def test_oauth10a_request_token_redirect_and_cookie(self) -> None:
        location, cookie = self.twitter_start()
        assert without_query(location) == self.provider + "/oauth/authorize"
        token = query(location)["oauth_token"]
        assert token.startswith("rt-")
        key, secret = (base64.b64decode(p).decode() for p in cookie.partition("=")[2].split("|"))
        assert (key, secret) == (token, self.state.oauth_tokens[token])
        # The callback was registered with the (signed) request-token request.
        assert self.state.callbacks[token] == self.get_url("/twitter/login?next=%2Fhome%3Fa%3D1")
        assert query(location)["oauth_callback"] == self.state.callbacks[token]
        assert self.state.verified == ["request_token"]

    def test_oauth10a_full_login(self) -> None:
        location, cookie = self.twitter_start()
        callback = self.redirected(location, self.get_url("/twitter/login"))
        assert query(callback)["next"] == "/home?a=1"
        response = self.step(callback, cookie)
        assert response.code == 200, response.body
        user = json.loads(response.body)["user"]
        assert user["username"] == user["screen_name"] == "alice"
        access = user["access_token"]
        assert access["key"].startswith("at-")
        assert access["secret"] == self.state.oauth_tokens[access["key"]]
        assert (access["user_id"], access["screen_name"]) == ("42", "alice")
        assert self.state.verified == [
            "request_token",
            "access_token",
            "account/verify_credentials",
        ]
        cleared = request_token_cookies(response)
        assert cleared and "Max-Age=0" in cleared[0]

    def test_oauth10a_authenticate_redirect(self) -> None:
        location, _ = self.twitter_start("/twitter/authenticate")
        assert without_query(location) == self.provider + "/oauth/authenticate"
        assert "oauth_callback" not in query(location)
        assert self.redirected(location, self.get_url("/twitter/login"))

    def test_oauth10a_out_of_band_writes_the_authorization_url(self) -> None:
        response = self.step("/twitter/oob")
        assert response.code == 200
        url = response.body.decode()
        assert without_query(url) == self.provider + "/oauth/authorize"
        token = query(url)["oauth_token"]
        assert self.state.callbacks[token] == "oob"
        assert request_token_cookies(response)

    def test_oauth10a_answer_without_a_token(self) -> None:
        assert self.auth_error("/twitter/broken") == (
            "OAuth request token failed: the answer has no oauth_token/oauth_token_secret: "
            "oauth_problem=temporarily_unavailable"
        )

    def test_oauth10a_cookie_missing_or_mismatched(self) -> None:
        location, cookie = self.twitter_start()
        callback = self.redirected(location, self.get_url("/twitter/login"))
        assert self.auth_error(callback) == "Missing OAuth request token cookie"
        other_cookie = self.twitter_start()[1]
        assert self.auth_error(callback, other_cookie) == "Request token does not match cookie"
        assert self.auth_error(callback, cookie.split("|")[0] + "|!!!") == (
            "Malformed OAuth request token cookie"
        )

    def test_oauth10a_verifier_and_token_errors_carry_the_provider_message(self) -> None:
        location, cookie = self.twitter_start()
        callback = self.redirected(location, self.get_url("/twitter/login"))
        forged = url_concat(without_query(callback), {**query(callback), "oauth_verifier": "v-0"})
        message = self.auth_error(forged, cookie)
        assert message == (
            f"OAuth access token failed: {self.provider}/oauth/access_token answered HTTP 401: "
            "Invalid oauth_verifier."
        )
        # The request token was used up by that exchange: the provider answers in plain text.
        message = self.auth_error(callback, cookie)
        assert message.endswith("answered HTTP 401: Invalid request token.")

    def test_oauth10a_wrong_consumer_secret_fails_the_signature(self) -> None:
        message = self.auth_error("/twitter/wrong-secret")
        assert message == (
            f"OAuth request token failed: {self.provider}/oauth/request_token answered "
            "HTTP 401: Could not authenticate you."
        )
        assert self.state.verified == []

    def test_oauth10_without_callback_or_verifier(self) -> None:
        response = self.step("/oauth10/login")
        assert response.code == 302
        location = response.headers["Location"]
        cookie = response.headers["Set-Cookie"].split(";")[0]
        token = query(location)["oauth_token"]
        assert token not in self.state.callbacks  # 1.0: the callback goes to the authorize page
        assert query(location)["oauth_callback"] == self.get_url("/oauth10/login")
        callback = self.redirected(location, self.get_url("/oauth10/login"))
        assert "oauth_verifier" not in query(callback)
        user = self.login_result(callback, cookie)["user"]
        assert user["name"] == "alice"
        assert user["access_token"]["key"].startswith("at-")

    def test_twitter_request_signs_get_and_post(self) -> None:
        result = self.login_result("/twitter/api")
        assert result["tweet"] == {
            "posted": {"trim_user": "true", "status": "Hello, wörld! 100% ~ok & more"}
        }
        assert result["timeline"] == {"query": {"count": "2", "q": "a b&c=d/é"}}
        assert self.state.verified == ["statuses/update", "statuses/home_timeline"]

    def test_http_error_answers_are_also_http_client_errors(self) -> None:
        response = self.step("/twitter/tornado-style")
        assert response.code == 502
        assert json.loads(response.body) == {"code": 401, "auth_error": True}

    def test_get_auth_http_client_can_be_overridden(self) -> None:
        self.login_result("/twitter/own-client")
        assert self.state.user_agents == ["dualweb-login/1", "dualweb-login/1"]
        self.login_result("/twitter/api")
        assert "dualweb-login/1" not in self.state.user_agents[2:]

    def test_twitter_request_with_a_wrong_token_secret(self) -> None:
        message = self.auth_error("/twitter/api?secret=wrong")
        assert message == (
            f"Twitter request /statuses/update failed: {self.provider}/1.1/statuses/update.json "
            "answered HTTP 401: Could not authenticate you."
        )

    # -- OAuth 2: Google -------------------------------------------------------

    def test_google_authorize_redirect(self) -> None:
        location = self.redirected("/google/login", self.provider + "/google/auth")
        assert query(location) == {
            "response_type": "code",
            "redirect_uri": self.get_url("/google/login"),
            "client_id": GOOGLE_OAUTH["key"],
            "approval_prompt": "auto",
            "scope": "profile email",
        }

    def test_google_code_flow(self) -> None:
        location = self.redirected("/google/login", self.provider + "/google/auth")
        callback = self.redirected(location, self.get_url("/google/login"))
        result = self.login_result(callback)
        assert result["token"]["token_type"] == "Bearer"
        assert result["token"]["access_token"] in self.state.bearer_tokens
        assert result["user"] == {"id": "1", "email": "alice@example.org", "name": "Alice Liddell"}

    def test_google_errors_carry_the_provider_message(self) -> None:
        message = self.auth_error("/google/login?code=made-up")
        assert message == (
            f"Google token exchange failed: {self.provider}/google/token answered HTTP 400: "
            "invalid_grant: Malformed auth code."
        )
        assert GOOGLE_OAUTH["secret"] not in message
        location = self.redirected("/google/login", self.provider + "/google/auth")
        callback = self.redirected(location, self.get_url("/google/login"))
        message = self.auth_error(callback + "&use_token=stolen")
        assert message.endswith(
            "answered HTTP 401: Request had invalid authentication credentials."
        )

    def test_unreachable_provider(self) -> None:
        message = self.auth_error("/google/unreachable?code=x")
        assert message.startswith(
            f"Google token exchange failed: could not reach {self.unreachable}/token: "
        )

    # -- OAuth 2: Facebook ----------------------------------------------------

    def test_facebook_code_flow_with_appsecret_proof(self) -> None:
        location = self.redirected("/facebook/login", self.provider + "/fb/dialog")
        assert query(location) == {
            "response_type": "code",
            "redirect_uri": self.get_url("/facebook/login"),
            "client_id": FB_APP_ID,
            "scope": "email,user_posts",
        }
        callback = self.redirected(location, self.get_url("/facebook/login"))
        user = self.login_result(callback)["user"]
        assert user.pop("access_token") in self.state.bearer_tokens
        assert user == {
            "id": "1001",
            "name": "Alice Liddell",
            "first_name": "Alice",
            "last_name": "Liddell",
            "email": "alice@example.org",
            "link": "https://facebook.example/alice",
            "locale": "en_GB",
            "picture": None,  # asked for, not released by this provider
            "session_expires": "5183944",
        }

    def test_facebook_errors_carry_the_provider_message(self) -> None:
        message = self.auth_error("/facebook/login?code=made-up")
        assert message == (
            f"Facebook token exchange failed: {self.provider}/fb/token answered HTTP 400: "
            "Invalid verification code format."
        )
        assert FB_SECRET not in message
        message = self.auth_error("/facebook/post?proof=bogus")
        assert message.endswith("HTTP 400: Invalid appsecret_proof provided in the API argument")

    def test_facebook_request_adds_appsecret_proof_from_the_settings(self) -> None:
        assert self.login_result("/facebook/post") == {
            "id": "1001_7",
            "path": "me/feed",
            "message": "Hello from dualweb",
        }


# --------------------------------------------------------------------------- WSGI and both modes

NEVER = "http://127.0.0.1:9"  # never contacted: these tests make no provider requests


class PlainOpenId(RequestHandler, OpenIdMixin):
    _OPENID_ENDPOINT = NEVER + "/openid"

    def get(self, action: str) -> None:
        if action == "login":
            self.authenticate_redirect(ax_attrs=self.get_arguments("ax") or ["name"])
        else:
            self.get_authenticated_user()


class PlainTwitter(RequestHandler, TwitterMixin):
    _OAUTH_REQUEST_TOKEN_URL = NEVER + "/oauth/request_token"

    def get(self, action: str) -> None:
        token = {"key": "k", "secret": "s"}
        calls = {
            "authorize_redirect": lambda: self.authorize_redirect("/cb"),
            "authenticate_redirect": lambda: self.authenticate_redirect(),
            "get_authenticated_user": lambda: self.get_authenticated_user(),
            "twitter_request": lambda: self.twitter_request("/x", access_token=token),
        }
        calls[action]()


class PlainGoogle(RequestHandler, GoogleOAuth2Mixin):
    _OAUTH_AUTHORIZE_URL = NEVER + "/google/auth"

    def get(self, action: str) -> None:
        if action == "login":
            self.authorize_redirect(redirect_uri="https://app.example/cb", client_id="cid")
        elif action == "get_authenticated_user":
            self.get_authenticated_user(redirect_uri="https://app.example/cb", code="c")
        else:
            self.oauth2_request(NEVER + "/userinfo", access_token="t")


class PlainFacebook(RequestHandler, FacebookGraphMixin):
    def get(self, action: str) -> None:
        if action == "get_authenticated_user":
            self.get_authenticated_user("https://app.example/cb", "id", "secret", "code")
        else:
            self.facebook_request("/me", access_token="t")


def plain_app() -> Application:
    return Application(
        [
            (r"/openid/(\w+)", PlainOpenId),
            (r"/twitter/(\w+)", PlainTwitter),
            (r"/google/(\w+)", PlainGoogle),
            (r"/facebook/(\w+)", PlainFacebook),
        ],
        twitter_consumer_key="k",
        twitter_consumer_secret="s",
        google_oauth={"key": "cid", "secret": "cs"},
    )


def test_redirect_only_methods_work_in_both_modes(client_for: Any) -> None:
    client = client_for(plain_app())
    response = client.get("/openid/login?ax=email&ax=language")
    assert response.status == 302
    location = response.headers["Location"]
    assert without_query(location) == NEVER + "/openid"
    args = query(location)
    assert urllib.parse.urlsplit(args["openid.return_to"]).path == "/openid/login"
    assert args["openid.realm"] == urllib.parse.urljoin(args["openid.return_to"], "/")
    assert args["openid.ax.required"] == "email,language"
    assert "openid.ax.type.fullname" not in args

    response = client.get("/google/login")
    assert response.status == 302
    assert response.headers["Location"] == (
        NEVER + "/google/auth?response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
        "&client_id=cid"
    )


def test_unknown_ax_attribute_is_a_clear_error(native_client_for: Any, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR):
        response = native_client_for(plain_app()).get("/openid/login?ax=shoe_size")
    assert response.status == 500
    assert (
        "PlainOpenId.authenticate_redirect: unknown ax_attrs name 'shoe_size'; use any of "
        "'name', 'email', 'language', 'username'"
    ) in caplog.text


REFUSED = [
    ("/openid/verify?openid.mode=id_res", "PlainOpenId.get_authenticated_user"),
    ("/twitter/authorize_redirect", "PlainTwitter.authorize_redirect"),
    ("/twitter/authenticate_redirect", "PlainTwitter.authenticate_redirect"),
    ("/twitter/get_authenticated_user", "PlainTwitter.get_authenticated_user"),
    ("/twitter/twitter_request", "PlainTwitter.twitter_request"),
    ("/google/get_authenticated_user", "PlainGoogle.get_authenticated_user"),
    ("/google/oauth2_request", "PlainGoogle.oauth2_request"),
    ("/facebook/get_authenticated_user", "PlainFacebook.get_authenticated_user"),
    ("/facebook/facebook_request", "PlainFacebook.facebook_request"),
]


@pytest.mark.parametrize(("path", "where"), REFUSED)
def test_network_methods_are_refused_under_wsgi(
    path: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support import make_client

    client = make_client(plain_app(), "wsgi")
    with caplog.at_level(logging.ERROR), warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited" either
        response = client.get(path)
    assert response.status == 500
    assert (
        f"{where} talks to the login provider with AsyncHTTPClient and needs the event loop; "
        "the dualweb.auth mixins need dualweb's native server (app.listen() or HTTPServer) "
        "and are disabled under WSGIAdapter. Serve the login routes with the native server "
        "(for example a small native app for /auth/ behind the same proxy), or call the "
        "provider yourself with the blocking dualweb.httpclient.HTTPClient."
    ) in caplog.text
