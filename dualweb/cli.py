"""The ``dualweb`` command (also ``python -m dualweb``): serve, routes, version.

::

    dualweb serve myapp:app                  # native server on 127.0.0.1:8888
    dualweb serve myapp:make_app --port 0 --processes 4
    dualweb serve myapp:app --wsgi           # through WSGIAdapter on gunicorn
    dualweb routes myapp:app                 # route table, methods, native-only routes
    dualweb version

Run ``dualweb serve --help`` for every option. Restart without downtime with
``kill -HUP <pid of dualweb serve>`` (see :mod:`dualweb.serving`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from dualweb.serving import (
    LISTEN_FDS_ENV,
    READY_FD_ENV,
    AppLoadError,
    ServeConfig,
    configure_logging,
    load_app,
    run_supervisor,
    run_worker,
)

__all__ = ["RouteInfo", "iter_routes", "main"]

_HTTP_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dualweb")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dualweb`` command."""
    parser = argparse.ArgumentParser(
        prog="dualweb",
        description="Run and inspect dualweb applications.",
        epilog="TARGET is 'module:attribute': an Application, or a function returning one.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="serve an application (native server by default)",
        description=(
            "Serve TARGET with dualweb's native server in supervised worker processes. "
            "SIGHUP restarts the workers without dropping a connection (new workers "
            "take over the listening socket, old ones drain); SIGTERM/SIGINT shut down "
            "gracefully. The open-files soft limit is raised to the hard limit at start."
        ),
    )
    serve.add_argument("target", metavar="TARGET", help="module:app or module:make_app")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8888,
                       help="TCP port (default 8888; 0 picks a free port, logged at start)")
    serve.add_argument("--unix-socket", metavar="PATH",
                       help="listen on this Unix socket instead of TCP")
    serve.add_argument("--processes", type=int, default=1, metavar="N",
                       help="worker processes (default 1; 0 = one per CPU)")
    serve.add_argument("--reload", action="store_true",
                       help="restart the workers when a source file next to TARGET changes")
    serve.add_argument("--debug", action="store_true",
                       help="debug logging; sets the app's debug and serve_traceback settings")
    serve.add_argument("--wsgi", action="store_true",
                       help="serve through WSGIAdapter on gunicorn (async handlers answer 500)")
    serve.add_argument("--certfile", help="TLS certificate (PEM)")
    serve.add_argument("--keyfile", help="TLS private key (PEM)")
    serve.add_argument("--graceful-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="how long requests in flight may take at shutdown (default 30)")

    routes = commands.add_parser(
        "routes",
        help="list the routes of an application",
        description=(
            "List each route of TARGET: its pattern, handler, the HTTP methods the handler "
            "implements, and whether it needs the native server (async features)."
        ),
    )
    routes.add_argument("target", metavar="TARGET", help="module:app or module:make_app")

    commands.add_parser("version", help="print dualweb's version",
                        description="Print dualweb's version and Python's.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dualweb`` command with ``argv`` (default ``sys.argv[1:]``); return its status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "version":
            print(f"dualweb {_version()} (Python {sys.version.split()[0]})")
            return 0
        if args.command == "routes":
            return _print_routes(args.target)
        return _serve(args)
    except AppLoadError as exc:
        print(f"dualweb {args.command}: {exc}", file=sys.stderr)
        return 2


# -- serve ------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    if args.keyfile and not args.certfile:
        print("dualweb serve: --keyfile needs --certfile", file=sys.stderr)
        return 2
    processes = args.processes
    if processes <= 0:
        from dualweb.process import cpu_count

        processes = cpu_count()
    config = ServeConfig(
        target=args.target, host=args.host, port=args.port, unix_socket=args.unix_socket,
        processes=processes, reload=args.reload, debug=args.debug, certfile=args.certfile,
        keyfile=args.keyfile, graceful_timeout=args.graceful_timeout,
    )
    configure_logging(args.debug)
    # Popped, so a process the application starts does not take itself for a worker.
    fds = os.environ.pop(LISTEN_FDS_ENV, None)
    ready = os.environ.pop(READY_FD_ENV, None)
    if fds:
        return run_worker(
            config, [int(fd) for fd in fds.split(",")], int(ready) if ready else None
        )
    if args.wsgi:
        return _serve_wsgi(config)
    load_app(config.target)  # fail here, with a clear message, rather than in every worker
    config.worker_argv = [sys.executable, "-m", "dualweb", *_serve_argv(args)]
    return run_supervisor(config)


def _serve_argv(args: argparse.Namespace) -> list[str]:
    """The ``serve`` arguments a worker is started with (same target and options)."""
    argv = ["serve", args.target, "--graceful-timeout", str(args.graceful_timeout)]
    if args.debug:
        argv.append("--debug")
    if args.certfile:
        argv += ["--certfile", args.certfile]
    if args.keyfile:
        argv += ["--keyfile", args.keyfile]
    return argv


def _serve_wsgi(config: ServeConfig) -> int:
    """Run gunicorn in this process with ``WSGIAdapter(app)`` as its application."""
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        print("dualweb serve --wsgi needs gunicorn: pip install 'dualweb[wsgi]'", file=sys.stderr)
        return 2
    from dualweb.serving import raise_open_files_limit

    raise_open_files_limit()
    options: dict[str, Any] = {
        "bind": [f"unix:{config.unix_socket}" if config.unix_socket
                 else f"{config.host}:{config.port}"],
        "workers": config.processes,
        "reload": config.reload,
        "graceful_timeout": max(1, round(config.graceful_timeout)),  # gunicorn: whole seconds
        "loglevel": "debug" if config.debug else "info",
    }
    if config.certfile:
        options["certfile"] = config.certfile
    if config.keyfile:
        options["keyfile"] = config.keyfile
    target = config.target

    class DualwebWSGI(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from dualweb.wsgi import WSGIAdapter

            return WSGIAdapter(load_app(target))

    load_app(target)
    DualwebWSGI().run()
    return 0


# -- routes -----------------------------------------------------------------------


class RouteInfo(NamedTuple):
    """One row of ``dualweb routes``: what a rule serves and whether it needs native mode."""

    pattern: str
    handler: str
    methods: tuple[str, ...]
    needs_native: bool


def iter_routes(app: Any) -> Iterator[RouteInfo]:
    """Every handler route of ``app`` (nested routers and host rules included), in order.

    ``methods`` are the HTTP methods the handler class implements;
    ``needs_native`` is true when it uses features that only the native
    server provides (as reported by :meth:`dualweb.wsgi.WSGIAdapter.async_routes`).
    """
    native_only = _native_only_handlers(app)
    root = getattr(app, "wildcard_router", None) or getattr(app, "default_router", None)
    seen: set[int] = set()
    for pattern, handler in _walk(root, "", seen):
        yield RouteInfo(pattern, handler.__name__, _methods(handler),
                        handler.__name__ in native_only)
    default = getattr(app, "default_router", None)
    if default is not None and default is not root:
        for pattern, handler in _walk(default, "", seen):
            yield RouteInfo(pattern, handler.__name__, _methods(handler),
                            handler.__name__ in native_only)


def _walk(router: Any, prefix: str, seen: set[int]) -> Iterator[tuple[str, type]]:
    if router is None or id(router) in seen:
        return
    seen.add(id(router))
    for rule in getattr(router, "rules", ()):
        matcher: Any = getattr(rule, "matcher", None)
        part = ""
        if getattr(matcher, "regex", None) is not None:
            part = matcher.regex.pattern.removesuffix("$")
        elif getattr(matcher, "host_pattern", None) is not None:
            part = "host " + matcher.host_pattern.pattern.removesuffix("$")
        pattern = f"{prefix} {part}".strip()
        target: Any = getattr(rule, "target", None)
        if isinstance(target, type):
            yield pattern, target
        elif hasattr(target, "rules"):
            yield from _walk(target, pattern, seen)
        elif hasattr(target, "wildcard_router"):
            yield from _walk(target.wildcard_router, pattern, seen)


def _methods(handler: type) -> tuple[str, ...]:
    from dualweb.web import RequestHandler

    supported = getattr(handler, "SUPPORTED_METHODS", _HTTP_METHODS)
    return tuple(
        method for method in supported
        if getattr(handler, method.lower(), None) is not getattr(RequestHandler, method.lower(), 0)
    )


def _native_only_handlers(app: Any) -> set[str]:
    from dualweb.wsgi import WSGIAdapter

    # The adapter announces native-only routes as a warning and a log line;
    # here they are the answer, so both are silenced.
    general = logging.getLogger("dualweb.general")
    level = general.level
    general.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {route.handler for route in WSGIAdapter(app).async_routes()}
    finally:
        general.setLevel(level)


def _print_routes(target: str) -> int:
    app = load_app(target)
    rows = [
        (route.pattern or "(any)", route.handler, ",".join(route.methods) or "-",
         "native only" if route.needs_native else "native+wsgi")
        for route in iter_routes(app)
    ]
    header = ("PATTERN", "HANDLER", "METHODS", "MODES")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        print("  ".join([*cells, row[3]]))
    return 0
