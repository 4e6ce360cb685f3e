"""Cross-site request forgery protection for :class:`~dualweb.web.RequestHandler`.

With the ``xsrf_cookies`` application setting, every request whose method is
not GET, HEAD or OPTIONS must prove it came from a page of this site: it
carries a token (the ``_xsrf`` form argument, or an ``X-XSRFToken`` /
``X-CSRFToken`` header) that matches the ``_xsrf`` cookie. A foreign site can
make the browser send the cookie but cannot read it, so it cannot produce the
token. Templates include the token with ``{% module xsrf_form_html() %}`` (or
``{{ xsrf_form_html() }}``).

Token formats are Tornado's, so cookies and forms keep working across a port:

* **version 2** (what we send): ``2|<mask hex>|<masked token hex>|<timestamp>``.
  The 16 random token bytes are XORed with a fresh 4-byte mask on every
  request, so the token on a page changes each time (this defeats BREACH-style
  compression attacks) while it still identifies the same secret.
* **version 1** (accepted): the raw token in hex, with no mask or timestamp.
"""

from __future__ import annotations

import binascii
import os
import time
from typing import TYPE_CHECKING, Any, Protocol, cast

from dualweb.escape import xhtml_escape
from dualweb.web.errors import HTTPError

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest

__all__ = ["XSRFMixin"]

_TOKEN_BYTES = 16
_MASK_BYTES = 4
_MISSING = "'_xsrf' argument missing from POST"
_INVALID = "'_xsrf' argument has invalid format"
_MISMATCH = "XSRF cookie does not match POST argument"

# (version, token, timestamp); all None when the text is not a usable token.
_Decoded = tuple[int | None, bytes | None, float | None]


class _XSRFHost(Protocol):
    """What the XSRF code uses from the rest of RequestHandler."""

    @property
    def current_user(self) -> Any: ...

    def get_cookie(self, name: str, default: str | None = None) -> str | None: ...

    def set_cookie(self, name: str, value: str | bytes, **kwargs: Any) -> None: ...

    def get_argument(self, name: str, default: None, strip: bool = True) -> str | None: ...


def _mask(mask: bytes, data: bytes) -> bytes:
    """XOR ``data`` with ``mask`` repeated (masking and unmasking are the same operation)."""
    size = len(data)
    repeated = (mask * (size // len(mask) + 1))[:size]
    mixed = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return mixed.to_bytes(size, "big")


def _unhex(text: str) -> bytes | None:
    try:
        return binascii.a2b_hex(text)
    except (binascii.Error, ValueError):
        return None


def decode_xsrf_token(text: str) -> _Decoded:
    """Parse an XSRF cookie or submitted token into ``(version, token, timestamp)``.

    Version 2 values are unmasked; anything else without a version prefix is
    a version 1 token (hex, or taken literally if it is not hex) dated now.
    Unknown versions and malformed version 2 values give ``(None, None,
    None)``; this never raises.
    """
    head, sep, _ = text.partition("|")
    if not (sep and head.isascii() and head.isdigit() and not head.startswith("0")):
        raw = _unhex(text)
        token = raw if raw is not None else text.encode("utf-8", "surrogateescape")
        return 1, token, float(int(time.time()))
    if head != "2":
        return None, None, None
    parts = text.split("|")
    if len(parts) != 4 or not (parts[3].isascii() and parts[3].isdigit()):
        return None, None, None
    mask = _unhex(parts[1])
    masked = _unhex(parts[2])
    if mask is None or masked is None or len(mask) != _MASK_BYTES or not masked:
        return None, None, None
    return 2, _mask(mask, masked), float(parts[3])


class XSRFMixin:
    """XSRF tokens and their check (part of ``RequestHandler``)."""

    __slots__ = ()

    request: HTTPServerRequest
    # Cached per request; typed Any because they are created lazily.
    _xsrf_token: Any
    _raw_xsrf_token: Any

    if TYPE_CHECKING:

        @property
        def settings(self) -> dict[str, Any]: ...

    @property
    def _xsrf_host(self) -> _XSRFHost:
        return cast("_XSRFHost", self)

    @property
    def xsrf_token(self) -> bytes:
        """The XSRF token for this request, to be sent back with forms and AJAX requests.

        Reading it sets the XSRF cookie (named by the ``xsrf_cookie_name``
        setting, ``"_xsrf"`` by default, with the keyword arguments of
        ``set_cookie`` from the ``xsrf_cookie_kwargs`` setting) if the client
        does not have a valid one yet; when a user is logged in the cookie
        lasts 30 days unless ``xsrf_cookie_kwargs`` says otherwise. The token
        is masked differently on every request (version 2 format), or is the
        plain hex token when the ``xsrf_cookie_version`` setting is 1.

        Raises:
            ValueError: the ``xsrf_cookie_version`` setting is not 1 or 2.
        """
        try:
            return cast(bytes, self._xsrf_token)
        except AttributeError:
            pass
        version, token, timestamp = self._get_raw_xsrf_token()
        output_version = self.settings.get("xsrf_cookie_version", 2)
        if output_version == 1:
            xsrf_token = binascii.b2a_hex(token)
        elif output_version == 2:
            mask = os.urandom(_MASK_BYTES)
            xsrf_token = b"|".join(
                [
                    b"2",
                    binascii.b2a_hex(mask),
                    binascii.b2a_hex(_mask(mask, token)),
                    str(int(timestamp)).encode("ascii"),
                ]
            )
        else:
            raise ValueError(
                f"{type(self).__name__}: unknown xsrf_cookie_version setting "
                f"{output_version!r}; use 2 (the default) or 1"
            )
        self._xsrf_token = xsrf_token
        if version is None:
            self._set_xsrf_cookie(xsrf_token)
        return xsrf_token

    def _set_xsrf_cookie(self, xsrf_token: bytes) -> None:
        host = self._xsrf_host
        # Copied: the setting is shared by every request of the application.
        cookie_kwargs = dict(self.settings.get("xsrf_cookie_kwargs") or {})
        if "expires_days" not in cookie_kwargs and host.current_user:
            cookie_kwargs["expires_days"] = 30
        cookie_name = self.settings.get("xsrf_cookie_name", "_xsrf")
        host.set_cookie(cookie_name, xsrf_token, **cookie_kwargs)

    def _get_raw_xsrf_token(self) -> tuple[int | None, bytes, float]:
        """Return ``(version, token, timestamp)`` from the XSRF cookie, or a new token.

        ``version`` is ``None`` when the client had no usable cookie and a
        fresh random token was made (the caller then sets the cookie).
        """
        try:
            return cast("tuple[int | None, bytes, float]", self._raw_xsrf_token)
        except AttributeError:
            pass
        cookie_name = self.settings.get("xsrf_cookie_name", "_xsrf")
        cookie = self._xsrf_host.get_cookie(cookie_name)
        version, token, timestamp = decode_xsrf_token(cookie) if cookie else (None, None, None)
        if token is None or timestamp is None:
            raw: tuple[int | None, bytes, float] = (None, os.urandom(_TOKEN_BYTES), time.time())
        else:
            raw = (version, token, timestamp)
        self._raw_xsrf_token = raw
        return raw

    def check_xsrf_cookie(self) -> None:
        """Raise ``HTTPError(403)`` unless the request carries the right XSRF token.

        The token is read from the ``_xsrf`` argument (query or form body),
        else from the ``X-XSRFToken`` or ``X-CSRFToken`` header, and must match
        the XSRF cookie. ``RequestHandler`` calls this before ``prepare()`` for
        every method except GET, HEAD and OPTIONS when the ``xsrf_cookies``
        setting is on; override it to change or skip the check.

        Raises:
            HTTPError: 403. The client sees the standard ``403 Forbidden``; the
                cause ("'_xsrf' argument missing from POST", "'_xsrf' argument
                has invalid format" or "XSRF cookie does not match POST
                argument") is the error's log message, logged at WARNING on
                ``dualweb.general``, as in Tornado.
        """
        host = self._xsrf_host
        headers = self.request.headers
        submitted = (
            host.get_argument("_xsrf", None)
            or headers.get("X-Xsrftoken")
            or headers.get("X-Csrftoken")
        )
        if not submitted:
            raise HTTPError(403, _MISSING)
        _, token, _ = decode_xsrf_token(submitted)
        _, expected, _ = self._get_raw_xsrf_token()
        if not token:
            raise HTTPError(403, _INVALID)
        import hmac  # only where a form is checked; it initialises OpenSSL

        if not hmac.compare_digest(token, expected):
            raise HTTPError(403, _MISMATCH)

    def xsrf_form_html(self) -> str:
        """Return a hidden ``<input>`` named ``_xsrf`` holding :attr:`xsrf_token`.

        Put it in every form that POSTs to this application, e.g.
        ``{% module xsrf_form_html() %}`` in a template. Like reading
        :attr:`xsrf_token`, it sets the XSRF cookie when needed.
        """
        return (
            '<input type="hidden" name="_xsrf" value="'
            + xhtml_escape(self.xsrf_token)
            + '"/>'
        )
