"""The :class:`Application`: settings, routing to handlers, and the access log.

An :class:`Application` is what both drivers talk to. The native server
calls :meth:`Application.start_request` (inherited from
:class:`~dualweb.routing.Router`) for each request; the WSGI adapter calls
``application(request)`` with a complete request. Both end in
:meth:`_HandlerDelegate.execute`, which creates the handler and runs its
lifecycle.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
from collections.abc import Awaitable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dualweb.connection import HTTPMessageDelegate, RequestStartLine, ResponseStartLine
from dualweb.log import access_log, app_log
from dualweb.routing import (
    AnyMatches,
    DefaultHostMatches,
    HostMatches,
    ReversibleRouter,
    ReversibleRuleRouter,
    Rule,
)
from dualweb.web.handler import RequestHandler
from dualweb.web.handlers import ErrorHandler
from dualweb.web.transforms import GZipContentEncoding, OutputTransform

if TYPE_CHECKING:
    from dualweb.httpserver import HTTPServer
    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

__all__ = ["Application"]

# Shared by every request without rule or path keyword arguments; only ever unpacked.
_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})
_INFO = logging.INFO
_WARNING = logging.WARNING
_ERROR = logging.ERROR
# logging's own per-level answer cache for the access logger (cleared in
# place by logging whenever levels change), read without a method call.
_ACCESS_LEVELS: dict[int, bool] = getattr(access_log, "_cache", {})


_NOT_WSGI = (
    "is not a WSGI application: serve WSGIAdapter(app) from dualweb.wsgi under a WSGI server "
    "(gunicorn module:wsgi with wsgi = WSGIAdapter(app)), or run it natively under gunicorn "
    "with -k dualweb.gunicorn.Worker"
)


class _ApplicationRouter(ReversibleRuleRouter):
    """The application's rule router: targets may be RequestHandler classes or nested rule lists.

    Args:
        application: the owning application (handlers are created through it).
        rules: the initial rules, as for :meth:`~dualweb.routing.RuleRouter.add_rules`.
    """

    def __init__(self, application: Application, rules: Any = None) -> None:
        self.application = application
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        """Turn a list/tuple target into a nested router of the same application."""
        rule = super().process_rule(rule)
        if isinstance(rule.target, (list, tuple)):
            rule.target = _ApplicationRouter(self.application, rule.target)
        return rule

    def get_target_delegate(
        self, target: Any, request: HTTPServerRequest, **target_params: Any
    ) -> HTTPMessageDelegate | None:
        """Create a handler delegate for RequestHandler classes; defer to the base for the rest."""
        if isinstance(target, type) and issubclass(target, RequestHandler):
            application = self.application
            if type(application).get_handler_delegate is _GET_HANDLER_DELEGATE:
                # Not overridden: build the delegate without the extra call and re-packing.
                if not target_params:  # a literal path without rule kwargs
                    return _HandlerDelegate(application, request, target, None, None, None)
                get = target_params.get
                return _HandlerDelegate(
                    application,
                    request,
                    target,
                    get("target_kwargs"),
                    get("path_args"),
                    get("path_kwargs"),
                )
            return application.get_handler_delegate(request, target, **target_params)
        return super().get_target_delegate(target, request, **target_params)


class Application(ReversibleRouter):
    """A collection of request handlers and settings that make up a web application.

    Args:
        handlers: the routing table: a list of :class:`~dualweb.routing.URLSpec`
            / :class:`~dualweb.routing.Rule` objects or tuples
            ``(pattern, handler_class[, kwargs[, name]])``; tried in order,
            the first match wins.
        default_host: the host whose handlers serve requests without an
            ``X-Real-Ip`` header when added with :meth:`add_handlers`.
        transforms: output transforms (default: gzip when the
            ``compress_response`` setting is on).
        settings: application settings: ``debug``, ``serve_traceback``,
            ``cookie_secret``, ``login_url``, ``xsrf_cookies``,
            ``log_function``, ``default_handler_class``/``default_handler_args``,
            ``compress_response`` (alias ``gzip``), ``static_path``, ...

    ``debug=True`` implies ``autoreload``, ``compiled_template_cache=False``,
    ``static_hash_cache=False`` and ``serve_traceback=True`` unless those are
    set explicitly.

    Run it natively with :meth:`listen`, or under WSGI with
    ``dualweb.wsgi.WSGIAdapter(app)``.
    """

    def __init__(
        self,
        handlers: Any = None,
        default_host: str | None = None,
        transforms: list[type[OutputTransform]] | None = None,
        **settings: Any,
    ) -> None:
        if transforms is None:
            self.transforms: list[type[OutputTransform]] = []
            if settings.get("compress_response") or settings.get("gzip"):
                self.transforms.append(GZipContentEncoding)
        else:
            self.transforms = transforms
        self.default_host = default_host
        self.settings: dict[str, Any] = settings
        self.ui_modules: dict[str, Any] = {}
        self.ui_methods: dict[str, Any] = {}
        if settings.get("debug"):
            settings.setdefault("autoreload", True)
            settings.setdefault("compiled_template_cache", False)
            settings.setdefault("static_hash_cache", False)
            settings.setdefault("serve_traceback", True)
        handlers = list(handlers or [])
        static_rules = self._static_rules()
        self.wildcard_router = _ApplicationRouter(self, static_rules + handlers)
        self._wildcard_rule = Rule(AnyMatches(), self.wildcard_router)
        self.default_router = _ApplicationRouter(self, [self._wildcard_rule])
        if settings.get("autoreload"):
            self._start_autoreload()

    def _static_rules(self) -> list[Any]:
        static_path = self.settings.get("static_path")
        if not static_path:
            return []
        try:
            static = importlib.import_module("dualweb.web.static")
        except ImportError:
            raise RuntimeError(
                "Application: the static_path setting needs dualweb.web.static "
                "(StaticFileHandler), which is not available in this build; remove static_path "
                "or serve static files from a front-end server"
            ) from None
        handler_class = self.settings.get("static_handler_class", static.StaticFileHandler)
        prefix = self.settings.get("static_url_prefix", "/static/")
        args = dict(self.settings.get("static_handler_args", {}))
        args["path"] = static_path
        pattern = prefix.replace("\\", "\\\\").replace(".", "\\.") + "(.*)"
        return [
            (pattern, handler_class, args),
            (r"/(favicon\.ico)", handler_class, args),
            (r"/(robots\.txt)", handler_class, args),
        ]

    @staticmethod
    def _start_autoreload() -> None:
        # dualweb.autoreload is written separately; until it exists, debug
        # mode simply runs without reloading.
        try:
            autoreload = importlib.import_module("dualweb.autoreload")
        except ImportError:
            return
        autoreload.start()

    def listen(
        self,
        port: int,
        address: str | None = None,
        *,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = 128,
        flags: int | None = None,
        reuse_port: bool = False,
        **kwargs: Any,
    ) -> HTTPServer:
        """Serve this application natively on ``port`` and return the ``HTTPServer``.

        Keyword arguments other than the socket options are passed to
        :class:`~dualweb.httpserver.HTTPServer` (``xheaders``, ``ssl_options``,
        ``max_body_size``, ...). The server runs on the current event loop;
        start it with ``asyncio.run(main())`` or ``IOLoop.current().start()``.
        """
        from dualweb.httpserver import HTTPServer

        server = HTTPServer(self, **kwargs)
        server.listen(
            port, address=address, family=family, backlog=backlog, flags=flags,
            reuse_port=reuse_port,
        )
        return server

    def add_handlers(self, host_pattern: str, host_handlers: Any) -> None:
        """Add handlers served only for requests whose host matches ``host_pattern``.

        Host rules are tried in the order they were added, before the
        handlers given to the constructor. ``host_pattern`` is a regular
        expression matched against the whole host name (no port).
        """
        host_matcher = HostMatches(host_pattern)
        rule = Rule(host_matcher, _ApplicationRouter(self, host_handlers))
        self.default_router.rules.insert(-1, rule)
        if self.default_host is not None:
            self.wildcard_router.add_rules(
                [(DefaultHostMatches(self, host_matcher.host_pattern), host_handlers)]
            )

    def add_transform(self, transform_class: type[OutputTransform]) -> None:
        """Add an :class:`OutputTransform` applied to every response."""
        self.transforms.append(transform_class)

    def __call__(self, request: HTTPServerRequest, *wsgi: Any) -> Awaitable[None] | None:
        """Serve a complete request (used by the WSGI adapter and tests).

        Returns ``None`` when it was served synchronously, or an awaitable the
        caller must run (coroutine handlers, natively). Called as a WSGI
        application ``(environ, start_response)``, raises :class:`TypeError`
        saying to wrap it in ``WSGIAdapter`` or use ``dualweb.gunicorn.Worker``.
        """
        if wsgi:
            raise TypeError(f"{type(self).__name__} {_NOT_WSGI}")
        return self.find_handler(request).execute()

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> _HandlerDelegate:
        """Return the handler delegate for ``request``: the first matching route.

        Requests that match no route get ``default_handler_class`` (with
        ``default_handler_args``) when set, else a 404 from :class:`ErrorHandler`.
        """
        rules = self.default_router.rules
        if len(rules) == 1 and rules[0] is self._wildcard_rule:
            # No host-specific handlers: skip the outer "any host" router.
            route = self.wildcard_router.find_handler(request)
        else:
            route = self.default_router.find_handler(request)
        if route is not None:
            return route  # type: ignore[return-value]
        default_class = self.settings.get("default_handler_class")
        if default_class:
            return self.get_handler_delegate(
                request, default_class, self.settings.get("default_handler_args", {})
            )
        return self.get_handler_delegate(request, ErrorHandler, {"status_code": 404})

    def get_handler_delegate(
        self,
        request: HTTPServerRequest,
        target_class: type[RequestHandler],
        target_kwargs: dict[str, Any] | None = None,
        path_args: list[bytes] | None = None,
        path_kwargs: dict[str, bytes] | None = None,
    ) -> _HandlerDelegate:
        """Return the delegate that runs ``target_class`` for ``request``.

        Args:
            request: the request.
            target_class: the :class:`RequestHandler` subclass.
            target_kwargs: keyword arguments for its ``initialize``.
            path_args: positional path arguments (raw bytes) for the verb method.
            path_kwargs: keyword path arguments (raw bytes) for the verb method.
        """
        return _HandlerDelegate(
            self, request, target_class, target_kwargs, path_args, path_kwargs
        )

    def reverse_url(self, name: str, *args: Any) -> str:
        """Return the URL of the route named ``name``, with ``args`` filling its groups.

        Raises:
            KeyError: no route has that name.
        """
        url = self.default_router.reverse_url(name, *args)
        if url is not None:
            return url
        raise KeyError(f"{name} not found in named urls")

    def log_request(self, handler: RequestHandler) -> None:
        """Write the access-log line for a finished request.

        ``200 GET /path (127.0.0.1) 0.52ms`` at INFO for statuses below 400,
        WARNING below 500 and ERROR otherwise, on ``dualweb.access``. The
        ``log_function`` setting replaces this (it is called with the handler).
        """
        settings = self.settings
        if "log_function" in settings:
            settings["log_function"](handler)
            return
        # get_status() unless overridden: the attribute is what it returns.
        if type(handler).get_status is _BASE_GET_STATUS:
            status = handler._status_code
        else:
            status = handler.get_status()
        level = _INFO if status < 400 else _WARNING if status < 500 else _ERROR
        enabled = _ACCESS_LEVELS.get(level)
        if enabled is None:
            enabled = access_log.isEnabledFor(level)
        if not enabled or access_log.disabled:
            return
        request_time = 1000.0 * handler.request.request_time()
        access_log.log(level, "%d %s %.2fms", status, handler._request_summary(), request_time)


class _HandlerDelegate(HTTPMessageDelegate):
    """Collects a request's body and runs one handler class for it."""

    __slots__ = (
        "_task",
        "application",
        "chunks",
        "connection",
        "handler",
        "handler_class",
        "handler_kwargs",
        "path_args",
        "path_kwargs",
        "request",
        "stream_request_body",
    )

    def __init__(
        self,
        application: Application,
        request: HTTPServerRequest,
        handler_class: type[RequestHandler],
        handler_kwargs: dict[str, Any] | None,
        path_args: list[bytes] | None,
        path_kwargs: dict[str, bytes] | None,
    ) -> None:
        self.application = application
        self.connection = request.connection
        self.request = request
        self.handler_class = handler_class
        self.handler_kwargs = handler_kwargs or _NO_KWARGS
        self.path_args = path_args or ()
        self.path_kwargs = path_kwargs or _NO_KWARGS
        self.chunks: list[bytes] | None = []
        self.stream_request_body = handler_class._stream_request_body
        self.handler: RequestHandler | None = None
        self._task: asyncio.Task[None] | None = None

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """Start streaming handlers now (their ``prepare`` runs before the body arrives)."""
        if self.stream_request_body:
            connection = self.connection
            if connection is not None and connection.supports_async:
                self.request._body_future = asyncio.get_running_loop().create_future()  # type: ignore[attr-defined]
            return self.execute()
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Pass a body chunk to a streaming handler, or buffer it."""
        if self.stream_request_body:
            handler = self.handler
            if handler is None or handler._finished:
                return None
            return handler.data_received(chunk)
        if self.chunks is not None:
            self.chunks.append(chunk)
        return None

    def finish(self) -> Awaitable[None] | None:
        """The whole request has arrived: run the handler (or release a streaming one)."""
        if self.stream_request_body:
            body_future = getattr(self.request, "_body_future", None)
            if body_future is not None and not body_future.done():
                body_future.set_result(None)
            return self._task
        if self.chunks:
            self.request.body = b"".join(self.chunks)
        return self.execute()

    def on_connection_close(self) -> None:
        """The client went away before the request was complete."""
        if self.stream_request_body:
            if self.handler is not None:
                self.handler.on_connection_close()
        else:
            self.chunks = None

    def execute(self) -> Awaitable[None] | None:
        """Create the handler and run its lifecycle.

        Returns ``None`` when the request completed synchronously, else the
        awaitable to run (for streaming handlers: the future that gates the
        body until ``prepare`` is done).
        """
        application = self.application
        request = self.request
        handler_kwargs = self.handler_kwargs
        if handler_kwargs:
            handler = self.handler_class(application, request, **handler_kwargs)
        else:
            handler = self.handler_class(application, request)
        self.handler = handler
        transform_classes = application.transforms
        transforms = [t(request) for t in transform_classes] if transform_classes else ()
        if not self.stream_request_body:
            return handler._run(transforms, self.path_args, self.path_kwargs)
        connection = self.connection
        if connection is None or not connection.supports_async:
            # _run reports the unavailable feature through the normal error path.
            return handler._run(transforms, self.path_args, self.path_kwargs)
        prepared = handler._prepared_future = asyncio.get_running_loop().create_future()
        coroutine = handler._run(transforms, self.path_args, self.path_kwargs)
        if coroutine is not None:
            self._task = asyncio.ensure_future(coroutine)
            self._task.add_done_callback(_log_task_error)
        return prepared


_GET_HANDLER_DELEGATE = Application.get_handler_delegate
_BASE_GET_STATUS = RequestHandler.get_status


def _log_task_error(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        app_log.error("Exception in streaming handler", exc_info=task.exception())
