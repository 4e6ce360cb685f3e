"""Test helpers with ``tornado.testing``'s API, so Tornado test suites run with imports renamed.

* :class:`AsyncTestCase`: a :class:`unittest.TestCase` with a fresh event
  loop per test (``self.io_loop``), the legacy :meth:`~AsyncTestCase.stop` /
  :meth:`~AsyncTestCase.wait` style, and :func:`gen_test` for ``async def``
  (or generator) test methods;
* :class:`AsyncHTTPTestCase` / :class:`AsyncHTTPSTestCase`: also start
  ``get_app()`` on dualweb's server on 127.0.0.1 (a free port) and give
  ``self.fetch(path)``, ``self.http_client``, ``self.http_server``;
* :class:`ExpectLog`: assert that a log line appears (and keep it out of the output);
* :func:`bind_unused_port`, :func:`get_async_test_timeout`, :func:`main`.

Example::

    class MyTest(AsyncHTTPTestCase):
        def get_app(self):
            return Application([("/", MainHandler)])

        def test_home(self):
            response = self.fetch("/")
            self.assertEqual(response.code, 200)

        @gen_test
        async def test_async(self):
            response = await self.http_client.fetch(self.get_url("/"))

Leaks are reported: a task still pending, or a socket opened during the test
and still open when it ends, emits a :class:`LeakWarning` naming the test (or
fails the test when the class sets ``fail_on_leaks = True``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import re
import socket
import sys
import unittest
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, overload

from dualweb import gen
from dualweb.httpclient import AsyncHTTPClient, HTTPResponse
from dualweb.httpserver import HTTPServer
from dualweb.ioloop import IOLoop
from dualweb.netutil import bind_sockets

__all__ = [
    "AsyncHTTPSTestCase",
    "AsyncHTTPTestCase",
    "AsyncTestCase",
    "ExpectLog",
    "LeakWarning",
    "bind_unused_port",
    "gen_test",
    "get_async_test_timeout",
    "main",
]

_F = TypeVar("_F", bound=Callable[..., Any])
_TEST_DATA = Path(__file__).resolve().parent / "test_data"


class LeakWarning(ResourceWarning):
    """A test left a task pending or a socket open (see :class:`AsyncTestCase`)."""


def bind_unused_port(
    reuse_port: bool = False, address: str = "127.0.0.1"
) -> tuple[socket.socket, int]:
    """Bind a listening socket to a free port on ``address``; return ``(socket, port)``."""
    sock = bind_sockets(0, address, reuse_port=reuse_port)[0]
    return sock, int(sock.getsockname()[1])


def get_async_test_timeout() -> float:
    """Seconds a test may run: ``$ASYNC_TEST_TIMEOUT``, or 5."""
    value = os.environ.get("ASYNC_TEST_TIMEOUT")
    if value:
        try:
            return float(value)
        except ValueError:
            pass
    return 5.0


def _open_sockets() -> set[str] | None:
    """The process's open socket descriptors as ``fd -> inode`` strings (Linux only)."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return None
    found = set()
    for entry in fd_dir.iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(f"{entry.name}->{target}")
    return found


class AsyncTestCase(unittest.TestCase):
    """A test case with its own event loop (``self.io_loop``), new for every test.

    Test methods are plain functions (use :meth:`stop`/:meth:`wait` or
    ``self.io_loop.run_sync``) or ``async def``/generator functions decorated
    with :func:`gen_test`. An exception that reaches the loop's exception
    handler (a ``call_soon`` callback, a task nobody awaited) fails the test;
    ``IOLoop.add_callback`` logs its callbacks' exceptions itself, as in
    Tornado. At the end, pending tasks are cancelled and, with any socket
    the test left open, reported as a :class:`LeakWarning` (a failure when
    ``fail_on_leaks`` is true).
    """

    fail_on_leaks = False

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        self.__stopped = False
        self.__running = False
        self.__failure: BaseException | None = None
        self.__stop_args: Any = None
        self.__timeout: Any = None
        method = getattr(self, methodName, None)
        if method is not None and inspect.isgeneratorfunction(method):
            raise TypeError(
                f"{type(self).__name__}.{methodName} is a generator: decorate it with "
                "@dualweb.testing.gen_test"
            )

    def setUp(self) -> None:
        """Create the test's loop and make it the thread's current loop."""
        super().setUp()
        self.io_loop = self.get_new_ioloop()
        asyncio.set_event_loop(self.io_loop.asyncio_loop)
        self.io_loop.asyncio_loop.set_exception_handler(self._loop_exception)
        self.__sockets_before = _open_sockets()

    def get_new_ioloop(self) -> IOLoop:
        """Return the loop for one test; override to use another (e.g. uvloop's)."""
        return IOLoop(make_current=False)

    def tearDown(self) -> None:
        """Cancel and report leftover tasks, report leaked sockets, close the loop."""
        loop = self.io_loop.asyncio_loop
        leaks = self._finish_tasks(loop)
        # Transports closed during the test release their sockets on the next iterations.
        for _ in range(3):
            loop.run_until_complete(asyncio.sleep(0))
        leaks += self._leaked_sockets()
        asyncio.set_event_loop(None)
        self.io_loop.close(all_fds=True)
        super().tearDown()
        if leaks:
            self._report_leaks(leaks)
        self.__rethrow()

    def _finish_tasks(self, loop: asyncio.AbstractEventLoop) -> list[str]:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=get_async_test_timeout()))
        return [f"task still pending: {task!r}" for task in pending]

    def _leaked_sockets(self) -> list[str]:
        before = self.__sockets_before
        after = _open_sockets()
        if before is None or after is None:
            return []
        return [f"socket still open: fd {entry}" for entry in sorted(after - before)]

    def _report_leaks(self, leaks: list[str]) -> None:
        message = f"{self.id()} leaked: " + "; ".join(leaks)
        if self.fail_on_leaks:
            raise self.failureException(message)
        warnings.warn(LeakWarning(message), stacklevel=2)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        if exception is None:
            loop.default_exception_handler(context)
            return
        if self.__failure is None:
            self.__failure = exception
        self.stop()

    def __rethrow(self) -> None:
        if self.__failure is not None:
            failure, self.__failure = self.__failure, None
            raise failure

    def stop(self, _arg: Any = None, **kwargs: Any) -> None:
        """End a :meth:`wait`; it returns ``_arg`` or the keyword arguments (legacy style)."""
        assert _arg is None or not kwargs, "stop() takes a positional or keyword arguments"
        self.__stop_args = kwargs or _arg
        if self.__running:
            self.io_loop.stop()
            self.__running = False
        self.__stopped = True

    def wait(
        self, condition: Callable[[], bool] | None = None, timeout: float | None = None
    ) -> Any:
        """Run the loop until :meth:`stop` is called (and ``condition()`` holds, if given).

        Returns what was passed to :meth:`stop`. ``timeout`` defaults to
        :func:`get_async_test_timeout`.

        Raises:
            AssertionError: (``failureException``) when ``timeout`` expires.
        """
        if timeout is None:
            timeout = get_async_test_timeout()
        if not self.__stopped:

            def timed_out() -> None:
                self.__failure = self.failureException(
                    f"Async operation timed out after {timeout} seconds"
                )
                self.stop()

            loop = self.io_loop.asyncio_loop
            self.__timeout = loop.call_later(timeout, timed_out)
            while True:
                self.__running = True
                self.io_loop.start()
                if self.__failure is not None or condition is None or condition():
                    break
            self.__timeout.cancel()
            self.__timeout = None
        assert self.__stopped
        self.__stopped = False
        self.__rethrow()
        result, self.__stop_args = self.__stop_args, None
        return result


@overload
def gen_test(func: _F) -> _F: ...


@overload
def gen_test(func: None = None, timeout: float | None = None) -> Callable[[_F], _F]: ...


def gen_test(func: _F | None = None, timeout: float | None = None) -> Any:
    """Run an ``async def`` (or generator) test method on ``self.io_loop``.

    Use as ``@gen_test`` or ``@gen_test(timeout=10)``; the default timeout is
    :func:`get_async_test_timeout` (``$ASYNC_TEST_TIMEOUT``, 5 s). On timeout
    the coroutine is cancelled and ``TimeoutError`` raised.
    """
    if timeout is None:
        timeout = get_async_test_timeout()

    def wrap(f: _F) -> _F:
        coro = gen.coroutine(f) if inspect.isgeneratorfunction(f) else f

        @functools.wraps(f)
        def wrapper(self: AsyncTestCase, *args: Any, **kwargs: Any) -> None:
            result = self.io_loop.run_sync(
                functools.partial(coro, self, *args, **kwargs), timeout=timeout
            )
            if result is not None:
                raise TypeError(f"{f.__name__} returned {result!r}; test methods return None")

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return wrap(func)
    return wrap


class AsyncHTTPTestCase(AsyncTestCase):
    """Serves ``get_app()`` on 127.0.0.1 for every test; ``self.fetch(path)`` calls it.

    Override :meth:`get_app`; optionally :meth:`get_httpserver_options` and
    :meth:`get_http_client`. ``self.http_client`` and ``self.http_server``
    are available in tests.
    """

    def setUp(self) -> None:
        """Start the server on a free port and create the client."""
        super().setUp()
        sock, port = bind_unused_port()
        self.__port = port
        self.http_client = self.get_http_client()
        self._app = self.get_app()
        self.http_server = self.get_http_server()
        self.http_server.add_sockets([sock])

    def get_http_client(self) -> AsyncHTTPClient:
        """The client for :meth:`fetch` (a new ``AsyncHTTPClient(force_instance=True)``)."""
        return AsyncHTTPClient(force_instance=True)

    def get_http_server(self) -> HTTPServer:
        """The server, built from :meth:`get_app` and :meth:`get_httpserver_options`."""
        return HTTPServer(self._app, **self.get_httpserver_options())

    def get_app(self) -> Any:
        """Return the application (or other request callback) to test; must be overridden."""
        raise NotImplementedError(
            f"{type(self).__name__} must define get_app() returning the Application to test"
        )

    def get_httpserver_options(self) -> dict[str, Any]:
        """Keyword arguments for the :class:`~dualweb.httpserver.HTTPServer` (none by default)."""
        return {}

    def fetch(self, path: str, raise_error: bool = False, **kwargs: Any) -> HTTPResponse:
        """Fetch ``path`` (or a full URL) from the test server, blocking; return the response.

        Unlike ``AsyncHTTPClient.fetch``, a non-2xx answer is returned, not
        raised, unless ``raise_error=True``. ``kwargs`` are
        :class:`~dualweb.httpclient.HTTPRequest` options.
        """
        url = path if path.lower().startswith(("http://", "https://")) else self.get_url(path)
        return self.io_loop.run_sync(  # type: ignore[no-any-return]
            functools.partial(self.http_client.fetch, url, raise_error=raise_error, **kwargs),
            timeout=get_async_test_timeout(),
        )

    def get_http_port(self) -> int:
        """The port the test server listens on."""
        return self.__port

    def get_protocol(self) -> str:
        """``"http"`` (``"https"`` in :class:`AsyncHTTPSTestCase`)."""
        return "http"

    def get_url(self, path: str) -> str:
        """The absolute URL of ``path`` on the test server."""
        return f"{self.get_protocol()}://127.0.0.1:{self.__port}{path}"

    def tearDown(self) -> None:
        """Stop the server, close its connections and the client, then the loop."""
        self.http_server.stop()
        self.io_loop.run_sync(
            self.http_server.close_all_connections, timeout=get_async_test_timeout()
        )
        self.http_client.close()
        del self.http_server
        del self._app
        super().tearDown()


class AsyncHTTPSTestCase(AsyncHTTPTestCase):
    """:class:`AsyncHTTPTestCase` over TLS, with a self-signed test certificate.

    The client does not validate certificates (``validate_cert=False``).
    Override :meth:`get_ssl_options` to use your own certificate.
    """

    def get_http_client(self) -> AsyncHTTPClient:
        """A client that accepts the self-signed certificate."""
        return AsyncHTTPClient(force_instance=True, defaults={"validate_cert": False})

    def get_httpserver_options(self) -> dict[str, Any]:
        """TLS options from :meth:`get_ssl_options`."""
        return {"ssl_options": self.get_ssl_options()}

    def get_ssl_options(self) -> dict[str, Any]:
        """The server's ``ssl_options``: dualweb's bundled test certificate for ``localhost``."""
        return {
            "certfile": str(_TEST_DATA / "test.crt"),
            "keyfile": str(_TEST_DATA / "test.key"),
        }

    def get_protocol(self) -> str:
        """``"https"``."""
        return "https"


class ExpectLog(logging.Filter):
    """Context manager: expect a log line matching ``regex`` and keep it out of the output.

    ``logger`` is a :class:`logging.Logger` or its name. With
    ``required=True`` (the default) leaving the block without a match raises
    an exception. ``level`` (e.g. ``logging.WARNING``) restricts matches to
    that level and lowers the logger's level for the block if needed::

        with ExpectLog("dualweb.application", "Uncaught exception"):
            self.fetch("/fail")
    """

    def __init__(
        self,
        logger: logging.Logger | str,
        regex: str,
        required: bool = True,
        level: int | None = None,
    ) -> None:
        super().__init__()
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.regex = re.compile(regex)
        self.required = required
        self.matched = False
        self.logged_stack = False
        self.level = level
        self.orig_level: int | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        """Swallow (and count) a matching record; let any other through."""
        if record.exc_info:
            self.logged_stack = True
        message = record.getMessage()
        if self.regex.match(message) and (self.level is None or record.levelno == self.level):
            self.matched = True
            return False
        return True

    def __enter__(self) -> ExpectLog:
        if self.level is not None and self.logger.getEffectiveLevel() > self.level:
            self.orig_level = self.logger.level
            self.logger.setLevel(self.level)
        self.logger.addFilter(self)
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.logger.removeFilter(self)
        if self.orig_level is not None:
            self.logger.setLevel(self.orig_level)
        if typ is None and self.required and not self.matched:
            raise Exception(
                f"did not get expected log message matching {self.regex.pattern!r} "
                f"on logger {self.logger.name!r}"
            )


def main(**kwargs: Any) -> None:
    """Run tests with :func:`unittest.main`.

    ``python -m dualweb.testing pkg.test_module`` runs the named tests; in a
    test file, ``if __name__ == "__main__": dualweb.testing.main()`` runs the
    file's tests. ``kwargs`` go to :func:`unittest.main`.
    """
    argv = kwargs.pop("argv", sys.argv)
    module = None if len(argv) > 1 and not argv[-1].startswith("-") else "__main__"
    unittest.main(module=module, argv=argv, **kwargs)


if __name__ == "__main__":
    main()
