"""Multi-process servers and non-blocking subprocesses.

* :func:`fork_processes` forks worker processes that share listening
  sockets (``server.bind(8888); server.start(0)`` uses it) and supervises
  them from the parent, restarting workers that crash.
* :func:`task_id` tells a worker which one it is.
* :class:`Subprocess` runs a child program whose pipes are
  :class:`~dualweb.iostream.PipeIOStream` objects and whose exit can be awaited.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from dualweb.iostream import PipeIOStream
from dualweb.log import gen_log
from dualweb.netutil import _current_loop

if TYPE_CHECKING:
    from dualweb.ioloop import IOLoop

__all__ = ["CalledProcessError", "Subprocess", "cpu_count", "fork_processes", "task_id"]

CalledProcessError = subprocess.CalledProcessError

# The worker number of this process, set in children by fork_processes
# (a per-process singleton, like Tornado's).
_task_id: int | None = None

_DEFAULT_MAX_RESTARTS = 100


def cpu_count() -> int:
    """The number of processors this process may use (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:
            pass
    count = os.cpu_count()
    if count:
        return count
    gen_log.error("Could not detect number of processors; assuming 1")
    return 1


def _reseed_random() -> None:
    # Children inherit the parent's random state; give each its own sequence.
    random.seed(int.from_bytes(os.urandom(16), "big"))


def task_id() -> int | None:
    """This worker's number (0 to n-1) under :func:`fork_processes`, or None if not forked."""
    return _task_id


def fork_processes(num_processes: int | None, max_restarts: int | None = None) -> int:
    """Fork ``num_processes`` worker processes and return the worker's number in each.

    ``num_processes`` of ``None`` or ``0`` (or less) means one per CPU
    (:func:`cpu_count`). Each child returns immediately with its task id
    (``0`` .. ``n-1``, also available from :func:`task_id`) and a freshly
    seeded :mod:`random`. The parent never returns: it waits for the
    children, forks a replacement for any child that dies from a signal or
    exits with a non-zero status (at most ``max_restarts`` times in total,
    default 100), and exits with status 0 once every child has exited
    successfully. On ``SIGTERM``/``SIGINT`` the parent forwards the signal to
    its children, stops restarting them, and exits with status 0 when they
    are gone.

    Call it before any event loop is created or used: the children must not
    share the parent's loop. Listening sockets bound before the call are
    shared by all children. Raises :class:`RuntimeError` when called inside a
    running event loop, on Windows, or when restarts exceed ``max_restarts``.
    """
    global _task_id
    if sys.platform == "win32":
        raise RuntimeError("fork_processes() is not available on Windows")
    if _task_id is not None:
        raise RuntimeError("fork_processes() was already called in this process")
    if asyncio._get_running_loop() is not None:
        raise RuntimeError(
            "fork_processes() cannot run inside a running event loop: bind the sockets, "
            "call fork_processes() (or server.start(n)), then start the loop"
        )
    if max_restarts is None:
        max_restarts = _DEFAULT_MAX_RESTARTS
    if num_processes is None or num_processes <= 0:
        num_processes = cpu_count()
    gen_log.info("Starting %d processes", num_processes)
    children: dict[int, int] = {}
    for worker in range(num_processes):
        pid = os.fork()
        if pid == 0:
            _reseed_random()
            _task_id = worker
            return worker
        children[pid] = worker
    return _supervise(children, max_restarts)


def _supervise(children: dict[int, int], max_restarts: int) -> int:
    """The parent's loop: wait for children and restart crashed ones.

    Returns only in a restarted child (its task id); the parent exits here.
    """
    global _task_id
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    restarts = 0
    while children:
        pid, status = os.wait()
        worker = children.pop(pid, None)
        if worker is None:
            continue
        if os.WIFSIGNALED(status):
            problem = f"killed by signal {os.WTERMSIG(status)}"
        elif os.WEXITSTATUS(status) != 0:
            problem = f"exited with status {os.WEXITSTATUS(status)}"
        else:
            gen_log.info("child %d (pid %d) exited normally", worker, pid)
            continue
        if stopping:
            gen_log.info("child %d (pid %d) %s during shutdown", worker, pid, problem)
            continue
        restarts += 1
        if restarts > max_restarts:
            gen_log.error("child %d (pid %d) %s", worker, pid, problem)
            raise RuntimeError(
                f"Too many child restarts (max_restarts={max_restarts}), giving up"
            )
        gen_log.warning("child %d (pid %d) %s, restarting", worker, pid, problem)
        new_pid = os.fork()
        if new_pid == 0:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _reseed_random()
            _task_id = worker
            # This process is now the replacement worker: leave the supervisor.
            return worker
        children[new_pid] = worker
    # Every child is done: the parent has no work of its own.
    sys.exit(0)



class Subprocess:
    """A child process with non-blocking pipes and an awaitable exit.

    Takes the arguments of :class:`subprocess.Popen`; for ``stdin``,
    ``stdout`` and ``stderr``, :attr:`Subprocess.STREAM` gives a
    :class:`~dualweb.iostream.PipeIOStream` in the attribute of the same
    name (``proc.stdout`` ...), while other values behave as in ``Popen``::

        proc = Subprocess(["ls", "-l"], stdout=Subprocess.STREAM)
        listing = await proc.stdout.read_until_close()
        status = await proc.wait_for_exit()

    ``pid``, ``returncode`` and the underlying ``proc`` (the ``Popen``
    object) are available too. The exit is detected by a small waiter
    thread, so no ``SIGCHLD`` handler is installed.
    """

    #: Pass as ``stdin``/``stdout``/``stderr`` to get a PipeIOStream.
    STREAM = object()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = _current_loop()
        to_close: list[int] = []
        streams: dict[str, int] = {}
        for name in ("stdin", "stdout", "stderr"):
            if kwargs.get(name) is Subprocess.STREAM:
                read_fd, write_fd = os.pipe()
                if name == "stdin":
                    kwargs[name], ours = read_fd, write_fd
                    to_close.append(read_fd)
                else:
                    kwargs[name], ours = write_fd, read_fd
                    to_close.append(write_fd)
                streams[name] = ours
        try:
            self.proc = subprocess.Popen(*args, **kwargs)
        except BaseException:
            for fd in to_close + list(streams.values()):
                os.close(fd)
            raise
        for fd in to_close:
            # The child holds its ends now; ours would keep the pipes open forever.
            os.close(fd)
        self.stdin: PipeIOStream | None = None
        self.stdout: PipeIOStream | None = None
        self.stderr: PipeIOStream | None = None
        for name, fd in streams.items():
            setattr(self, name, PipeIOStream(fd))
        self.pid = self.proc.pid
        self.returncode: int | None = None
        self._exit_callback: Callable[[int], None] | None = None
        self._waiters: list[asyncio.Future[int]] = []
        self._watch = threading.Thread(
            target=self._wait_in_thread, name=f"dualweb-subprocess-{self.pid}", daemon=True
        )
        self._watch.start()

    def _wait_in_thread(self) -> None:
        returncode = self.proc.wait()
        try:
            self._loop.call_soon_threadsafe(self._set_returncode, returncode)
        except RuntimeError:
            # The loop was closed before the child exited; nobody is waiting.
            pass

    def _set_returncode(self, returncode: int) -> None:
        self.returncode = returncode
        callback, self._exit_callback = self._exit_callback, None
        if callback is not None:
            callback(returncode)
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(returncode)

    def set_exit_callback(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(returncode)`` on the event loop when the process exits.

        Runs soon if it has exited already. ``returncode`` is negative when
        the process was killed by a signal, as in :mod:`subprocess`.
        """
        if self.returncode is not None:
            self._loop.call_soon(callback, self.returncode)
        else:
            self._exit_callback = callback

    def wait_for_exit(self, raise_error: bool = True) -> asyncio.Future[int]:
        """A future resolving to the exit status once the process ends.

        With ``raise_error`` (the default) a non-zero status raises
        :class:`subprocess.CalledProcessError` (also exported as
        ``dualweb.process.CalledProcessError``) through the future instead.
        """
        future: asyncio.Future[int] = self._loop.create_future()

        def finish(returncode: int) -> None:
            if future.done():
                return
            if returncode != 0 and raise_error:
                future.set_exception(CalledProcessError(returncode, self.proc.args))
            else:
                future.set_result(returncode)

        if self.returncode is not None:
            finish(self.returncode)
            return future
        inner: asyncio.Future[int] = self._loop.create_future()
        inner.add_done_callback(lambda f: finish(f.result()))
        self._waiters.append(inner)
        return future

    @property
    def io_loop(self) -> IOLoop:
        """The :class:`~dualweb.ioloop.IOLoop` that exit callbacks run on."""
        from dualweb.ioloop import IOLoop

        return IOLoop._for_loop(self._loop)

    @classmethod
    def initialize(cls) -> None:
        """Kept for Tornado compatibility; exits are watched without a ``SIGCHLD`` handler."""

    @classmethod
    def uninitialize(cls) -> None:
        """Kept for Tornado compatibility; does nothing."""
