"""dualweb.ioloop: the IOLoop facade over asyncio and PeriodicCallback."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import gc
import itertools
import logging
import socket
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dualweb import gen
from dualweb.ioloop import IOLoop, PeriodicCallback, TimeoutError, install_uvloop

_T = TypeVar("_T")


@pytest.fixture
def io_loop() -> Iterator[IOLoop]:
    loop = IOLoop(make_current=False)
    yield loop
    loop.close(all_fds=True)


def in_thread(fn: Callable[[], _T]) -> _T:
    """Run ``fn`` in a fresh thread (which has no current event loop) and return its result."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=10)


# -- current() and the one-IOLoop-per-asyncio-loop mapping -----------------------------


def test_current_inside_asyncio_run_wraps_the_running_loop() -> None:
    async def main() -> tuple[IOLoop, IOLoop, bool]:
        first = IOLoop.current()
        return first, IOLoop.current(), first.asyncio_loop is asyncio.get_running_loop()

    first, second, same_loop = asyncio.run(main())
    assert first is second
    assert same_loop


def test_each_asyncio_loop_gets_its_own_ioloop() -> None:
    async def main() -> IOLoop:
        return IOLoop.current()

    assert asyncio.run(main()) is not asyncio.run(main())


def test_wrapping_a_loop_twice_is_refused() -> None:
    loop = asyncio.new_event_loop()
    try:
        wrapper = IOLoop(make_current=False, asyncio_loop=loop)
        assert wrapper.asyncio_loop is loop
        with pytest.raises(RuntimeError, match="already has an IOLoop"):
            IOLoop(make_current=False, asyncio_loop=loop)
    finally:
        wrapper.close()


def test_finished_asyncio_run_loop_is_not_kept_alive() -> None:
    refs: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        IOLoop.current()
        refs.append(weakref.ref(asyncio.get_running_loop()))

    asyncio.run(main())
    gc.collect()
    assert refs[0]() is None


def test_current_without_a_loop_creates_and_sets_one() -> None:
    def body() -> tuple[bool, bool, bool, bool]:
        assert IOLoop.current(instance=False) is None
        io_loop = IOLoop.current()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                thread_loop = asyncio.get_event_loop()
            return (
                IOLoop.current() is io_loop,
                IOLoop.instance() is io_loop,
                IOLoop.current(instance=False) is io_loop,
                thread_loop is io_loop.asyncio_loop,
            )
        finally:
            io_loop.close()
            asyncio.set_event_loop(None)

    assert in_thread(body) == (True, True, True, True)


def test_constructor_makes_the_new_loop_current_by_default() -> None:
    def body() -> tuple[bool, bool]:
        io_loop = IOLoop()
        quiet = IOLoop(make_current=False)
        try:
            return IOLoop.current() is io_loop, IOLoop.current() is not quiet
        finally:
            quiet.close()
            io_loop.close()
            asyncio.set_event_loop(None)

    assert in_thread(body) == (True, True)


def test_make_current_and_clear_current_are_deprecated_but_work() -> None:
    def body() -> tuple[bool, bool]:
        io_loop = IOLoop(make_current=False)
        try:
            with pytest.warns(DeprecationWarning, match="make_current"):
                io_loop.make_current()
            made = IOLoop.current() is io_loop
            with pytest.warns(DeprecationWarning, match="clear_current"):
                IOLoop.clear_current()
            return made, IOLoop.current(instance=False) is None
        finally:
            io_loop.close()

    assert in_thread(body) == (True, True)


def test_closed_current_loop_is_replaced() -> None:
    def body() -> bool:
        old = IOLoop.current()
        old.close()
        new = IOLoop.current()
        try:
            return new is not old and not new.asyncio_loop.is_closed()
        finally:
            new.close()
            asyncio.set_event_loop(None)

    assert in_thread(body)


# -- start / stop / close ----------------------------------------------------------------


def test_start_runs_until_stop_and_is_current_meanwhile(io_loop: IOLoop) -> None:
    seen: list[object] = []

    def inside() -> None:
        seen.append(IOLoop.current())
        io_loop.stop()

    io_loop.add_callback(inside)
    io_loop.start()
    assert seen == [io_loop]


def test_close_refuses_a_running_loop(io_loop: IOLoop) -> None:
    errors: list[str] = []

    def inside() -> None:
        try:
            io_loop.close()
        except RuntimeError as e:
            errors.append(str(e))
        io_loop.stop()

    io_loop.add_callback(inside)
    io_loop.start()
    assert errors and "stop()" in errors[0]


def test_add_callback_after_close_is_dropped_silently() -> None:
    io_loop = IOLoop(make_current=False)
    io_loop.close()
    io_loop.add_callback(lambda: None)


# -- callbacks -----------------------------------------------------------------------------


def test_add_callback_from_another_thread_wakes_the_loop(io_loop: IOLoop) -> None:
    received: list[tuple[str, str]] = []

    def producer() -> None:
        for i in range(20):
            io_loop.add_callback(
                lambda i=i: received.append((str(i), threading.current_thread().name))
            )
        io_loop.add_callback(io_loop.stop)

    io_loop.add_callback(lambda: threading.Thread(target=producer).start())
    watchdog = io_loop.call_later(5, io_loop.stop)
    io_loop.start()
    io_loop.remove_timeout(watchdog)
    assert [value for value, _ in received] == [str(i) for i in range(20)]
    assert {name for _, name in received} == {threading.current_thread().name}


def test_add_callback_passes_args_and_kwargs(io_loop: IOLoop) -> None:
    got: list[object] = []
    io_loop.add_callback(lambda a, b=None: got.append((a, b)), 1, b=2)
    io_loop.spawn_callback(got.append, "spawned")
    io_loop.add_callback_from_signal(got.append, "signal")
    io_loop.add_callback(io_loop.stop)
    io_loop.start()
    assert got == [(1, 2), "spawned", "signal"]


def test_callback_exception_is_logged_and_loop_keeps_running(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    after: list[str] = []

    def broken() -> None:
        raise ValueError("callback broke")

    io_loop.add_callback(broken)
    io_loop.add_callback(after.append, "still running")
    io_loop.add_callback(io_loop.stop)
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        io_loop.start()
    assert after == ["still running"]
    [record] = [r for r in caplog.records if r.name == "dualweb.application"]
    assert record.getMessage().startswith("Exception in callback")
    assert record.exc_info is not None and "callback broke" in str(record.exc_info[1])


def test_coroutine_callbacks_are_run_and_their_errors_logged(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    async def good() -> None:
        await asyncio.sleep(0)
        ran.append("good")

    async def bad() -> None:
        await asyncio.sleep(0)
        raise KeyError("async broke")

    io_loop.spawn_callback(good)
    io_loop.spawn_callback(bad)
    io_loop.call_later(0.05, io_loop.stop)
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        io_loop.start()
    assert ran == ["good"]
    assert any("async broke" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


# -- timers --------------------------------------------------------------------------------


def test_time_is_wall_clock_like_tornado(io_loop: IOLoop) -> None:
    assert abs(io_loop.time() - time.time()) < 1


def test_timers_fire_in_deadline_order(io_loop: IOLoop) -> None:
    order: list[str] = []
    now = io_loop.time()
    # Deadlines 100 ms apart, so a loaded machine pausing between these lines keeps the order.
    io_loop.add_timeout(now + 0.3, order.append, "add_timeout float")
    io_loop.add_timeout(datetime.timedelta(seconds=0.2), order.append, "add_timeout timedelta")
    io_loop.call_at(now + 0.1, order.append, "call_at")
    io_loop.call_later(0.0, order.append, "call_later")
    # Tornado's classic idiom: a wall-clock deadline from time.time().
    io_loop.add_timeout(time.time() + 0.4, io_loop.stop)
    io_loop.start()
    assert order == ["call_later", "call_at", "add_timeout timedelta", "add_timeout float"]


def test_remove_timeout_cancels(io_loop: IOLoop) -> None:
    fired: list[int] = []
    handle = io_loop.call_later(0.01, fired.append, 1)
    io_loop.remove_timeout(handle)
    io_loop.call_later(0.03, io_loop.stop)
    io_loop.start()
    assert fired == []
    io_loop.remove_timeout(handle)  # removing twice is harmless


def test_add_timeout_rejects_other_deadline_types(io_loop: IOLoop) -> None:
    with pytest.raises(TypeError, match="Unsupported deadline"):
        io_loop.add_timeout("soon", lambda: None)  # type: ignore[arg-type]


# -- futures and executors ---------------------------------------------------------------


def test_add_future_asyncio_and_concurrent(io_loop: IOLoop) -> None:
    results: list[tuple[object, str]] = []
    pool = concurrent.futures.ThreadPoolExecutor(1)

    def record(fut: Any) -> None:
        results.append((fut.result(), threading.current_thread().name))
        if len(results) == 2:
            io_loop.stop()

    def begin() -> None:
        fut = io_loop.asyncio_loop.create_future()
        io_loop.add_future(fut, record)
        io_loop.call_later(0.01, fut.set_result, "asyncio")
        io_loop.add_future(pool.submit(time.sleep, 0.005), record)

    io_loop.add_callback(begin)
    watchdog = io_loop.call_later(5, io_loop.stop)
    io_loop.start()
    io_loop.remove_timeout(watchdog)
    pool.shutdown()
    assert sorted(str(r[0]) for r in results) == ["None", "asyncio"]
    assert {r[1] for r in results} == {threading.current_thread().name}
    with pytest.raises(TypeError, match="expects a Future"):
        io_loop.add_future("nope", record)  # type: ignore[arg-type]


def test_run_in_executor_default_and_explicit(io_loop: IOLoop) -> None:
    main_name = threading.current_thread().name

    async def main() -> tuple[str, str, str]:
        fut = io_loop.run_in_executor(None, lambda: threading.current_thread().name)
        assert isinstance(fut, asyncio.Future)
        default_thread = await fut
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") as pool:
            explicit = await io_loop.run_in_executor(pool, lambda: threading.current_thread().name)
        custom = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dflt")
        io_loop.set_default_executor(custom)
        replaced = await io_loop.run_in_executor(None, lambda: threading.current_thread().name)
        return default_thread, explicit, replaced

    default_thread, explicit, replaced = io_loop.run_sync(main)
    assert default_thread != main_name
    assert explicit.startswith("mine")
    assert replaced.startswith("dflt")


# -- run_sync ------------------------------------------------------------------------------


def test_run_sync_values_coroutines_and_gen_coroutines(io_loop: IOLoop) -> None:
    async def native() -> str:
        await asyncio.sleep(0)
        return "native"

    @gen.coroutine
    def legacy() -> Any:
        yield gen.moment
        return "legacy"

    assert io_loop.run_sync(lambda: 5) == 5
    assert io_loop.run_sync(lambda: None) is None
    assert io_loop.run_sync(native) == "native"
    assert io_loop.run_sync(legacy) == "legacy"
    assert not io_loop.asyncio_loop.is_running()


def test_run_sync_raises_the_functions_exception(io_loop: IOLoop) -> None:
    async def failing() -> None:
        raise LookupError("inside")

    def failing_sync() -> None:
        raise ArithmeticError("sync")

    with pytest.raises(LookupError, match="inside"):
        io_loop.run_sync(failing)
    with pytest.raises(ArithmeticError, match="sync"):
        io_loop.run_sync(failing_sync)


def test_run_sync_timeout_cancels_and_raises(io_loop: IOLoop) -> None:
    cleaned: list[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append("finally ran")

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"timed out after 0\.05 seconds") as info:
        io_loop.run_sync(slow, timeout=0.05)
    assert time.monotonic() - started < 2
    assert cleaned == ["finally ran"]
    if sys.version_info >= (3, 11):  # one TimeoutError class since 3.11
        assert isinstance(info.value, asyncio.TimeoutError)
    assert io_loop.run_sync(lambda: "still usable") == "still usable"


def test_run_sync_refuses_a_running_loop_and_reports_early_stop(io_loop: IOLoop) -> None:
    async def nested() -> None:
        io_loop.run_sync(lambda: 1)

    with pytest.raises(RuntimeError, match="already running"):
        io_loop.run_sync(nested)

    async def stops_early() -> None:
        io_loop.stop()
        await asyncio.sleep(1)

    with pytest.raises(RuntimeError, match="stopped before Future completed"):
        io_loop.run_sync(stops_early)


# -- file descriptor handlers --------------------------------------------------------------


def test_add_handler_read_and_write_events(io_loop: IOLoop) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    events: list[tuple[object, int]] = []

    def on_event(fd: object, ev: int) -> None:
        events.append((fd, ev))
        if ev & IOLoop.READ:
            a.recv(100)
            io_loop.update_handler(a, IOLoop.WRITE)
        else:
            io_loop.remove_handler(a)
            io_loop.stop()

    io_loop.add_handler(a, on_event, IOLoop.READ)
    with pytest.raises(ValueError, match="added twice"):
        io_loop.add_handler(a.fileno(), on_event, IOLoop.READ)
    b.send(b"ping")
    watchdog = io_loop.call_later(5, io_loop.stop)
    io_loop.start()
    io_loop.remove_timeout(watchdog)
    assert events == [(a, IOLoop.READ), (a, IOLoop.WRITE)]
    io_loop.remove_handler(a)  # unknown fd: ignored
    a.close()
    b.close()


def test_close_all_fds_closes_registered_objects() -> None:
    io_loop = IOLoop(make_current=False)
    a, b = socket.socketpair()
    io_loop.add_handler(a, lambda fd, ev: None, IOLoop.READ)
    io_loop.close(all_fds=True)
    assert a.fileno() == -1
    b.close()


# -- PeriodicCallback ----------------------------------------------------------------------


def test_periodic_callback_runs_repeatedly_until_stopped(io_loop: IOLoop) -> None:
    calls: list[float] = []

    async def main() -> tuple[int, int]:
        pc = PeriodicCallback(lambda: calls.append(time.monotonic()), 20)
        assert not pc.is_running()
        pc.start()
        assert pc.is_running()
        await asyncio.sleep(0.25)
        pc.stop()
        assert not pc.is_running()
        count = len(calls)
        await asyncio.sleep(0.06)
        return count, len(calls)

    at_stop, later = io_loop.run_sync(main)
    assert 5 <= at_stop <= 13
    assert later == at_stop


def test_periodic_callback_accepts_timedelta_and_rejects_nonpositive() -> None:
    pc = PeriodicCallback(lambda: None, datetime.timedelta(seconds=1.5))
    assert pc.callback_time == 1500
    with pytest.raises(ValueError, match="positive callback_time"):
        PeriodicCallback(lambda: None, 0)


def test_periodic_callback_skips_missed_runs_instead_of_bursting(io_loop: IOLoop) -> None:
    stamps: list[float] = []

    def callback() -> None:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            time.sleep(0.12)  # block the loop for ~6 periods

    async def main() -> None:
        pc = PeriodicCallback(callback, 20)
        pc.start()
        await asyncio.sleep(0.3)
        pc.stop()

    io_loop.run_sync(main)
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:])]
    assert len(stamps) >= 3
    # A burst of catch-up runs would show near-zero gaps.
    assert min(gaps) > 0.008


def test_periodic_callback_logs_errors_and_continues(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        raise RuntimeError("tick failed")

    async def main() -> None:
        pc = PeriodicCallback(flaky, 10)
        pc.start()
        await asyncio.sleep(0.1)
        pc.stop()

    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        io_loop.run_sync(main)
    assert len(calls) >= 3
    assert sum("tick failed" in str(r.exc_info[1]) for r in caplog.records if r.exc_info) == len(
        calls
    )


def test_periodic_coroutine_callback_is_awaited_before_rescheduling(io_loop: IOLoop) -> None:
    active = 0
    max_active = 0
    finished = 0

    async def slow_tick() -> None:
        nonlocal active, max_active, finished
        active += 1
        max_active = max(max_active, active)
        await asyncio.sleep(0.03)  # longer than the period
        active -= 1
        finished += 1

    async def main() -> None:
        pc = PeriodicCallback(slow_tick, 10)
        pc.start()
        await asyncio.sleep(0.2)
        pc.stop()
        await asyncio.sleep(0.05)

    io_loop.run_sync(main)
    assert max_active == 1
    assert 2 <= finished <= 8


# -- uvloop --------------------------------------------------------------------------------


def test_install_uvloop_switches_new_loops_only() -> None:
    pytest.importorskip("uvloop")

    async def running() -> None:
        with pytest.raises(RuntimeError, match="at startup"):
            install_uvloop()

    asyncio.run(running())
    try:
        assert install_uvloop() is True
        loop = asyncio.new_event_loop()
        try:
            assert type(loop).__module__.startswith("uvloop")
        finally:
            loop.close()
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(None)


def test_a_loop_given_to_the_constructor_is_kept_alive() -> None:
    io_loop = IOLoop(make_current=False, asyncio_loop=asyncio.new_event_loop())
    gc.collect()
    try:
        assert io_loop.run_sync(lambda: "alive") == "alive"
    finally:
        io_loop.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count fds")
def test_start_in_a_fresh_process_leaves_no_stray_loop() -> None:
    script = (
        "import asyncio, gc, os\n"
        "from dualweb.ioloop import IOLoop\n"
        # uvloop (used automatically when installed) opens a few process-wide
        # descriptors with its first loop; count after that one-time cost.
        "asyncio.new_event_loop().close()\n"
        "fds = len(os.listdir('/proc/self/fd'))\n"
        "io_loop = IOLoop(make_current=False)\n"
        "io_loop.add_callback(io_loop.stop)\n"
        "io_loop.start()\n"
        "io_loop.close()\n"
        "gc.collect()\n"
        "assert len(os.listdir('/proc/self/fd')) == fds, 'a stray loop holds descriptors'\n"
        "main = IOLoop.current()\n"  # the seed's `IOLoop.current().start()` pattern
        "main.call_later(0.01, main.stop)\n"
        "main.start()\n"
        "assert IOLoop.current() is main\n"
        "main.close()\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.strip() == "clean", result.stderr
    assert "ResourceWarning" not in result.stderr
