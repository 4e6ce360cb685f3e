"""OpenID 2.0 login with attribute exchange: :class:`OpenIdMixin`."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from dualweb.auth.common import AuthError, AuthMixinBase, excerpt, needs_event_loop
from dualweb.httpclient import AsyncHTTPClient, HTTPResponse
from dualweb.httputil import url_concat

__all__ = ["OpenIdMixin"]

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


class OpenIdMixin(AuthMixinBase):
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

    @needs_event_loop
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
            raise AuthError(f"Invalid OpenID response: {excerpt(response.body)}")
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
