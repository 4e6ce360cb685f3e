"""Generator-based coroutines and helpers for combining awaitables.

New code should use ``async def`` and ``await``; everything here also works
with native coroutines. :func:`coroutine` keeps Tornado's older style
working::

    @gen.coroutine
    def get(self):
        response = yield http.fetch(url)           # a future or any awaitable
        a, b = yield [fetch(x), fetch(y)]          # a list (or dict) runs in parallel
        return response.body                       # or: raise gen.Return(...)

Each call returns an :class:`asyncio.Future` (called from a running loop, it
is the ``asyncio.Task`` that drives the generator), so callers may ``await``
it, ``yield`` it, or pass it to asyncio APIs, and ``asyncio.current_task()``
works inside the generator after its first ``yield``.

Timeouts (:func:`with_timeout`) are absolute times on
:meth:`dualweb.ioloop.IOLoop.time`'s scale or ``datetime.timedelta`` objects,
and raise :class:`TimeoutError` (the builtin, which is also
``asyncio.TimeoutError`` on Python 3.11+).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import datetime
import functools
import inspect
import types
import weakref
from collections.abc import Awaitable, Callable, Generator
from typing import Any, ParamSpec, TypeVar, overload

from dualweb.concurrent import (
    Future,
    ReturnValueIgnoredError,
    _get_event_loop,
    chain_future,
    future_add_done_callback,
    future_set_result_unless_cancelled,
    is_future,
)
from dualweb.ioloop import IOLoop
from dualweb.log import app_log

# Tornado users catch gen.TimeoutError; it is the builtin class, as in Tornado 6.2+.
from dualweb.util import TimeoutError

__all__ = [
    "BadYieldError",
    "Future",
    "KeyReuseError",
    "LeakedCallbackError",
    "Multi",
    "Return",
    "ReturnValueIgnoredError",
    "TimeoutError",
    "UnknownKeyError",
    "WaitIterator",
    "convert_yielded",
    "coroutine",
    "is_coroutine_function",
    "maybe_future",
    "moment",
    "multi",
    "multi_future",
    "sleep",
    "with_timeout",
]

_T = TypeVar("_T")
_P = ParamSpec("_P")


_QuietExceptions = type[BaseException] | tuple[type[BaseException], ...]


class KeyReuseError(Exception):
    """Kept for Tornado compatibility (its callback-key API is gone); never raised."""


class UnknownKeyError(Exception):
    """Kept for Tornado compatibility (its callback-key API is gone); never raised."""


class LeakedCallbackError(Exception):
    """Kept for Tornado compatibility (its callback-key API is gone); never raised."""


class BadYieldError(Exception):
    """A coroutine yielded something that is not a future, awaitable, list or dict of them."""


class Return(Exception):
    """Raise ``Return(value)`` in a :func:`coroutine` to return ``value``.

    A plain ``return value`` does the same and is preferred; this remains for
    code written before generators could return values.
    """

    def __init__(self, value: Any = None) -> None:
        super().__init__()
        self.value = value
        # Keep the value visible in tracebacks and reprs, like StopIteration does.
        self.args = (value,)


class _Moment:
    """Awaiting (or yielding) this gives the event loop one iteration, then resumes."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        # A bare yield inside an asyncio Task means "reschedule me on the next iteration".
        yield

    def __repr__(self) -> str:
        return "dualweb.gen.moment"


moment = _Moment()
"""``yield gen.moment`` (or ``await gen.moment``) lets other callbacks run once.

In native coroutines ``await asyncio.sleep(0)`` is the equivalent.
"""


def is_coroutine_function(func: object) -> bool:
    """Return True if ``func`` is a coroutine function.

    That is a function decorated with :func:`coroutine` (marked
    ``__dualweb_coroutine__``) or a native ``async def`` function, including
    bound methods and ``functools.partial`` objects wrapping either.
    """
    while isinstance(func, functools.partial):
        func = func.func
    return bool(getattr(func, "__dualweb_coroutine__", False)) or inspect.iscoroutinefunction(
        func
    )


def _done_future(loop: asyncio.AbstractEventLoop, value: Any) -> asyncio.Future[Any]:
    future = loop.create_future()
    future.set_result(value)
    return future


def _failed_future(loop: asyncio.AbstractEventLoop, exc: BaseException) -> asyncio.Future[Any]:
    future = loop.create_future()
    future.set_exception(exc)
    return future


async def _drive(gen: Generator[Any, Any, Any], yielded: Any) -> Any:
    """Run a generator coroutine from its first yield to the end, as an asyncio Task."""
    while True:
        error: BaseException | None = None
        value: Any = None
        try:
            if yielded is None or yielded is moment:
                await moment
            else:
                value = await convert_yielded(yielded)
        except BaseException as e:
            # Includes CancelledError: the generator sees it at its yield and may
            # clean up or swallow it, just as an ``await`` would.
            error = e
        try:
            if error is None:
                yielded = gen.send(value)
            else:
                yielded = gen.throw(error)
        except StopIteration as e:
            return e.value
        except Return as e:
            return e.value
        finally:
            # The generator's frame references the exception; drop ours to avoid a cycle.
            error = None


class _DeferredStart:
    """A generator coroutine waiting for its loop to run; see :func:`_drive_when_loop_runs`."""

    __slots__ = ("ctx", "gen", "outer", "yielded")

    def __init__(
        self,
        outer: asyncio.Future[Any],
        ctx: contextvars.Context,
        gen: Generator[Any, Any, Any],
        yielded: Any,
    ) -> None:
        self.outer = outer
        self.ctx = ctx
        self.gen = gen
        self.yielded = yielded

    def abandoned(self) -> bool:
        """Close the generator and return True if nobody wants the result any more."""
        if self.outer.done():
            self.gen.close()
            return True
        return False


class _DeferredStarts(list[_DeferredStart]):
    """The coroutines called before one loop ran; only its pending call_soon holds it."""

    __slots__ = ("__weakref__", "loop_ref")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop_ref = weakref.ref(loop)


# One shared list (and one call_soon) per loop, pruned of cancelled entries on
# every addition, keeps a loop that never runs -- a WSGI worker thread's -- from
# growing without bound. Values are weak and keyed by id() because every entry
# references its loop: a weak-keyed map would keep the loop alive forever.
_deferred_starts: weakref.WeakValueDictionary[int, _DeferredStarts] = (
    weakref.WeakValueDictionary()
)


def _drive_when_loop_runs(
    loop: asyncio.AbstractEventLoop,
    ctx: contextvars.Context,
    gen: Generator[Any, Any, Any],
    yielded: Any,
) -> asyncio.Future[Any]:
    """Return a Future for a generator coroutine whose Task starts once ``loop`` runs.

    Called at setup time, or under a WSGI server where no loop ever runs: a
    plain Future can be cancelled and dropped silently, whereas a Task that
    never ran would log "Task was destroyed but it is pending!".
    """
    outer: asyncio.Future[Any] = loop.create_future()
    pending = _deferred_starts.get(id(loop))
    if pending is None or pending.loop_ref() is not loop:
        pending = _DeferredStarts(loop)
        _deferred_starts[id(loop)] = pending
        loop.call_soon(_start_deferred, pending)
    else:
        pending[:] = [entry for entry in pending if not entry.abandoned()]
    pending.append(_DeferredStart(outer, ctx, gen, yielded))
    return outer


def _start_deferred(pending: _DeferredStarts) -> None:
    loop = pending.loop_ref()
    if _deferred_starts.get(id(loop)) is pending:
        del _deferred_starts[id(loop)]
    entries = list(pending)
    pending.clear()
    for entry in entries:
        if entry.abandoned():
            continue
        task = entry.ctx.run(entry.outer.get_loop().create_task, _drive(entry.gen, entry.yielded))
        chain_future(task, entry.outer)
        entry.outer.add_done_callback(functools.partial(_cancel_task, task))


def _cancel_task(task: asyncio.Task[Any], outer: asyncio.Future[Any]) -> None:
    if outer.cancelled():
        task.cancel()


@overload
def coroutine(
    func: Callable[_P, Generator[Any, Any, _T]],
) -> Callable[_P, asyncio.Future[_T]]: ...


@overload
def coroutine(func: Callable[_P, _T]) -> Callable[_P, asyncio.Future[_T]]: ...


def coroutine(func: Callable[_P, Any]) -> Callable[_P, asyncio.Future[Any]]:
    """Decorate a generator function so that it runs as a coroutine and returns a Future.

    Calling the decorated function runs it immediately up to its first
    ``yield``. Each ``yield`` accepts what :func:`convert_yielded` does:
    futures, awaitables (including native coroutines), ``None`` or
    :data:`moment` (pause for one loop iteration), and lists or dicts of
    those (run in parallel, see :func:`multi`); the generator resumes with
    the result, or with the exception raised at the ``yield``.
    ``return value`` or ``raise Return(value)`` sets the Future's result;
    an exception escaping the generator becomes the Future's exception.

    The rest of the generator runs in an ``asyncio.Task``, in a copy of the
    caller's ``contextvars`` context; when called from a running loop the
    Task is the returned Future (when called before the loop runs, the Task
    starts once it does). Cancelling the Future raises ``CancelledError`` at
    the current ``yield``.

    A decorated function that is not a generator has its return value (or
    exception) wrapped in a done Future; one that returns a native coroutine
    gets it scheduled as a Task. The wrapper is marked with
    ``__dualweb_coroutine__ = True`` (see :func:`is_coroutine_function`).
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> asyncio.Future[Any]:
        loop = _get_event_loop()
        ctx = contextvars.copy_context()
        try:
            result = ctx.run(func, *args, **kwargs)
        except Return as e:
            return _done_future(loop, e.value)
        except Exception as e:
            return _failed_future(loop, e)
        if isinstance(result, types.GeneratorType):
            try:
                yielded = ctx.run(next, result)
            except (StopIteration, Return) as e:
                return _done_future(loop, e.value)
            except Exception as e:
                return _failed_future(loop, e)
            if asyncio._get_running_loop() is loop:
                # The Task copies the context current at creation: run it inside ``ctx``.
                return ctx.run(loop.create_task, _drive(result, yielded))
            return _drive_when_loop_runs(loop, ctx, result, yielded)
        if inspect.iscoroutine(result):
            return ctx.run(loop.create_task, result)
        return _done_future(loop, result)

    wrapper.__dualweb_coroutine__ = True  # type: ignore[attr-defined]
    return wrapper


@functools.singledispatch
def convert_yielded(yielded: Any) -> asyncio.Future[Any]:
    """Convert a yielded object into an :class:`asyncio.Future`.

    Accepts asyncio futures (returned unchanged), ``concurrent.futures``
    futures, awaitables such as native coroutines (scheduled as Tasks),
    ``None`` / :data:`moment` (a future done after one loop iteration), and
    lists or dicts of these (combined with :func:`multi`). Raises
    :class:`BadYieldError` for anything else.

    This is a ``functools.singledispatch`` function: libraries can teach
    coroutines to yield their own types with
    ``@convert_yielded.register(TheirType)``.
    """
    if isinstance(yielded, asyncio.Future):
        return yielded
    if yielded is None or yielded is moment:
        loop = _get_event_loop()
        future = loop.create_future()
        loop.call_soon(future_set_result_unless_cancelled, future, None)
        return future
    if isinstance(yielded, (list, dict)):
        return multi_future(yielded)
    if isinstance(yielded, concurrent.futures.Future):
        return asyncio.wrap_future(yielded, loop=_get_event_loop())
    if inspect.isawaitable(yielded):
        return asyncio.ensure_future(yielded, loop=_get_event_loop())
    raise BadYieldError(f"yielded unknown object {yielded!r}")


def multi(
    children: list[Any] | dict[Any, Any], quiet_exceptions: _QuietExceptions = ()
) -> asyncio.Future[Any]:
    """Run several yieldables in parallel and wait for all of them.

    ``children`` is a list or dict of anything :func:`convert_yielded`
    accepts. The result is a list (or a dict with the same keys) of their
    results. If any child fails, the Future fails with the first failure in
    ``children`` order, once every child is done; further failures are logged
    on ``dualweb.application`` unless they are instances of
    ``quiet_exceptions``. A cancelled child cancels the result.
    """
    return multi_future(children, quiet_exceptions)


Multi = multi


def multi_future(
    children: list[Any] | dict[Any, Any], quiet_exceptions: _QuietExceptions = ()
) -> asyncio.Future[Any]:
    """The implementation of :func:`multi` (kept as a name for Tornado compatibility)."""
    keys: list[Any] | None
    if isinstance(children, dict):
        keys = list(children)
        futures = [convert_yielded(child) for child in children.values()]
    else:
        keys = None
        futures = [convert_yielded(child) for child in children]
    result: asyncio.Future[Any] = _get_event_loop().create_future()
    if not futures:
        result.set_result({} if keys is not None else [])
        return result
    pending = set(futures)

    def on_child_done(child: asyncio.Future[Any]) -> None:
        pending.discard(child)
        if not pending:
            _finish_multi(result, futures, keys, quiet_exceptions)

    for child in set(futures):
        future_add_done_callback(child, on_child_done)
    return result


def _finish_multi(
    result: asyncio.Future[Any],
    futures: list[asyncio.Future[Any]],
    keys: list[Any] | None,
    quiet_exceptions: _QuietExceptions,
) -> None:
    values = []
    for child in futures:
        if child.cancelled():
            if not result.done():
                result.cancel()
            continue
        exc = child.exception()
        if exc is None:
            values.append(child.result())
        elif not result.done():
            result.set_exception(exc)
        elif not isinstance(exc, quiet_exceptions):
            app_log.error("Multiple exceptions in yield list", exc_info=exc)
    if not result.done():
        result.set_result(dict(zip(keys, values, strict=True)) if keys is not None else values)


def maybe_future(x: Any) -> asyncio.Future[Any] | concurrent.futures.Future[Any]:
    """Return ``x`` if it is a future, else a done Future with ``x`` as its result.

    Deprecated in Tornado; use :func:`convert_yielded` or ``await`` instead.
    """
    if is_future(x):
        return x  # type: ignore[no-any-return]
    return _done_future(_get_event_loop(), x)


def sleep(duration: float) -> asyncio.Future[None]:
    """Return a Future that resolves after ``duration`` seconds.

    ``yield gen.sleep(0.5)`` in a :func:`coroutine`, or ``await`` it; unlike
    ``time.sleep`` the loop keeps serving other work meanwhile.
    """
    loop = _get_event_loop()
    future: asyncio.Future[None] = loop.create_future()
    handle = loop.call_later(duration, future_set_result_unless_cancelled, future, None)
    # A cancelled sleep should not leave its timer in the loop until it expires.
    future.add_done_callback(lambda _: handle.cancel())
    return future


def with_timeout(
    timeout: float | datetime.timedelta,
    future: Any,
    quiet_exceptions: _QuietExceptions = (),
    *,
    message: str | Callable[[], str] | None = None,
) -> asyncio.Future[Any]:
    """Wrap ``future`` (or any yieldable) in a Future that fails if it takes too long.

    ``timeout`` is an absolute deadline on :meth:`IOLoop.time`'s scale or a
    ``datetime.timedelta``. At the deadline the returned Future fails with
    :class:`TimeoutError` (message ``"Timeout"``, or ``message``, which may
    be a callable returning the string). The wrapped future is *not*
    cancelled, unlike ``asyncio.wait_for``; if it later fails, its exception
    is logged on ``dualweb.application`` unless it is an instance of
    ``quiet_exceptions`` or a cancellation.
    """
    inner = convert_yielded(future)
    result: asyncio.Future[Any] = _get_event_loop().create_future()
    chain_future(inner, result)
    io_loop = IOLoop.current()

    def log_late_error(late: asyncio.Future[Any]) -> None:
        if late.cancelled():
            return
        exc = late.exception()
        if exc is not None and not isinstance(exc, quiet_exceptions):
            app_log.error("Exception in Future %r after timeout", late, exc_info=exc)

    def on_timeout() -> None:
        if not result.done():
            text = message() if callable(message) else message
            result.set_exception(TimeoutError("Timeout" if text is None else text))
        future_add_done_callback(inner, log_late_error)

    handle = io_loop.add_timeout(timeout, on_timeout)
    future_add_done_callback(inner, lambda _: handle.cancel())
    return result


class WaitIterator:
    """Iterate over futures in the order they finish.

    Pass futures (or awaitables) positionally, or as keyword arguments to
    identify them by name; not both (``ValueError``)::

        wait_iterator = gen.WaitIterator(a=fetch(x), b=fetch(y))
        async for result in wait_iterator:
            print(wait_iterator.current_index, result)

    or, in a :func:`coroutine`, ``while not wait_iterator.done(): result =
    yield wait_iterator.next()``. A failed input raises its exception from
    that step only; iteration can continue. :attr:`current_index` is the
    position (or keyword) of the input that just finished and
    :attr:`current_future` the input itself.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("WaitIterator takes futures positionally or by keyword, not both")
        labelled: list[tuple[Any, Any]] = list(kwargs.items()) if kwargs else list(enumerate(args))
        self._unfinished: dict[asyncio.Future[Any], Any] = {}
        self._finished: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._running_future: asyncio.Future[Any] | None = None
        self.current_index: Any = None
        self.current_future: asyncio.Future[Any] | None = None
        for label, item in labelled:
            self._unfinished[convert_yielded(item)] = label
        for fut in list(self._unfinished):
            future_add_done_callback(fut, self._on_input_done)

    def done(self) -> bool:
        """Return True once every input has been handed out by :meth:`next`."""
        if self._finished or self._unfinished:
            return False
        self.current_index = None
        self.current_future = None
        return True

    def next(self) -> asyncio.Future[Any]:
        """Return a Future for the next input to finish (its result or exception)."""
        self._running_future = _get_event_loop().create_future()
        if self._finished:
            return self._hand_out(self._finished.popleft())
        return self._running_future

    def _on_input_done(self, done: asyncio.Future[Any]) -> None:
        if self._running_future is not None and not self._running_future.done():
            self._hand_out(done)
        else:
            self._finished.append(done)

    def _hand_out(self, done: asyncio.Future[Any]) -> asyncio.Future[Any]:
        running = self._running_future
        assert running is not None
        self._running_future = None
        chain_future(done, running)
        self.current_future = done
        self.current_index = self._unfinished.pop(done)
        return running

    def __aiter__(self) -> WaitIterator:
        """Iterate with ``async for``."""
        return self

    def __anext__(self) -> Awaitable[Any]:
        """Return the next result's Future, or raise ``StopAsyncIteration`` when all are done."""
        if self.done():
            raise StopAsyncIteration
        return self.next()

