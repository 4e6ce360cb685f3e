"""Who the client is: ``current_user``, the login URL and the locale of a handler.

:class:`UserMixin` is part of :class:`~dualweb.web.RequestHandler`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest

__all__ = ["UserMixin"]


class _BasicLocale:
    """The stand-in locale used while :mod:`dualweb.locale` is not available.

    It has the attributes and methods templates and handlers use most
    (``code``, ``name``, ``rtl``, ``translate``); translation returns the
    message unchanged.
    """

    __slots__ = ("code", "name", "rtl")

    def __init__(self, code: str) -> None:
        self.code = code
        self.name = code
        self.rtl = False

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        """Return ``message`` (``plural_message`` when ``count`` is not 1)."""
        if plural_message is not None and count is not None and count != 1:
            return plural_message
        return message

    def __repr__(self) -> str:
        return f"<Locale {self.code}>"


def _locale_for(codes: list[str]) -> Any:
    """Pick the locale for ``codes`` (best first) through :func:`dualweb.locale.get`."""
    try:
        locale_module = importlib.import_module("dualweb.locale")
    except ImportError:
        # Without a locale module no translations can be loaded, so only the
        # default locale is ever supported, as in Tornado before load_translations().
        return _BasicLocale("en_US")
    return locale_module.get(*codes)


def _parse_accept_language(header: str) -> list[str]:
    """Return the language codes of an ``Accept-Language`` value, best first.

    Malformed quality values count as 0 (the language is dropped), never an error.
    """
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        parts = item.strip().split(";")
        code = parts[0].strip()
        if not code:
            continue
        score = 1.0
        if len(parts) > 1:
            param = parts[1].strip()
            if param.startswith("q="):
                try:
                    score = float(param[2:])
                except ValueError:
                    score = 0.0
                if not 0.0 <= score <= 1.0 or score != score:
                    score = 0.0
        if score > 0:
            weighted.append((-score, position, code))
    weighted.sort()
    return [code for _, _, code in weighted]


class UserMixin:
    """``current_user``, ``get_login_url`` and locale detection for a handler."""

    # The one mixin of RequestHandler with slots of its own (Python allows
    # only one base with a non-empty layout); the rest live on RequestHandler.
    __slots__ = ("_current_user", "_locale")

    request: HTTPServerRequest
    _current_user: Any
    _locale: Any

    if TYPE_CHECKING:

        def require_setting(self, name: str, feature: str = "this feature") -> None: ...

        @property
        def settings(self) -> dict[str, Any]: ...

    @property
    def current_user(self) -> Any:
        """The authenticated user of this request, or ``None``.

        Computed by :meth:`get_current_user` on first access and cached for
        the request. It can also be assigned, e.g. from an ``async``
        ``prepare()``::

            async def prepare(self):
                self.current_user = await load_user(self.get_signed_cookie("user"))
        """
        try:
            return self._current_user
        except AttributeError:
            self._current_user = self.get_current_user()
            return self._current_user

    @current_user.setter
    def current_user(self, value: Any) -> None:
        self._current_user = value

    def get_current_user(self) -> Any:
        """Override to determine the current user, e.g. from a signed cookie.

        Returns ``None`` (nobody is logged in) by default. Used by
        :attr:`current_user` and :func:`~dualweb.web.authenticated`.
        """
        return None

    def get_login_url(self) -> str:
        """Return the URL that :func:`~dualweb.web.authenticated` redirects anonymous users to.

        Uses the application's ``login_url`` setting by default.

        Raises:
            Exception: the ``login_url`` setting is missing (the message names
                the handler and the setting).
        """
        self.require_setting("login_url", "@dualweb.web.authenticated")
        return str(self.settings["login_url"])

    def get_user_locale(self) -> Any:
        """Override to choose the locale from the user's preferences.

        Returning ``None`` (the default) falls back to
        :meth:`get_browser_locale`.
        """
        return None

    def get_browser_locale(self, default: str = "en_US") -> Any:
        """Return the locale best matching the request's ``Accept-Language`` header.

        Languages are ranked by their ``q`` values; unparseable entries are
        ignored. Without the header, ``default`` is used.
        """
        header = self.request.headers.get("Accept-Language")
        if header:
            codes = _parse_accept_language(header)
            if codes:
                return _locale_for(codes)
        return _locale_for([default])

    @property
    def locale(self) -> Any:
        """The locale of this request: :meth:`get_user_locale`, else :meth:`get_browser_locale`.

        Computed once per request; may be assigned.
        """
        try:
            return self._locale
        except AttributeError:
            chosen = self.get_user_locale()
            self._locale = chosen if chosen is not None else self.get_browser_locale()
            return self._locale

    @locale.setter
    def locale(self, value: Any) -> None:
        self._locale = value
