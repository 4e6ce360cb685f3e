"""The locale of a request: ``RequestHandler.locale`` and how it is chosen.

:class:`LocaleMixin` is part of :class:`~dualweb.web.RequestHandler`. The
locale comes from :meth:`~LocaleMixin.get_user_locale` (override it to use a
user's saved preference) or else from the ``Accept-Language`` header, and is
one of the locales loaded with :func:`dualweb.locale.load_translations` or
:func:`dualweb.locale.load_gettext_translations` (the default locale when none
of the requested ones is loaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest
    from dualweb.locale import Locale

__all__ = ["LocaleMixin", "accept_language_codes"]

def accept_language_codes(header: str) -> list[str]:
    """Return the language tags of an ``Accept-Language`` header value, preferred first.

    Tags are ranked by their ``q`` parameter (1 when absent), ties keeping the
    header's order. Tags with ``q=0`` are left out, and so are tags whose
    ``q`` is not a valid quality value (``q=abc``, ``q=2``, ``q=-1``): a
    client's malformed header never fails the request.
    """
    ranked: list[tuple[float, str]] = []
    for item in header.split(","):
        tag, *params = (part.strip() for part in item.split(";"))
        if not tag:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = _quality(value)
        if quality > 0:
            ranked.append((quality, tag))
    # sort() is stable, so equal qualities keep the client's order.
    ranked.sort(key=lambda pair: pair[0], reverse=True)
    return [tag for _, tag in ranked]


def _quality(value: str) -> float:
    """The number of a ``q=`` parameter; 0 (the tag is dropped) unless it is within 0..1."""
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    # NaN fails both comparisons.
    return quality if 0.0 <= quality <= 1.0 else 0.0


class LocaleMixin:
    """``locale``, ``get_user_locale`` and ``get_browser_locale`` for a handler."""

    # No slots of its own: Python allows only one base of RequestHandler to
    # add instance slots, and UserMixin declares ``_locale``.
    __slots__ = ()

    request: HTTPServerRequest
    _locale: Locale

    @property
    def locale(self) -> Locale:
        """The :class:`~dualweb.locale.Locale` of this request.

        :meth:`get_user_locale` if it returns a locale, else
        :meth:`get_browser_locale`. Computed once per request; may be
        assigned, e.g. from an ``async`` ``prepare()`` that loads the user's
        settings.
        """
        try:
            return self._locale
        except AttributeError:
            chosen = self.get_user_locale()
            # The slot lives on UserMixin (see __slots__ above).
            self._locale = (  # type: ignore[misc]
                chosen if chosen is not None else self.get_browser_locale()
            )
            return self._locale

    @locale.setter
    def locale(self, value: Locale) -> None:
        self._locale = value  # type: ignore[misc]

    def get_user_locale(self) -> Locale | None:
        """Override to choose the locale from the user's own settings.

        Return ``None`` (the default) to use :meth:`get_browser_locale`, e.g.::

            def get_user_locale(self):
                if self.current_user and self.current_user.get("locale"):
                    return dualweb.locale.get(self.current_user["locale"])
                return None
        """
        return None

    def get_browser_locale(self, default: str = "en_US") -> Locale:
        """Return the loaded locale that best matches the ``Accept-Language`` header.

        Languages are tried in the order of their ``q`` values (see
        :func:`accept_language_codes`; malformed values are ignored). Without
        the header, returns the locale closest to ``default``; when no
        requested language is loaded, the default locale (see
        :func:`dualweb.locale.set_default_locale`).
        """
        # dualweb.locale (gettext, csv) loads when a handler first uses .locale.
        from dualweb import locale as _locale_module

        header = self.request.headers.get("Accept-Language")
        codes = accept_language_codes(header) if header else []
        return _locale_module.get(*codes) if codes else _locale_module.get(default)
