"""OAuth 2 login (:class:`OAuth2Mixin`), Google and Facebook."""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable
from typing import Any

from dualweb.auth.common import AuthError, AuthMixinBase, needs_event_loop
from dualweb.httputil import url_concat

__all__ = ["FacebookGraphMixin", "GoogleOAuth2Mixin", "OAuth2Mixin"]


class OAuth2Mixin(AuthMixinBase):
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

    @needs_event_loop
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

    @needs_event_loop
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

    @needs_event_loop
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

    @needs_event_loop
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
