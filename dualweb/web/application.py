"""The :class:`Application`: settings, routing to handlers, and the access log.

An :class:`Application` is what every driver talks to, in one way: it calls
:meth:`Application.start_request` for each request and feeds the delegate it
returns (``headers_received`` → ``data_received`` (per chunk) → ``finish``). That
delegate (:class:`_ApplicationIntake`) is the core's
:class:`~dualweb.intake.RequestIntake`: it builds the request, decodes the
body if asked, routes with :meth:`Application.find_handler`, and hands the
message to the :class:`~dualweb.web.delegate.HandlerDelegate` found, which
runs the handler's lifecycle.

The fast path for plain ``def`` handlers lives behind that protocol, not in
the drivers: the intake routes to the handler class without making a
``HandlerDelegate``, and ``finish`` runs the whole handler synchronously and
returns ``None`` (no task, no coroutine); see :class:`_ApplicationIntake`.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from dualweb.connection import (
    HTTPConnection,
    HTTPMessageDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from dualweb.httputil import HTTPServerRequest
from dualweb.intake import RequestIntake
from dualweb.log import access_log
from dualweb.routing import (
    AnyMatches,
    DefaultHostMatches,
    HostMatches,
    ReversibleRouter,
    ReversibleRuleRouter,
    Rule,
)
from dualweb.web.delegate import HandlerDelegate
from dualweb.web.handler import RequestHandler, run_handler
from dualweb.web.handlers import ErrorHandler
from dualweb.web.transforms import GZipContentEncoding, OutputTransform
from dualweb.web.ui import load_ui_methods, load_ui_modules

if TYPE_CHECKING:
    from dualweb.headers import HTTPHeaders
    from dualweb.httpserver import HTTPServer

__all__ = ["Application"]

_new_object = object.__new__
# Class methods bound once: looking one up on the class makes a bound method per call.
_request_from_start_line = HTTPServerRequest.from_start_line
_NO_KWARGS: dict[str, Any] = {}  # only ever unpacked
_INFO = logging.INFO
_WARNING = logging.WARNING
_ERROR = logging.ERROR


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
                    return HandlerDelegate(application, request, target, None, None, None)
                get = target_params.get
                return HandlerDelegate(
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
        self.ui_modules: dict[str, Any] = load_ui_modules(settings.get("ui_modules"))
        self.ui_methods: dict[str, Any] = load_ui_methods(settings.get("ui_methods"))
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
        # Whether the intake may route with the router's find_route (see
        # _ApplicationIntake): not when a subclass changes how routing works.
        cls = type(self)
        self._routes_plainly = (
            cls.find_handler is _FIND_HANDLER and cls.get_handler_delegate is _GET_HANDLER_DELEGATE
        )
        if settings.get("autoreload"):
            self._start_autoreload()

    def _static_rules(self) -> list[Any]:
        static_path = self.settings.get("static_path")
        if not static_path:
            return []
        handler_class = self.settings.get("static_handler_class")
        if handler_class is None:
            # Loaded only by applications that serve static files (import time).
            from dualweb.web.static import StaticFileHandler

            handler_class = StaticFileHandler
        prefix = self.settings.get("static_url_prefix", "/static/")
        args = dict(self.settings.get("static_handler_args", {}))
        args["path"] = static_path
        return [
            (re.escape(prefix) + "(.*)", handler_class, args),
            (r"/(favicon\.ico)", handler_class, args),
            (r"/(robots\.txt)", handler_class, args),
        ]

    @staticmethod
    def _start_autoreload() -> None:
        # Imported here: autoreload runs on the event loop (native server only),
        # and the web layer imports the async toolkit only where it needs it.
        from dualweb import autoreload

        # Per event loop and idempotent: from __init__ it covers a loop started
        # later with IOLoop.current().start(); from listen() the loop
        # asyncio.run() created after the application was built.
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

        if self.settings.get("autoreload"):
            self._start_autoreload()
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

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return the delegate that receives the next request on ``request_conn``.

        The one entry of every driver into the core (see the module docstring).
        """
        # The intake's fields set here rather than in an __init__: one Python
        # call fewer on every request (see _ApplicationIntake).
        intake: _ApplicationIntake = _new_object(_ApplicationIntake)
        intake.application = self
        intake.server_conn = server_conn
        intake.request_conn = request_conn
        intake.request = None
        intake.delegate = None
        intake.handler_class = None
        return intake

    def __call__(self, request: HTTPServerRequest, *wsgi: Any) -> Awaitable[None] | None:
        """Serve a request whose body is already in ``request.body`` (Tornado's API, tests).

        Drivers do not use this; they go through :meth:`start_request`.
        Returns ``None`` when it was served synchronously, or an awaitable the
        caller must run (coroutine handlers, natively). Called as a WSGI
        application ``(environ, start_response)``, raises :class:`TypeError`
        saying to wrap it in ``WSGIAdapter`` or use ``dualweb.gunicorn.Worker``.
        """
        if wsgi:
            raise TypeError(f"{type(self).__name__} {_NOT_WSGI}")
        return self.find_handler(request).execute()

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> HandlerDelegate:
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
    ) -> HandlerDelegate:
        """Return the delegate that runs ``target_class`` for ``request``.

        Args:
            request: the request.
            target_class: the :class:`RequestHandler` subclass.
            target_kwargs: keyword arguments for its ``initialize``.
            path_args: positional path arguments (raw bytes) for the verb method.
            path_kwargs: keyword path arguments (raw bytes) for the verb method.
        """
        return HandlerDelegate(self, request, target_class, target_kwargs, path_args, path_kwargs)

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
        status = handler.get_status()
        level = _INFO if status < 400 else _WARNING if status < 500 else _ERROR
        if not access_log.isEnabledFor(level):
            return
        request_time = 1000.0 * handler.request.request_time()
        access_log.log(level, "%d %s %.2fms", status, handler._request_summary(), request_time)


class _ApplicationIntake(RequestIntake):
    """What :meth:`Application.start_request` returns: the core's intake, routed by the app.

    The plain-handler fast path lives here, behind the delegate protocol.
    When the application routes the standard way (``find_handler`` and
    ``get_handler_delegate`` not overridden, no host-specific rules),
    ``headers_received`` asks the router only for the matching rule
    (:meth:`~dualweb.routing.RuleRouter.find_route`); if its target is a
    handler class that does not stream its body, no
    :class:`~dualweb.web.delegate.HandlerDelegate` is made: the intake keeps
    the class and the path arguments, buffers any body itself, and ``finish``
    runs the handler with :func:`~dualweb.web.handler.run_handler` (the
    whole lifecycle of a plain ``def`` handler, synchronously, returning
    ``None``: no task, no coroutine). Everything else (an overridden routing
    hook, host rules, no matching rule, a nested router, a callable, a
    streaming handler) takes the general path: :meth:`Application.find_handler`
    and the inherited :class:`~dualweb.intake.RequestIntake` behaviour.
    ``tests/test_seam.py`` and ``tests/test_core_fastpath.py`` run the same
    requests through both.
    """

    __slots__ = ("application", "captured", "chunks", "handler_class", "target_kwargs")

    # Built by Application.start_request, which sets application, server_conn,
    # request_conn, request, delegate and handler_class; the fast path sets the rest.
    application: Application
    #: The routed handler class on the fast path (then ``delegate`` is None).
    handler_class: type[RequestHandler] | None
    #: What the rule captured (see :meth:`~dualweb.routing.RuleRouter.find_route`).
    captured: tuple[str | None, ...] | dict[str, Any] | None
    #: The rule's keyword arguments for ``initialize``.
    target_kwargs: dict[str, Any]
    #: The body chunks received on the fast path (``None``: none yet).
    chunks: list[bytes] | None

    def route(self, request: HTTPServerRequest) -> HTTPMessageDelegate:
        """The handler delegate :meth:`Application.find_handler` picks."""
        return self.application.find_handler(request)

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """Build and route the request (fast path: keep a plain handler class, no delegate)."""
        if type(start_line) is not RequestStartLine:
            return super().headers_received(start_line, headers)
        # What build_request() does, without its frame and the constructor's defaults.
        request = self.request = _request_from_start_line(
            start_line, headers, self.request_conn, self.server_conn
        )
        application = self.application
        router = application.wildcard_router
        rules = application.default_router.rules
        if (
            application._routes_plainly
            and type(router) is _ApplicationRouter
            and len(rules) == 1
            and rules[0] is application._wildcard_rule
        ):
            found = router.find_route(request)
            if found is not None:
                rule, captured = found
                target = rule.target
                if (
                    isinstance(target, type)
                    and issubclass(target, RequestHandler)
                    and not target._stream_request_body
                ):
                    self.handler_class = target
                    self.captured = captured
                    self.target_kwargs = rule.target_kwargs
                    self.chunks = None
                    return None
        delegate = self.delegate = application.find_handler(request)
        return delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Buffer a body chunk (fast path) or pass it on."""
        if self.handler_class is None:
            return super().data_received(chunk)
        if self.chunks is None:
            self.chunks = [chunk]
        else:
            self.chunks.append(chunk)
        return None

    def finish(self) -> Awaitable[None] | None:
        """Run the handler (fast path: a plain handler runs in this call)."""
        handler_class = self.handler_class
        if handler_class is None:
            return super().finish()
        request = self.request
        assert request is not None
        chunks = self.chunks
        if chunks is not None:
            request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        captured = self.captured
        if captured is None:
            return run_handler(self.application, request, handler_class, self.target_kwargs)
        if isinstance(captured, tuple):  # the raw groups of a path pattern
            return run_handler(
                self.application, request, handler_class, self.target_kwargs, captured
            )
        return run_handler(
            self.application,
            request,
            handler_class,
            self.target_kwargs,
            captured.get("path_args") or (),
            captured.get("path_kwargs") or _NO_KWARGS,
        )

    def on_connection_close(self) -> None:
        """The client went away before the request was complete."""
        if self.handler_class is None:
            super().on_connection_close()
        else:
            self.chunks = None  # nothing will run: drop what was buffered


_GET_HANDLER_DELEGATE = Application.get_handler_delegate
_FIND_HANDLER = Application.find_handler
