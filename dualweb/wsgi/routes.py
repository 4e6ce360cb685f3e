"""Route inspection for :class:`~dualweb.wsgi.WSGIAdapter`: which routes need the native server.

At construction the adapter walks the application's routers and lists
every route whose handler uses a feature that needs an event loop
(coroutines, ``@asynchronous``, ``@stream_request_body``, WebSockets, ...);
those routes answer 500 under WSGI, so the adapter warns once (or, with
``strict=True``, raises) naming each of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from dualweb.log import gen_log
from dualweb.routing import (
    DefaultHostMatches,
    HostMatches,
    Matcher,
    PathMatches,
    Router,
    RuleRouter,
)
from dualweb.web.handler import RequestHandler, async_feature_reasons

__all__ = ["AsyncRouteInfo", "AsyncRoutesWarning", "async_routes_message", "collect_async_routes"]


class AsyncRoutesWarning(UserWarning):
    """Issued by :class:`~dualweb.wsgi.WSGIAdapter` when some routes need dualweb's native server.

    The message lists every such route and why; those routes answer 500 under
    WSGI. Pass ``strict=True`` to the adapter to make this an error instead.
    """


class AsyncRouteInfo(NamedTuple):
    """One route that cannot run under WSGI, as returned by ``WSGIAdapter.async_routes()``.

    ``pattern`` is the route's path pattern (prefixed with its host pattern
    for host-specific routes), ``handler`` the handler class name and
    ``reasons`` the async features it uses.
    """

    pattern: str
    handler: str
    reasons: tuple[str, ...]


def collect_async_routes(application: Any) -> tuple[AsyncRouteInfo, ...]:
    """Walk every router of ``application`` and list the handlers that need async.

    ``application`` is usually an :class:`~dualweb.web.Application`; anything
    else that is not a :class:`~dualweb.routing.Router` has no routes to inspect.
    """
    if not isinstance(application, Router):
        return ()
    found: list[AsyncRouteInfo] = []
    seen: set[tuple[str, str]] = set()
    for pattern, handler_class in _iter_routes(_root_router(application), "", set()):
        reasons = _async_reasons(handler_class)
        key = (pattern, handler_class.__name__)
        if reasons and key not in seen:
            seen.add(key)
            found.append(AsyncRouteInfo(pattern, handler_class.__name__, reasons))
    return tuple(found)


def _root_router(router: Router) -> Router:
    # An Application routes through its default_router (host rules, then the
    # wildcard router); a plain router is its own root.
    from dualweb.web.application import Application

    if isinstance(router, Application):
        return router.default_router
    return router


def _iter_routes(router: Router, prefix: str, visited: set[int]) -> Iterator[tuple[str, type]]:
    """Yield ``(pattern, handler_class)`` for every rule, descending into nested routers."""
    if id(router) in visited or not isinstance(router, RuleRouter):
        return
    visited.add(id(router))
    for rule in router.rules:
        pattern = _combine(prefix, _describe_matcher(rule.matcher))
        target = rule.target
        if isinstance(target, type):
            yield pattern, target
        elif isinstance(target, Router):
            yield from _iter_routes(_root_router(target), pattern, visited)


def _describe_matcher(matcher: Matcher) -> str:
    if isinstance(matcher, PathMatches):
        text = matcher.regex.pattern
        return text[:-1] if text.endswith("$") else text
    if isinstance(matcher, (HostMatches, DefaultHostMatches)):
        text = matcher.host_pattern.pattern
        return "host " + (text[:-1] if text.endswith("$") else text)
    return ""


def _combine(prefix: str, part: str) -> str:
    if not prefix:
        return part
    if not part:
        return prefix
    return f"{prefix} {part}"


def _async_reasons(handler_class: type) -> tuple[str, ...]:
    if not issubclass(handler_class, RequestHandler):
        return ()
    try:
        return tuple(async_feature_reasons(handler_class))
    except Exception:
        gen_log.warning("Could not inspect %s for async features", handler_class, exc_info=True)
        return ()


def async_routes_message(routes: tuple[AsyncRouteInfo, ...], strict: bool) -> str:
    """The warning (or, ``strict``, error) text listing ``routes``."""
    lines = [
        f"{len(routes)} route(s) use features that need dualweb's native server "
        "(app.listen() or HTTPServer) and "
        + ("cannot run" if strict else "will answer 500")
        + " under WSGIAdapter:"
    ]
    for route in routes:
        lines.append(f"  {route.pattern or '(any)'} -> {route.handler}: {'; '.join(route.reasons)}")
    lines.append(
        "Make these handlers plain def (no coroutines or async features), or run natively."
    )
    return "\n".join(lines)
