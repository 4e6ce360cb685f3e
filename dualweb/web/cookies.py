"""Cookies and signed ("secure") cookies for :class:`~dualweb.web.RequestHandler`.

:class:`CookieMixin` is part of ``RequestHandler``. It reads the cookies the
client sent (``request.cookies``) and prepares ``Set-Cookie`` headers: every
``set_cookie``/``clear_cookie`` call stores one header value in
``self._new_cookies`` (``None`` until the first) keyed by cookie name (a
later call for the same name replaces the earlier one), and the handler
emits them when it writes its headers, so ``clear()`` and error pages keep
them. The header text is built by :func:`werkzeug.http.dump_cookie`; the
names, arguments and semantics are Tornado's.

Signed cookies use :mod:`dualweb.web.signing` with the application's
``cookie_secret`` setting (a key, or a dict of key versions together with the
``key_version`` setting for rotation).
"""

from __future__ import annotations

import datetime
import re
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from http.cookies import Morsel

    from dualweb.httputil import HTTPServerRequest
    from dualweb.web.signing import SecretType

__all__ = ["CookieMixin"]

# Characters http.cookies accepts in a cookie name (an RFC 6265 token plus
# ":"), so every name we emit parses back on the client and on our server.
_VALID_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~:]+")
# Tornado's rule for values: no whitespace or control characters. Anything
# else is quoted by dump_cookie if needed.
_INVALID_VALUE = re.compile(r"[\x00-\x20\x7f]")
# An attribute value with any of these could end the attribute early and
# smuggle in another one (e.g. "; Domain=evil.example").
_INVALID_ATTRIBUTE = re.compile(r"[\x00-\x20;\x7f]")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
# Deprecated **kwargs of set_cookie (Morsel attribute names, any case), mapped
# to dump_cookie arguments. "comment" and "version" are obsolete attributes
# that browsers ignore, so they are accepted and dropped.
_LEGACY_ATTRIBUTES = {
    "domain": "domain",
    "path": "path",
    "expires": "expires",
    "max-age": "max_age",
    "max_age": "max_age",
    "secure": "secure",
    "httponly": "httponly",
    "samesite": "samesite",
    "partitioned": "partitioned",
    "comment": None,
    "version": None,
}
_CLEAR_EXPIRES_AGO = datetime.timedelta(days=365)
_MAX_SHOWN = 40


def _shorten(value: str) -> str:
    return repr(value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "...")


def _expires_value(expires: object) -> datetime.datetime | float:
    if isinstance(expires, datetime.datetime):
        return expires
    if isinstance(expires, (int, float)):
        return float(expires)
    if isinstance(expires, (tuple, time.struct_time)):
        import calendar  # rarely needed, and it imports locale

        return float(calendar.timegm(expires))
    raise TypeError(
        f"set_cookie: expires must be a timestamp, a time tuple or a datetime, not {expires!r}"
    )


class CookieMixin:
    """Reading and setting plain and signed cookies (part of ``RequestHandler``)."""

    __slots__ = ()

    request: HTTPServerRequest
    _new_cookies: dict[str, str] | None

    if TYPE_CHECKING:

        @property
        def settings(self) -> dict[str, Any]: ...

        def require_setting(self, name: str, feature: str = "this feature") -> None: ...

    # ------------------------------------------------------------------ reading

    @property
    def cookies(self) -> dict[str, Morsel[str]]:
        """The cookies the client sent, as ``name`` → :class:`http.cookies.Morsel`.

        An alias for ``self.request.cookies``. A malformed ``Cookie`` header
        never raises: unparsable pieces are skipped.
        """
        cookies: dict[str, Morsel[str]] = self.request.cookies
        return cookies

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        """Return the value of the cookie ``name`` the client sent, or ``default``.

        Cookies set during this request with :meth:`set_cookie` are not visible
        here; they reach the server with the next request.
        """
        morsel = self.request.cookies.get(name)
        return default if morsel is None else morsel.value

    # ------------------------------------------------------------------ setting

    def set_cookie(
        self,
        name: str,
        value: str | bytes,
        domain: str | None = None,
        expires: float | tuple[int, ...] | datetime.datetime | None = None,
        path: str = "/",
        expires_days: float | None = None,
        *,
        max_age: int | None = None,
        httponly: bool = False,
        secure: bool = False,
        samesite: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Send a ``Set-Cookie`` header for cookie ``name`` with the response.

        Args:
            name: the cookie name (letters, digits and ``!#$%&'*+-.^_`|~:``).
            value: the value, ``str`` or UTF-8 ``bytes``; it may not contain
                spaces or control characters (encode such data first, e.g.
                with :func:`dualweb.escape.url_escape` or base64). Other
                characters that cookies cannot carry literally are quoted.
            domain: the ``Domain`` attribute (the cookie is then sent to
                subdomains too).
            expires: when the cookie expires: a Unix timestamp, a
                ``time.gmtime()`` tuple or a ``datetime`` (naive means UTC).
            path: the ``Path`` attribute (``"/"`` by default; falsy omits it).
            expires_days: a convenience for ``expires`` that many days from now
                (ignored when ``expires`` is given).
            max_age: the ``Max-Age`` attribute in seconds.
            httponly: hide the cookie from JavaScript.
            secure: send the cookie over HTTPS only.
            samesite: ``"Strict"``, ``"Lax"`` or ``"None"`` (any case).
            kwargs: deprecated: cookie attributes by their ``Set-Cookie`` name in
                any case (``HttpOnly=True``, ``**{"max-age": 60}``); a
                ``DeprecationWarning`` is issued. ``partitioned=True`` adds the
                ``Partitioned`` attribute (and ``Secure``) without a warning.

        A later ``set_cookie`` or ``clear_cookie`` for the same name in the same
        request replaces this one. Like in Tornado, the new value is not
        visible to :meth:`get_cookie` until the next request.

        Raises:
            ValueError: the name, value or an attribute contains characters a
                cookie cannot carry, or ``samesite`` is not one of the three values.
            TypeError: an unknown keyword argument, or an unsupported ``expires``.
        """
        name_str = name.decode("utf-8") if isinstance(name, bytes) else name
        value_str = value.decode("utf-8") if isinstance(value, bytes) else value
        partitioned = bool(kwargs.pop("partitioned", False))
        if kwargs:
            legacy = self._legacy_cookie_kwargs(name_str, kwargs)
            domain = legacy.get("domain", domain)
            path = legacy.get("path", path)
            expires = legacy.get("expires", expires)
            max_age = legacy.get("max_age", max_age)
            httponly = bool(legacy.get("httponly", httponly))
            secure = bool(legacy.get("secure", secure))
            samesite = legacy.get("samesite", samesite)
            partitioned = bool(legacy.get("partitioned", partitioned))
        self._check_cookie(name_str, value_str, domain=domain, path=path, samesite=samesite)
        if expires_days is not None and not expires:
            expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
                days=expires_days
            )
        header = _set_cookie_header(
            type(self).__name__,
            name_str,
            value_str,
            max_age=None if max_age is None else int(max_age),
            expires=_expires_value(expires) if expires else None,
            path=path or None,
            domain=domain or None,
            secure=secure,
            httponly=httponly,
            samesite=_SAMESITE[samesite.lower()] if samesite else None,
            partitioned=partitioned,
        )
        # The dict is made with the first cookie (most responses set none);
        # getattr also covers a handler whose __init__ has not run yet (a
        # subclass calling set_cookie before super().__init__()).
        cookies = getattr(self, "_new_cookies", None)
        if cookies is None:
            self._new_cookies = {name_str: header}  # type: ignore[misc]
        else:
            cookies[name_str] = header

    def _check_cookie(
        self,
        name: str,
        value: str,
        *,
        domain: str | None,
        path: str | None,
        samesite: str | None,
    ) -> None:
        where = f"{type(self).__name__}.set_cookie"
        if not _VALID_NAME.fullmatch(name):
            raise ValueError(
                f"{where}: invalid cookie name {_shorten(name)}: names may only contain "
                "ASCII letters, digits and !#$%&'*+-.^_`|~:"
            )
        if _INVALID_VALUE.search(value):
            raise ValueError(
                f"{where}: invalid value for cookie {name!r}: {_shorten(value)} contains "
                "whitespace or control characters; encode the value first "
                "(e.g. dualweb.escape.url_escape or base64)"
            )
        for attribute, text in (("domain", domain), ("path", path), ("samesite", samesite)):
            if text and _INVALID_ATTRIBUTE.search(text):
                raise ValueError(
                    f"{where}: invalid {attribute} {_shorten(text)} for cookie {name!r}: "
                    "attributes may not contain whitespace, ';' or control characters"
                )
        if samesite and samesite.lower() not in _SAMESITE:
            raise ValueError(
                f"{where}: invalid samesite {samesite!r} for cookie {name!r}: "
                "use 'Strict', 'Lax' or 'None'"
            )

    def _legacy_cookie_kwargs(self, name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        converted: dict[str, Any] = {}
        for key, value in kwargs.items():
            lowered = key.lower()
            if lowered not in _LEGACY_ATTRIBUTES:
                raise TypeError(
                    f"{type(self).__name__}.set_cookie() got an unexpected keyword argument "
                    f"{key!r} for cookie {name!r}; cookie attributes are domain, expires, "
                    "path, expires_days, max_age, httponly, secure, samesite"
                )
            target = _LEGACY_ATTRIBUTES[lowered]
            if target is not None:
                converted[target] = value
        warnings.warn(
            f"Deprecated arguments to set_cookie: {sorted(kwargs)} (use the lowercase "
            "keyword arguments domain, expires, path, max_age, httponly, secure, samesite)",
            DeprecationWarning,
            stacklevel=3,
        )
        return converted

    def clear_cookie(
        self, name: str, path: str = "/", domain: str | None = None, **kwargs: Any
    ) -> None:
        """Delete the cookie ``name`` on the client.

        Sends the cookie with an empty value, an ``Expires`` date in the past
        and ``Max-Age=0``. The browser only deletes it if ``path`` and
        ``domain`` match the ones it was set with; for ``samesite="None"``
        cookies pass the same ``samesite`` and ``secure`` too. Other keyword
        arguments are those of :meth:`set_cookie`.

        Raises:
            TypeError: ``expires`` or ``max_age`` was given (clearing sets them).
        """
        for excluded in ("expires", "max_age", "expires_days"):
            if excluded in kwargs:
                raise TypeError(
                    f"{type(self).__name__}.clear_cookie() got an unexpected keyword "
                    f"argument {excluded!r}: clearing a cookie always expires it now"
                )
        expires = datetime.datetime.now(datetime.timezone.utc) - _CLEAR_EXPIRES_AGO
        self.set_cookie(
            name, "", path=path, domain=domain, expires=expires, max_age=0, **kwargs
        )

    def clear_all_cookies(self, **kwargs: Any) -> None:
        """Delete every cookie the client sent with this request.

        Takes the keyword arguments of :meth:`clear_cookie`. The client does
        not say which ``path``/``domain``/``samesite``/``secure`` each cookie
        was set with, so this only works when the application sets its cookies
        consistently with the values passed here.
        """
        for name in list(self.request.cookies):
            self.clear_cookie(name, **kwargs)

    # ------------------------------------------------------------------ signed cookies

    def _cookie_secret(self) -> SecretType:
        self.require_setting("cookie_secret", "secure cookies")
        secret: SecretType = self.settings["cookie_secret"]
        return secret

    def set_signed_cookie(
        self,
        name: str,
        value: str | bytes,
        expires_days: float | None = 30,
        version: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Sign ``value`` with the ``cookie_secret`` setting and set it as cookie ``name``.

        Read it back with :meth:`get_signed_cookie`. The cookie expires after
        ``expires_days`` (30; ``None`` makes it a session cookie); other
        keyword arguments are those of :meth:`set_cookie`. The value is
        signed, not encrypted: the client can read it but not change it.

        Raises:
            Exception: from ``require_setting`` when ``cookie_secret`` is not set.
            ValueError: ``cookie_secret`` is a dict and the ``key_version``
                setting is missing or not one of its keys.
        """
        self.set_cookie(
            name,
            self.create_signed_value(name, value, version=version),
            expires_days=expires_days,
            **kwargs,
        )

    def create_signed_value(
        self, name: str, value: str | bytes, version: int | None = None
    ) -> bytes:
        """Return ``value`` signed with the ``cookie_secret`` setting, bound to ``name``.

        Use it to hand out signed values other than cookies (e.g. in a URL);
        :meth:`get_signed_cookie` accepts them through its ``value`` argument.

        Raises:
            Exception: from ``require_setting`` when ``cookie_secret`` is not set.
            ValueError: ``cookie_secret`` is a dict and the ``key_version``
                setting is missing or not one of its keys.
        """
        secret = self._cookie_secret()
        key_version: int | None = None
        if not isinstance(secret, (str, bytes)):
            key_version = self.settings.get("key_version")
            if key_version is None or key_version not in secret:
                raise ValueError(
                    f"{type(self).__name__}: the cookie_secret setting is a dict of key "
                    f"versions, so secure cookies need the 'key_version' setting naming the "
                    f"key new cookies are signed with (one of {sorted(secret)!r}); got "
                    f"{key_version!r}"
                )
        # dualweb.web.signing (base64, hmac) loads with the first signed cookie.
        from dualweb.web.signing import create_signed_value

        return create_signed_value(secret, name, value, version=version, key_version=key_version)

    def get_signed_cookie(
        self,
        name: str,
        value: str | None = None,
        max_age_days: float = 31,
        min_version: int | None = None,
    ) -> bytes | None:
        """Return the verified payload of signed cookie ``name`` (bytes), or ``None``.

        ``None`` when the cookie is missing, tampered with, older than
        ``max_age_days``, signed for another name or with an unknown key
        version. Pass ``value`` to check a signed value that did not come in
        a cookie. ``min_version=2`` rejects legacy version 1 values.

        Raises:
            Exception: from ``require_setting`` when ``cookie_secret`` is not set.
        """
        secret = self._cookie_secret()
        if value is None:
            value = self.get_cookie(name)
        from dualweb.web.signing import decode_signed_value  # see create_signed_value

        return decode_signed_value(
            secret, name, value, max_age_days=max_age_days, min_version=min_version
        )

    def get_signed_cookie_key_version(self, name: str, value: str | None = None) -> int | None:
        """Return the key version signed cookie ``name`` (or ``value``) was signed with.

        ``None`` when the cookie is missing or is not a version 2 signed value.
        The signature is not checked; use it after :meth:`get_signed_cookie`
        succeeded to re-sign cookies made with a retired key.

        Raises:
            Exception: from ``require_setting`` when ``cookie_secret`` is not set.
        """
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        if value is None:
            return None
        from dualweb.web.signing import get_signature_key_version  # see create_signed_value

        return get_signature_key_version(value)

    # The names used before Tornado 6.3; they remain the most common in real code.
    get_secure_cookie = get_signed_cookie
    set_secure_cookie = set_signed_cookie
    get_secure_cookie_key_version = get_signed_cookie_key_version


def _set_cookie_header(handler_name: str, name: str, value: str, **attributes: Any) -> str:
    """The ``Set-Cookie`` value for a checked cookie (werkzeug's ``dump_cookie``).

    Raises:
        ValueError: the domain is not a host name IDNA can encode (``a..b``).
    """
    # Imported here: werkzeug's package import costs tens of milliseconds, and
    # many applications never set a cookie.
    from werkzeug.http import dump_cookie

    try:
        # Tornado sends Max-Age alone when only max_age is given (sync_expires=False).
        header: str = dump_cookie(name, value, sync_expires=False, **attributes)
    except UnicodeError as exc:
        # werkzeug IDNA-encodes the domain; "a..b" or an over-long label fails there.
        raise ValueError(
            f"{handler_name}.set_cookie: invalid domain {_shorten(str(attributes['domain']))} "
            f"for cookie {name!r}: not a host name ({exc})"
        ) from None
    return header
