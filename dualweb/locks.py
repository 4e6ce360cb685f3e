"""Coordination primitives for coroutines on one event loop.

:class:`Condition`, :class:`Event`, :class:`Semaphore`,
:class:`BoundedSemaphore` and :class:`Lock` behave like their Tornado
counterparts: they are *not* thread-safe (use them from the loop's thread),
and every waiting method takes an optional ``timeout``, which is an absolute
time on :meth:`dualweb.ioloop.IOLoop.time`'s scale (``io_loop.time() + 1``)
or a ``datetime.timedelta`` relative to now. Waiting past it raises
:class:`TimeoutError` (the builtin class), except for
:meth:`Condition.wait`, which resolves to ``False``.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import types
from collections.abc import Awaitable, Callable
from typing import Any

from dualweb.concurrent import _get_event_loop, future_set_result_unless_cancelled
from dualweb.gen import with_timeout
from dualweb.ioloop import IOLoop
from dualweb.util import TimeoutError

__all__ = ["BoundedSemaphore", "Condition", "Event", "Lock", "Semaphore"]

_Timeout = float | datetime.timedelta


def _arm_timeout(
    waiter: asyncio.Future[Any], timeout: _Timeout, on_timeout: Callable[[], None]
) -> None:
    """Call ``on_timeout`` at ``timeout`` unless ``waiter`` is done first."""
    handle = IOLoop.current().add_timeout(timeout, on_timeout)
    waiter.add_done_callback(lambda _: handle.cancel())


class _TimeoutGarbageCollector:
    """Drops abandoned waiters now and then, so a busy primitive cannot grow forever.

    Waiters that timed out or were cancelled stay in the deque until someone
    pops them; a primitive that is never notified would otherwise accumulate
    one per timed-out wait.
    """

    def __init__(self) -> None:
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._timeouts = 0

    def _garbage_collect(self) -> None:
        self._timeouts += 1
        if self._timeouts > 100:
            self._timeouts = 0
            self._waiters = collections.deque(w for w in self._waiters if not w.done())


class Condition(_TimeoutGarbageCollector):
    """Let coroutines wait until another one notifies them.

    ``await condition.wait()`` blocks until :meth:`notify` or
    :meth:`notify_all`; waiters are woken in the order they started waiting.
    """

    def __repr__(self) -> str:
        waiting = f" waiters[{len(self._waiters)}]" if self._waiters else ""
        return f"<{type(self).__name__}{waiting}>"

    def wait(self, timeout: _Timeout | None = None) -> Awaitable[bool]:
        """Wait for a notification; resolves to True, or False if ``timeout`` passes first."""
        waiter: asyncio.Future[bool] = _get_event_loop().create_future()
        self._waiters.append(waiter)
        if timeout is not None:

            def on_timeout() -> None:
                if not waiter.done():
                    waiter.set_result(False)
                self._garbage_collect()

            _arm_timeout(waiter, timeout, on_timeout)
        return waiter

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` waiters (fewer if fewer are waiting)."""
        woken = []
        while n and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                n -= 1
                woken.append(waiter)
        for waiter in woken:
            future_set_result_unless_cancelled(waiter, True)

    def notify_all(self) -> None:
        """Wake every waiter."""
        self.notify(len(self._waiters))


class Event:
    """A flag coroutines can wait on: :meth:`wait` blocks until :meth:`set` is called.

    The flag starts false; :meth:`clear` makes later waits block again.
    """

    def __init__(self) -> None:
        self._value = False
        self._waiters: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'set' if self.is_set() else 'clear'}>"

    def is_set(self) -> bool:
        """Return True if the flag is set."""
        return self._value

    def set(self) -> None:
        """Set the flag and wake every waiter; waits started while it is set return at once."""
        if not self._value:
            self._value = True
            for fut in self._waiters:
                if not fut.done():
                    fut.set_result(None)

    def clear(self) -> None:
        """Reset the flag, so later :meth:`wait` calls block until the next :meth:`set`."""
        self._value = False

    def wait(self, timeout: _Timeout | None = None) -> Awaitable[None]:
        """Wait until the flag is set; raises :class:`TimeoutError` if ``timeout`` passes first."""
        fut: asyncio.Future[None] = _get_event_loop().create_future()
        if self._value:
            fut.set_result(None)
            return fut
        self._waiters.add(fut)
        fut.add_done_callback(self._waiters.discard)
        if timeout is None:
            return fut
        timed = with_timeout(timeout, fut, quiet_exceptions=(asyncio.CancelledError,))
        # Waiting ended (timed out, or our caller was cancelled): stop being a waiter.
        timed.add_done_callback(lambda _: fut.cancel())
        return timed


class _AsyncWithOnly:
    """``async with`` releases on exit; a plain ``with`` fails loudly.

    Shared by :class:`Semaphore` and :class:`Lock`, which provide ``release()``
    and their own ``__aenter__``.
    """

    __slots__ = ()

    def release(self) -> None:
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: types.TracebackType | None,
    ) -> None:
        """Release."""
        self.release()

    def __enter__(self) -> None:
        """Not supported: raises ``RuntimeError`` telling you to use ``async with``."""
        raise RuntimeError(f"Use 'async with' instead of 'with' for {type(self).__name__}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: types.TracebackType | None,
    ) -> None:
        """Never reached: :meth:`__enter__` raises."""
        self.__enter__()


class _ReleasingContextManager:
    """Releases the semaphore on exit; what ``yield semaphore.acquire()`` resolves to.

    This keeps Tornado's ``with (yield sem.acquire()):`` idiom working.
    """

    __slots__ = ("_obj",)

    def __init__(self, obj: Semaphore | Lock) -> None:
        self._obj = obj

    def __enter__(self) -> None:
        pass

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: types.TracebackType | None,
    ) -> None:
        self._obj.release()


class Semaphore(_AsyncWithOnly, _TimeoutGarbageCollector):
    """A counter that limits how many coroutines use a resource at once.

    :meth:`acquire` decrements it, waiting while it is zero; :meth:`release`
    increments it and wakes the longest waiter. Use ``async with sem:``.
    Raises ``ValueError`` if ``value`` is negative.
    """

    def __init__(self, value: int = 1) -> None:
        super().__init__()
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value

    def __repr__(self) -> str:
        state = "locked" if self._value == 0 else f"unlocked,value:{self._value}"
        waiting = f",waiters:{len(self._waiters)}" if self._waiters else ""
        return f"<{type(self).__name__} [{state}{waiting}]>"

    def release(self) -> None:
        """Increment the counter and wake one waiter, if any."""
        self._value += 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._value -= 1
                waiter.set_result(_ReleasingContextManager(self))
                break

    def acquire(self, timeout: _Timeout | None = None) -> Awaitable[_ReleasingContextManager]:
        """Decrement the counter, waiting while it is zero.

        Raises :class:`TimeoutError` if ``timeout`` passes first. The result is
        a context manager that releases on exit (Tornado's
        ``with (yield sem.acquire()):``).
        """
        waiter: asyncio.Future[_ReleasingContextManager] = _get_event_loop().create_future()
        if self._value > 0:
            self._value -= 1
            waiter.set_result(_ReleasingContextManager(self))
            return waiter
        self._waiters.append(waiter)
        if timeout is not None:

            def on_timeout() -> None:
                if not waiter.done():
                    waiter.set_exception(TimeoutError())
                self._garbage_collect()

            _arm_timeout(waiter, timeout, on_timeout)
        return waiter

    async def __aenter__(self) -> None:
        """Acquire, waiting if needed."""
        waiter = self.acquire()
        try:
            await waiter
        except asyncio.CancelledError:
            # Cancelled after release() handed us the slot but before we resumed:
            # give it back, or it would be lost for good.
            assert isinstance(waiter, asyncio.Future)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()
            raise


class BoundedSemaphore(Semaphore):
    """A :class:`Semaphore` that refuses to be released more often than acquired.

    :meth:`release` raises ``ValueError`` if it would push the counter above
    its initial value, which usually means a bug.
    """

    def __init__(self, value: int = 1) -> None:
        super().__init__(value=value)
        self._initial_value = value

    def release(self) -> None:
        """Increment the counter; raises ``ValueError`` if released too many times."""
        if self._value >= self._initial_value:
            raise ValueError("Semaphore released too many times")
        super().release()


class Lock(_AsyncWithOnly):
    """A mutual-exclusion lock for coroutines.

    ``async with lock:`` holds it for the block; waiters acquire it in the
    order they asked. It is not reentrant.
    """

    def __init__(self) -> None:
        self._block = BoundedSemaphore(value=1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} _block={self._block}>"

    def acquire(self, timeout: _Timeout | None = None) -> Awaitable[_ReleasingContextManager]:
        """Wait for the lock; raises :class:`TimeoutError` if ``timeout`` passes first."""
        return self._block.acquire(timeout)

    def release(self) -> None:
        """Release the lock, waking the next waiter; ``RuntimeError`` if it is not held."""
        try:
            self._block.release()
        except ValueError:
            raise RuntimeError("release unlocked lock") from None

    async def __aenter__(self) -> None:
        """Acquire the lock, waiting if needed."""
        await self._block.__aenter__()
