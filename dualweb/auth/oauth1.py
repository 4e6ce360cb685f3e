"""OAuth 1.0a and 1.0 login (:class:`OAuthMixin`) and Twitter (:class:`TwitterMixin`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
import uuid
from typing import Any

from dualweb import escape
from dualweb.auth.common import AuthError, AuthMixinBase, excerpt, needs_event_loop
from dualweb.httpclient import AsyncHTTPClient, HTTPResponse
from dualweb.httputil import url_concat

__all__ = ["OAuthMixin", "TwitterMixin", "oauth_signature"]

_REQUEST_TOKEN_COOKIE = "_oauth_request_token"


def _oauth_escape(value: Any) -> str:
    """Percent-encode as RFC 5849 section 3.6 requires (only unreserved characters stay)."""
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return urllib.parse.quote(raw, safe="~")


def oauth_signature(
    consumer_token: dict[str, Any],
    method: str,
    url: str,
    parameters: dict[str, Any],
    token: dict[str, Any] | None = None,
) -> str:
    """Return the base64 HMAC-SHA1 signature of a request (RFC 5849 sections 3.4.1, 3.4.2).

    ``parameters`` are the request's protocol (``oauth_*``), query and form
    parameters; query parameters already in ``url`` are signed along with
    them, and any ``oauth_signature`` is left out. The key is made of
    ``consumer_token["secret"]`` and, when given, ``token["secret"]``.
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
            f"{step} failed: the answer has no oauth_token/oauth_token_secret: {excerpt(body)}"
        )
    token: dict[str, Any] = {
        "key": fields.pop("oauth_token")[0],
        "secret": fields.pop("oauth_token_secret")[0],
    }
    token.update((name, values[0]) for name, values in fields.items())
    return token


class OAuthMixin(AuthMixinBase):
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

    @needs_event_loop
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

    @needs_event_loop
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
        args["oauth_signature"] = oauth_signature(consumer_token, "GET", url, args)
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
        args["oauth_signature"] = oauth_signature(
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
        oauth_args["oauth_signature"] = oauth_signature(
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

    @needs_event_loop
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

    @needs_event_loop
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
