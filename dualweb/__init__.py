"""dualweb: a Tornado-style web framework with two drivers.

The same :class:`dualweb.web.Application` runs natively on dualweb's own
non-blocking HTTP server (``app.listen(8888)``) and under any WSGI server
through :class:`dualweb.wsgi.WSGIAdapter`.

Submodules are imported lazily on first attribute access, so
``import dualweb; dualweb.web.RequestHandler`` works as it does in Tornado.

When uvloop is installed (``pip install dualweb[speedups]``), importing
dualweb makes new asyncio event loops use it, so ``asyncio.run(main())`` and
``IOLoop.current().start()`` both run on uvloop. It stays off when the
environment variable ``DUALWEB_UVLOOP=0`` is set, when the application installed
its own event-loop policy (before importing dualweb, or after: the last policy
set wins), when dualweb is first imported inside a running event loop, and on
Python 3.14+, where event-loop policies are deprecated.
:func:`dualweb.ioloop.install_uvloop` switches it on explicitly.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

version = "0.1.0"
version_info = (0, 1, 0, 0)

_SUBMODULES = frozenset(
    {
        "auth",
        "autoreload",
        "broadcast",
        "bytechannel",
        "cli",
        "concurrent",
        "connection",
        "escape",
        "gen",
        "gunicorn",
        "headers",
        "http1codec",
        "http1connection",
        "http1stream",
        "httpclient",
        "httpserver",
        "httputil",
        "intake",
        "ioloop",
        "iostream",
        "locale",
        "locks",
        "log",
        "netutil",
        "options",
        "process",
        "pytest_plugin",
        "queues",
        "routing",
        "serving",
        "shutdown",
        "simple_httpclient",
        "tcpclient",
        "tcpserver",
        "template",
        "testing",
        "util",
        "web",
        "websocket",
        "wsgi",
    }
)


def __getattr__(name: str) -> ModuleType:
    """Import the public submodule ``name`` on first access.

    Raises ``AttributeError`` for any other name, and for a listed submodule
    that is not part of this release (so ``hasattr(dualweb, name)`` is False).
    """
    if name in _SUBMODULES:
        qualified = "dualweb." + name
        try:
            return importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise  # the submodule exists but one of its own imports is missing
            raise AttributeError(
                f"module 'dualweb' has no attribute {name!r}: dualweb.{name} is not "
                "available in this version"
            ) from exc
    raise AttributeError(f"module 'dualweb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)


def _use_uvloop_when_installed() -> None:
    """Switch new event loops to uvloop if it is importable and nobody chose a loop yet."""
    if os.environ.get("DUALWEB_UVLOOP", "1") == "0" or sys.version_info >= (3, 14):
        return
    if importlib.util.find_spec("uvloop") is None:
        return
    if "asyncio" not in sys.modules:
        # asyncio (with ssl, subprocess, concurrent.futures) is a large part of
        # the import time of an application that only runs under WSGI; decide
        # when something imports it instead, which is still before any loop exists.
        sys.meta_path.insert(0, _AfterAsyncioImport())
        return
    import asyncio

    if asyncio._get_running_loop() is not None:
        return
    # Only replace asyncio's stock policy: an application that set its own keeps it.
    if type(asyncio.get_event_loop_policy()) is not asyncio.DefaultEventLoopPolicy:
        return
    # Only uvloop itself here: dualweb.ioloop would import the async toolkit with it.
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


class _AfterAsyncioImport:
    """A one-shot import hook: runs :func:`_use_uvloop_when_installed` once asyncio is imported.

    It finds the module's spec through the remaining finders and makes that
    spec's loader call the check after executing the module, so the import
    behaves exactly as before, followed by the same decision an earlier import
    would have made.  uvloop is watched too: its package imports asyncio first
    thing, when uvloop itself is only half initialized, so an application that
    imports uvloop before anything imported asyncio gets the check once
    uvloop's import is complete instead.
    """

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name != "asyncio" and name != "uvloop":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            _use_uvloop_when_installed()

        # An attribute of this spec's own loader instance: the loader keeps its type.
        setattr(spec.loader, "exec_module", exec_module)  # noqa: B010
        return spec


_use_uvloop_when_installed()
