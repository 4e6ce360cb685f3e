"""Instructions per request (callgrind), a load-independent before/after measure.

On a shared, noisy machine, requests/s and even CPU time wander by 10-20 %
between runs; the number of instructions the interpreter executes for a
request does not. This script counts them with ``valgrind --tool=callgrind``
for the framework paths that matter, in-process:

* ``wsgi-hello`` / ``wsgi-json``: ``WSGIAdapter(app)(environ, start_response)``
  with a gunicorn-like environ (including ``RAW_URI``), i.e. adapter + core;
* ``native-hello`` / ``native-close``: the native server's protocol object fed
  ``GET / HTTP/1.1`` through ``data_received`` on a fake transport (codec,
  driver and core; no sockets, no event-loop wake-ups), keep-alive and
  ``Connection: close`` (a new protocol object per request; the loop runs
  for 60 ms after every 100 connections, as a server's loop would run
  between them);
* ``native-raw-hello`` / ``native-raw-close``: the same, but the server's
  delegate is the minimal one of ``dualweb-raw`` in
  ``benchmarks/apps/native_servers.py`` (a fixed response, no web framework):
  the HTTP server layer (codec and connection driver) alone;
* ``native-raw-httptools``: the issue's limit, ``raw-httptools`` of
  ``benchmarks/apps/native_servers.py`` (httptools parsing, a fixed response)
  on the same fake transport;
* ``native-routes1`` / ``native-routes1000``: ``GET /item{N-1}/12345`` on the
  benchmark's N-route regex table (``tornado_style_app``), keep-alive;
* ``native-json`` / ``native-path`` / ``native-upload``: the benchmark app's
  ``GET /json``, ``GET /user/12345`` and ``POST /upload`` with 100 KB, keep-alive;
  ``native-upload-64k``: the same upload received in 64 KiB pieces, as a
  socket delivers it (``native-upload`` feeds it in one ``data_received``).

Each case runs twice, with ``--base`` and ``--base + --n`` requests; the
difference divided by ``--n`` is the per-request count, start-up excluded.

Run: ``python benchmarks/bench_instructions.py [--n 2000] [--cases ...]``
(needs ``valgrind``, Debian package ``valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = (
    "wsgi-hello",
    "wsgi-json",
    "native-hello",
    "native-close",
    "native-raw-hello",
    "native-raw-close",
    "native-raw-httptools",
    "native-routes1",
    "native-routes1000",
    "native-json",
    "native-path",
    "native-upload",
    "native-upload-64k",
)


def _app() -> Any:
    # JSON_DOC: the document native-json writes, so the two JSON figures compare.
    from apps.native_servers import JSON_DOC

    from dualweb.web import Application, RequestHandler

    class Hello(RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

    class Json(RequestHandler):
        def get(self) -> None:
            self.write(JSON_DOC)

    return Application([(r"/", Hello), (r"/json", Json)])


def _run_wsgi(count: int, path: str) -> None:
    import io

    from dualweb.wsgi import WSGIAdapter

    adapter = WSGIAdapter(_app())

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return None

    for _ in range(count):
        environ = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "RAW_URI": path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": "gunicorn/23.0.0",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "40000",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_USER_AGENT": "wrk",
            "HTTP_ACCEPT": "*/*",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for _chunk in adapter(environ, start_response):
            pass


class _FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8888)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def _raw_app() -> Any:
    """The minimal delegate of ``dualweb-raw`` (benchmarks/apps/native_servers.py)."""
    from apps.native_servers import dualweb_raw_app

    return dualweb_raw_app()


_UPLOAD = b"x" * 100_000
_APP_PATHS = {"native-json": "/json", "native-path": "/user/12345", "native-upload": "/upload"}


def _request(path: str, close: bool) -> bytes:
    method, body = ("POST", _UPLOAD) if path == "/upload" else ("GET", b"")
    request = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n"
    request += "User-Agent: wrk\r\nAccept: */*\r\n"
    if body:
        request += f"Content-Length: {len(body)}\r\n"
    return (request + ("Connection: close\r\n\r\n" if close else "\r\n")).encode() + body


def _run_native(
    count: int, close: bool, raw: bool = False, routes: int = 0, path: str = "", piece: int = 0
) -> None:
    from dualweb.httpserver import HTTPServer

    request = _request(path or (f"/item{routes - 1}/12345" if routes else "/"), close)
    # The request as the transport hands it over: whole, or in pieces of ``piece`` bytes.
    size = piece or len(request)
    pieces = [request[at : at + size] for at in range(0, len(request), size)]

    async def main() -> None:
        if routes or path:
            from apps.native_servers import tornado_style_app

            from dualweb import web

            application = tornado_style_app(web, routes)
        else:
            application = _raw_app() if raw else _app()
        server = HTTPServer(application)
        factory = server._protocol_factory  # benchmarks may use private hooks
        if close:
            for index in range(count):
                transport = _FakeTransport()
                protocol: Any = factory()
                protocol.connection_made(transport)
                protocol.data_received(request)
                protocol.connection_lost(None)
                if index % 100 == 99:
                    # A real server's loop runs between connections (timers
                    # fire, cancelled ones are dropped, batched work is done);
                    # without this, per-connection leftovers would pile up
                    # and be counted as cost.
                    await asyncio.sleep(0.06)
        else:
            transport = _FakeTransport()
            protocol = factory()
            protocol.connection_made(transport)
            for _ in range(count):
                for data in pieces:
                    protocol.data_received(data)
            protocol.connection_lost(None)
        assert transport.written > 0

    asyncio.run(main())


def _run_raw_httptools(count: int) -> None:
    import httptools
    from apps.native_servers import RawHttptools

    RawHttptools.parser_class = httptools.HttpRequestParser
    request = _request("/", close=False)

    async def main() -> None:
        transport = _FakeTransport()
        protocol = RawHttptools()
        protocol.connection_made(transport)
        for _ in range(count):
            protocol.data_received(request)
        assert transport.written > 0

    asyncio.run(main())


def run_case(case: str, count: int) -> None:
    """Serve ``count`` requests of ``case`` in this process."""
    if case == "wsgi-hello":
        _run_wsgi(count, "/")
    elif case == "wsgi-json":
        _run_wsgi(count, "/json")
    elif case == "native-hello":
        _run_native(count, close=False)
    elif case == "native-close":
        _run_native(count, close=True)
    elif case == "native-raw-hello":
        _run_native(count, close=False, raw=True)
    elif case == "native-raw-close":
        _run_native(count, close=True, raw=True)
    elif case == "native-raw-httptools":
        _run_raw_httptools(count)
    elif case == "native-upload-64k":
        _run_native(count, close=False, path="/upload", piece=65536)
    elif case in _APP_PATHS:
        _run_native(count, close=False, path=_APP_PATHS[case])
    elif case.startswith("native-routes"):
        _run_native(count, close=False, routes=int(case.removeprefix("native-routes")))
    else:
        raise SystemExit(f"unknown case {case!r}; choose from {', '.join(CASES)}")


def _instructions(case: str, count: int) -> int:
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            case,
            "--count",
            str(count),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        # The same loop on every run (the fake transport never waits on it anyway),
        # and the same hash seed: with random ones, start-up (which the two runs
        # subtract) varies by millions of instructions between processes.
        env={**os.environ, "DUALWEB_UVLOOP": "0", "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)},
    )
    match = re.search(r"Collected\s*:\s*(\d+)", result.stderr) or re.search(
        r"I\s+refs:\s*([\d,]+)", result.stderr
    )
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr}")
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--n", type=int, default=2000, help="requests counted per case")
    parser.add_argument("--base", type=int, default=200, help="warm-up requests subtracted")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        run_case(args.child, args.count)
        return
    print(f"{'case':<18} {'instructions/request':>22}")
    for case in args.cases.split(","):
        low = _instructions(case, args.base)
        high = _instructions(case, args.base + args.n)
        print(f"{case:<18} {(high - low) / args.n:>22,.0f}", flush=True)


if __name__ == "__main__":
    main()
