"""dualweb.queues: Queue, PriorityQueue, LifoQueue."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from dualweb.ioloop import IOLoop
from dualweb.queues import LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull
from tests.harness import run

SHORT = datetime.timedelta(seconds=0.01)


def test_fifo_order_sizes_and_nowait_errors() -> None:
    async def main() -> None:
        q: Queue[int] = Queue(maxsize=2)
        assert q.maxsize == 2 and q.empty() and not q.full() and q.qsize() == 0
        with pytest.raises(QueueEmpty):
            q.get_nowait()
        q.put_nowait(1)
        await q.put(2)
        assert q.full() and q.qsize() == 2
        with pytest.raises(QueueFull):
            q.put_nowait(3)
        assert [q.get_nowait(), await q.get()] == [1, 2]
        assert q.empty()

    run(main)


def test_unbounded_queue_is_never_full() -> None:
    q: Queue[int] = Queue()
    for i in range(1000):
        q.put_nowait(i)
    assert not q.full() and q.qsize() == 1000


def test_get_waits_for_put_and_put_waits_for_get() -> None:
    async def main() -> None:
        q: Queue[str] = Queue(maxsize=1)
        getter = asyncio.ensure_future(q.get())
        await asyncio.sleep(0.005)
        assert not getter.done()
        await q.put("hello")
        assert await getter == "hello"

        await q.put("fills it")
        putter = asyncio.ensure_future(q.put("waits"))
        await asyncio.sleep(0.005)
        assert not putter.done()
        assert q.get_nowait() == "fills it"
        await putter
        assert q.get_nowait() == "waits"

    run(main)


def test_get_and_put_timeouts() -> None:
    async def main() -> None:
        q: Queue[str] = Queue(maxsize=1)
        with pytest.raises(TimeoutError):
            await q.get(timeout=SHORT)
        with pytest.raises(TimeoutError):
            await q.get(timeout=IOLoop.current().time() + 0.01)
        q.put_nowait("x")
        with pytest.raises(TimeoutError):
            await q.put("dropped", timeout=SHORT)
        assert q.get_nowait() == "x"
        assert q.empty()  # the timed-out put did not sneak in

    run(main)


def test_timed_out_getter_does_not_swallow_a_later_item() -> None:
    async def main() -> None:
        q: Queue[str] = Queue()
        with pytest.raises(TimeoutError):
            await q.get(timeout=SHORT)
        live = asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        q.put_nowait("for the live getter")
        assert await asyncio.wait_for(live, 1) == "for the live getter"

    run(main)


def test_join_and_task_done() -> None:
    async def main() -> list[int]:
        q: Queue[int] = Queue()
        processed: list[int] = []
        await q.join(timeout=SHORT)  # nothing put yet: returns at once

        async def worker() -> None:
            async for item in q:
                await asyncio.sleep(0.001)
                processed.append(item)
                q.task_done()

        for i in range(5):
            q.put_nowait(i)
        assert "tasks=5" in str(q)
        with pytest.raises(TimeoutError):
            await q.join(timeout=datetime.timedelta(seconds=0.001))
        workers = [asyncio.ensure_future(worker()) for _ in range(2)]
        await q.join(timeout=datetime.timedelta(seconds=2))
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        with pytest.raises(ValueError, match="task_done\\(\\) called too many times"):
            q.task_done()
        return processed

    assert sorted(run(main)) == [0, 1, 2, 3, 4]


def test_priority_queue_returns_lowest_first() -> None:
    q: PriorityQueue[tuple[int, str]] = PriorityQueue()
    for item in [(2, "low"), (0, "high"), (1, "medium")]:
        q.put_nowait(item)
    assert [q.get_nowait()[1] for _ in range(3)] == ["high", "medium", "low"]


def test_lifo_queue_returns_newest_first() -> None:
    q: LifoQueue[int] = LifoQueue(maxsize=3)
    for i in range(3):
        q.put_nowait(i)
    assert q.full()
    assert [q.get_nowait() for _ in range(3)] == [2, 1, 0]


def test_bad_maxsize() -> None:
    with pytest.raises(TypeError, match="None"):
        Queue(maxsize=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        Queue(maxsize=-1)


def test_repr_and_str_show_state() -> None:
    async def main() -> tuple[str, str]:
        q: Queue[int] = Queue(maxsize=1)
        getter = q.get()
        shown_getters = str(q)
        q.put_nowait(9)
        await getter
        q.put_nowait(1)
        putter = q.put(2)
        text = repr(q)
        q.get_nowait()
        await putter
        return shown_getters, text

    shown_getters, text = run(main)
    assert shown_getters == "<Queue maxsize=1 getters[1]>"
    assert text.startswith("<Queue at 0x")
    assert "queue=deque([1])" in text and "putters[1]" in text and "tasks=2" in text
