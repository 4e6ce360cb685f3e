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
provider's own message (e.g. an OAuth 2 ``error_description``). For an
error status it is an :class:`AuthHTTPError`, also an
:class:`~dualweb.httpclient.HTTPClientError` (with ``code`` and
``response``), so Tornado code that catches ``HTTPClientError`` keeps
working.
"""

from __future__ import annotations

from dualweb.auth.common import AuthError, AuthHTTPError
from dualweb.auth.oauth1 import OAuthMixin, TwitterMixin
from dualweb.auth.oauth2 import FacebookGraphMixin, GoogleOAuth2Mixin, OAuth2Mixin
from dualweb.auth.openid import OpenIdMixin

__all__ = [
    "AuthError",
    "AuthHTTPError",
    "FacebookGraphMixin",
    "GoogleOAuth2Mixin",
    "OAuth2Mixin",
    "OAuthMixin",
    "OpenIdMixin",
    "TwitterMixin",
]
