"""Third-party login: OpenID 2.0, OAuth 1.0/1.0a and OAuth 2 mixins for request handlers.

Mix one of these classes into a :class:`~dualweb.web.RequestHandler` and
call its methods from the handler's ``async def get``. A login handler
usually does two things:

1. on the first visit, send the browser to the provider
   (``authorize_redirect`` / ``authenticate_redirect``);
2. when the provider sends the browser back, exchange what it brought
   (an OpenID assertion, an OAuth verifier, an OAuth 2 ``code``) for the
   user's identity or an access token (``get_authenticated_user``).

For example, with Google::

    class GoogleLoginHandler(RequestHandler, GoogleOAuth2Mixin):
        async def get(self):
            if self.get_argument("code", False):
                token = await self.get_authenticated_user(
                    redirect_uri="https://example.com/auth/google",
                    code=self.get_argument("code"),
                )
                user = await self.oauth2_request(
                    "https://www.googleapis.com/oauth2/v1/userinfo",
                    access_token=token["access_token"],
                )
                self.set_signed_cookie("user", user["email"])
                self.redirect("/")
            else:
                self.authorize_redirect(
                    redirect_uri="https://example.com/auth/google",
                    client_id=self.get_google_oauth_settings()["key"],
                    scope=["profile", "email"],
                    response_type="code",
                    extra_params={"approval_prompt": "auto"},
                )

The provider's URLs are class attributes (``_OAUTH_AUTHORIZE_URL``,
``_OAUTH_ACCESS_TOKEN_URL``, ``_OPENID_ENDPOINT``, ...), so a subclass can
point a mixin at another provider, or at a fake one in tests.

The methods that talk to the provider over the network use
:class:`~dualweb.httpclient.AsyncHTTPClient` and need dualweb's native
server: under :class:`~dualweb.wsgi.WSGIAdapter` calling them raises
:class:`~dualweb.connection.AsyncUnavailableError` at once. The two methods
that only redirect the browser (``OpenIdMixin.authenticate_redirect`` and
``OAuth2Mixin.authorize_redirect``) work in both modes.

When the provider answers with an error status, or with something that is
not the expected answer, these methods raise :class:`AuthError` carrying the
provider's own message (e.g. an OAuth 2 ``error_description``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from dualweb import escape
from dualweb.connection import AsyncUnavailableError
from dualweb.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse
from dualweb.httputil import url_concat

if TYPE_CHECKING:
    from dualweb.web import RequestHandler as _HandlerBase
else:
    _HandlerBase = object

__all__ = [
    "AuthError",
    "FacebookGraphMixin",
    "GoogleOAuth2Mixin",
    "OAuth2Mixin",
    "OAuthMixin",
    "OpenIdMixin",
    "TwitterMixin",
]

_OPENID_NS = "http://specs.openid.net/auth/2.0"
_OPENID_SELECT = "http://specs.openid.net/auth/2.0/identifier_select"
_AX_NS = "http://openid.net/srv/ax/1.0"
_AX = "http://axschema.org/"
# OpenID attribute-exchange names the mixin can request, and their type URIs.
_AX_TYPES = {
    "firstname": _AX + "namePerson/first",
    "fullname": _AX + "namePerson",
    "lastname": _AX + "namePerson/last",
    "email": _AX + "contact/email",
    "language": _AX + "pref/language",
    "username": _AX + "namePerson/friendly",
}
_REQUEST_TOKEN_COOKIE = "_oauth_request_token"
_MESSAGE_LIMIT = 300


class AuthError(Exception):
    """Third-party login failed: the provider refused, or answered something unusable.

    The message names the step that failed and includes the provider's own
    explanation when it gave one. When the failure was an HTTP error, the
    :class:`~dualweb.httpclient.HTTPClientError` is chained as
    ``__cause__``.
    """


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _needs_event_loop(
    method: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Awaitable[_R]]:
    """Make the mixin method ``method`` refuse at call time when the request runs under WSGI.

    Checking when the coroutine is created (rather than when it first runs)
    gives a plain ``def`` handler the precise error below instead of a
    coroutine that nothing can await.
    """

    @functools.wraps(method)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> Awaitable[_R]:
        handler = cast("_AuthBase", args[0])
        connection = handler.request.connection
        if connection is None or not connection.supports_async:
            raise AsyncUnavailableError.for_feature(
                f"{type(handler).__name__}.{method.__name__}",
                "talks to the login provider with AsyncHTTPClient and needs the event loop",
                "the dualweb.auth mixins",
                "Serve the login routes with the native server (for example a small native "
                "app for /auth/ behind the same proxy), or call the provider yourself with "
                "the blocking dualweb.httpclient.HTTPClient.",
            )
        return method(*args, **kwargs)

    return checked


class _AuthBase(_HandlerBase):
    """What every mixin shares: the HTTP client and error-checked fetches."""

    def get_auth_http_client(self) -> AsyncHTTPClient:
        """Return the client used to talk to the provider (the loop's shared ``AsyncHTTPClient``).

        Override to use another client, e.g. one with a proxy configured.
        """
        return AsyncHTTPClient()

    async def _auth_fetch(
        self, http_client: AsyncHTTPClient | None, step: str, url: str, **kwargs: Any
    ) -> HTTPResponse:
        """Fetch ``url``; turn an error answer or a failed connection into :class:`AuthError`."""
        client = http_client if http_client is not None else self.get_auth_http_client()
        # Query strings may carry secrets (client_secret, signatures): keep them out of errors.
        where = url.partition("?")[0]
        try:
            response = await client.fetch(url, raise_error=False, **kwargs)
        except (HTTPClientError, OSError) as exc:
            raise AuthError(f"{step} failed: could not reach {where}: {exc}") from exc
        if response.error is not None:
            raise AuthError(
                f"{step} failed: {where} answered HTTP {response.code}: "
                f"{_provider_message(response)}"
            ) from response.error
        return response

    async def _auth_fetch_json(
        self, http_client: AsyncHTTPClient | None, step: str, url: str, **kwargs: Any
    ) -> Any:
        response = await self._auth_fetch(http_client, step, url, **kwargs)
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise AuthError(
                f"{step} failed: {url.partition('?')[0]} did not answer JSON: "
                f"{_excerpt(response.body)}"
            ) from exc


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "..."


def _provider_message(response: HTTPResponse) -> str:
    """The provider's explanation of an error answer, in the shapes providers use."""
    try:
        data = json.loads(response.body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        description = data.get("error_description")
        if isinstance(error, str) and isinstance(description, str):
            return f"{error}: {description}"  # RFC 6749 section 5.2
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])  # Facebook's Graph API
        errors = data.get("errors")
        if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
            return "; ".join(str(e.get("message", e)) for e in errors)  # Twitter
        if isinstance(error, str):
            return error
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return _excerpt(response.body) or response.reason


# ---------------------------------------------------------------- OpenID 2.0


class OpenIdMixin(_AuthBase):
    """OpenID 2.0 login with attribute exchange (AX), for a provider at ``_OPENID_ENDPOINT``.

    Set the class attribute ``_OPENID_ENDPOINT`` to the provider's endpoint
    URL. Call :meth:`authenticate_redirect` to send the user there, and
    :meth:`get_authenticated_user` in the handler the provider returns to
    (its request carries ``openid.mode``).
    """

    _OPENID_ENDPOINT: str

    def authenticate_redirect(
        self,
        callback_uri: str | None = None,
        ax_attrs: Iterable[str] = ("name", "email", "language", "username"),
    ) -> None:
        """Redirect the browser to the provider to authenticate the user.

        ``callback_uri`` is where the provider sends the user back (relative
        to this request's URL; this request's URI by default). ``ax_attrs``
        lists the attributes to ask for: ``"name"``, ``"email"``,
        ``"language"``, ``"username"``. Works under WSGI too (no network).

        Raises:
            ValueError: an unknown name in ``ax_attrs``.
        """
        callback_uri = callback_uri or self.request.uri
        args = self._openid_args(callback_uri, ax_attrs=ax_attrs)
        self.redirect(url_concat(self._openid_endpoint(), args))

    @_needs_event_loop
    async def get_authenticated_user(
        self, http_client: AsyncHTTPClient | None = None
    ) -> dict[str, Any]:
        """Verify the provider's assertion in this request and return the user.

        Sends the request's ``openid.*`` arguments back to the provider with
        ``openid.mode=check_authentication``. The returned dict has the
        attributes the provider released, among ``name``, ``first_name``,
        ``last_name``, ``email``, ``locale`` (lower case), ``username``, and
        ``claimed_id``.

        Raises:
            AuthError: the provider did not confirm the assertion, or could
                not be reached.
            AsyncUnavailableError: called under ``WSGIAdapter``.
        """
        args = {name: values[-1] for name, values in self.request.arguments.items()}
        args["openid.mode"] = b"check_authentication"
        response = await self._auth_fetch(
            http_client,
            "OpenID check_authentication",
            self._openid_endpoint(),
            method="POST",
            body=urllib.parse.urlencode(args),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return self._on_authentication_verified(response)

    def _openid_endpoint(self) -> str:
        endpoint = getattr(self, "_OPENID_ENDPOINT", None)
        if not endpoint:
            raise TypeError(
                f"{type(self).__name__} uses OpenIdMixin but does not set _OPENID_ENDPOINT; "
                "set it to the provider's OpenID endpoint URL as a class attribute"
            )
        return str(endpoint)

    def _openid_args(
        self,
        callback_uri: str,
        ax_attrs: Iterable[str] = (),
        oauth_scope: str | None = None,
    ) -> dict[str, str]:
        """The ``openid.*`` arguments of a ``checkid_setup`` request."""
        return_to = urllib.parse.urljoin(self.request.full_url(), callback_uri)
        args = {
            "openid.ns": _OPENID_NS,
            "openid.claimed_id": _OPENID_SELECT,
            "openid.identity": _OPENID_SELECT,
            "openid.return_to": return_to,
            "openid.realm": urllib.parse.urljoin(return_to, "/"),
            "openid.mode": "checkid_setup",
        }
        wanted: list[str] = []
        for attr in ax_attrs:
            if attr not in ("name", "email", "language", "username"):
                raise ValueError(
                    f"{type(self).__name__}.authenticate_redirect: unknown ax_attrs name "
                    f"{attr!r}; use any of 'name', 'email', 'language', 'username'"
                )
            # "name" is not one attribute: providers release full, first and last names.
            names = ["firstname", "fullname", "lastname"] if attr == "name" else [attr]
            wanted.extend(name for name in names if name not in wanted)
        if wanted:
            args["openid.ns.ax"] = _AX_NS
            args["openid.ax.mode"] = "fetch_request"
            for name in wanted:
                args["openid.ax.type." + name] = _AX_TYPES[name]
            args["openid.ax.required"] = ",".join(wanted)
        if oauth_scope:
            args["openid.ns.oauth"] = "http://specs.openid.net/extensions/oauth/1.0"
            args["openid.oauth.consumer"] = self.request.host.split(":")[0]
            args["openid.oauth.scope"] = oauth_scope
        return args

    def _on_authentication_verified(self, response: HTTPResponse) -> dict[str, Any]:
        """Check the provider's ``check_authentication`` answer; build the user dict."""
        # The answer is in key-value form: one "key:value" per line.
        fields = dict(
            line.partition(":")[::2]
            for line in response.body.decode("utf-8", "replace").splitlines()
        )
        if fields.get("is_valid", "").strip() != "true":
            raise AuthError(f"Invalid OpenID response: {_excerpt(response.body)}")
        ax_value = self._ax_reader()
        first = ax_value(_AX_TYPES["firstname"])
        last = ax_value(_AX_TYPES["lastname"])
        full = ax_value(_AX_TYPES["fullname"])
        email = ax_value(_AX_TYPES["email"])
        user: dict[str, Any] = {}
        if first:
            user["first_name"] = first
        if last:
            user["last_name"] = last
        name = full or " ".join(part for part in (first, last) if part)
        if not name and email:
            name = email.split("@")[0]
        if name:
            user["name"] = name
        if email:
            user["email"] = email
        locale = ax_value(_AX_TYPES["language"]).lower()
        if locale:
            user["locale"] = locale
        username = ax_value(_AX_TYPES["username"])
        if username:
            user["username"] = username
        claimed_id = self.get_argument("openid.claimed_id", None)
        if claimed_id:
            user["claimed_id"] = claimed_id
        return user

    def _ax_reader(self) -> Callable[[str], str]:
        """A function from an AX type URI to the value the provider sent ("" if none)."""
        # The provider picks the alias of the AX extension (openid.ns.<alias>).
        arguments = self.request.arguments
        alias = next(
            (
                name[len("openid.ns.") :]
                for name in arguments
                if name.startswith("openid.ns.") and self.get_argument(name) == _AX_NS
            ),
            None,
        )

        def value(type_uri: str) -> str:
            if alias is None:
                return ""
            prefix = f"openid.{alias}.type."
            for name in arguments:
                if name.startswith(prefix) and self.get_argument(name) == type_uri:
                    key = name[len(prefix) :]
                    return self.get_argument(f"openid.{alias}.value.{key}", "")
            return ""

        return value


# ---------------------------------------------------------------- OAuth 1.0 / 1.0a


def _oauth_escape(value: Any) -> str:
    """Percent-encode as RFC 5849 section 3.6 requires (only unreserved characters stay)."""
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return urllib.parse.quote(raw, safe="~")


def _oauth_signature(
    consumer_token: dict[str, Any],
    method: str,
    url: str,
    parameters: dict[str, Any],
    token: dict[str, Any] | None = None,
) -> str:
    """The HMAC-SHA1 signature of a request (RFC 5849 sections 3.4.1 and 3.4.2).

    Query parameters already in ``url`` are signed along with ``parameters``.
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    base_uri = f"{scheme}://{host}{parts.path or '/'}"
    pairs = [(_oauth_escape(k), _oauth_escape(v)) for k, v in parameters.items()]
    pairs += [
        (_oauth_escape(k), _oauth_escape(v))
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ]
    normalized = "&".join(f"{k}={v}" for k, v in sorted(pairs) if k != "oauth_signature")
    base_string = "&".join(_oauth_escape(part) for part in (method.upper(), base_uri, normalized))
    key = _oauth_escape(consumer_token["secret"]) + "&"
    if token:
        key += _oauth_escape(token["secret"])
    digest = hmac.new(key.encode("ascii"), base_string.encode("ascii"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _oauth_parse_response(body: bytes, step: str) -> dict[str, Any]:
    """Read a token answer (``oauth_token=...&oauth_token_secret=...&...``)."""
    fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    if "oauth_token" not in fields or "oauth_token_secret" not in fields:
        raise AuthError(
            f"{step} failed: the answer has no oauth_token/oauth_token_secret: {_excerpt(body)}"
        )
    token: dict[str, Any] = {
        "key": fields.pop("oauth_token")[0],
        "secret": fields.pop("oauth_token_secret")[0],
    }
    token.update((name, values[0]) for name, values in fields.items())
    return token


class OAuthMixin(_AuthBase):
    """OAuth 1.0a (or 1.0) login: request token, user authorization, access token.

    Subclasses set the class attributes ``_OAUTH_REQUEST_TOKEN_URL``,
    ``_OAUTH_ACCESS_TOKEN_URL``, ``_OAUTH_AUTHORIZE_URL``, optionally
    ``_OAUTH_VERSION`` (``"1.0a"`` by default, or ``"1.0"``) and
    ``_OAUTH_NO_CALLBACKS`` (true when the provider takes no callback URL),
    and implement :meth:`_oauth_consumer_token` and
    :meth:`_oauth_get_user_future`. Requests are signed with HMAC-SHA1
    (RFC 5849). Between the two steps the request token is kept in the
    ``_oauth_request_token`` cookie.
    """

    _OAUTH_REQUEST_TOKEN_URL: str
    _OAUTH_ACCESS_TOKEN_URL: str
    _OAUTH_AUTHORIZE_URL: str
    _OAUTH_VERSION = "1.0a"
    _OAUTH_NO_CALLBACKS = False

    @_needs_event_loop
    async def authorize_redirect(
        self,
        callback_uri: str | None = None,
        extra_params: dict[str, Any] | None = None,
        http_client: AsyncHTTPClient | None = None,
    ) -> None:
        """Get a request token and redirect the browser to the provider's authorization page.

        ``callback_uri`` is where the provider sends the user back
        (relative to this request's URL), or ``"oob"`` for out-of-band
        authorization, in which case the authorization URL is written as the
        response instead of redirecting. ``extra_params`` are added to the
        request-token request (OAuth 1.0a only).

        Raises:
            AuthError: the provider refused to issue a request token.
            ValueError: ``callback_uri`` given to a provider with
                ``_OAUTH_NO_CALLBACKS``.
            AsyncUnavailableError: called under ``WSGIAdapter``.
        """
        if callback_uri and self._OAUTH_NO_CALLBACKS:
            raise ValueError(
                f"{type(self).__name__}.authorize_redirect: this provider takes no "
                "callback_uri (_OAUTH_NO_CALLBACKS is set); register the callback with it"
            )
        if self._OAUTH_VERSION == "1.0a":
            url = self._oauth_request_token_url(callback_uri, extra_params)
        else:
            url = self._oauth_request_token_url()
        response = await self._auth_fetch(http_client, "OAuth request token", url)
        self._on_request_token(self._OAUTH_AUTHORIZE_URL, callback_uri, response)

    @_needs_event_loop
    async def get_authenticated_user(
        self, http_client: AsyncHTTPClient | None = None
    ) -> dict[str, Any]:
        """Exchange the authorized request token for an access token; return the user.

        Call it in the handler the provider sends the user back to (its
        request carries ``oauth_token`` and, with OAuth 1.0a,
        ``oauth_verifier``). The user dict comes from
        :meth:`_oauth_get_user_future`, with the access token (a dict with
        ``key`` and ``secret``) added as ``access_token``.

        Raises:
            AuthError: the request-token cookie is missing or does not match,
                the provider refused the exchange, or no user was returned.
            MissingArgumentError: (400) the request has no ``oauth_token``.
            AsyncUnavailableError: called under ``WSGIAdapter``.
        """
        request_key = self.get_argument("oauth_token")
        verifier = self.get_argument("oauth_verifier", None)
        cookie = self.get_cookie(_REQUEST_TOKEN_COOKIE)
        if not cookie:
            raise AuthError("Missing OAuth request token cookie")
        self.clear_cookie(_REQUEST_TOKEN_COOKIE)
        try:
            key, secret = (
                base64.b64decode(part, validate=True).decode("utf-8") for part in cookie.split("|")
            )
        except ValueError as exc:
            raise AuthError("Malformed OAuth request token cookie") from exc
        if key != request_key:
            raise AuthError("Request token does not match cookie")
        request_token: dict[str, Any] = {"key": key, "secret": secret}
        if verifier:
            request_token["verifier"] = verifier
        response = await self._auth_fetch(
            http_client, "OAuth access token", self._oauth_access_token_url(request_token)
        )
        access_token = _oauth_parse_response(response.body, "OAuth access token")
        user = await self._oauth_get_user_future(access_token)
        if not user:
            raise AuthError("Error getting user")
        user["access_token"] = access_token
        return user

    def _oauth_base_args(self, consumer_token: dict[str, Any]) -> dict[str, Any]:
        """The ``oauth_*`` protocol parameters every signed request carries."""
        return {
            "oauth_consumer_key": escape.to_unicode(consumer_token["key"]),
            "oauth_signature_method": "HMAC-SHA1",
            "oauth_timestamp": str(int(time.time())),
            "oauth_nonce": uuid.uuid4().hex,
            "oauth_version": "1.0",
        }

    def _oauth_request_token_url(
        self, callback_uri: str | None = None, extra_params: dict[str, Any] | None = None
    ) -> str:
        """The signed URL that asks the provider for a request token."""
        consumer_token = self._oauth_consumer_token()
        url = self._OAUTH_REQUEST_TOKEN_URL
        args = self._oauth_base_args(consumer_token)
        if self._OAUTH_VERSION == "1.0a":
            if callback_uri == "oob":
                args["oauth_callback"] = "oob"
            elif callback_uri:
                args["oauth_callback"] = urllib.parse.urljoin(
                    self.request.full_url(), callback_uri
                )
            if extra_params:
                args.update(extra_params)
        args["oauth_signature"] = _oauth_signature(consumer_token, "GET", url, args)
        return url_concat(url, {k: str(v) for k, v in args.items()})

    def _on_request_token(
        self, authorize_url: str, callback_uri: str | None, response: HTTPResponse
    ) -> None:
        """Keep the request token in a cookie and send the user to ``authorize_url``."""
        request_token = _oauth_parse_response(response.body, "OAuth request token")
        cookie = "|".join(
            base64.b64encode(request_token[part].encode("utf-8")).decode("ascii")
            for part in ("key", "secret")
        )
        self.set_cookie(_REQUEST_TOKEN_COOKIE, cookie)
        args = {"oauth_token": str(request_token["key"])}
        if callback_uri == "oob":
            self.finish(url_concat(authorize_url, args))
            return
        if callback_uri:
            args["oauth_callback"] = urllib.parse.urljoin(self.request.full_url(), callback_uri)
        self.redirect(url_concat(authorize_url, args))

    def _oauth_access_token_url(self, request_token: dict[str, Any]) -> str:
        """The signed URL that exchanges ``request_token`` for an access token."""
        consumer_token = self._oauth_consumer_token()
        url = self._OAUTH_ACCESS_TOKEN_URL
        args = self._oauth_base_args(consumer_token)
        args["oauth_token"] = escape.to_unicode(request_token["key"])
        if "verifier" in request_token:
            args["oauth_verifier"] = request_token["verifier"]
        args["oauth_signature"] = _oauth_signature(
            consumer_token, "GET", url, args, request_token
        )
        return url_concat(url, {k: str(v) for k, v in args.items()})

    def _oauth_consumer_token(self) -> dict[str, Any]:
        """The application's consumer credentials: ``{"key": ..., "secret": ...}``.

        Subclasses must implement it (usually from the application settings).
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement _oauth_consumer_token() returning "
            '{"key": consumer_key, "secret": consumer_secret}'
        )

    async def _oauth_get_user_future(self, access_token: dict[str, Any]) -> dict[str, Any]:
        """Fetch the user's description with ``access_token``; subclasses must implement it."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement async _oauth_get_user_future(access_token) "
            "returning a dict describing the user"
        )

    def _oauth_request_parameters(
        self,
        url: str,
        access_token: dict[str, Any],
        parameters: dict[str, Any] | None = None,
        method: str = "GET",
    ) -> dict[str, Any]:
        """The ``oauth_*`` parameters (signature included) of a request made with ``access_token``.

        ``parameters`` are the request's own query or form arguments, which
        are signed too; the caller sends them along with the returned dict.
        """
        consumer_token = self._oauth_consumer_token()
        oauth_args = self._oauth_base_args(consumer_token)
        oauth_args["oauth_token"] = escape.to_unicode(access_token["key"])
        signed = {**(parameters or {}), **oauth_args}
        oauth_args["oauth_signature"] = _oauth_signature(
            consumer_token, method, url, signed, access_token
        )
        return oauth_args


class TwitterMixin(OAuthMixin):
    """Login with Twitter (OAuth 1.0a) and calls to its REST API.

    Needs the application settings ``twitter_consumer_key`` and
    ``twitter_consumer_secret``. :meth:`authenticate_redirect` skips the
    authorization page for users who already authorized the application;
    after login, :meth:`twitter_request` calls the API as the user.
    """

    _OAUTH_REQUEST_TOKEN_URL = "https://api.twitter.com/oauth/request_token"
    _OAUTH_ACCESS_TOKEN_URL = "https://api.twitter.com/oauth/access_token"
    _OAUTH_AUTHORIZE_URL = "https://api.twitter.com/oauth/authorize"
    _OAUTH_AUTHENTICATE_URL = "https://api.twitter.com/oauth/authenticate"
    _OAUTH_NO_CALLBACKS = False
    _TWITTER_BASE_URL = "https://api.twitter.com/1.1"

    @_needs_event_loop
    async def authenticate_redirect(self, callback_uri: str | None = None) -> None:
        """Like :meth:`authorize_redirect`, through Twitter's "Sign in with Twitter" page.

        Raises:
            AuthError: Twitter refused to issue a request token.
            AsyncUnavailableError: called under ``WSGIAdapter``.
        """
        response = await self._auth_fetch(
            None,
            "Twitter request token",
            self._oauth_request_token_url(callback_uri=callback_uri),
        )
        self._on_request_token(self._OAUTH_AUTHENTICATE_URL, None, response)

    @_needs_event_loop
    async def twitter_request(
        self,
        path: str,
        access_token: dict[str, Any],
        post_args: dict[str, Any] | None = None,
        **args: Any,
    ) -> Any:
        """Call the Twitter API as the user; return the decoded JSON answer.

        ``path`` is relative to ``_TWITTER_BASE_URL`` without the ``.json``
        suffix (``"/statuses/update"``), or a full ``http(s)://`` URL.
        ``access_token`` is the dict from :meth:`get_authenticated_user`.
        With ``post_args`` the request is a form POST; ``args`` become query
        arguments. The request is signed with the user's token.

        Raises:
            AuthError: Twitter answered with an error (its message included).
            AsyncUnavailableError: called under ``WSGIAdapter``.
        """
        if path.startswith(("http:", "https:")):
            url = path
        else:
            url = self._TWITTER_BASE_URL + path + ".json"
        if access_token:
            method = "POST" if post_args is not None else "GET"
            signed = {**args, **(post_args or {})}
            args.update(self._oauth_request_parameters(url, access_token, signed, method))
        if args:
            url = url_concat(url, {k: str(v) for k, v in args.items()})
        step = f"Twitter request {path}"
        if post_args is not None:
            return await self._auth_fetch_json(
                None, step, url, method="POST", body=urllib.parse.urlencode(post_args)
            )
        return await self._auth_fetch_json(None, step, url)

    def _oauth_consumer_token(self) -> dict[str, Any]:
        self.require_setting("twitter_consumer_key", "Twitter OAuth")
        self.require_setting("twitter_consumer_secret", "Twitter OAuth")
        return {
            "key": self.settings["twitter_consumer_key"],
            "secret": self.settings["twitter_consumer_secret"],
        }

    async def _oauth_get_user_future(self, access_token: dict[str, Any]) -> dict[str, Any]:
        user: dict[str, Any] = await self.twitter_request(
            "/account/verify_credentials", access_token=access_token
        )
        if user:
            user["username"] = user.get("screen_name")
        return user


# ---------------------------------------------------------------- OAuth 2


class OAuth2Mixin(_AuthBase):
    """OAuth 2 authorization-code login (RFC 6749) and calls with a bearer access token.

    Subclasses set ``_OAUTH_AUTHORIZE_URL`` and ``_OAUTH_ACCESS_TOKEN_URL``
    and add the provider's token exchange (see :class:`GoogleOAuth2Mixin`
    and :class:`FacebookGraphMixin`).
    """

    _OAUTH_AUTHORIZE_URL: str
    _OAUTH_ACCESS_TOKEN_URL: str

    def authorize_redirect(
        self,
        redirect_uri: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        extra_params: dict[str, Any] | None = None,
        scope: list[str] | None = None,
        response_type: str = "code",
    ) -> None:
        """Redirect the browser to the provider's authorization page.

        The provider sends the user back to ``redirect_uri`` with a ``code``
        argument, to be exchanged for a token (e.g. with
        :meth:`GoogleOAuth2Mixin.get_authenticated_user`). ``scope`` is a
        list of scope names; ``extra_params`` are added to the URL.
        ``client_secret`` is accepted for compatibility and never sent to the
        browser. Works under WSGI too (no network).
        """
        args: dict[str, str] = {"response_type": response_type}
        if redirect_uri is not None:
            args["redirect_uri"] = redirect_uri
        if client_id is not None:
            args["client_id"] = client_id
        if extra_params:
            args.update((k, str(v)) for k, v in extra_params.items())
        if scope:
            args["scope"] = " ".join(scope)
        self.redirect(url_concat(self._OAUTH_AUTHORIZE_URL, args))

    def _oauth_request_token_url(
        self,
        redirect_uri: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        code: str | None = None,
        extra_params: dict[str, Any] | None = None,
    ) -> str:
        """The token endpoint URL with the exchange's arguments in its query."""
        args = {
            name: value
            for name, value in (
                ("redirect_uri", redirect_uri),
                ("code", code),
                ("client_id", client_id),
                ("client_secret", client_secret),
            )
            if value is not None
        }
        if extra_params:
            args.update((k, str(v)) for k, v in extra_params.items())
        return url_concat(self._OAUTH_ACCESS_TOKEN_URL, args)

    @_needs_event_loop
    async def oauth2_request(
        self,
        url: str,
        access_token: str | None = None,
        post_args: dict[str, Any] | None = None,
        **args: Any,
    ) -> Any:
        """Call a provider API at ``url``; return the decoded JSON answer.

        ``access_token`` is sent as the ``access_token`` query argument,
        with ``args``. With ``post_args`` the request is a form POST.

        Raises:
            AuthError: the provider answered with an error (its message
                included) or not with JSON.
            AsyncUnavailableError: called under ``WSGIAdapter``.
        """
        query: dict[str, str] = {}
        if access_token:
            query["access_token"] = access_token
        query.update((k, str(v)) for k, v in args.items())
        if query:
            url = url_concat(url, query)
        step = f"OAuth2 request to {url.partition('?')[0]}"
        if post_args is not None:
            return await self._auth_fetch_json(
                None, step, url, method="POST", body=urllib.parse.urlencode(post_args)
            )
        return await self._auth_fetch_json(None, step, url)


class GoogleOAuth2Mixin(OAuth2Mixin):
    """Login with Google (OAuth 2).

    Register the application with Google and put its credentials in the
    application settings as ``google_oauth={"key": CLIENT_ID, "secret":
    CLIENT_SECRET}`` (the key is ``_OAUTH_SETTINGS_KEY``). After
    :meth:`get_authenticated_user`, fetch the profile with
    ``oauth2_request(self._OAUTH_USERINFO_URL, access_token=...)``.
    """

    _OAUTH_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
    _OAUTH_ACCESS_TOKEN_URL = "https://www.googleapis.com/oauth2/v4/token"
    _OAUTH_USERINFO_URL = "https://www.googleapis.com/oauth2/v1/userinfo"
    _OAUTH_NO_CALLBACKS = False
    _OAUTH_SETTINGS_KEY = "google_oauth"

    def get_google_oauth_settings(self) -> dict[str, str]:
        """The application's Google credentials: the ``google_oauth`` setting (``key``, ``secret``).

        Override to take them from elsewhere.

        Raises:
            Exception: the setting is missing (the message names the handler).
        """
        self.require_setting(self._OAUTH_SETTINGS_KEY, "Google OAuth2")
        settings: dict[str, str] = self.settings[self._OAUTH_SETTINGS_KEY]
        return settings

    @_needs_event_loop
    async def get_authenticated_user(
        self,
        redirect_uri: str,
        code: str,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> dict[str, Any]:
        """Exchange the ``code`` Google sent back for tokens; return Google's token answer.

        The dict has ``access_token`` (and ``expires_in``, ``id_token``,
        ...). ``client_id`` and ``client_secret`` default to the
        ``google_oauth`` setting's ``key`` and ``secret``.

        Raises:
            AuthError: Google refused the code (its ``error_description``
                included).
            AsyncUnavailableError: called under ``WSGIAdapter``.
        """
        if client_id is None or client_secret is None:
            settings = self.get_google_oauth_settings()
            client_id = settings["key"] if client_id is None else client_id
            client_secret = settings["secret"] if client_secret is None else client_secret
        body = urllib.parse.urlencode(
            {
                "redirect_uri": redirect_uri,
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "authorization_code",
            }
        )
        token: dict[str, Any] = await self._auth_fetch_json(
            None,
            "Google token exchange",
            self._OAUTH_ACCESS_TOKEN_URL,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=body,
        )
        return token


class FacebookGraphMixin(OAuth2Mixin):
    """Login with Facebook (OAuth 2) and calls to the Graph API."""

    _OAUTH_ACCESS_TOKEN_URL = "https://graph.facebook.com/oauth/access_token"
    _OAUTH_AUTHORIZE_URL = "https://www.facebook.com/dialog/oauth"
    _OAUTH_NO_CALLBACKS = False
    _FACEBOOK_BASE_URL = "https://graph.facebook.com"

    @_needs_event_loop
    async def get_authenticated_user(
        self,
        redirect_uri: str,
        client_id: str,
        client_secret: str,
        code: str,
        extra_fields: Iterable[str] | None = None,
    ) -> dict[str, Any] | None:
        """Exchange ``code`` for an access token and return the user's profile.

        The dict has the fields ``id``, ``name``, ``first_name``,
        ``last_name``, ``locale``, ``picture``, ``link`` and any
        ``extra_fields`` (``None`` when Facebook did not send one), plus
        ``access_token`` and ``session_expires``. The profile request
        carries ``appsecret_proof``. Returns ``None`` if Facebook returned
        no profile.

        Raises:
            AuthError: Facebook refused the code or the profile request (its
                message included).
            AsyncUnavailableError: called under ``WSGIAdapter``.
        """
        url = self._oauth_request_token_url(
            redirect_uri=redirect_uri, client_id=client_id, client_secret=client_secret, code=code
        )
        session = await self._auth_fetch_json(None, "Facebook token exchange", url)
        if not isinstance(session, dict) or not session.get("access_token"):
            raise AuthError(f"Facebook token exchange failed: no access_token in {session!r}")
        access_token = str(session["access_token"])
        fields = {"id", "name", "first_name", "last_name", "locale", "picture", "link"}
        fields.update(extra_fields or ())
        user = await self.facebook_request(
            "/me",
            access_token=access_token,
            appsecret_proof=_appsecret_proof(client_secret, access_token),
            fields=",".join(sorted(fields)),
        )
        if user is None:
            return None
        profile = {field: user.get(field) for field in fields}
        profile["access_token"] = access_token
        profile["session_expires"] = str(session.get("expires_in"))
        return profile

    @_needs_event_loop
    async def facebook_request(
        self,
        path: str,
        access_token: str | None = None,
        post_args: dict[str, Any] | None = None,
        **args: Any,
    ) -> Any:
        """Call the Graph API at ``path`` (e.g. ``"/me/feed"``); return the decoded JSON answer.

        With ``post_args`` the request is a form POST; ``args`` become query
        arguments. When an ``access_token`` is given, no
        ``appsecret_proof`` argument is, and the ``facebook_secret``
        application setting is set, the request is signed with
        ``appsecret_proof`` (HMAC-SHA256 of the token with the app secret),
        as apps with "Require App Secret" need.

        Raises:
            AuthError: Facebook answered with an error (its message included).
            AsyncUnavailableError: called under ``WSGIAdapter``.
        """
        secret = self.settings.get("facebook_secret")
        if access_token and secret and "appsecret_proof" not in args:
            args["appsecret_proof"] = _appsecret_proof(str(secret), access_token)
        return await self.oauth2_request(
            self._FACEBOOK_BASE_URL + path, access_token=access_token, post_args=post_args, **args
        )


def _appsecret_proof(app_secret: str, access_token: str) -> str:
    """Facebook's ``appsecret_proof``: hex HMAC-SHA256 of the token keyed by the app secret."""
    return hmac.new(
        app_secret.encode("utf-8"), access_token.encode("utf-8"), hashlib.sha256
    ).hexdigest()
