"""dualweb.gen: gen.coroutine, multi, with_timeout, sleep, moment, WaitIterator."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextvars
import datetime
import functools
import gc
import logging
import sys
import time
from collections.abc import Generator
from typing import Any

import pytest

from dualweb import gen
from dualweb.ioloop import IOLoop
from tests.harness import run

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


@gen.coroutine
def double_later(x: int, delay: float = 0.001) -> Generator[Any, Any, int]:
    yield gen.sleep(delay)
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * 2


# -- gen.coroutine ---------------------------------------------------------------------


def test_coroutine_returns_an_asyncio_future_with_the_return_value() -> None:
    async def main() -> None:
        fut = double_later(21)
        assert isinstance(fut, asyncio.Future)
        assert await fut == 42

    run(main)


def test_legacy_raise_return() -> None:
    @gen.coroutine
    def legacy() -> Generator[Any, Any, None]:
        yield gen.moment
        raise gen.Return("legacy value")

    @gen.coroutine
    def no_value() -> Generator[Any, Any, None]:
        yield gen.moment
        raise gen.Return()

    async def main() -> None:
        assert await legacy() == "legacy value"
        assert await no_value() is None

    run(main)
    assert gen.Return(5).value == 5
    assert gen.Return(5).args == (5,)


def test_exceptions_are_thrown_into_the_generator_at_the_yield() -> None:
    @gen.coroutine
    def handles() -> Generator[Any, Any, str]:
        try:
            yield double_later(-1)
        except ValueError as e:
            return f"caught {e}"
        return "not reached"

    @gen.coroutine
    def lets_it_escape() -> Generator[Any, Any, None]:
        yield double_later(-2)

    async def main() -> None:
        assert await handles() == "caught negative: -1"
        with pytest.raises(ValueError, match="negative: -2"):
            await lets_it_escape()

    run(main)


def test_body_runs_synchronously_until_the_first_yield() -> None:
    steps: list[str] = []

    @gen.coroutine
    def stepper() -> Generator[Any, Any, None]:
        steps.append("before yield")
        yield gen.moment
        steps.append("after yield")

    async def main() -> None:
        fut = stepper()
        assert steps == ["before yield"]
        await fut
        assert steps == ["before yield", "after yield"]

    run(main)


def test_yield_list_and_dict_run_in_parallel() -> None:
    @gen.coroutine
    def parallel() -> Generator[Any, Any, tuple[Any, Any, Any]]:
        started = time.monotonic()
        values = yield [double_later(i, 0.05) for i in range(5)]
        elapsed = time.monotonic() - started
        mapping = yield {"a": double_later(1), "b": double_later(2)}
        empty = yield []
        return values, mapping, (empty, elapsed)

    values, mapping, (empty, elapsed) = run(parallel)
    assert values == [0, 2, 4, 6, 8]
    assert mapping == {"a": 2, "b": 4}
    assert empty == []
    assert elapsed < 0.2  # five 50 ms sleeps overlapped


def test_yield_native_coroutines_concurrent_futures_and_none() -> None:
    async def native() -> str:
        await asyncio.sleep(0)
        return "native"

    pool = concurrent.futures.ThreadPoolExecutor(1)

    @gen.coroutine
    def mixed() -> Generator[Any, Any, tuple[Any, Any, Any]]:
        a = yield native()
        b = yield pool.submit(lambda: "thread")
        c = yield None
        return a, b, c

    try:
        assert run(mixed) == ("native", "thread", None)
    finally:
        pool.shutdown()


def test_yield_moment_lets_other_callbacks_run() -> None:
    order: list[str] = []

    @gen.coroutine
    def polite() -> Generator[Any, Any, None]:
        order.append("coroutine 1")
        yield gen.moment
        order.append("coroutine 2")

    async def main() -> None:
        asyncio.get_running_loop().call_soon(order.append, "callback")
        await polite()

    run(main)
    assert order == ["coroutine 1", "callback", "coroutine 2"]


def test_await_moment_in_native_coroutine() -> None:
    async def main() -> str:
        await gen.moment
        return "ok"

    assert run(main) == "ok"


def test_yielding_an_unknown_object_raises_bad_yield_error_at_the_yield() -> None:
    @gen.coroutine
    def bad() -> Generator[Any, Any, str]:
        try:
            yield 42
        except gen.BadYieldError as e:
            return str(e)
        return "unreachable"

    assert run(bad) == "yielded unknown object 42"


def test_non_generator_functions_give_done_futures() -> None:
    @gen.coroutine
    def plain(x: int) -> int:
        return x + 1

    @gen.coroutine
    def plain_fails() -> None:
        raise KeyError("plain")

    async def main() -> None:
        fut = plain(1)
        assert fut.done() and fut.result() == 2
        failing = plain_fails()
        assert failing.done()
        with pytest.raises(KeyError):
            await failing

    run(main)


def test_coroutine_marker_and_is_coroutine_function() -> None:
    class Handler:
        @gen.coroutine
        def get(self) -> Generator[Any, Any, None]:
            yield gen.moment

        async def post(self) -> None:
            pass

        def put(self) -> None:
            pass

    assert Handler.get.__dualweb_coroutine__ is True  # type: ignore[attr-defined]
    assert Handler.get.__name__ == "get"
    handler = Handler()
    assert gen.is_coroutine_function(handler.get)
    assert gen.is_coroutine_function(handler.post)
    assert gen.is_coroutine_function(functools.partial(double_later, 1))
    assert not gen.is_coroutine_function(handler.put)
    assert not gen.is_coroutine_function(len)


def test_current_task_inside_the_coroutine_is_its_future() -> None:
    tasks: list[asyncio.Task[Any] | None] = []

    @gen.coroutine
    def who_am_i() -> Generator[Any, Any, None]:
        yield gen.moment
        tasks.append(asyncio.current_task())

    async def main() -> None:
        fut = who_am_i()
        await fut
        assert tasks == [fut]

    run(main)


def test_context_variables_flow_in_but_not_out() -> None:
    @gen.coroutine
    def reader() -> Generator[Any, Any, tuple[str, str]]:
        before = request_id.get()
        request_id.set("changed inside")
        yield gen.moment
        return before, request_id.get()

    async def main() -> tuple[tuple[str, str], str]:
        request_id.set("outer")
        inner = await reader()
        return inner, request_id.get()

    assert run(main) == (("outer", "changed inside"), "outer")


def test_cancelling_the_future_raises_cancelled_error_at_the_yield() -> None:
    cleanup: list[str] = []

    @gen.coroutine
    def long_running() -> Generator[Any, Any, None]:
        try:
            yield gen.sleep(10)
        finally:
            cleanup.append("finally")

    async def main() -> None:
        fut = long_running()
        await asyncio.sleep(0.01)
        fut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fut

    run(main)
    assert cleanup == ["finally"]


def test_coroutine_called_before_the_loop_runs() -> None:
    def body() -> int:
        io_loop = IOLoop.current()
        try:
            fut = double_later(5)  # at setup time, before any loop runs
            result: int = io_loop.run_sync(lambda: fut)
            return result
        finally:
            io_loop.close()
            asyncio.set_event_loop(None)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(body).result(timeout=10) == 10


def test_coroutine_called_where_no_loop_runs_can_be_dropped_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under a WSGI server the core calls the method, finds an awaitable and drops it."""
    cleanup: list[str] = []

    @gen.coroutine
    def handler_method() -> Generator[Any, Any, None]:
        try:
            yield gen.sleep(10)
        finally:
            cleanup.append("generator closed")

    def body() -> bool:
        fut = handler_method()
        fut.cancel()
        del fut
        io_loop = IOLoop.current()
        io_loop.close()
        asyncio.set_event_loop(None)
        gc.collect()
        return True

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert pool.submit(body).result(timeout=10)
        gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
    assert cleanup == ["generator closed"]


def test_coroutines_dropped_in_a_loop_that_never_runs_do_not_pile_up() -> None:
    """A WSGI worker thread calls (and drops) coroutine handlers request after request."""
    closed: list[int] = []

    @gen.coroutine
    def handler_method(i: int) -> Generator[Any, Any, None]:
        try:
            yield gen.moment
        finally:
            closed.append(i)

    def body() -> int:
        for i in range(50):
            handler_method(i).cancel()
        released = len(closed)
        io_loop = IOLoop.current()
        io_loop.close()
        asyncio.set_event_loop(None)
        return released

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        released_while_open = pool.submit(body).result(timeout=10)
    gc.collect()
    # Each new call releases the earlier, cancelled ones at once; closing the loop the rest.
    assert released_while_open == 49
    assert sorted(closed) == list(range(50))


# -- multi -------------------------------------------------------------------------------


def test_multi_waits_for_all_and_raises_the_first_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished: list[int] = []

    @gen.coroutine
    def task(x: int, delay: float) -> Generator[Any, Any, int]:
        yield gen.sleep(delay)
        finished.append(x)
        if x < 0:
            raise ValueError(f"bad {x}")
        return x

    async def main() -> None:
        with pytest.raises(ValueError, match="bad -1"):
            await gen.multi([task(-1, 0.001), task(-2, 0.002), task(3, 0.03)])
        assert sorted(finished) == [-2, -1, 3]

    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        run(main)
    messages = [r.getMessage() for r in caplog.records if r.name == "dualweb.application"]
    assert messages == ["Multiple exceptions in yield list"]


def test_multi_quiet_exceptions_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await gen.multi(
                [double_later(-1), double_later(-2)], quiet_exceptions=ValueError
            )

    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        run(main)
    assert [r for r in caplog.records if r.name == "dualweb.application"] == []


def test_multi_dict_and_multi_future_alias() -> None:
    async def main() -> None:
        assert await gen.multi({"x": double_later(1), "y": double_later(2)}) == {"x": 2, "y": 4}
        assert await gen.multi_future([double_later(3)]) == [6]
        assert await gen.Multi({}) == {}

    run(main)


def test_multi_with_a_cancelled_child_is_cancelled() -> None:
    async def main() -> None:
        child = asyncio.ensure_future(asyncio.sleep(10))
        combined = gen.multi([child, double_later(1)])
        child.cancel()
        with pytest.raises(asyncio.CancelledError):
            await combined

    run(main)


# -- sleep, with_timeout, maybe_future, convert_yielded --------------------------------------


def test_sleep_waits_at_least_the_duration() -> None:
    async def main() -> float:
        started = time.monotonic()
        result = await gen.sleep(0.03)
        assert result is None
        return time.monotonic() - started

    assert 0.025 <= run(main) < 1


def test_with_timeout_expires_with_timeout_error() -> None:
    async def main() -> None:
        io_loop = IOLoop.current()
        slow = gen.sleep(10)
        with pytest.raises(gen.TimeoutError, match="Timeout"):
            await gen.with_timeout(io_loop.time() + 0.02, slow)
        assert not slow.cancelled()  # unlike asyncio.wait_for
        with pytest.raises(TimeoutError, match="too slow"):
            await gen.with_timeout(datetime.timedelta(seconds=0.01), slow, message="too slow")
        with pytest.raises(TimeoutError, match="made by callable"):
            await gen.with_timeout(
                datetime.timedelta(seconds=0.01), slow, message=lambda: "made by callable"
            )
        slow.cancel()

    run(main)


def test_with_timeout_passes_through_results_and_errors_in_time() -> None:
    async def main() -> None:
        deadline = datetime.timedelta(seconds=1)
        assert await gen.with_timeout(deadline, double_later(4)) == 8
        with pytest.raises(ValueError):
            await gen.with_timeout(deadline, double_later(-4))

    run(main)


def test_with_timeout_logs_late_failures_unless_quiet(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        for quiet in ((), ValueError):
            inner = double_later(-1, 0.03)
            with pytest.raises(TimeoutError):
                await gen.with_timeout(datetime.timedelta(seconds=0.005), inner, quiet)
            with pytest.raises(ValueError):
                await inner

    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        run(main)
    logged = [r for r in caplog.records if r.name == "dualweb.application"]
    assert len(logged) == 1
    assert "after timeout" in logged[0].getMessage()


def test_timeout_error_is_the_builtin_and_asyncio_one() -> None:
    assert gen.TimeoutError is builtins.TimeoutError
    if sys.version_info >= (3, 11):  # one TimeoutError class since 3.11
        assert issubclass(gen.TimeoutError, asyncio.TimeoutError)


def test_maybe_future() -> None:
    async def main() -> None:
        fut = gen.maybe_future(3)
        assert isinstance(fut, asyncio.Future) and fut.result() == 3
        same = asyncio.get_running_loop().create_future()
        assert gen.maybe_future(same) is same
        same.cancel()

    run(main)


class Deferred:
    """A third-party awaitable-ish type taught to coroutines via convert_yielded.register."""

    def __init__(self, value: str) -> None:
        self.value = value


@gen.convert_yielded.register(Deferred)
def _convert_deferred(deferred: Deferred) -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    fut.set_result(f"converted {deferred.value}")
    return fut


def test_convert_yielded_is_extensible() -> None:
    @gen.coroutine
    def uses_custom() -> Generator[Any, Any, Any]:
        result = yield Deferred("x")
        return result

    assert run(uses_custom) == "converted x"


# -- WaitIterator --------------------------------------------------------------------------


def test_wait_iterator_yields_in_completion_order() -> None:
    async def main() -> list[tuple[Any, Any]]:
        it = gen.WaitIterator(double_later(1, 0.03), double_later(2, 0.001), double_later(3, 0.015))
        seen = []
        async for result in it:
            seen.append((it.current_index, result))
        assert it.current_index is None and it.current_future is None
        return seen

    assert run(main) == [(1, 4), (2, 6), (0, 2)]


def test_wait_iterator_keywords_errors_and_legacy_loop() -> None:
    @gen.coroutine
    def legacy() -> Generator[Any, Any, list[tuple[Any, Any]]]:
        it = gen.WaitIterator(slow=double_later(1, 0.02), broken=double_later(-1, 0.001))
        seen = []
        while not it.done():
            try:
                result = yield it.next()
            except ValueError as e:
                result = f"error: {e}"
            seen.append((it.current_index, result))
        return seen

    assert run(legacy) == [("broken", "error: negative: -1"), ("slow", 2)]


def test_wait_iterator_rejects_mixed_arguments() -> None:
    async def main() -> None:
        a = asyncio.get_running_loop().create_future()
        with pytest.raises(ValueError, match="not both"):
            gen.WaitIterator(a, b=a)
        a.cancel()

    run(main)


def test_wait_iterator_with_already_finished_futures() -> None:
    async def main() -> list[Any]:
        done = asyncio.get_running_loop().create_future()
        done.set_result("done already")
        it = gen.WaitIterator(done)
        return [r async for r in it]

    assert run(main) == ["done already"]
