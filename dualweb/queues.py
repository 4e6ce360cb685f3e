"""Queues for coordinating producer and consumer coroutines.

:class:`Queue` (first in, first out), :class:`PriorityQueue` (lowest first)
and :class:`LifoQueue` (last in, first out) follow Tornado's API: ``await
q.put(item)`` waits while the queue is full, ``await q.get()`` while it is
empty, ``q.task_done()`` and ``await q.join()`` track processing, and
``async for item in q`` consumes forever. Like the locks, they are not
thread-safe, and timeouts are absolute times on
:meth:`dualweb.ioloop.IOLoop.time`'s scale or ``datetime.timedelta`` objects,
raising :class:`TimeoutError` (the builtin class) when they pass.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import heapq
from collections.abc import Awaitable, MutableSequence
from typing import Any, Generic, TypeVar, cast

from dualweb.concurrent import _get_event_loop, future_set_result_unless_cancelled
from dualweb.ioloop import IOLoop
from dualweb.locks import Event
from dualweb.util import TimeoutError

__all__ = ["LifoQueue", "PriorityQueue", "Queue", "QueueEmpty", "QueueFull"]

_T = TypeVar("_T")
_Timeout = float | datetime.timedelta


class QueueEmpty(Exception):
    """Raised by :meth:`Queue.get_nowait` when the queue has no items."""


class QueueFull(Exception):
    """Raised by :meth:`Queue.put_nowait` when the queue is at its maxsize."""


def _set_timeout(future: asyncio.Future[Any], timeout: _Timeout | None) -> None:
    if timeout is None:
        return

    def on_timeout() -> None:
        if not future.done():
            future.set_exception(TimeoutError())

    handle = IOLoop.current().add_timeout(timeout, on_timeout)
    future.add_done_callback(lambda _: handle.cancel())


class _QueueIterator(Generic[_T]):
    __slots__ = ("_queue",)

    def __init__(self, q: Queue[_T]) -> None:
        self._queue = q

    def __aiter__(self) -> _QueueIterator[_T]:
        return self

    def __anext__(self) -> Awaitable[_T]:
        return self._queue.get()


class Queue(Generic[_T]):
    """A first-in, first-out queue for coroutines.

    ``maxsize=0`` (the default) means unbounded; otherwise :meth:`put` waits
    while ``maxsize`` items are queued. Raises ``TypeError`` if ``maxsize``
    is None and ``ValueError`` if it is negative.

    Typical consumer::

        async def worker():
            async for item in q:
                try:
                    await process(item)
                finally:
                    q.task_done()
    """

    def __init__(self, maxsize: int = 0) -> None:
        if maxsize is None:
            raise TypeError("Queue maxsize can't be None; use 0 for an unbounded queue")
        if maxsize < 0:
            raise ValueError("Queue maxsize can't be negative")
        self._maxsize = maxsize
        self._queue: MutableSequence[_T]
        self._init()
        self._getters: collections.deque[asyncio.Future[_T]] = collections.deque()
        self._putters: collections.deque[tuple[_T, asyncio.Future[None]]] = collections.deque()
        self._unfinished_tasks = 0
        self._finished = Event()
        self._finished.set()

    @property
    def maxsize(self) -> int:
        """The number of items allowed in the queue (0: unbounded)."""
        return self._maxsize

    def qsize(self) -> int:
        """Return the number of items in the queue."""
        return len(self._queue)

    def empty(self) -> bool:
        """Return True if the queue holds no items."""
        return not self._queue

    def full(self) -> bool:
        """Return True if :meth:`put` would have to wait."""
        if self._maxsize == 0:
            return False
        return self.qsize() >= self._maxsize

    def put(self, item: _T, timeout: _Timeout | None = None) -> asyncio.Future[None]:
        """Put ``item`` in the queue, waiting while it is full.

        Returns a Future that resolves once the item is in the queue, or fails
        with :class:`TimeoutError` if ``timeout`` passes first (the item is
        then not added).
        """
        future: asyncio.Future[None] = _get_event_loop().create_future()
        try:
            self.put_nowait(item)
        except QueueFull:
            self._putters.append((item, future))
            _set_timeout(future, timeout)
        else:
            future.set_result(None)
        return future

    def put_nowait(self, item: _T) -> None:
        """Put ``item`` in the queue without waiting; raises :class:`QueueFull` if it is full."""
        self._consume_expired()
        if self._getters:
            # A waiting getter implies an empty queue: hand the item straight over.
            getter = self._getters.popleft()
            self._put_internal(item)
            future_set_result_unless_cancelled(getter, self._get())
        elif self.full():
            raise QueueFull
        else:
            self._put_internal(item)

    def get(self, timeout: _Timeout | None = None) -> Awaitable[_T]:
        """Remove and return an item, waiting while the queue is empty.

        The awaitable fails with :class:`TimeoutError` if ``timeout`` passes
        first.
        """
        future: asyncio.Future[_T] = _get_event_loop().create_future()
        try:
            future.set_result(self.get_nowait())
        except QueueEmpty:
            self._getters.append(future)
            _set_timeout(future, timeout)
        return future

    def get_nowait(self) -> _T:
        """Remove and return an item without waiting; raises :class:`QueueEmpty` if none."""
        self._consume_expired()
        if self._putters:
            # A waiting putter implies a full queue: admit its item as we take one.
            item, putter = self._putters.popleft()
            self._put_internal(item)
            future_set_result_unless_cancelled(putter, None)
            return self._get()
        if self.qsize():
            return self._get()
        raise QueueEmpty

    def task_done(self) -> None:
        """Mark one item taken from the queue as processed (for :meth:`join`).

        Raises ``ValueError`` if called more times than items were put.
        """
        if self._unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished_tasks -= 1
        if self._unfinished_tasks == 0:
            self._finished.set()

    def join(self, timeout: _Timeout | None = None) -> Awaitable[None]:
        """Wait until every item put so far has been marked with :meth:`task_done`.

        Fails with :class:`TimeoutError` if ``timeout`` passes first.
        """
        return self._finished.wait(timeout)

    def __aiter__(self) -> _QueueIterator[_T]:
        """``async for item in queue`` gets items forever."""
        return _QueueIterator(self)

    # The storage hooks subclasses override.

    def _init(self) -> None:
        self._queue = collections.deque()

    def _get(self) -> _T:
        return cast("collections.deque[_T]", self._queue).popleft()

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _put_internal(self, item: _T) -> None:
        self._unfinished_tasks += 1
        self._finished.clear()
        self._put(item)

    def _consume_expired(self) -> None:
        # Timed-out or cancelled waiters leave only from the front; the rest wait
        # their turn, which is all put_nowait/get_nowait need.
        while self._putters and self._putters[0][1].done():
            self._putters.popleft()
        while self._getters and self._getters[0].done():
            self._getters.popleft()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {hex(id(self))} {self._format()}>"

    def __str__(self) -> str:
        return f"<{type(self).__name__} {self._format()}>"

    def _format(self) -> str:
        text = f"maxsize={self.maxsize!r}"
        if self._queue:
            text += f" queue={self._queue!r}"
        if self._getters:
            text += f" getters[{len(self._getters)}]"
        if self._putters:
            text += f" putters[{len(self._putters)}]"
        if self._unfinished_tasks:
            text += f" tasks={self._unfinished_tasks}"
        return text


class PriorityQueue(Queue[_T]):
    """A :class:`Queue` that returns the lowest item first.

    Items are usually ``(priority, data)`` tuples::

        q = PriorityQueue()
        q.put_nowait((1, "medium"))
        q.put_nowait((0, "high"))
        q.get_nowait()  # (0, "high")
    """

    def _init(self) -> None:
        self._queue = []

    def _put(self, item: _T) -> None:
        heapq.heappush(cast("list[Any]", self._queue), item)

    def _get(self) -> _T:
        return cast("_T", heapq.heappop(cast("list[Any]", self._queue)))


class LifoQueue(Queue[_T]):
    """A :class:`Queue` that returns the most recently added item first."""

    def _init(self) -> None:
        self._queue = []

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _get(self) -> _T:
        return self._queue.pop()
