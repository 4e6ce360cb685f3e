"""dualweb.locks: Condition, Event, Semaphore, BoundedSemaphore, Lock."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Generator
from typing import Any

import pytest

from dualweb import gen
from dualweb.ioloop import IOLoop
from dualweb.locks import BoundedSemaphore, Condition, Event, Lock, Semaphore
from tests.harness import run

SHORT = datetime.timedelta(seconds=0.01)


# -- Condition -----------------------------------------------------------------------------


def test_condition_notify_wakes_waiters_in_order() -> None:
    async def main() -> list[str]:
        cond = Condition()
        woken: list[str] = []

        async def waiter(name: str) -> None:
            assert await cond.wait() is True
            woken.append(name)

        tasks = [asyncio.ensure_future(waiter(n)) for n in ("a", "b", "c")]
        await asyncio.sleep(0)
        assert "waiters[3]" in repr(cond)
        cond.notify()
        await asyncio.sleep(0)
        assert woken == ["a"]
        cond.notify(5)  # more than are waiting: wakes the rest
        await asyncio.gather(*tasks)
        return woken

    assert run(main) == ["a", "b", "c"]


def test_condition_notify_all_and_timeout() -> None:
    async def main() -> None:
        cond = Condition()
        io_loop = IOLoop.current()
        assert await cond.wait(timeout=io_loop.time() + 0.01) is False
        assert await cond.wait(timeout=SHORT) is False
        waits = [cond.wait() for _ in range(3)]
        cond.notify_all()
        assert await asyncio.gather(*waits) == [True, True, True]
        assert repr(cond) == "<Condition>"

    run(main)


def test_condition_timed_out_waiter_is_skipped_by_notify() -> None:
    async def main() -> None:
        cond = Condition()
        expired = cond.wait(timeout=SHORT)
        live = cond.wait()
        assert await expired is False
        cond.notify(1)  # must go to the live waiter, not the expired one
        assert await asyncio.wait_for(live, 1) is True

    run(main)


def test_condition_forgets_many_timed_out_waiters() -> None:
    async def main() -> str:
        cond = Condition()
        waits = [cond.wait(timeout=SHORT) for _ in range(150)]
        await asyncio.gather(*waits)
        return repr(cond)

    text = run(main)
    count = int(text.split("waiters[")[1].rstrip("]>")) if "waiters[" in text else 0
    assert count < 150


# -- Event ---------------------------------------------------------------------------------


def test_event_wait_blocks_until_set_and_clear_rearms() -> None:
    async def main() -> None:
        event = Event()
        assert not event.is_set()
        assert repr(event) == "<Event clear>"
        waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert not any(w.done() for w in waiters)
        event.set()
        await asyncio.gather(*waiters)
        assert event.is_set() and repr(event) == "<Event set>"
        await asyncio.wait_for(event.wait(), 0.1)  # set: returns at once
        event.clear()
        pending = asyncio.ensure_future(event.wait())
        await asyncio.sleep(0.01)
        assert not pending.done()
        event.set()
        await pending

    run(main)


def test_event_wait_timeout_raises_and_later_set_is_harmless() -> None:
    async def main() -> None:
        event = Event()
        with pytest.raises(TimeoutError):
            await event.wait(timeout=SHORT)
        with pytest.raises(gen.TimeoutError):
            await event.wait(timeout=IOLoop.current().time() + 0.01)
        event.set()
        await event.wait(timeout=SHORT)

    run(main)


# -- Semaphore ----------------------------------------------------------------------------


def test_semaphore_limits_concurrency() -> None:
    async def main() -> tuple[int, int]:
        sem = Semaphore(2)
        active = peak = done = 0

        async def worker() -> None:
            nonlocal active, peak, done
            async with sem:
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.005)
                active -= 1
                done += 1

        await asyncio.gather(*(worker() for _ in range(7)))
        return peak, done

    assert run(main) == (2, 7)


def test_semaphore_acquire_timeout_and_release_wakes_longest_waiter() -> None:
    async def main() -> list[str]:
        sem = Semaphore(1)
        await sem.acquire()
        assert "locked" in repr(sem)
        with pytest.raises(TimeoutError):
            await sem.acquire(timeout=SHORT)
        order: list[str] = []

        async def waiter(name: str) -> None:
            await sem.acquire()
            order.append(name)

        tasks = [asyncio.ensure_future(waiter(n)) for n in ("first", "second")]
        await asyncio.sleep(0)
        sem.release()
        await asyncio.sleep(0)
        assert order == ["first"]
        sem.release()
        await asyncio.gather(*tasks)
        return order

    assert run(main) == ["first", "second"]


def test_semaphore_plain_with_is_an_error_naming_async_with() -> None:
    sem = Semaphore()
    with pytest.raises(RuntimeError, match="Use 'async with' instead of 'with' for Semaphore"):
        with sem:
            pass
    with pytest.raises(ValueError, match=">= 0"):
        Semaphore(-1)


def test_semaphore_legacy_with_yield_acquire_releases() -> None:
    sem = Semaphore(1)

    @gen.coroutine
    def legacy() -> Generator[Any, Any, str]:
        with (yield sem.acquire()):
            assert "locked" in repr(sem)
        return repr(sem)

    assert "unlocked,value:1" in run(legacy)


def test_semaphore_slot_not_lost_when_cancelled_after_grant() -> None:
    async def main() -> None:
        sem = Semaphore(1)
        await sem.acquire()

        async def user() -> None:
            async with sem:
                pass

        task = asyncio.ensure_future(user())
        await asyncio.sleep(0)
        sem.release()  # grants the slot to ``task``...
        task.cancel()  # ...which is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(sem.acquire(), 0.5)

    run(main)


def test_bounded_semaphore_refuses_extra_release() -> None:
    async def main() -> None:
        sem = BoundedSemaphore(1)
        await sem.acquire()
        sem.release()
        with pytest.raises(ValueError, match="released too many times"):
            sem.release()

    run(main)


# -- Lock ----------------------------------------------------------------------------------


def test_lock_mutual_exclusion_in_fifo_order() -> None:
    async def main() -> list[str]:
        lock = Lock()
        log: list[str] = []

        async def critical(name: str) -> None:
            async with lock:
                log.append(f"{name} in")
                await asyncio.sleep(0.002)
                log.append(f"{name} out")

        await asyncio.gather(critical("a"), critical("b"), critical("c"))
        return log

    assert run(main) == ["a in", "a out", "b in", "b out", "c in", "c out"]


def test_lock_acquire_timeout_release_errors_and_plain_with() -> None:
    async def main() -> None:
        lock = Lock()
        await lock.acquire()
        with pytest.raises(TimeoutError):
            await lock.acquire(timeout=SHORT)
        lock.release()
        with pytest.raises(RuntimeError, match="release unlocked lock"):
            lock.release()
        await lock.acquire(timeout=SHORT)
        lock.release()
        with pytest.raises(RuntimeError, match="Use 'async with' instead of 'with' for Lock"):
            with lock:
                pass

    run(main)
