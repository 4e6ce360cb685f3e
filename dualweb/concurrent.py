"""Futures: the small glue between asyncio futures, thread pools and callbacks.

dualweb's :class:`Future` *is* :class:`asyncio.Future`; there is no second
future type to learn. The helpers here cover the cases asyncio leaves to the
caller: copying one future's outcome into another across threads
(:func:`chain_future`), setting a result only if nobody cancelled the future
meanwhile, running a method on a thread pool and getting an awaitable back
(:func:`run_on_executor`), and an executor that runs work inline
(:data:`dummy_executor`).

``concurrent.futures.Future`` objects (from thread pools) are accepted
wherever a future is expected; :data:`FUTURES` lists both types.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, overload

from dualweb.log import app_log

__all__ = [
    "FUTURES",
    "DummyExecutor",
    "Future",
    "ReturnValueIgnoredError",
    "chain_future",
    "dummy_executor",
    "future_add_done_callback",
    "future_set_exc_info",
    "future_set_exception_unless_cancelled",
    "future_set_result_unless_cancelled",
    "is_future",
    "run_on_executor",
]

_T = TypeVar("_T")

Future = asyncio.Future
"""dualweb's future type: exactly :class:`asyncio.Future`."""

FUTURES = (concurrent.futures.Future, Future)
"""The future types dualweb accepts: ``(concurrent.futures.Future, asyncio.Future)``."""

class ReturnValueIgnoredError(Exception):
    """A function whose return value would be ignored returned something other than ``None``.

    Kept for Tornado compatibility; dualweb itself does not raise it.
    """


def is_future(x: object) -> bool:
    """Return True if ``x`` is an :class:`asyncio.Future` or a ``concurrent.futures.Future``."""
    return isinstance(x, FUTURES)


def _get_event_loop() -> asyncio.AbstractEventLoop:
    """The running asyncio loop, else this thread's current loop, creating one if needed.

    This is the loop :meth:`dualweb.ioloop.IOLoop.current` wraps, so futures made
    before the loop starts (at import or setup time) belong to the loop that will
    later run them, as in Tornado.
    """
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop
    # asyncio.get_event_loop() without a running loop warns on 3.10-3.13 and raises
    # on 3.14+; both mean "none is set", and the answer there is to create one.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = None
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop


def _peek_event_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop, else this thread's current loop, else None; never creates one.

    ``asyncio.get_event_loop()`` would create (and leak) a loop on the main
    thread when none was ever set, so the default policy's thread-local slot is
    read directly when it exists (it does for asyncio's and uvloop's policies).
    """
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        policy = asyncio.get_event_loop_policy()
        local = getattr(policy, "_local", None)
        if local is not None and hasattr(local, "_loop"):
            current: asyncio.AbstractEventLoop | None = local._loop
            return current
        try:
            return policy.get_event_loop()
        except RuntimeError:
            return None


class DummyExecutor(concurrent.futures.Executor):
    """An executor that runs each submitted function immediately, in the caller's thread.

    Useful in tests, or to make :func:`run_on_executor` methods synchronous.
    The returned ``concurrent.futures.Future`` is already done.
    """

    def submit(  # type: ignore[override]
        self, fn: Callable[..., _T], *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[_T]:
        """Call ``fn(*args, **kwargs)`` now and return a done future with its outcome."""
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as e:
            future.set_exception(e)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Do nothing: there are no worker threads to stop."""


dummy_executor = DummyExecutor()
"""A shared :class:`DummyExecutor`."""


def _copy_outcome(
    source: concurrent.futures.Future[Any] | asyncio.Future[Any], target: Any
) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
        return
    exc = source.exception()
    if exc is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


def chain_future(
    a: concurrent.futures.Future[_T] | asyncio.Future[_T],
    b: concurrent.futures.Future[_T] | asyncio.Future[_T],
) -> None:
    """Copy the outcome of future ``a`` into future ``b`` when ``a`` completes.

    The result, exception or cancellation of ``a`` is copied, unless ``b`` is
    already done by then (for example because it was cancelled or timed out).
    Either future may be an :class:`asyncio.Future` or a
    ``concurrent.futures.Future``; when ``b`` is an asyncio future its outcome
    is always set on its own event loop's thread, so ``a`` may complete in a
    worker thread.
    """
    if isinstance(b, asyncio.Future):
        target_loop = b.get_loop()

        def copy(source: Any) -> None:
            if asyncio._get_running_loop() is target_loop:
                _copy_outcome(source, b)
                return
            try:
                target_loop.call_soon_threadsafe(_copy_outcome, source, b)
            except RuntimeError:
                # The target's loop is closed: nobody can observe ``b`` any more.
                pass

    else:

        def copy(source: Any) -> None:
            _copy_outcome(source, b)

    future_add_done_callback(a, copy)


def future_set_result_unless_cancelled(
    future: concurrent.futures.Future[_T] | asyncio.Future[_T], value: _T
) -> None:
    """Set ``value`` as the result of ``future`` unless it was cancelled.

    Producers use this so that a consumer cancelling a future it no longer
    wants does not make the producer fail with ``InvalidStateError``.
    """
    if not future.cancelled():
        future.set_result(value)


def future_set_exception_unless_cancelled(
    future: concurrent.futures.Future[Any] | asyncio.Future[Any], exc: BaseException
) -> None:
    """Set ``exc`` as the exception of ``future`` unless it was cancelled.

    If the future was cancelled, the exception is logged on
    ``dualweb.application`` instead of being lost silently.
    """
    if not future.cancelled():
        future.set_exception(exc)
    else:
        app_log.error("Exception after Future was cancelled", exc_info=exc)


def future_set_exc_info(
    future: concurrent.futures.Future[Any] | asyncio.Future[Any],
    exc_info: tuple[type[BaseException] | None, BaseException | None, TracebackType | None],
) -> None:
    """Set the exception from a ``sys.exc_info()`` triple on ``future``.

    Like :func:`future_set_exception_unless_cancelled`, a cancelled future
    gets its exception logged instead. Raises ``Exception`` if the triple holds
    no exception.
    """
    if exc_info[1] is None:
        raise Exception("future_set_exc_info called with no exception")
    future_set_exception_unless_cancelled(future, exc_info[1])


@overload
def future_add_done_callback(
    future: concurrent.futures.Future[_T],
    callback: Callable[[concurrent.futures.Future[_T]], None],
) -> None: ...


@overload
def future_add_done_callback(
    future: asyncio.Future[_T], callback: Callable[[asyncio.Future[_T]], None]
) -> None: ...


def future_add_done_callback(future: Any, callback: Callable[[Any], None]) -> None:
    """Arrange for ``callback(future)`` to be called when ``future`` completes.

    Unlike ``future.add_done_callback``, if the future is already done the
    callback runs immediately, before this function returns. Otherwise an
    asyncio future calls it from its loop, and a ``concurrent.futures.Future``
    from whichever thread completes it.
    """
    if future.done():
        callback(future)
    else:
        future.add_done_callback(callback)


def _executor_wrapper(fn: Callable[..., _T], attr: str) -> Callable[..., asyncio.Future[_T]]:
    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> asyncio.Future[_T]:
        try:
            executor = getattr(self, attr)
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__}.{fn.__name__} is decorated with @run_on_executor, "
                f"which runs it on the executor stored in self.{attr}, but "
                f"{type(self).__name__} has no attribute {attr!r}. Set "
                f"self.{attr} = concurrent.futures.ThreadPoolExecutor() (or a class "
                f"attribute), or name another attribute with "
                f"@run_on_executor(executor='...')."
            ) from None
        result: asyncio.Future[_T] = _get_event_loop().create_future()
        chain_future(executor.submit(fn, self, *args, **kwargs), result)
        return result

    return wrapper


@overload
def run_on_executor(fn: Callable[..., _T]) -> Callable[..., asyncio.Future[_T]]: ...


@overload
def run_on_executor(
    *, executor: str = ...
) -> Callable[[Callable[..., _T]], Callable[..., asyncio.Future[_T]]]: ...


def run_on_executor(*args: Any, **kwargs: Any) -> Any:
    """Decorate a method so that calling it runs it on an executor and returns a Future.

    The method runs in ``self.executor`` (a ``concurrent.futures.Executor``);
    use ``@run_on_executor(executor="_thread_pool")`` to name another
    attribute. The call returns an :class:`asyncio.Future` (awaitable, or
    yieldable from :func:`dualweb.gen.coroutine`) whose result is set on the
    calling thread's event loop::

        class Handler(RequestHandler):
            executor = ThreadPoolExecutor(4)

            @run_on_executor
            def hash_password(self, pw):
                return slow_hash(pw)

            async def post(self):
                digest = await self.hash_password(self.get_argument("pw"))

    Raises ``ValueError`` for positional and keyword arguments together or
    any keyword other than ``executor``, and (when called) ``AttributeError``
    naming the class if the executor attribute is missing.
    """
    if args and kwargs:
        raise ValueError("run_on_executor: cannot combine positional and keyword arguments")
    if len(args) == 1:
        return _executor_wrapper(args[0], "executor")
    if args:
        raise ValueError(f"run_on_executor expected 1 positional argument, got {len(args)}")
    unknown = set(kwargs) - {"executor"}
    if unknown:
        raise ValueError(f"run_on_executor got unexpected keyword arguments: {sorted(unknown)}")
    attr = kwargs.get("executor", "executor")

    def decorator(fn: Callable[..., _T]) -> Callable[..., asyncio.Future[_T]]:
        return _executor_wrapper(fn, attr)

    return decorator
