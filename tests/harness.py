"""The one way tests run dualweb natively, on either event loop.

* :func:`new_loop` makes a loop of a given kind: ``"asyncio"`` (asyncio's own
  selector loop, made explicitly because importing dualweb switches the default
  policy to uvloop) or ``"uvloop"``; :data:`LOOP_KINDS` lists both, and the
  ``kind`` fixture (tests/conftest.py) runs a test once per kind.
* :func:`run` runs one coroutine to completion on a fresh loop, for tests that
  drive dualweb from inside the loop.
* :class:`LoopThread` runs a loop in a background thread; :class:`ServerThread`
  serves an app from one with dualweb's ``HTTPServer`` on 127.0.0.1, port 0, for
  tests that talk to it over a real socket. :func:`serving` (or
  :func:`start_server` / :func:`stop_server`) does the same on the running loop,
  for tests that are coroutines (:func:`run`); :func:`serve_tcp` puts any
  ``TCPServer`` on a fresh port. Ports come from ``dualweb.testing.bind_unused_port``;
  unittest-style tests use ``dualweb.testing.AsyncHTTPTestCase`` instead, which
  serves the same way (and can add a second server with :func:`start_server`).
* Both fail the test when dualweb left a task of its own running (after the
  coroutine returned, or after the server closed its connections: a leaked task
  is a connection or handler never cleaned up), or a socket opened meanwhile is
  still open at the end (found as ``dualweb.testing.AsyncTestCase`` finds it); a
  loop thread also fails on an error the loop reported unhandled ("Task exception
  was never retrieved").
* :func:`wait_until` polls a condition from the test's thread, bounded in time.
* :func:`tornado_server` serves a Tornado app the same way, for comparisons.
* :class:`ServerProcess` runs a server program (an example, gunicorn) as a
  subprocess on a :func:`free_port` and talks to it over a real socket.
* :func:`make_cert` makes the self-signed certificate the TLS tests share (the
  ``cert`` fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

# dualweb.testing's own primitives, so the harness and AsyncTestCase find the same leaks.
from dualweb.testing import _open_sockets, bind_unused_port

if TYPE_CHECKING:
    from dualweb.httpserver import HTTPServer

_T = TypeVar("_T")

LOOP_KINDS = ("asyncio", "uvloop")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# A task whose coroutine is defined inside the dualweb package (connection
# handling, a handler's lifecycle) must be gone once a test's coroutine returned
# or its server closed every connection; tasks the test started are its business.
_DUALWEB_DIR = os.path.dirname(os.path.abspath(importlib.util.find_spec("dualweb").origin or ""))


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind``: "asyncio" (asyncio's own) or "uvloop"."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if kind == "asyncio":
        # Explicitly asyncio's own loop: importing dualweb makes uvloop the default policy.
        return asyncio.SelectorEventLoop()
    raise ValueError(f"unknown loop kind {kind!r}")


def _finish_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on ``loop`` (not running) and let it unwind, so nothing is
    garbage-collected later with "Task was destroyed but it is pending!"."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())


async def _leaked_tasks(
    leaks: Callable[[list[asyncio.Task[Any]]], list[str]],
) -> list[str]:
    """``leaks(pending tasks)`` once dualweb had a chance to finish its own tasks.

    Closing connections may need a few loop turns for their last callbacks, so
    wait (at most 2 s, under load) until ``leaks`` finds nothing."""
    current = asyncio.current_task()
    for _ in range(200):
        await asyncio.sleep(0.01)
        leaked = leaks([t for t in asyncio.all_tasks() if t is not current])
        if not leaked:
            break
    return leaked


def _dualweb_tasks(tasks: list[asyncio.Task[Any]]) -> list[str]:
    """The tasks whose coroutine is defined inside the dualweb package, described."""
    return [
        f"{t.get_coro().__qualname__} in {_task_file(t)}"  # type: ignore[union-attr]
        for t in tasks
        if _task_file(t).startswith(_DUALWEB_DIR + os.sep)
    ]


def _sockets_left(before: set[str] | None) -> list[str]:
    """Sockets open now that were not open in the ``before`` snapshot (``_open_sockets()``)."""
    after = _open_sockets()
    if before is None or after is None:
        return []
    return sorted(after - before)


def run(factory: Callable[[], Awaitable[_T]], kind: str = "asyncio", timeout: float = 10) -> _T:
    """Run ``factory()`` (a coroutine function, or anything returning an awaitable:
    a ``gen.coroutine``) on a fresh loop of ``kind`` with a ``timeout`` (seconds), then
    clean up.

    Fails if dualweb left a task of its own running after ``factory()`` returned, or
    a socket opened meanwhile is still open once the loop is closed.
    """

    async def main() -> _T:
        return await factory()

    sockets_before = _open_sockets()
    loop = new_loop(kind)
    try:
        result = loop.run_until_complete(asyncio.wait_for(main(), timeout))
        leaked = loop.run_until_complete(_leaked_tasks(_dualweb_tasks))
        assert not leaked, f"tasks left running ({kind}): {leaked}"
    finally:
        _finish_tasks(loop)
        loop.close()
    left = _sockets_left(sockets_before)
    assert not left, f"sockets left open ({kind}): {left}"
    return result


def _task_file(task: asyncio.Task[Any]) -> str:
    code = getattr(task.get_coro(), "cr_code", None)
    return code.co_filename if code is not None else ""


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> bool:
    """Poll ``condition()`` (from a test's thread) until it is true or ``timeout`` seconds
    passed; returns its last value as a bool, for ``assert wait_until(...)``."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


class LoopThread:
    """An event loop of ``kind`` running in a daemon thread; :meth:`call` runs code on it.

    :meth:`close` fails the test if the loop reported an unhandled error
    ("Task exception was never retrieved", an exception in a callback).
    """

    # Loop threads alive now, oldest first: the sockets a younger one still holds are not
    # an older one's leak, so only a thread closed after all younger ones checks sockets.
    _alive: list[LoopThread] = []

    def __init__(self, kind: str = "asyncio") -> None:
        self.kind = kind
        self._sockets_before = _open_sockets()
        LoopThread._alive.append(self)
        self.loop = new_loop(kind)
        self.unhandled: list[str] = []
        self.loop.set_exception_handler(self._record_unhandled)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _record_unhandled(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.unhandled.append(f"{context.get('message')}: {context.get('exception')!r}")
        loop.default_exception_handler(context)

    def call(self, fn: Callable[[], _T], timeout: float = 10) -> _T:
        """Run ``fn()`` on the loop (inside a running task) and return its result."""

        async def wrapper() -> _T:
            return fn()

        return self.run(wrapper, timeout)

    def run(self, factory: Callable[[], Coroutine[Any, Any, _T]], timeout: float = 10) -> _T:
        """Run the coroutine ``factory()`` on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(factory(), self.loop).result(timeout)

    def _leaks(self, tasks: list[asyncio.Task[Any]]) -> list[str]:
        """Which of the tasks still pending at close count as leaked (described)."""
        return _dualweb_tasks(tasks)

    def close(self) -> None:
        """Stop the loop, cancel what is left on it and close it; fail on a task dualweb
        left running, an error the loop reported unhandled, or a socket opened since the
        thread started and still open (checked when no younger loop thread is alive)."""

        async def leaked() -> list[str]:
            return await _leaked_tasks(self._leaks)

        leaks = self.run(leaked)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        _finish_tasks(self.loop)
        self.loop.close()
        younger = LoopThread._alive[LoopThread._alive.index(self) + 1 :]
        LoopThread._alive.remove(self)
        left = [] if younger else _sockets_left(self._sockets_before)
        assert not leaks, f"tasks left running at close ({self.kind}): {leaks}"
        assert not self.unhandled, f"the loop reported unhandled errors: {self.unhandled}"
        assert not left, f"sockets left open at close ({self.kind}): {left}"


def serve_tcp(server: Any, host: str = "127.0.0.1") -> int:
    """Make ``server`` (any ``TCPServer``: an ``HTTPServer``, a test's echo server) listen
    on a fresh socket on ``host``; returns the port. Call with the server's loop current."""
    sock, port = bind_unused_port(address=host)
    server.add_sockets([sock])
    return port


def start_server(
    app: Any, sockets: list[socket.socket] | None = None, **server_kwargs: Any
) -> tuple[HTTPServer, int]:
    """dualweb's ``HTTPServer(app, **server_kwargs)`` serving on the running loop from
    ``sockets`` (default: a fresh one on 127.0.0.1); returns ``(server, port)``, port 0
    for a Unix socket. End it with :func:`stop_server`."""
    from dualweb.httpserver import HTTPServer

    server = HTTPServer(app, **server_kwargs)
    if sockets is None:
        return server, serve_tcp(server)
    server.add_sockets(sockets)
    address = sockets[0].getsockname()
    return server, int(address[1]) if isinstance(address, tuple) else 0


async def stop_server(server: HTTPServer) -> None:
    """Stop ``server`` listening and close its connections (ends handlers in flight)."""
    server.stop()
    await server.close_all_connections()


@contextlib.asynccontextmanager
async def serving(app: Any, **server_kwargs: Any) -> AsyncIterator[tuple[HTTPServer, int]]:
    """``async with serving(app) as (server, port)``: :func:`start_server` on the running
    loop for the block, :func:`stop_server` after it."""
    server, port = start_server(app, **server_kwargs)
    try:
        yield server, port
    finally:
        await stop_server(server)


class ServerThread(LoopThread):
    """dualweb's HTTPServer serving ``app`` from a loop of ``kind`` in a daemon thread.

    ``sockets`` defaults to one fresh listening socket on 127.0.0.1 (its port is
    :attr:`port`); ``server_kwargs`` go to ``HTTPServer`` (see :func:`start_server`).
    Set :attr:`allow_leftover_handlers` for a test that knowingly leaves a handler
    task running (only for a known bug, with the bug named next to it).
    """

    allow_leftover_handlers = False

    def __init__(
        self,
        app: Any,
        kind: str = "asyncio",
        sockets: list[socket.socket] | None = None,
        **server_kwargs: Any,
    ) -> None:
        super().__init__(kind)
        self.server, self.port = self.call(lambda: start_server(app, sockets, **server_kwargs))

    def connections(self) -> int:
        """How many connections the server is tracking right now."""
        return self.call(lambda: len(self.server._connections))

    def connections_after(self, timeout: float) -> int:
        """:meth:`connections` once it is 0, or after ``timeout`` seconds (closing a
        connection takes the server a few loop turns)."""
        wait_until(lambda: not self.connections(), timeout)
        return self.connections()

    def _leaks(self, tasks: list[asyncio.Task[Any]]) -> list[str]:
        if self.allow_leftover_handlers:
            tasks = [t for t in tasks if os.path.basename(_task_file(t)) != "handler.py"]
        return _dualweb_tasks(tasks)

    def close(self) -> None:
        """Stop the server, close its connections, then the loop (see LoopThread.close)."""
        self.run(lambda: stop_server(self.server))
        super().close()


@contextlib.contextmanager
def tornado_server(app: Any) -> Iterator[int]:
    """Serve a Tornado ``app`` (for comparisons) on 127.0.0.1 from a :class:`LoopThread`;
    yields its port."""
    running = LoopThread("asyncio")
    try:
        server = running.call(lambda: app.listen(0, "127.0.0.1"))
        try:
            yield next(iter(server._sockets.values())).getsockname()[1]
        finally:
            running.call(server.stop)
    finally:
        running.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (for servers in subprocesses, or
    an address where nothing listens)."""
    sock, port = bind_unused_port(address=host)
    sock.close()
    return port


def _ready(port: int, http: bool) -> bool:
    """Whether a server on ``port`` accepts a connection (and, with ``http``, answers)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            if not http:
                return True
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False


class ServerProcess:
    """A server program run as a subprocess in its own session, listening on 127.0.0.1.

    ``args`` follow ``python``; the program runs in ``cwd`` (default examples/)
    with the repository on ``PYTHONPATH`` and ``env`` added to the environment.
    The constructor returns once the server answers an HTTP request on ``port``
    (with ``http=False``: accepts a connection), and raises with the program's
    stderr if it exits or is not ready within ``timeout`` seconds. :meth:`stop`
    signals the whole process group.
    """

    def __init__(
        self,
        args: list[str],
        port: int,
        cwd: Path = EXAMPLES,
        env: Mapping[str, str] | None = None,
        http: bool = True,
        timeout: float = 20,
    ) -> None:
        self.port = port
        fd, self._stderr_path = tempfile.mkstemp(prefix="dualweb-test-", suffix=".stderr")
        environ = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **(env or {}))
        with os.fdopen(fd, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=cwd,
                env=environ,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        self._final_stderr: str | None = None
        deadline = time.monotonic() + timeout
        while not _ready(port, http):
            if self.proc.poll() is not None:
                raise AssertionError(f"{args} exited early:\n{self.stop()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{args} not serving on {port} in {timeout} s:\n{self.stop()}")
            time.sleep(0.05)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request on a fresh connection: (status, headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def stderr(self) -> str:
        """What the program wrote to stderr so far."""
        if self._final_stderr is not None:
            return self._final_stderr
        return Path(self._stderr_path).read_text(errors="replace")

    def wait_for_stderr(self, text: str, timeout: float = 5.0) -> str:
        """Stderr once it contains ``text`` (or after ``timeout`` seconds, whatever it holds)."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.stderr()

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Send ``sig`` to the process group, wait (SIGKILL after 10 s); returns stderr.
        The exit status is then ``self.proc.returncode``."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self._final_stderr is None:
            self._final_stderr = self.stderr()
            os.unlink(self._stderr_path)
        return self._final_stderr


def make_cert(directory: Path) -> tuple[str, str]:
    """A self-signed certificate for localhost, 127.0.0.1 and ::1: (certfile, keyfile)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return str(cert), str(key)


def ipv6_available() -> bool:
    """Whether this machine can bind ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True
