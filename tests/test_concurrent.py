"""dualweb.concurrent: future helpers, chain_future across threads, run_on_executor."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from typing import Any

import pytest

from dualweb.concurrent import (
    FUTURES,
    DummyExecutor,
    Future,
    chain_future,
    dummy_executor,
    future_add_done_callback,
    future_set_exc_info,
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
    is_future,
    run_on_executor,
)


def test_future_is_asyncio_future_and_futures_lists_both_kinds() -> None:
    assert Future is asyncio.Future
    assert set(FUTURES) == {asyncio.Future, concurrent.futures.Future}


def test_is_future() -> None:
    async def main() -> None:
        assert is_future(asyncio.get_running_loop().create_future())
        task = asyncio.ensure_future(asyncio.sleep(0))
        assert is_future(task)
        await task

    asyncio.run(main())
    assert is_future(concurrent.futures.Future())
    assert not is_future(None)
    assert not is_future(object())


def test_chain_future_copies_result_exception_and_cancellation() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = loop.create_future(), loop.create_future()
        chain_future(a, b)
        a.set_result(42)
        assert await b == 42

        a, b = loop.create_future(), loop.create_future()
        chain_future(a, b)
        a.set_exception(KeyError("k"))
        with pytest.raises(KeyError):
            await b

        a, b = loop.create_future(), loop.create_future()
        chain_future(a, b)
        a.cancel()
        await asyncio.sleep(0)
        assert b.cancelled()

    asyncio.run(main())


def test_chain_future_leaves_an_already_done_target_alone() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = loop.create_future(), loop.create_future()
        chain_future(a, b)
        b.cancel()
        a.set_result(1)  # must not raise InvalidStateError anywhere
        await asyncio.sleep(0)
        assert b.cancelled()

    asyncio.run(main())


def test_chain_future_from_worker_thread_sets_result_on_loop_thread() -> None:
    seen_threads: list[threading.Thread] = []

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        target = loop.create_future()
        target.add_done_callback(lambda f: seen_threads.append(threading.current_thread()))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            chain_future(pool.submit(lambda: "from thread"), target)
            return await asyncio.wait_for(target, 5)

    assert asyncio.run(main()) == "from thread"
    assert seen_threads == [threading.main_thread()]


def test_chain_future_into_concurrent_future() -> None:
    async def main() -> None:
        a = asyncio.get_running_loop().create_future()
        b: concurrent.futures.Future[int] = concurrent.futures.Future()
        chain_future(a, b)
        a.set_result(7)
        await asyncio.sleep(0)
        assert b.result(timeout=0) == 7

    asyncio.run(main())


def test_set_result_unless_cancelled() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        fut.cancel()
        future_set_result_unless_cancelled(fut, 1)  # no InvalidStateError
        assert fut.cancelled()
        fut = loop.create_future()
        future_set_result_unless_cancelled(fut, 2)
        assert fut.result() == 2

    asyncio.run(main())


def test_set_exception_unless_cancelled_logs_when_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        future_set_exception_unless_cancelled(fut, ValueError("kept"))
        with pytest.raises(ValueError, match="kept"):
            fut.result()
        fut = loop.create_future()
        fut.cancel()
        future_set_exception_unless_cancelled(fut, ValueError("lost"))

    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        asyncio.run(main())
    records = [r for r in caplog.records if r.name == "dualweb.application"]
    assert len(records) == 1
    assert records[0].getMessage() == "Exception after Future was cancelled"
    assert records[0].exc_info is not None and "lost" in str(records[0].exc_info[1])


def test_future_set_exc_info() -> None:
    fut: concurrent.futures.Future[int] = concurrent.futures.Future()
    try:
        raise OSError("disk")
    except OSError:
        future_set_exc_info(fut, sys.exc_info())
    assert isinstance(fut.exception(), OSError)
    with pytest.raises(Exception, match="no exception"):
        future_set_exc_info(concurrent.futures.Future(), (None, None, None))


def test_future_add_done_callback_runs_now_when_done_else_later() -> None:
    calls: list[str] = []
    done: concurrent.futures.Future[int] = concurrent.futures.Future()
    done.set_result(1)
    future_add_done_callback(done, lambda f: calls.append("done"))
    assert calls == ["done"]

    pending: concurrent.futures.Future[int] = concurrent.futures.Future()
    future_add_done_callback(pending, lambda f: calls.append("later"))
    assert calls == ["done"]
    pending.set_result(2)
    assert calls == ["done", "later"]


class Worker:
    def __init__(self) -> None:
        self.executor = concurrent.futures.ThreadPoolExecutor(2)
        self._thread_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="custom")

    @run_on_executor
    def compute(self, x: int, *, scale: int = 1) -> tuple[int, str]:
        return x * scale, threading.current_thread().name

    @run_on_executor(executor="_thread_pool")
    def named(self) -> str:
        return threading.current_thread().name

    @run_on_executor
    def fails(self) -> None:
        raise ZeroDivisionError("boom")

    def close(self) -> None:
        self.executor.shutdown()
        self._thread_pool.shutdown()


def test_run_on_executor_returns_awaitable_future_run_in_a_thread() -> None:
    worker = Worker()

    async def main() -> None:
        fut = worker.compute(6, scale=7)
        assert isinstance(fut, asyncio.Future)
        value, thread_name = await fut
        assert value == 42
        assert thread_name != threading.current_thread().name
        assert (await worker.named()).startswith("custom")
        with pytest.raises(ZeroDivisionError, match="boom"):
            await worker.fails()

    try:
        asyncio.run(main())
    finally:
        worker.close()
    assert Worker.compute.__name__ == "compute"


def test_run_on_executor_missing_executor_names_class_and_fix() -> None:
    class NoPool:
        @run_on_executor
        def work(self) -> int:
            return 1

    async def main() -> None:
        with pytest.raises(AttributeError) as info:
            NoPool().work()
        message = str(info.value)
        assert "NoPool.work" in message
        assert "self.executor" in message
        assert "ThreadPoolExecutor" in message

    asyncio.run(main())


def test_run_on_executor_argument_errors() -> None:
    with pytest.raises(ValueError, match="unexpected keyword"):
        run_on_executor(pool="x")
    with pytest.raises(ValueError, match="expected 1 positional"):
        run_on_executor(len, len)  # type: ignore[call-overload]


def test_dummy_executor_runs_inline() -> None:
    caller = threading.current_thread()
    fut = dummy_executor.submit(lambda a, b=0: (a + b, threading.current_thread()), 1, b=2)
    assert fut.done()
    assert fut.result() == (3, caller)
    failing = DummyExecutor().submit(lambda: 1 / 0)
    assert isinstance(failing.exception(), ZeroDivisionError)
    dummy_executor.shutdown()


def test_run_on_executor_with_dummy_executor() -> None:
    class Inline:
        executor = dummy_executor

        @run_on_executor
        def value(self) -> str:
            return threading.current_thread().name

    async def main() -> str:
        return await Inline().value()

    assert asyncio.run(main()) == threading.current_thread().name
