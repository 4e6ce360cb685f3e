"""dualweb: a Tornado-style web framework with two drivers.

The same :class:`dualweb.web.Application` runs natively on dualweb's own
non-blocking HTTP server (``app.listen(8888)``) and under any WSGI server
through :class:`dualweb.wsgi.WSGIAdapter`.

Submodules are imported lazily on first attribute access, so
``import dualweb; dualweb.web.RequestHandler`` works as it does in Tornado.
"""

from __future__ import annotations

import importlib
from types import ModuleType

version = "0.1.0"
version_info = (0, 1, 0, 0)

_SUBMODULES = frozenset(
    {
        "auth",
        "autoreload",
        "concurrent",
        "connection",
        "escape",
        "gen",
        "http1connection",
        "httpclient",
        "httpserver",
        "httputil",
        "ioloop",
        "iostream",
        "locale",
        "locks",
        "log",
        "netutil",
        "options",
        "process",
        "queues",
        "routing",
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
    """Import the public submodule ``name`` on first access."""
    if name in _SUBMODULES:
        return importlib.import_module("dualweb." + name)
    raise AttributeError(f"module 'dualweb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
