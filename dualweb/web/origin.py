"""Cross-origin protection for state-changing requests (the ``cross_origin_protection`` setting).

With the setting on, a POST/PUT/PATCH/DELETE that a browser reports as
coming from another site (``Sec-Fetch-Site``, or an ``Origin`` that differs
from ``Host``) is refused with 403 unless :meth:`OriginMixin.check_trusted_origin`
accepts its origin. Requests without these headers (non-browser clients) pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest

__all__ = ["OriginMixin"]


class OriginMixin:
    """The origin checks of a :class:`~dualweb.web.RequestHandler`."""

    __slots__ = ()

    request: HTTPServerRequest

    if TYPE_CHECKING:

        @property
        def settings(self) -> dict[str, Any]: ...

    def check_trusted_origin(self, origin: str) -> bool:
        """Return whether a cross-origin request from ``origin`` may proceed.

        Called only with the ``cross_origin_protection`` setting, for
        state-changing requests that look cross-origin. The default accepts
        the origins listed in the ``trusted_origins`` setting (e.g.
        ``["https://app.example"]``).
        """
        return origin in self.settings.get("trusted_origins", ())

    def _cross_origin_error(self, check: Callable[[str], bool]) -> str | None:
        """Why the request is refused as cross-origin, or ``None`` if it may proceed."""
        headers = self.request.headers
        site = headers.get("Sec-Fetch-Site")
        if site in ("same-origin", "none"):
            return None
        origin = headers.get("Origin")
        if site is None:
            # An older browser or a non-browser client: judge by Origin, if any.
            if origin is None or self._origin_matches_host(origin) or check(origin):
                return None
            return f"Origin {origin!r} not allowed"
        if origin and check(origin):
            return None
        return f"Sec-Fetch-Site {site} & origin {origin!r} not allowed"

    def _origin_matches_host(self, origin: str) -> bool:
        # Scheme is not compared: behind a TLS-terminating proxy it is unreliable.
        try:
            netloc = urlsplit(origin).netloc.lower()
        except ValueError:
            return False
        return netloc == str(self.request.headers.get("Host", "")).lower()
