"""Wraps one of the benchmark apps to measure it from inside the gunicorn worker.

``gunicorn timed_bench:app`` with ``BENCH_TARGET=dualweb_bench:app`` serves
that app and times every WSGI call (the app's call plus draining its body, as
gunicorn does) with ``time.perf_counter`` and ``time.process_time``. With
``BENCH_PROFILE=1`` it also runs the calls under cProfile. ``GET /__timing__``
answers the totals so far as JSON and resets them; ``GET /__profile__`` answers
the profile's top functions (own time) as text and resets it.

This shows what the framework costs in the worker, where gunicorn's own
per-request work runs between calls and caches are colder than in a tight
in-process loop.
"""

from __future__ import annotations

import cProfile
import importlib
import io
import json
import os
import pstats
import time
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_module_name, _, _attr = os.environ.get("BENCH_TARGET", "dualweb_bench:app").partition(":")
TARGET: WSGIApp = getattr(importlib.import_module(_module_name), _attr)
PROFILER = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
_totals = {"calls": 0, "wall": 0.0, "cpu": 0.0}


def _answer(start_response: Callable[..., Any], body: bytes, ctype: str) -> list[bytes]:
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def _timing() -> bytes:
    calls = _totals["calls"] or 1
    report = {
        "calls": _totals["calls"],
        "wall_us": 1e6 * _totals["wall"] / calls,
        "cpu_us": 1e6 * _totals["cpu"] / calls,
    }
    _totals.update(calls=0, wall=0.0, cpu=0.0)
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
    wall, cpu = time.perf_counter(), time.process_time()
    if PROFILER is not None:
        PROFILER.enable()
    result = TARGET(environ, start_response)
    body = b"".join(result)
    if PROFILER is not None:
        PROFILER.disable()
    _totals["cpu"] += time.process_time() - cpu
    _totals["wall"] += time.perf_counter() - wall
    _totals["calls"] += 1
    return [body]
