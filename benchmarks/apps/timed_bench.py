"""Wraps one of the benchmark apps to measure it from inside the gunicorn worker.

``gunicorn timed_bench:app`` with ``BENCH_TARGET=dualweb_bench:app`` serves
that app and times every WSGI call (the app's call plus draining its body, as
gunicorn does) with ``time.perf_counter``. The median per call is the number
to read: on a shared machine the mean includes calls preempted by other
processes. (``time.process_time`` would be immune to that, but it is a system
call costing several µs, more than the bare app itself.) With
``BENCH_PROFILE=1`` it also runs the calls under cProfile. ``GET /__timing__``
answers the totals so far as JSON and resets them; ``GET /__profile__`` answers
the profile's top functions (own time) as text and resets it.

This shows what the framework costs in the worker, where gunicorn's own
per-request work runs between calls and caches are colder than in a tight
in-process loop.
"""

from __future__ import annotations

import cProfile
import gc
import importlib
import io
import json
import os
import pstats
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_module_name, _, _attr = os.environ.get("BENCH_TARGET", "dualweb_bench:app").partition(":")
TARGET: WSGIApp = getattr(importlib.import_module(_module_name), _attr)
PROFILER = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
_MAX_SAMPLES = 500_000
_samples: list[float] = []
# Garbage collections during the run: count per generation and total seconds.
_gc = {"collections": [0, 0, 0], "seconds": 0.0, "started": 0.0}


def _on_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc["started"] = time.perf_counter()
    else:
        _gc["collections"][info["generation"]] += 1  # type: ignore[index]
        _gc["seconds"] += time.perf_counter() - _gc["started"]  # type: ignore[operator]


gc.callbacks.append(_on_gc)


def _answer(start_response: Callable[..., Any], body: bytes, ctype: str) -> list[bytes]:
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def _timing() -> bytes:
    samples = _samples or [0.0]
    report = {
        "calls": len(_samples),
        "median_us": 1e6 * statistics.median(samples),
        "mean_us": 1e6 * statistics.fmean(samples),
        "gc_collections": list(_gc["collections"]),  # type: ignore[call-overload]
        "gc_us_per_call": 1e6 * _gc["seconds"] / max(len(_samples), 1),  # type: ignore[operator]
    }
    _samples.clear()
    _gc.update(collections=[0, 0, 0], seconds=0.0)
    return json.dumps(report).encode()


def _profile() -> bytes:
    if PROFILER is None:
        return b"profiling is off (set BENCH_PROFILE=1)\n"
    out = io.StringIO()
    stats = pstats.Stats(PROFILER, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    PROFILER.clear()
    return out.getvalue().encode()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Serve ``TARGET``, timing each call; ``/__timing__`` and ``/__profile__`` report."""
    path = environ.get("PATH_INFO")
    if path == "/__timing__":
        return _answer(start_response, _timing(), "application/json")
    if path == "/__profile__":
        return _answer(start_response, _profile(), "text/plain")
    if PROFILER is not None:
        PROFILER.enable()
    start = time.perf_counter()
    result = TARGET(environ, start_response)
    body = b"".join(result)
    elapsed = time.perf_counter() - start
    if PROFILER is not None:
        PROFILER.disable()
    if len(_samples) < _MAX_SAMPLES:
        _samples.append(elapsed)
    return [body]
