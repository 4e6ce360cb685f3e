"""What the dualweb.auth mixins share: :class:`AuthError`, the WSGI guard, checked fetches."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from dualweb.connection import AsyncUnavailableError
from dualweb.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse
from dualweb.web.handler import RequestHandler

if TYPE_CHECKING:
    _HandlerBase = RequestHandler
else:
    _HandlerBase = object

__all__ = [
    "AuthError",
    "AuthHTTPError",
    "AuthMixinBase",
    "excerpt",
    "needs_event_loop",
    "provider_message",
]

_MESSAGE_LIMIT = 300


class AuthError(Exception):
    """Third-party login failed: the provider refused, or answered something unusable.

    The message names the step that failed and includes the provider's own
    explanation when it gave one. When the provider answered with an HTTP
    error status (or could not be reached: code 599), the exception raised
    is an :class:`AuthHTTPError`, which is also an
    :class:`~dualweb.httpclient.HTTPClientError`.
    """


class AuthHTTPError(AuthError, HTTPClientError):
    """The provider answered with an HTTP error (or could not be reached, code 599).

    Both an :class:`AuthError` (its message carries the provider's
    explanation) and an :class:`~dualweb.httpclient.HTTPClientError` with
    ``code``, ``message`` and ``response``, so handlers written for Tornado,
    which catch ``HTTPClientError`` around ``twitter_request`` and friends,
    keep working.
    """

    def __init__(self, text: str, error: HTTPClientError) -> None:
        HTTPClientError.__init__(self, error.code, error.message, error.response)
        self.text = text

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


_P = ParamSpec("_P")
_R = TypeVar("_R")


def needs_event_loop(
    method: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Awaitable[_R]]:
    """Decorate an ``async def`` mixin method that needs the event loop (it talks to a provider).

    Natively the decorated method returns its coroutine as usual. When the
    request runs under ``WSGIAdapter`` the call itself raises
    :class:`~dualweb.connection.AsyncUnavailableError` naming the handler
    and the method. Checking at call time (rather than when the coroutine
    first runs) gives a plain ``def`` handler that precise error instead of
    a coroutine that nothing can await.
    """

    @functools.wraps(method)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> Awaitable[_R]:
        handler = cast("AuthMixinBase", args[0])
        connection = handler.request.connection
        if connection is None or not connection.supports_async:
            raise AsyncUnavailableError.for_feature(
                f"{type(handler).__name__}.{method.__name__}",
                "talks to the login provider with AsyncHTTPClient and needs the event loop",
                "the dualweb.auth mixins",
                "Serve the login routes with the native server (for example a small native "
                "app for /auth/ behind the same proxy), or call the provider yourself with "
                "the blocking dualweb.httpclient.HTTPClient.",
            )
        return method(*args, **kwargs)

    # Found by AuthMixinBase.__init_subclass__, for WSGIAdapter's route inspection.
    checked.__dualweb_needs_loop__ = True  # type: ignore[attr-defined]
    return checked


class AuthMixinBase(_HandlerBase):
    """Base of every auth mixin: the HTTP client it uses and error-checked fetches.

    Every mixin class (not the handlers that inherit one) declares, as its
    ``_native_only_feature``, which of its methods need the event loop, so
    that ``WSGIAdapter`` lists the routes of handlers using it.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if issubclass(cls, RequestHandler):
            return  # a handler using a mixin: the mixin's declaration is found in its MRO
        methods = sorted(
            name
            for name in dir(cls)
            if getattr(getattr(cls, name, None), "__dualweb_needs_loop__", False)
        )
        if methods:
            cls._native_only_feature = (
                f"{{handler}} inherits {cls.__name__} (a dualweb.auth mixin): its calls to the "
                f"login provider ({', '.join(methods)}) need the event loop"
            )

    def get_auth_http_client(self) -> AsyncHTTPClient:
        """Return the client used to talk to the provider (the loop's shared ``AsyncHTTPClient``).

        Override to use another client, e.g. one with a proxy configured.
        """
        return AsyncHTTPClient()

    async def _auth_fetch(
        self, http_client: AsyncHTTPClient | None, step: str, url: str, **kwargs: Any
    ) -> HTTPResponse:
        """Fetch ``url``; turn an error answer or a failed connection into :class:`AuthError`."""
        client = http_client if http_client is not None else self.get_auth_http_client()
        # Query strings may carry secrets (client_secret, signatures): keep them out of errors.
        where = url.partition("?")[0]
        try:
            response = await client.fetch(url, raise_error=False, **kwargs)
        except HTTPClientError as exc:
            raise AuthHTTPError(f"{step} failed: could not reach {where}: {exc}", exc) from exc
        except OSError as exc:
            raise AuthError(f"{step} failed: could not reach {where}: {exc}") from exc
        error = response.error
        if isinstance(error, HTTPClientError):
            text = f"{step} failed: {where} answered HTTP {response.code}: "
            raise AuthHTTPError(text + provider_message(response), error) from error
        if error is not None:
            raise AuthError(f"{step} failed: {where}: {error}") from error
        return response

    async def _auth_fetch_json(
        self, http_client: AsyncHTTPClient | None, step: str, url: str, **kwargs: Any
    ) -> Any:
        response = await self._auth_fetch(http_client, step, url, **kwargs)
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise AuthError(
                f"{step} failed: {url.partition('?')[0]} did not answer JSON: "
                f"{excerpt(response.body)}"
            ) from exc


def excerpt(body: bytes) -> str:
    """``body`` as text for an error message, shortened to a few hundred characters."""
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "..."


def provider_message(response: HTTPResponse) -> str:
    """The provider's explanation of an error answer, read from the shapes providers use.

    OAuth 2's ``error`` and ``error_description`` (RFC 6749), Facebook's and
    Google's ``{"error": {"message": ...}}``, Twitter's ``{"errors":
    [{"message": ...}]}``, a bare ``message``; otherwise the start of the
    body, or the reason phrase when the body is empty.
    """
    try:
        data = json.loads(response.body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        description = data.get("error_description")
        if isinstance(error, str) and isinstance(description, str):
            return f"{error}: {description}"  # RFC 6749 section 5.2
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])  # Facebook's Graph API
        errors = data.get("errors")
        if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
            return "; ".join(str(e.get("message", e)) for e in errors)  # Twitter
        if isinstance(error, str):
            return error
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return excerpt(response.body) or response.reason
