"""Ready-made handlers: RedirectHandler, ErrorHandler and FallbackHandler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from dualweb.httputil import HTTPServerRequest
from dualweb.web.errors import HTTPError
from dualweb.web.handler import RequestHandler

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
        query_arguments = self.request.query_arguments
        if query_arguments:
            # Values stay bytes so non-UTF-8 input is forwarded exactly as received.
            pairs = [(k, v) for k, values in query_arguments.items() for v in values]
            parts = urlsplit(to_url)
            extra = urlencode(pairs)
            query = parts.query + "&" + extra if parts.query else extra
            to_url = urlunsplit(parts._replace(query=query))
        self.redirect(to_url, permanent=self._permanent)


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
