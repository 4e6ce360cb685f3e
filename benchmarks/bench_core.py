"""Micro benchmark of the request core: ``app(request)`` for a hello-world GET.

Measures the Python cost of routing, creating the handler, running its
lifecycle and producing the response through a dummy connection, with no
sockets or parsing involved, for dualweb and for Tornado's Application on the
same kind of dummy connection. Requests are built before the timed loop, so
only the core is measured.

Run: ``/tmp/venv/bin/python benchmarks/bench_core.py [--n 20000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


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


def dualweb_case(n: int) -> Callable[[], float]:
    from dualweb.connection import COMPLETED
    from dualweb.httputil import HTTPHeaders, HTTPServerRequest
    from dualweb.web import Application, RequestHandler

    class Hello(RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

    app = Application([(r"/", Hello)])
    conn = DummyConnection(COMPLETED)

    def run() -> float:
        requests = [
            HTTPServerRequest(
                method="GET",
                uri="/",
                version="HTTP/1.1",
                headers=HTTPHeaders({"Host": "localhost"}),
                connection=conn,  # type: ignore[arg-type]
            )
            for _ in range(n)
        ]
        start = time.perf_counter()
        for request in requests:
            app(request)
        return time.perf_counter() - start

    return run


def tornado_case(n: int, loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    import tornado.httputil
    import tornado.web

    class Hello(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

    app = tornado.web.Application([(r"/", Hello)])
    done: asyncio.Future[None] = loop.create_future()
    done.set_result(None)
    conn = DummyConnection(done)

    def run() -> float:
        requests = [
            tornado.httputil.HTTPServerRequest(
                start_line=tornado.httputil.RequestStartLine("GET", "/", "HTTP/1.1"),
                headers=tornado.httputil.HTTPHeaders({"Host": "localhost"}),
                connection=conn,  # type: ignore[arg-type]
            )
            for _ in range(n)
        ]

        async def drive() -> float:
            start = time.perf_counter()
            for i, request in enumerate(requests):
                app(request)
                if i % 100 == 99:
                    # Tornado runs every handler as a task; let the batch run.
                    await asyncio.sleep(0)
            await asyncio.sleep(0)
            return time.perf_counter() - start

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    cases = {"dualweb": dualweb_case(args.n)}
    try:
        cases["tornado"] = tornado_case(args.n, loop)
    except ImportError:
        pass
    results = measure(cases, args.repeat)
    loop.close()
    print(f"hello-world GET through app(request), n={args.n}, best of {args.repeat}")
    for name, total in results.items():
        print(f"  {name:8s} {total / args.n * 1e6:8.2f} us/request")
    if "tornado" in results:
        print(f"  speedup vs tornado: {results['tornado'] / results['dualweb']:.2f}x")


if __name__ == "__main__":
    main()
