"""Micro benchmark of the request core: ``app(request)`` for a hello-world GET and a JSON GET.

Measures the Python cost of routing, creating the handler, running its
lifecycle and producing the response through a dummy connection, with no
sockets or parsing involved, for dualweb and for Tornado's Application on the
same kind of dummy connection.

Cases (``--cases``, default all):

* ``hello``: ``self.write("Hello, world")``, request prebuilt outside the timed loop;
* ``json``: ``self.write({...})`` (a small dict), request prebuilt;
* ``hello+req``: hello, with ``HTTPHeaders`` and ``HTTPServerRequest``
  construction inside the timed loop;
* ``intake``: hello the way every driver enters the core:
  ``app.start_request(None, connection)``, then ``headers_received(start_line,
  headers)`` and ``finish()`` on the delegate it returns (the request is built
  by the core; for dualweb this is the plain-handler fast path).

Times are CPU time of the process (``time.process_time``), which other load
on the machine disturbs far less than wall time. ``--profile`` runs each
dualweb case under cProfile instead and prints the function calls per
request and the most expensive functions.

Run: ``/tmp/venv/bin/python benchmarks/bench_core.py [--n 20000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# CPU time of this process, not wall time: on a shared machine, time spent
# descheduled behind other processes would otherwise dominate the spread.
_clock = time.process_time

# Headers of a typical small browser/wrk request (already in Http-Header-Case,
# as the native codec and the WSGI adapter produce them).
_REQUEST_HEADERS = {
    "Host": "localhost:8888",
    "User-Agent": "bench/1.0",
    "Accept": "*/*",
    "Connection": "keep-alive",
}
_JSON_DOC = {"message": "Hello, world", "id": 12345, "tags": ["a", "b", "c"], "ok": True}


class _Context:
    remote_ip = "127.0.0.1"
    protocol = "http"
    address = ("127.0.0.1", 12345)
    trusted_downstream: set[str] = set()


class DummyConnection:
    """Accepts a response and throws it away (what either core needs from a driver)."""

    supports_async = True

    def __init__(self, done: Any) -> None:
        self.context = _Context()
        self._done = done

    def write_headers(self, start_line: Any, headers: Any, chunk: Any = None) -> Any:
        return self._done

    def write(self, chunk: Any) -> Any:
        return self._done

    def finish(self) -> None:
        pass

    def set_close_callback(self, callback: Any) -> None:
        pass


def dualweb_setup(case: str) -> tuple[Callable[[Any], Any], Callable[[], Any]]:
    """The dualweb application and a function building one request for ``case``."""
    from dualweb.connection import COMPLETED
    from dualweb.httputil import HTTPHeaders, HTTPServerRequest
    from dualweb.web import Application, RequestHandler

    class Hello(RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

    class Json(RequestHandler):
        def get(self) -> None:
            self.write(_JSON_DOC)

    app = Application([(r"/", Hello), (r"/json", Json)])
    conn = DummyConnection(COMPLETED)
    uri = "/json" if case == "json" else "/"

    def make() -> HTTPServerRequest:
        return HTTPServerRequest(
            method="GET",
            uri=uri,
            version="HTTP/1.1",
            headers=HTTPHeaders(_REQUEST_HEADERS),
            connection=conn,  # type: ignore[arg-type]
        )

    return app, make


def dualweb_case(n: int, case: str) -> Callable[[], float]:
    app, make = dualweb_setup(case)
    if case == "intake":
        from dualweb.connection import COMPLETED, RequestStartLine
        from dualweb.httputil import HTTPHeaders

        conn = DummyConnection(COMPLETED)
        start_line = RequestStartLine("GET", "/", "HTTP/1.1")

        def run_intake() -> float:
            start = _clock()
            for _ in range(n):
                delegate = app.start_request(None, conn)  # type: ignore[attr-defined]
                delegate.headers_received(start_line, HTTPHeaders(_REQUEST_HEADERS))
                delegate.finish()
            return _clock() - start

        return run_intake
    if case == "hello+req":

        def run_building() -> float:
            start = _clock()
            for _ in range(n):
                app(make())
            return _clock() - start

        return run_building

    def run() -> float:
        requests = [make() for _ in range(n)]
        start = _clock()
        for request in requests:
            app(request)
        return _clock() - start

    return run


def tornado_case(n: int, case: str, loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    import tornado.httputil
    import tornado.web

    class Hello(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

    class Json(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(_JSON_DOC)

    app = tornado.web.Application([(r"/", Hello), (r"/json", Json)])
    done: asyncio.Future[None] = loop.create_future()
    done.set_result(None)
    conn = DummyConnection(done)
    uri = "/json" if case == "json" else "/"

    def make() -> tornado.httputil.HTTPServerRequest:
        return tornado.httputil.HTTPServerRequest(
            start_line=tornado.httputil.RequestStartLine("GET", uri, "HTTP/1.1"),
            headers=tornado.httputil.HTTPHeaders(_REQUEST_HEADERS),
            connection=conn,  # type: ignore[arg-type]
        )

    building = case == "hello+req"
    intake = case == "intake"

    def serve(request: Any) -> None:
        if intake:
            delegate = app.start_request(None, conn)  # type: ignore[arg-type]
            delegate.headers_received(
                tornado.httputil.RequestStartLine("GET", "/", "HTTP/1.1"),
                tornado.httputil.HTTPHeaders(_REQUEST_HEADERS),
            )
            delegate.finish()
        else:
            app(request)

    def run() -> float:
        requests = [] if building or intake else [make() for _ in range(n)]

        async def drive() -> float:
            start = _clock()
            for i in range(n):
                serve(None if intake else make() if building else requests[i])
                if i % 100 == 99:
                    # Tornado runs every handler as a task; let the batch run.
                    await asyncio.sleep(0)
            await asyncio.sleep(0)
            return _clock() - start

        return loop.run_until_complete(drive())

    return run


def measure(cases: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    """Best time per case; the cases are interleaved so load changes hit them alike."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for name, run in cases.items():
            gc.collect()
            best[name] = min(best[name], run())
    return best


def profile(case: str, n: int, top: int) -> None:
    """Print function calls per request and the top functions for one dualweb case."""
    app, make = dualweb_setup(case)
    building = case == "hello+req"
    for _ in range(100):  # warm caches (Allow lists, Date, normalized names)
        app(make())
    requests = [] if building else [make() for _ in range(n)]
    profiler = cProfile.Profile()
    if case == "intake":
        run = dualweb_case(n, case)
        run()  # warm
        profiler.enable()
        run()
    else:
        profiler.enable()
    if case == "intake":
        pass
    elif building:
        for _ in range(n):
            app(make())
    else:
        for request in requests:
            app(request)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_calls  # type: ignore[attr-defined]
    # Entries with file "~" are C functions (dict.get, len, ...): far cheaper than a Python frame.
    python_calls = sum(
        row[1]
        for func, row in stats.stats.items()  # type: ignore[attr-defined]
        if func[0] != "~"
    )
    print(
        f"[{case}] {total / n:.1f} function calls per request, {python_calls / n:.1f} of "
        f"them Python functions (cProfile, n={n})"
    )
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", default="hello,json,hello+req,intake")
    parser.add_argument("--no-tornado", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    names = [c for c in args.cases.split(",") if c]
    if args.profile:
        for case in names:
            profile(case, args.n, args.top)
        return
    loop = asyncio.new_event_loop()
    cases: dict[str, Callable[[], float]] = {}
    for case in names:
        cases[f"dualweb {case}"] = dualweb_case(args.n, case)
        if not args.no_tornado:
            try:
                cases[f"tornado {case}"] = tornado_case(args.n, case, loop)
            except ImportError:
                pass
    results = measure(cases, args.repeat)
    loop.close()
    print(f"GET through app(request) (intake: start_request), n={args.n}, best of {args.repeat}")
    for case in names:
        ours = results[f"dualweb {case}"]
        line = f"  {case:10s} dualweb {ours / args.n * 1e6:7.2f} us/request"
        theirs = results.get(f"tornado {case}")
        if theirs is not None:
            line += f"   tornado {theirs / args.n * 1e6:7.2f}   speedup {theirs / ours:5.2f}x"
        print(line)


if __name__ == "__main__":
    main()
