"""The IOLoop: Tornado's event-loop API as a thin facade over asyncio.

There is exactly one :class:`IOLoop` per asyncio event loop, created on first
use: ``IOLoop.current()`` inside ``asyncio.run()`` (or any running loop) wraps
that loop, and ``IOLoop.current().start()`` in a plain script creates the
thread's asyncio loop and runs it. Everything scheduled through an IOLoop runs
on its asyncio loop, so asyncio and Tornado-style code mix freely.

Times are on :meth:`IOLoop.time`'s scale, which is ``time.time()`` as in
Tornado, so the common ``io_loop.add_timeout(time.time() + 5, cb)`` works;
``datetime.timedelta`` deadlines are relative.

When uvloop is installed (``pip install dualweb[speedups]``), importing
dualweb makes new asyncio event loops use it, so ``asyncio.run(main())`` and
``IOLoop.current().start()`` both run on uvloop. It stays off when the
environment variable ``DUALWEB_UVLOOP=0`` is set, when the application installed
its own event-loop policy (before importing dualweb, or after: the last policy
set wins), when dualweb is first imported inside a running event loop, and on
Python 3.14+, where event-loop policies are deprecated. :func:`install_uvloop`
switches it on explicitly, at startup, before any loop exists.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import functools
import inspect
import math
import numbers
import os
import random
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, overload

from dualweb.concurrent import (
    FUTURES,
    _get_event_loop,
    _peek_event_loop,
    future_add_done_callback,
)
from dualweb.connection import refuse_in_sync_request
from dualweb.log import app_log

# Re-exported because Tornado users import it from here; it is the builtin class.
from dualweb.util import Configurable, TimeoutError

__all__ = ["IOLoop", "PeriodicCallback", "TimeoutError", "install_uvloop"]


_T = TypeVar("_T")


class _Selectable(Protocol):
    def fileno(self) -> int: ...

    def close(self) -> None: ...


_FileLike = int | _Selectable


def install_uvloop() -> bool:
    """Make new asyncio event loops use uvloop, if it is installed.

    Call this once at startup, before :meth:`IOLoop.current` or anything
    else creates a loop: loops that already exist keep their implementation.
    Returns True if uvloop's policy was installed, False if uvloop is not
    importable (``pip install dualweb[speedups]``). Raises ``RuntimeError``
    if called while an event loop is running.
    """
    if asyncio._get_running_loop() is not None:
        raise RuntimeError(
            "install_uvloop() was called while an event loop is running; call it at "
            "startup, before IOLoop.current() or asyncio.run() creates a loop."
        )
    try:
        import uvloop
    except ImportError:
        return False
    with warnings.catch_warnings():
        # Event-loop policies are deprecated from Python 3.14 but remain the one
        # switch that makes IOLoop.current() and asyncio.new_event_loop() agree.
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


class IOLoop(Configurable):
    """Tornado's event loop API on top of an asyncio event loop.

    ``IOLoop()`` creates a new asyncio loop (and, with ``make_current=True``,
    makes it the thread's current loop); ``IOLoop(asyncio_loop=loop)`` wraps
    an existing one. Usually you want :meth:`IOLoop.current` instead.
    Only :meth:`add_callback` may be called from other threads.

    As in Tornado, IOLoop is :class:`~dualweb.util.Configurable`:
    ``IOLoop.configure(MyLoop)`` makes ``IOLoop(...)`` create a ``MyLoop``
    (a subclass that overrides :meth:`initialize`, not ``__init__``).

    Raises ``RuntimeError`` if ``asyncio_loop`` already has an IOLoop.
    """

    NONE = 0
    READ = 0x001
    WRITE = 0x004
    ERROR = 0x018

    # One IOLoop per asyncio loop. Weak keys let a finished asyncio.run() loop and
    # its IOLoop be collected; see _loop_ref for the other half of that.
    _ioloop_for_asyncio: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, IOLoop] = (
        weakref.WeakKeyDictionary()
    )
    _registry_lock = threading.Lock()
    _last_current: IOLoop | None = None

    # Tornado's Configurable: ``IOLoop(...)`` builds the configured class and calls its
    # initialize() with the arguments. Every IOLoop is asyncio-based, so any subclass
    # may be configured; IOLoop itself is the default.

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """:class:`IOLoop`: ``IOLoop(...)`` creates the class chosen with :meth:`configure`."""
        return IOLoop

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """:class:`IOLoop` itself (it runs on asyncio)."""
        return IOLoop

    @classmethod
    def configure(cls, impl: type[Configurable] | str | None, **kwargs: Any) -> None:
        """Make ``IOLoop(...)`` create ``impl`` (an IOLoop subclass or its dotted name).

        ``kwargs`` are passed to every new instance's :meth:`initialize`;
        ``impl=None`` restores the default. :meth:`current` is not affected: the
        IOLoop it returns for a loop that has none is always a plain IOLoop (as
        Tornado's is its asyncio main-loop class).

        Raises:
            ValueError: ``impl`` is not a subclass of :class:`IOLoop`.
        """
        super().configure(impl, **kwargs)

    def initialize(
        self,
        make_current: bool = True,
        *,
        asyncio_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Set up a new IOLoop (called with the constructor's arguments).

        Creates a new asyncio loop, or wraps ``asyncio_loop``; with
        ``make_current`` it becomes the thread's current loop. Subclasses
        override this (calling ``super().initialize(...)``) instead of ``__init__``.

        Raises:
            RuntimeError: ``asyncio_loop`` already has an IOLoop.
        """
        # A loop handed to the constructor is held strongly like one we create:
        # ``IOLoop(asyncio_loop=asyncio.new_event_loop())`` must not lose it.
        if asyncio_loop is None:
            asyncio_loop = asyncio.new_event_loop()
        self._setup(asyncio_loop, owned=True)
        if make_current:
            asyncio.set_event_loop(self.asyncio_loop)

    def _setup(self, loop: asyncio.AbstractEventLoop, owned: bool) -> None:
        # A loop given to IOLoop() is ours to keep alive (until close()); one that
        # current() merely wraps is held weakly, or the registry's value would keep
        # its own key alive forever.
        self._owned_loop = loop if owned else None
        self._loop_ref = weakref.ref(loop)
        self._handlers: dict[int, tuple[_FileLike, Callable[..., object]]] = {}
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        # asyncio keeps only weak references to tasks; callbacks' tasks live here.
        self._background: set[asyncio.Future[Any]] = set()
        with IOLoop._registry_lock:
            if loop in IOLoop._ioloop_for_asyncio:
                raise RuntimeError(f"asyncio loop {loop!r} already has an IOLoop")
            IOLoop._ioloop_for_asyncio[loop] = self

    @classmethod
    def _for_loop(cls, loop: asyncio.AbstractEventLoop) -> IOLoop:
        with cls._registry_lock:
            existing = cls._ioloop_for_asyncio.get(loop)
        if existing is not None:
            return existing
        io_loop = object.__new__(cls)
        try:
            io_loop._setup(loop, owned=False)
        except RuntimeError:
            # Another thread registered one between our lookup and setup.
            return cls._ioloop_for_asyncio[loop]
        return io_loop

    @property
    def asyncio_loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio event loop this IOLoop schedules everything on."""
        loop = self._loop_ref()
        if loop is None:
            raise RuntimeError("this IOLoop's asyncio loop has been garbage-collected")
        return loop

    @overload
    @staticmethod
    def current() -> IOLoop: ...

    @overload
    @staticmethod
    def current(instance: bool = True) -> IOLoop | None: ...

    @staticmethod
    def current(instance: bool = True) -> IOLoop | None:
        """Return the IOLoop of the running asyncio loop, or of this thread's loop.

        Inside a running loop this is always that loop's IOLoop. Otherwise it is
        the IOLoop of the thread's current asyncio loop; when the thread has
        none (or it is closed), one is created and set as current, so
        ``IOLoop.current().start()`` works in a plain script. With
        ``instance=False``, returns None instead of creating an IOLoop when no
        loop is running.
        """
        loop = asyncio._get_running_loop()
        if loop is not None:
            # Fast path for the common case of one loop per process: a weak-key
            # lookup allocates a weakref on every call; this check allocates nothing.
            cached = IOLoop._last_current
            if cached is not None and cached._loop_ref() is loop:
                return cached
            io_loop = IOLoop._ioloop_for_asyncio.get(loop)
            if io_loop is None:
                io_loop = IOLoop._for_loop(loop)
            IOLoop._last_current = io_loop
            return io_loop
        if not instance:
            loop = _peek_event_loop()
            return None if loop is None else IOLoop._ioloop_for_asyncio.get(loop)
        return IOLoop._for_loop(_get_event_loop())

    @staticmethod
    def instance() -> IOLoop:
        """Deprecated alias for :meth:`IOLoop.current`."""
        return IOLoop.current()

    def install(self) -> None:
        """Deprecated alias for :meth:`make_current`."""
        self.make_current()

    @staticmethod
    def clear_instance() -> None:
        """Deprecated alias for :meth:`clear_current`."""
        IOLoop.clear_current()

    def make_current(self) -> None:
        """Make this IOLoop's asyncio loop the thread's current loop.

        Deprecated as in Tornado 6.2 (emits ``DeprecationWarning``): prefer
        starting the loop, or ``asyncio.set_event_loop``.
        """
        warnings.warn(
            "make_current is deprecated; start the event loop first", DeprecationWarning, 2
        )
        asyncio.set_event_loop(self.asyncio_loop)

    @staticmethod
    def clear_current() -> None:
        """Unset the thread's current asyncio loop (deprecated, emits ``DeprecationWarning``).

        Intended for test frameworks between tests; the loop is not closed.
        """
        warnings.warn("clear_current is deprecated", DeprecationWarning, 2)
        asyncio.set_event_loop(None)

    def start(self) -> None:
        """Run the loop until :meth:`stop` is called.

        The loop is the thread's current loop while it runs; the previous
        current loop is restored afterwards. Raises ``RuntimeError`` if this or
        another loop is already running in this thread.
        """
        loop = self.asyncio_loop
        old_loop = _peek_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            asyncio.set_event_loop(old_loop)

    def stop(self) -> None:
        """Stop the loop after the current iteration; :meth:`start` then returns.

        Not thread-safe: from another thread use ``io_loop.add_callback(io_loop.stop)``.
        """
        self.asyncio_loop.stop()

    def close(self, all_fds: bool = False) -> None:
        """Close the loop, releasing its resources.

        The loop must be stopped (``start()`` has returned). With ``all_fds``,
        every file descriptor registered with :meth:`add_handler` is closed
        too. Raises ``RuntimeError`` if the loop is running.
        """
        loop = self.asyncio_loop
        if loop.is_running():
            raise RuntimeError("IOLoop.close() called while running; stop() it first")
        for fd in list(self._handlers):
            fileobj = self._handlers[fd][0]
            self.remove_handler(fd)
            if all_fds:
                self.close_fd(fileobj)
        with IOLoop._registry_lock:
            IOLoop._ioloop_for_asyncio.pop(loop, None)
        if IOLoop._last_current is self:
            IOLoop._last_current = None
        loop.close()

    # -- file descriptors ------------------------------------------------------------

    def split_fd(self, fd: _FileLike) -> tuple[int, _FileLike]:
        """Return ``(fileno, fd)`` for an integer descriptor or an object with ``fileno()``."""
        if isinstance(fd, int):
            return fd, fd
        return fd.fileno(), fd

    def close_fd(self, fd: _FileLike) -> None:
        """Close an integer descriptor or file-like object, ignoring ``OSError``."""
        try:
            if isinstance(fd, int):
                os.close(fd)
            else:
                fd.close()
        except OSError:
            pass

    def add_handler(
        self, fd: _FileLike, handler: Callable[[Any, int], object], events: int
    ) -> None:
        """Call ``handler(fd, events)`` whenever ``fd`` is ready for ``events``.

        ``events`` is a bitwise OR of :attr:`READ` and :attr:`WRITE` (``ERROR``
        is accepted and implied, as asyncio reports errors as readiness).
        ``fd`` is an integer or an object with ``fileno()``; the handler gets
        back whatever was passed. Raises ``ValueError`` if ``fd`` is already
        registered.
        """
        fileno, fileobj = self.split_fd(fd)
        if fileno in self._handlers:
            raise ValueError(f"fd {fileno} added twice; use update_handler() to change events")
        self._handlers[fileno] = (fileobj, handler)
        self._set_events(fileno, events)

    def update_handler(self, fd: _FileLike, events: int) -> None:
        """Change the events ``fd`` is watched for (``READ``, ``WRITE`` or both)."""
        fileno, _ = self.split_fd(fd)
        self._set_events(fileno, events)

    def remove_handler(self, fd: _FileLike) -> None:
        """Stop watching ``fd``; unknown descriptors are ignored."""
        fileno, _ = self.split_fd(fd)
        if fileno not in self._handlers:
            return
        self._set_events(fileno, IOLoop.NONE)
        del self._handlers[fileno]

    def _set_events(self, fileno: int, events: int) -> None:
        loop = self.asyncio_loop
        if events & IOLoop.READ:
            if fileno not in self._readers:
                loop.add_reader(fileno, self._handle_events, fileno, IOLoop.READ)
                self._readers.add(fileno)
        elif fileno in self._readers:
            loop.remove_reader(fileno)
            self._readers.discard(fileno)
        if events & IOLoop.WRITE:
            if fileno not in self._writers:
                loop.add_writer(fileno, self._handle_events, fileno, IOLoop.WRITE)
                self._writers.add(fileno)
        elif fileno in self._writers:
            loop.remove_writer(fileno)
            self._writers.discard(fileno)

    def _handle_events(self, fileno: int, events: int) -> None:
        entry = self._handlers.get(fileno)
        if entry is not None:
            entry[1](entry[0], events)

    # -- time and timers -------------------------------------------------------------

    def time(self) -> float:
        """Return the current time on the IOLoop's clock: ``time.time()``, as in Tornado."""
        return time.time()

    def call_at(
        self, when: float, callback: Callable[..., object], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        """Call ``callback(*args, **kwargs)`` at time ``when`` (on :meth:`time`'s scale).

        Returns a handle for :meth:`remove_timeout`. Exceptions from the
        callback are logged on ``dualweb.application``; if it returns an
        awaitable, that is run and its exception logged too.
        """
        return self.call_later(when - time.time(), callback, *args, **kwargs)

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        """Call ``callback(*args, **kwargs)`` after ``delay`` seconds; see :meth:`call_at`.

        Raises:
            AsyncUnavailableError: during a request served without an event
                loop (``WSGIAdapter``) when this IOLoop is not running, so the
                callback could never run.
        """
        if not self.asyncio_loop.is_running():
            refuse_in_sync_request("IOLoop.call_later()")
        if kwargs:
            callback = functools.partial(callback, *args, **kwargs)
            args = ()
        return self.asyncio_loop.call_later(max(delay, 0.0), self._run_callback, callback, *args)

    def add_timeout(
        self,
        deadline: float | datetime.timedelta,
        callback: Callable[..., object],
        *args: Any,
        **kwargs: Any,
    ) -> asyncio.TimerHandle:
        """Call ``callback(*args, **kwargs)`` at ``deadline``.

        ``deadline`` is an absolute time on :meth:`time`'s scale (e.g.
        ``io_loop.time() + 5``) or a ``datetime.timedelta`` relative to now.
        Returns a handle for :meth:`remove_timeout`; raises ``TypeError`` for
        any other deadline type.
        """
        if isinstance(deadline, numbers.Real):
            return self.call_at(float(deadline), callback, *args, **kwargs)
        if isinstance(deadline, datetime.timedelta):
            return self.call_later(deadline.total_seconds(), callback, *args, **kwargs)
        raise TypeError(f"Unsupported deadline {deadline!r}: use a float time or a timedelta")

    def remove_timeout(self, timeout: asyncio.TimerHandle | asyncio.Handle) -> None:
        """Cancel a pending timeout returned by :meth:`add_timeout` / ``call_at`` / ``call_later``.

        Cancelling one that already ran is harmless.
        """
        timeout.cancel()

    # -- callbacks -------------------------------------------------------------------

    def add_callback(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Call ``callback(*args, **kwargs)`` on the loop's next iteration.

        Safe to call from any thread (the only IOLoop method that is); this is
        how other threads hand work to the loop. Callbacks added after the loop
        was closed are dropped silently, as in Tornado.

        Raises:
            AsyncUnavailableError: during a request served without an event
                loop (``WSGIAdapter``) when this IOLoop is not running (handing
                work to a loop running in another thread is fine).
        """
        self._add_callback(callback, args, kwargs, "IOLoop.add_callback()")

    def _add_callback(
        self,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        where: str,
    ) -> None:
        if kwargs:
            callback = functools.partial(callback, *args, **kwargs)
            args = ()
        loop = self.asyncio_loop
        if asyncio._get_running_loop() is loop:
            loop.call_soon(self._run_callback, callback, *args)
            return
        if not loop.is_running():
            # Nothing would ever run it: during a WSGI request that must be loud.
            refuse_in_sync_request(where)
        try:
            loop.call_soon_threadsafe(self._run_callback, callback, *args)
        except RuntimeError:  # the loop is closed: dropped, as in Tornado
            pass

    def add_callback_from_signal(
        self, callback: Callable[..., object], *args: Any, **kwargs: Any
    ) -> None:
        """Like :meth:`add_callback`, safe to call from a signal handler (deprecated in Tornado)."""
        self.add_callback(callback, *args, **kwargs)

    def spawn_callback(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run ``callback`` on the next iteration, independently of the caller.

        The same as :meth:`add_callback`; the name says "fire and forget a coroutine".
        """
        self._add_callback(callback, args, kwargs, "IOLoop.spawn_callback()")

    def _run_callback(self, callback: Callable[..., object], *args: Any) -> None:
        try:
            result = callback(*args)
            if result is not None and inspect.isawaitable(result):
                self._spawn(result)
        except asyncio.CancelledError:
            pass
        except Exception:
            app_log.error("Exception in callback %r", callback, exc_info=True)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        fut = asyncio.ensure_future(awaitable, loop=self.asyncio_loop)
        self._background.add(fut)
        fut.add_done_callback(self._background_done)

    def _background_done(self, future: asyncio.Future[Any]) -> None:
        self._background.discard(future)
        if not future.cancelled() and future.exception() is not None:
            app_log.error("Exception in callback %r", future, exc_info=future.exception())

    def add_future(
        self,
        future: asyncio.Future[_T] | concurrent.futures.Future[_T],
        callback: Callable[[Any], object],
    ) -> None:
        """Call ``callback(future)`` on this loop once ``future`` is done.

        ``future`` may be an asyncio future or a ``concurrent.futures.Future``
        completed in another thread; either way the callback runs on the loop
        (and its exceptions are logged). Raises ``TypeError`` for non-futures.
        """
        if isinstance(future, asyncio.Future):
            future.add_done_callback(functools.partial(self._run_callback, callback))
        elif isinstance(future, FUTURES):
            future_add_done_callback(future, functools.partial(self.add_callback, callback))
        else:
            raise TypeError(f"IOLoop.add_future() expects a Future, got {future!r}")

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[..., _T],
        *args: Any,
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in ``executor`` and return an awaitable asyncio Future.

        With ``executor=None`` the loop's default thread pool is used (see
        :meth:`set_default_executor`).
        """
        return self.asyncio_loop.run_in_executor(executor, func, *args)

    def set_default_executor(self, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        """Use ``executor`` for :meth:`run_in_executor` calls that pass ``None``."""
        self.asyncio_loop.set_default_executor(executor)

    def run_sync(self, func: Callable[[], Any], timeout: float | None = None) -> Any:
        """Start the loop, run ``func``, wait for its result, stop the loop.

        ``func`` may be an ``async def`` function, a
        :func:`dualweb.gen.coroutine`, or return a future or any awaitable;
        a plain return value is returned as is. Its exception is raised here.
        With ``timeout`` (seconds), a still-running ``func`` is cancelled and
        ``TimeoutError`` raised. Typical use is a script's main::

            IOLoop.current().run_sync(main)

        Raises ``RuntimeError`` if the loop is already running, or if it was
        stopped before ``func`` finished.
        """
        loop = self.asyncio_loop
        if loop.is_running():
            raise RuntimeError(
                "IOLoop.run_sync() called while the loop is already running; "
                "await the coroutine instead"
            )
        cell: list[asyncio.Future[Any]] = []
        timed_out = False

        def run() -> None:
            try:
                fut = _as_future(func(), loop)
            except Exception as e:
                fut = loop.create_future()
                fut.set_exception(e)
            cell.append(fut)
            fut.add_done_callback(lambda _: loop.stop())

        def on_timeout() -> None:
            nonlocal timed_out
            timed_out = True
            if not cell or not cell[0].cancel():
                loop.stop()

        loop.call_soon(run)
        handle = loop.call_later(timeout, on_timeout) if timeout is not None else None
        self.start()
        if handle is not None:
            handle.cancel()
        if not cell or cell[0].cancelled() or not cell[0].done():
            if timed_out:
                raise TimeoutError(f"Operation timed out after {timeout} seconds")
            raise RuntimeError("Event loop stopped before Future completed.")
        return cell[0].result()



def _as_future(result: object, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
    if isinstance(result, asyncio.Future):
        return result
    if isinstance(result, concurrent.futures.Future):
        return asyncio.wrap_future(result, loop=loop)
    if inspect.isawaitable(result):
        return asyncio.ensure_future(result, loop=loop)
    fut: asyncio.Future[Any] = loop.create_future()
    fut.set_result(result)
    return fut


class PeriodicCallback:
    """Call ``callback`` every ``callback_time`` milliseconds while started.

    ``callback_time`` is in milliseconds (or a ``datetime.timedelta``).
    ``jitter`` (0 to 1) spreads each interval randomly by up to that fraction,
    so many processes do not fire in lockstep. If the loop was busy and runs
    were missed, they are skipped rather than fired in a burst. A callback
    that returns an awaitable is awaited before the next run is scheduled, so
    runs never overlap. Exceptions are logged on ``dualweb.application`` and
    the schedule continues.

    Raises ``ValueError`` if ``callback_time`` is not positive.
    """

    def __init__(
        self,
        callback: Callable[[], Awaitable[object] | object],
        callback_time: float | datetime.timedelta,
        jitter: float = 0,
    ) -> None:
        self.callback = callback
        if isinstance(callback_time, datetime.timedelta):
            self.callback_time = callback_time.total_seconds() * 1000.0
        else:
            self.callback_time = float(callback_time)
        if not self.callback_time > 0:
            raise ValueError(
                f"PeriodicCallback needs a positive callback_time in milliseconds, "
                f"got {callback_time!r}"
            )
        self.jitter = jitter
        self.io_loop: IOLoop | None = None
        self._running = False
        self._timeout: asyncio.TimerHandle | None = None
        self._next_timeout = 0.0

    def start(self) -> None:
        """Start calling; the first call happens one interval from now."""
        self.io_loop = IOLoop.current()
        self._running = True
        self._next_timeout = self.io_loop.time()
        self._schedule_next()

    def stop(self) -> None:
        """Stop calling; a run in progress finishes but no new one is scheduled."""
        self._running = False
        if self._timeout is not None and self.io_loop is not None:
            self.io_loop.remove_timeout(self._timeout)
            self._timeout = None

    def is_running(self) -> bool:
        """Return True between :meth:`start` and :meth:`stop`."""
        return self._running

    def _run(self) -> None:
        if not self._running:
            return
        try:
            result = self.callback()
        except Exception:
            app_log.error("Exception in callback %r", self.callback, exc_info=True)
            self._schedule_next()
            return
        if result is not None and inspect.isawaitable(result):
            assert self.io_loop is not None
            self.io_loop._spawn(self._await_then_schedule(result))
        else:
            self._schedule_next()

    async def _await_then_schedule(self, awaitable: Awaitable[object]) -> None:
        try:
            await awaitable
        except Exception:
            app_log.error("Exception in callback %r", self.callback, exc_info=True)
        finally:
            self._schedule_next()

    def _schedule_next(self) -> None:
        if not self._running or self.io_loop is None:
            return
        self._update_next(self.io_loop.time())
        self._timeout = self.io_loop.add_timeout(self._next_timeout, self._run)

    def _update_next(self, now: float) -> None:
        period = self.callback_time / 1000.0
        if self.jitter:
            period *= 1 + self.jitter * (random.random() - 0.5)
        if self._next_timeout <= now:
            # Skip whole periods that were missed while the loop was busy.
            self._next_timeout += (math.floor((now - self._next_timeout) / period) + 1) * period
        else:
            # The clock went backwards; keep a sane spacing instead of a long stall.
            self._next_timeout += period
