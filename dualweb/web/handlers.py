"""Ready-made handlers: RedirectHandler, ErrorHandler and FallbackHandler."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from dualweb.httputil import HTTPServerRequest
from dualweb.web.errors import HTTPError
from dualweb.web.handler import RequestHandler
from dualweb.web.output import browser_authority, convert_header_value

__all__ = ["ErrorHandler", "FallbackHandler", "RedirectHandler"]


class ErrorHandler(RequestHandler):
    """Answer every request with ``status_code`` (the application's default 404 handler).

    Use it in a route as ``(r"/gone", ErrorHandler, {"status_code": 410})``.
    """

    def initialize(self, status_code: int) -> None:
        """Remember the status to answer with."""
        self.set_status(status_code)

    def prepare(self) -> None:
        """Raise the configured :class:`HTTPError` for every method."""
        raise HTTPError(self._status_code)

    def check_xsrf_cookie(self) -> None:
        """Skip the XSRF check: an unknown URL answers its error status, not 403."""

    def check_trusted_origin(self, origin: str) -> bool:
        """Trust every origin: an unknown URL answers its error status, not 403."""
        return True


class RedirectHandler(RequestHandler):
    """Redirect every GET to ``url``.

    ``url`` may contain ``str.format`` placeholders filled with the route's
    captured groups (``{0}`` for the first positional group, ``{name}`` for a
    named one); the request's query string is kept::

        (r"/pictures/(.*)", RedirectHandler, {"url": "/photos/{0}"})

    As in Tornado 6.6, the captured groups may not change where the
    redirect goes: the scheme and host are those of the template's text
    before its first placeholder, as a browser reads them. A request that
    would redirect elsewhere (``/r//evil.example/`` with ``"url": "/{0}"``
    gives ``//evil.example/``; so do ``%2F%2F``, ``%5C`` and ``\\`` forms)
    is answered ``400 Bad Request``, as is one whose target would contain
    CR, LF or another control character. So a placeholder cannot stand for
    the scheme or host (``"https://{0}/"`` always answers 400).

    Args:
        url: the target URL (template).
        permanent: answer 301 (the default) rather than 302.
    """

    def initialize(self, url: str, permanent: bool = True) -> None:
        """Remember the target and whether the redirect is permanent."""
        self._url = url
        self._permanent = permanent

    def get(self, *args: Any, **kwargs: Any) -> None:
        """Redirect to the target, keeping the query string."""
        to_url = self._url.format(*args, **kwargs)
        self._check_target(to_url)
        query_arguments = self.request.query_arguments
        if query_arguments:
            # Values stay bytes so non-UTF-8 input is forwarded exactly as received.
            pairs = [(k, v) for k, values in query_arguments.items() for v in values]
            parts = urlsplit(to_url)
            extra = urlencode(pairs)
            query = parts.query + "&" + extra if parts.query else extra
            to_url = urlunsplit(parts._replace(query=query))
            # Checked again: reassembling can change how the URL reads.
            self._check_target(to_url)
        self.redirect(to_url, permanent=self._permanent)

    def _check_target(self, to_url: str) -> None:
        """Refuse (400) a target whose scheme or host came from the request, or unsafe text."""
        if browser_authority(to_url) != _template_authority(self._url):
            raise HTTPError(400, "Redirect target %r would change the scheme or host", to_url)
        try:
            convert_header_value(to_url)
        except ValueError:
            raise HTTPError(400, "Redirect target %r contains unsafe characters", to_url) from None


def _template_authority(template: str) -> tuple[str, str] | None:
    """The scheme and host fixed by the text of ``template`` before its first placeholder.

    ``None`` when a placeholder would supply the host of an ``http(s)`` URL
    (``"https://{0}/"``): then no target is acceptable.
    """
    prefix = ""
    for literal, field, _, _ in string.Formatter().parse(template):
        prefix += literal
        if field is not None:
            scheme, host = browser_authority(prefix)
            return None if scheme in ("http", "https") and not host else (scheme, host)
    return browser_authority(prefix)


class FallbackHandler(RequestHandler):
    """Hand the request to another server callable, such as a ``WSGIContainer``.

    ``(r".*", FallbackHandler, {"fallback": WSGIContainer(flask_app)})`` lets
    dualweb routes and another framework share one server: the fallback
    receives the :class:`~dualweb.httputil.HTTPServerRequest` and writes the
    response through its connection.

    Args:
        fallback: a callable taking the request.
    """

    def initialize(self, fallback: Callable[[HTTPServerRequest], Any]) -> None:
        """Remember the fallback callable."""
        self.fallback = fallback

    def prepare(self) -> None:
        """Call the fallback and end this handler's part of the request."""
        self.fallback(self.request)
        self._finished = True
        self.on_finish()
