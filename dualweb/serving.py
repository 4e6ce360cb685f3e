"""Running an application as a service: what ``python -m dualweb serve`` does.

``dualweb serve`` starts a small supervisor process that binds the listening
socket(s) once and runs the application in one or more worker processes,
each a fresh ``python -m dualweb serve`` that accepts on the inherited
sockets with the native :class:`~dualweb.httpserver.HTTPServer`:

* ``SIGHUP`` (or a changed source file with ``--reload``) restarts without
  downtime: new workers import the code afresh and start accepting on the
  same sockets; once they are ready, the old ones stop accepting and drain
  (:mod:`dualweb.shutdown`). Because the socket itself never closes, no
  connection is refused or reset during the swap. If the new code fails to
  start, the old workers keep serving and the error is logged.
* ``SIGTERM``/``SIGINT`` shut every worker down gracefully; the supervisor
  exits 0.
* A worker that dies unexpectedly is replaced.

TCP sockets are bound with ``SO_REUSEPORT`` where available, so a second
``dualweb serve`` can also be started on the same port next to a running one.

The functions here are the building blocks of the CLI; most programs use the
CLI, or :func:`dualweb.shutdown.serve_until_signal` in their own ``main()``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dualweb.log import gen_log

__all__ = [
    "AppLoadError",
    "ServeConfig",
    "load_app",
    "raise_open_files_limit",
    "run_supervisor",
    "run_worker",
]

# Set in a worker's environment by the supervisor: the inherited listening
# sockets and the pipe on which the worker reports that it accepts.
LISTEN_FDS_ENV = "DUALWEB_LISTEN_FDS"
READY_FD_ENV = "DUALWEB_READY_FD"
_READY_TIMEOUT = 30.0
_POLL_INTERVAL = 0.1
_RELOAD_INTERVAL = 1.0  # seconds between scans of the source files with --reload


class AppLoadError(Exception):
    """``module:attribute`` could not be turned into an application; the message says why."""


def load_app(target: str) -> Any:
    """Import ``"module:attribute"`` and return the application it names.

    ``attribute`` may be dotted (``"pkg.web:factories.make_app"``). If it is a
    callable that is not itself an application (an object with
    ``start_request``, such as :class:`~dualweb.web.Application`), it is called
    without arguments as a factory. The current directory is put on
    ``sys.path`` first, as gunicorn does. Raises :class:`AppLoadError` for a
    malformed target, a missing module or attribute, or a factory that fails.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise AppLoadError(f"expected 'module:attribute' (e.g. 'myapp:app'), got {target!r}")
    _cwd_on_path()
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppLoadError(f"cannot import module {module_name!r}: {exc}") from exc
        raise
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not hasattr(obj, "start_request") and callable(obj):
        obj = obj()
    if not hasattr(obj, "start_request"):
        raise AppLoadError(
            f"{target} is {type(obj).__name__}, not a dualweb Application "
            "(or a function returning one)"
        )
    return obj


def _cwd_on_path() -> None:
    # As gunicorn does: "myapp:app" finds myapp.py in the directory serve runs in
    # (also for --reload, which looks the module up without importing it).
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's open-files soft limit to its hard limit; log both.

    A server with many idle connections (WebSockets, long polls) otherwise
    meets "Too many open files" at the default soft limit (often 1024).
    Returns the ``(soft, hard)`` limits now in force. Never raises: if the
    limit cannot be changed, a warning is logged.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            gen_log.warning("Could not raise the open files limit from %d to %d: %s",
                            soft, hard, exc)
            return soft, hard
        gen_log.info("Open files limit: soft %d raised to the hard limit %d", soft, hard)
        return hard, hard
    gen_log.info("Open files limit: soft %d, hard %d", soft, hard)
    return soft, hard


@dataclass
class ServeConfig:
    """Options of ``dualweb serve`` that the supervisor and its workers share."""

    target: str
    host: str = "127.0.0.1"
    port: int = 8888
    unix_socket: str | None = None
    processes: int = 1
    reload: bool = False
    debug: bool = False
    certfile: str | None = None
    keyfile: str | None = None
    graceful_timeout: float = 30.0
    worker_argv: list[str] = field(default_factory=list)
    """The command that starts one worker (``python -m dualweb serve ...``)."""

    def ssl_options(self) -> dict[str, str] | None:
        """``HTTPServer`` TLS options from ``certfile``/``keyfile``, or ``None``."""
        if not self.certfile:
            return None
        options = {"certfile": self.certfile}
        if self.keyfile:
            options["keyfile"] = self.keyfile
        return options


# -- the worker -------------------------------------------------------------------


def run_worker(config: ServeConfig, fds: Sequence[int], ready_fd: int | None) -> int:
    """Serve ``config.target`` on the inherited listening ``fds`` until SIGTERM; return 0.

    Called in a process started by the supervisor. SIGINT is ignored (Ctrl-C
    in a terminal reaches the supervisor, which stops the workers with
    SIGTERM); SIGTERM drains within ``config.graceful_timeout``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    app = load_app(config.target)
    if config.debug and hasattr(app, "settings"):
        app.settings["debug"] = True
        app.settings.setdefault("serve_traceback", True)
    sockets = [socket.socket(fileno=fd) for fd in fds]
    asyncio.run(_serve(app, config, sockets, ready_fd))
    return 0


async def _serve(
    app: Any, config: ServeConfig, sockets: list[socket.socket], ready_fd: int | None
) -> None:
    from dualweb.httpserver import HTTPServer
    from dualweb.shutdown import serve_until_signal

    server = HTTPServer(app, ssl_options=config.ssl_options())
    server.add_sockets(sockets)
    await asyncio.sleep(0)  # let the server register its sockets with the loop
    if ready_fd is not None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    gen_log.info("Worker %d serving %s", os.getpid(), config.target)
    await serve_until_signal(server, timeout=config.graceful_timeout, signals=(signal.SIGTERM,))


# -- the supervisor ---------------------------------------------------------------


def bind_listeners(config: ServeConfig) -> list[socket.socket]:
    """Bind the sockets ``config`` asks for (a Unix socket, or TCP with ``SO_REUSEPORT``)."""
    from dualweb.netutil import bind_sockets, bind_unix_socket

    if config.unix_socket:
        return [bind_unix_socket(config.unix_socket, mode=0o666)]
    reuse_port = hasattr(socket, "SO_REUSEPORT")
    return bind_sockets(config.port, config.host, reuse_port=reuse_port)


def describe(sock: socket.socket, tls: bool) -> str:
    """A URL-ish description of a listening socket for the log."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name}"
    host, port = name[0], name[1]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"


class _Supervisor:
    def __init__(self, config: ServeConfig, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.workers: list[subprocess.Popen[bytes]] = []
        self.retiring: list[subprocess.Popen[bytes]] = []
        self.stop_signal: int | None = None
        self.restart_requested = False
        self.watched: dict[Path, float] = {}
        self.next_scan = 0.0

    def on_signal(self, signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            self.restart_requested = True
        else:
            self.stop_signal = signum

    def spawn(self) -> subprocess.Popen[bytes] | None:
        """Start one worker and wait until it accepts; ``None`` if it failed to start."""
        fds = [sock.fileno() for sock in self.sockets]
        read_end, write_end = os.pipe()
        env = dict(os.environ)
        env[LISTEN_FDS_ENV] = ",".join(str(fd) for fd in fds)
        env[READY_FD_ENV] = str(write_end)
        try:
            proc = subprocess.Popen(self.config.worker_argv, env=env, pass_fds=(*fds, write_end))
        finally:
            os.close(write_end)
        try:
            deadline = time.monotonic() + _READY_TIMEOUT
            while time.monotonic() < deadline and self.stop_signal is None:
                ready, _, _ = select.select([read_end], [], [], _POLL_INTERVAL)
                if ready:
                    if os.read(read_end, 1) == b"1":
                        return proc
                    break  # EOF: the worker exited before it was ready
        finally:
            os.close(read_end)
        _terminate([proc], timeout=5)
        return None

    def spawn_all(self) -> list[subprocess.Popen[bytes]] | None:
        started: list[subprocess.Popen[bytes]] = []
        for _ in range(self.config.processes):
            proc = self.spawn()
            if proc is None:
                _terminate(started, timeout=5)
                return None
            started.append(proc)
        return started

    def restart(self, reason: str) -> None:
        gen_log.info("Restarting workers (%s)", reason)
        fresh = self.spawn_all()
        if fresh is None:
            gen_log.error("Restart failed: new workers did not start; the old ones keep serving")
            return
        for proc in self.workers:
            proc.send_signal(signal.SIGTERM)
        self.retiring.extend(self.workers)
        self.workers = fresh
        gen_log.info("Restart done: %s", ", ".join(str(p.pid) for p in fresh))

    def reap(self) -> None:
        self.retiring = [proc for proc in self.retiring if proc.poll() is None]
        for index, proc in enumerate(self.workers):
            if proc.poll() is None:
                continue
            gen_log.error("Worker %d exited with status %s; starting a new one",
                          proc.pid, proc.returncode)
            fresh = self.spawn()
            if fresh is None:
                raise SystemExit("dualweb serve: a worker could not be restarted; giving up")
            self.workers[index] = fresh

    def files_changed(self) -> bool:
        now = time.monotonic()
        if now < self.next_scan:
            return False
        self.next_scan = now + _RELOAD_INTERVAL
        changed = False
        for path in _source_files(self.config.target):
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            previous = self.watched.get(path)
            if previous is not None and mtime != previous:
                changed = True
            self.watched[path] = mtime
        return changed

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self.on_signal)
        if self.config.reload:
            self.files_changed()
        started = self.spawn_all()
        if started is None:
            gen_log.error("Workers did not start; see the errors above")
            return 1
        self.workers = started
        tls = self.config.ssl_options() is not None
        for sock in self.sockets:
            gen_log.info("Listening on %s (%d worker(s))",
                         describe(sock, tls), self.config.processes)
        while self.stop_signal is None:
            time.sleep(_POLL_INTERVAL)
            if self.restart_requested:
                self.restart_requested = False
                self.restart("SIGHUP")
            elif self.config.reload and self.files_changed():
                self.restart("source changed")
            self.reap()
        gen_log.info("Received %s: stopping workers gracefully",
                     signal.Signals(self.stop_signal).name)
        _terminate(self.workers + self.retiring, timeout=self.config.graceful_timeout + 5)
        return 0


def _source_files(target: str) -> Iterable[Path]:
    """Python files next to the target module (and below, for a package)."""
    import importlib.util

    top = target.partition(":")[0].split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return ()
    if spec is None or not spec.origin or not spec.has_location:
        return ()
    origin = Path(spec.origin)
    if spec.submodule_search_locations:
        return origin.parent.rglob("*.py")
    return origin.parent.glob("*.py")


def _terminate(procs: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM ``procs``, wait up to ``timeout`` seconds, then kill what is left."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            gen_log.warning("Worker %d did not stop in %.3gs; killing it", proc.pid, timeout)
            proc.kill()
            proc.wait()


def run_supervisor(config: ServeConfig) -> int:
    """Bind, start ``config.processes`` workers and supervise them; return the exit status.

    Raises the open-files limit first (:func:`raise_open_files_limit`). See
    the module docstring for signals and restarts. Raises :class:`OSError`
    if the address cannot be bound.
    """
    _cwd_on_path()
    raise_open_files_limit()
    sockets = bind_listeners(config)
    try:
        return _Supervisor(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()
        if config.unix_socket:
            try:
                os.remove(config.unix_socket)
            except OSError:
                pass


def configure_logging(debug: bool) -> None:
    """Log to stderr through dualweb's formatter at INFO (DEBUG with ``debug``)."""
    from dualweb.log import LogFormatter

    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(LogFormatter(color=False))
        root.addHandler(handler)
