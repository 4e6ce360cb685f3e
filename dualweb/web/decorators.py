"""Decorators for handler methods and classes.

``authenticated``, ``addslash``, ``removeslash`` and ``stream_request_body``
as in Tornado, plus the legacy ``asynchronous``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode, urlsplit

from dualweb.connection import AsyncUnavailableError
from dualweb.web.errors import HTTPError
from dualweb.web.handler import RequestHandler
from dualweb.web.output import browser_authority

__all__ = ["addslash", "asynchronous", "authenticated", "removeslash", "stream_request_body"]

_Method = TypeVar("_Method", bound=Callable[..., Any])
_HandlerClass = TypeVar("_HandlerClass", bound=type[RequestHandler])


def authenticated(method: _Method) -> _Method:
    """Require a logged-in user (``self.current_user``) for a handler method.

    Anonymous GET/HEAD requests are redirected to :meth:`get_login_url` with
    a ``next`` argument holding the requested URL; other methods get
    ``403 Forbidden``. The ``login_url`` setting must be set. ``next`` always
    names this site: a request path a browser would read as another host
    (``//evil.example/x``, ``/\\evil.example/x``) is given with its leading
    slashes collapsed (``/evil.example/x``), so a login page that redirects
    to ``next`` cannot be turned into an open redirect.
    """

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                url = self.get_login_url()
                if "?" not in url:
                    if urlsplit(url).scheme:
                        next_url = self.request.full_url()
                    else:
                        next_url = _same_site(self.request.uri or "/")
                    url += "?" + urlencode({"next": next_url})
                self.redirect(url)
                return None
            raise HTTPError(403)
        return method(self, *args, **kwargs)

    return cast(_Method, wrapper)


# What may precede the first real character of a path a browser reads as a host.
_LEADING_NOISE = "/\\" + "".join(chr(i) for i in range(0x21))


def _same_site(uri: str) -> str:
    """``uri``, or, if a browser would read it as another host, its path on this site."""
    if browser_authority(uri) == ("", ""):
        return uri
    return "/" + uri.lstrip(_LEADING_NOISE)


def _refuse_off_site(path: str) -> None:
    if browser_authority(path) != ("", ""):
        # Tornado answers 403 here too: "//evil.example/" must not become a
        # redirect to another host.
        raise HTTPError(403, "Refusing to redirect %r: a browser would read it as a host", path)


def addslash(method: _Method) -> _Method:
    """Redirect ``/path`` to ``/path/`` (GET/HEAD, permanently, keeping the query); 404 otherwise.

    Use with a route pattern like ``r"/foo/?"``. A path a browser would read
    as another host (``//evil.example``, ``/\\evil.example``) is answered
    ``403 Forbidden`` instead of being redirected, as in Tornado.
    """

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        path = self.request.path
        if not path.endswith("/"):
            if self.request.method in ("GET", "HEAD"):
                uri = path + "/"
                _refuse_off_site(uri)
                if self.request.query:
                    uri += "?" + self.request.query
                self.redirect(uri, permanent=True)
                return None
            raise HTTPError(404)
        return method(self, *args, **kwargs)

    return cast(_Method, wrapper)


def removeslash(method: _Method) -> _Method:
    """Redirect ``/path/`` to ``/path`` (GET/HEAD, permanently, keeping the query); 404 otherwise.

    ``/`` itself is left alone. Use with a route pattern like ``r"/foo/*"``.
    A path a browser would read as another host once stripped
    (``//evil.example/``) is answered ``403 Forbidden``, as in Tornado.
    """

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        path = self.request.path
        if path.endswith("/"):
            if self.request.method in ("GET", "HEAD"):
                stripped = path.rstrip("/")
                _refuse_off_site(stripped)
                if stripped:
                    uri = stripped
                    if self.request.query:
                        uri += "?" + self.request.query
                    self.redirect(uri, permanent=True)
                    return None
            else:
                raise HTTPError(404)
        return method(self, *args, **kwargs)

    return cast(_Method, wrapper)


def stream_request_body(cls: _HandlerClass) -> _HandlerClass:
    """Class decorator: deliver the request body to ``data_received`` as it arrives.

    ``prepare()`` runs once the headers are in (it may be a coroutine; no
    body chunk is delivered before it completes), ``data_received(chunk)``
    for each chunk, and the verb method once the body is complete.
    ``self.request.body`` stays empty. Native server only: under
    ``WSGIAdapter`` requests to such a handler raise ``AsyncUnavailableError``.

    Raises:
        TypeError: ``cls`` is not a RequestHandler subclass.
    """
    if not (isinstance(cls, type) and issubclass(cls, RequestHandler)):
        raise TypeError(f"@stream_request_body expects a RequestHandler subclass, got {cls!r}")
    cls._stream_request_body = True
    return cls


def asynchronous(method: _Method) -> _Method:
    """Legacy (Tornado < 6): keep the request open after the method returns.

    The response ends when the handler calls ``self.finish()`` (for example
    from a callback). If the method returns an awaitable, the request is
    finished when it completes. Prefer ``async def`` methods in new code.
    Native server only: under ``WSGIAdapter`` it raises
    ``AsyncUnavailableError``.
    """

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        connection = self.request.connection
        if connection is None or not connection.supports_async:
            raise AsyncUnavailableError.for_feature(
                f"{type(self).__name__}.{method.__name__}",
                "uses @asynchronous",
                "@asynchronous handlers",
                "Remove @asynchronous and finish the response before the method returns, "
                "or run natively.",
            )
        self._auto_finish = False
        result = method(self, *args, **kwargs)
        if result is not None:
            return _finish_when_done(self, result)
        return None

    wrapper.__dualweb_asynchronous__ = True  # type: ignore[attr-defined]
    return cast(_Method, wrapper)


async def _finish_when_done(handler: RequestHandler, awaitable: Awaitable[Any]) -> None:
    await awaitable
    if not handler._finished:
        handler.finish()
