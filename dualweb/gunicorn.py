"""A gunicorn worker class that runs dualweb's native server: ``-k dualweb.gunicorn.Worker``.

::

    gunicorn -k dualweb.gunicorn.Worker --workers 4 --bind 0.0.0.0:8000 myapp:app

``myapp:app`` is a :class:`dualweb.web.Application` (not a ``WSGIAdapter``):
each gunicorn worker serves it with :class:`~dualweb.httpserver.HTTPServer` on
an asyncio loop, on the sockets gunicorn bound, so coroutine handlers,
WebSockets and long polling work while gunicorn manages the processes.
Gunicorn's settings apply as follows:

* ``--bind`` (TCP and ``unix:``), ``--workers``: as usual;
* ``--timeout``: the worker reports to the master every ``timeout / 2``
  seconds from its event loop, so a loop blocked by a handler is detected
  and the worker restarted;
* ``--graceful-timeout``: SIGTERM (and gunicorn's own stop/reload: SIGHUP,
  ``--max-requests``) shuts the worker down through
  :func:`dualweb.shutdown.graceful_shutdown`: stop accepting, shutdown
  callbacks (WebSockets close with 1001, long polls end), requests in flight
  finish within the graceful timeout; SIGINT/SIGQUIT stop at once;
* ``--max-requests`` (with ``--max-requests-jitter``): the worker restarts
  gracefully after that many requests;
* ``--keep-alive``: seconds an idle keep-alive connection stays open (``0``
  turns keep-alive off);
* ``--certfile``/``--keyfile`` and the other TLS options: gunicorn's
  ``ssl_context`` is used;
* ``--access-logfile`` and ``--access-logformat``: gunicorn's access log,
  one line per request (``%(b)s``, the response size, is logged as ``-``);
  dualweb's own access log is then not written. An application
  ``log_function`` setting is still called.

A dualweb ``Application`` given to a WSGI worker (``gunicorn myapp:app``
without ``-k``) answers every request with 500 and logs a
:class:`TypeError` saying to use ``WSGIAdapter(app)`` or this worker.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import sys
from types import SimpleNamespace
from typing import Any

from gunicorn.sock import ssl_context
from gunicorn.workers.base import Worker as _GunicornWorker

from dualweb.httpserver import HTTPServer
from dualweb.shutdown import graceful_shutdown

__all__ = ["Worker"]


class Worker(_GunicornWorker):  # type: ignore[misc]
    """Gunicorn worker serving a dualweb ``Application`` with the native server.

    Use it with ``gunicorn -k dualweb.gunicorn.Worker module:app``; the
    module docstring lists how each gunicorn setting is honoured. Exits with
    gunicorn's boot-error status (the master then stops) when ``module:app``
    is not a dualweb application.
    """

    def init_signals(self) -> None:
        """Leave the signals to the event loop (installed in :meth:`run`), except SIGUSR1's."""
        for signum in self.SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.siginterrupt(signal.SIGUSR1, False)

    def run(self) -> None:
        """Serve until told to stop; called by gunicorn in the worker process."""
        app = self.wsgi
        if not hasattr(app, "start_request"):
            self.log.error(
                "dualweb.gunicorn.Worker serves a dualweb Application natively, but %s is %s; "
                "point gunicorn at the Application itself (not WSGIAdapter(app)), or use "
                "gunicorn's default worker for a WSGI application",
                getattr(self.app, "app_uri", None) or "the application", type(app).__name__,
            )
            sys.exit(3)  # gunicorn's WORKER_BOOT_ERROR: the master stops instead of looping
        asyncio.run(self._serve(app))

    async def _serve(self, app: Any) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._install_request_hook(app)
        keepalive = self.cfg.keepalive
        server = HTTPServer(
            app,
            ssl_options=ssl_context(self.cfg) if self.cfg.is_ssl else None,
            no_keep_alive=keepalive <= 0,
            idle_connection_timeout=keepalive if keepalive > 0 else None,
        )
        server.add_sockets([listener.sock for listener in self.sockets])
        loop.add_signal_handler(signal.SIGTERM, self._graceful, "SIGTERM")
        for signum in (signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(signum, self._quick_exit)
        loop.add_signal_handler(signal.SIGABRT, self._abort)
        heartbeat = loop.create_task(self._heartbeat())
        try:
            await self._stopping.wait()
            self.alive = False
            # Stay below the master's graceful timeout, after which it kills.
            timeout = max(0.1, self.cfg.graceful_timeout - 1.0)
            await graceful_shutdown([server], timeout=timeout)
        finally:
            heartbeat.cancel()
        self.log.info("Worker exiting (pid: %s)", self.pid)

    def _graceful(self, reason: str) -> None:
        if not self._stopping.is_set():
            self.log.info("%s: shutting down gracefully (pid: %s)", reason, self.pid)
            self._stopping.set()

    def _quick_exit(self) -> None:
        self.alive = False
        self.cfg.worker_int(self)
        os._exit(0)  # SIGINT/SIGQUIT mean "stop now" in gunicorn

    def _abort(self) -> None:
        self.alive = False
        self.cfg.worker_abort(self)
        os._exit(1)

    async def _heartbeat(self) -> None:
        interval = max(0.5, min(float(self.timeout), 5.0)) if self.timeout else 1.0
        while True:
            self.notify()
            if os.getppid() != self.ppid:
                self._graceful(f"Parent changed (was {self.ppid})")
            elif not self.alive:
                # gunicorn's --reload thread asks the worker to stop this way.
                self._graceful("Reload")
            await asyncio.sleep(interval)

    def _install_request_hook(self, app: Any) -> None:
        """Count requests (``--max-requests``) and write gunicorn's access log.

        Uses the application's ``log_function`` setting, called once per
        finished request; an existing one is still called.
        """
        settings = getattr(app, "settings", None)
        if settings is None:
            return
        previous = settings.get("log_function")

        def log_function(handler: Any) -> None:
            self.nr += 1
            if self.log.access_log_enabled:
                self._access(handler)
            if previous is not None:
                previous(handler)
            if self.nr >= self.max_requests and not self._stopping.is_set():
                self.log.info("Autorestarting worker after current request.")
                self._graceful("max requests")

        settings["log_function"] = log_function

    def _access(self, handler: Any) -> None:
        request = handler.request
        environ = {
            "REMOTE_ADDR": request.remote_ip,
            "REQUEST_METHOD": request.method,
            "RAW_URI": request.uri,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query,
            "SERVER_PROTOCOL": request.version,
            "HTTP_REFERER": request.headers.get("Referer", "-"),
            "HTTP_USER_AGENT": request.headers.get("User-Agent", "-"),
        }
        response = SimpleNamespace(status=handler.get_status(), sent=None, headers=())
        elapsed = datetime.timedelta(seconds=request.request_time())
        self.log.access(response, request.headers, environ, elapsed)
