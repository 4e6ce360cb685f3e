"""WSGI support: run a dualweb application under any WSGI server, or host a WSGI app natively.

Two directions, as in Tornado:

* :class:`WSGIAdapter` (:mod:`dualweb.wsgi.adapter`) turns a
  :class:`dualweb.web.Application` into a PEP 3333 callable, so
  ``gunicorn myapp:wsgi`` (or uWSGI, mod_wsgi, waitress, ``webtest``) drives
  the same request core that dualweb's native server drives, through the
  same entry. Each request runs synchronously from start to finish; the
  features that need an event loop (coroutine handlers, ``@asynchronous``,
  ``AsyncHTTPClient``, WebSockets, ...) raise :class:`AsyncUnavailableError`,
  which the client sees as a 500 and the log shows with the fix. At
  construction the routes are inspected (:mod:`dualweb.wsgi.routes`) and
  those that need async are listed in one :class:`AsyncRoutesWarning`.
* :class:`WSGIContainer` (:mod:`dualweb.wsgi.container`) goes the other way:
  it wraps a WSGI application (Flask, Django, ...) so dualweb's native
  ``HTTPServer`` can serve it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dualweb._lazy import lazy_exports
from dualweb.connection import AsyncUnavailableError
from dualweb.wsgi.adapter import WSGIAdapter
from dualweb.wsgi.routes import AsyncRouteInfo, AsyncRoutesWarning

if TYPE_CHECKING:
    from dualweb.wsgi.container import WSGIContainer

# WSGIContainer serves a WSGI app on the native server, so it brings asyncio, which an
# application running under a WSGI server never needs: it is imported on first use.
__getattr__, __dir__ = lazy_exports(
    __name__, globals(), {"WSGIContainer": "dualweb.wsgi.container"}
)

__all__ = [
    "AsyncRouteInfo",
    "AsyncRoutesWarning",
    "AsyncUnavailableError",
    "WSGIAdapter",
    "WSGIContainer",
]

