"""Throughput of dualweb's native server against Tornado, uvicorn+Starlette, aiohttp, raw asyncio.

Usage::

    python benchmarks/bench_native.py                  # all servers, all scenarios
    python benchmarks/bench_native.py --quick          # 2 s runs, 1 repeat
    python benchmarks/bench_native.py --servers dualweb,tornado --scenarios hello

Each server runs in its own process pinned to CPU 0 (``taskset``); ``wrk`` runs
pinned to CPU 1, one thread, 50 connections.  Every (server, scenario) pair is
measured ``--repeat`` times and the median is reported: requests/s and the
server's CPU time per request (user+system from ``/proc/<pid>/stat``), which is
the number that matters when the load generator is the bottleneck.

Scenarios: ``hello`` (keep-alive GET, 12-byte body), ``close`` (the same with
``Connection: close``), ``json`` (a small JSON document), ``path`` (a route
with a path argument) and ``upload`` (100 KB POST body).  The raw
``asyncio.Protocol`` server only answers ``hello`` (it is the ceiling for one
Python process on this loop).  Every Python server uses uvloop where it can.

Requires ``wrk`` and ``taskset`` on PATH; the packages in the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELLO = b"Hello, world"
UPLOAD_SIZE = 100 * 1024
SCENARIOS = {
    "hello": ("/", []),
    "close": ("/", ["-H", "Connection: close"]),
    "json": ("/json", []),
    "path": ("/user/12345", []),
    "upload": ("/upload", ["-s", "UPLOAD_LUA"]),
}
SERVERS = ["dualweb", "dualweb-raw", "tornado", "uvicorn-starlette", "aiohttp", "raw-protocol"]


# --------------------------------------------------------------------------- the servers


def serve_dualweb(port: int) -> None:
    sys.path.insert(0, str(ROOT))
    import uvloop

    from dualweb import web
    from dualweb.httpserver import HTTPServer

    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

    class Json(web.RequestHandler):
        def get(self) -> None:
            self.write({"message": "Hello, world", "items": [1, 2, 3]})

    class User(web.RequestHandler):
        def get(self, user_id: str) -> None:
            self.write("user " + user_id)

    class Upload(web.RequestHandler):
        def post(self) -> None:
            self.write(str(len(self.request.body)))

    app = web.Application(
        [(r"/", Hello), (r"/json", Json), (r"/user/(\d+)", User), (r"/upload", Upload)]
    )

    async def main() -> None:
        server = HTTPServer(app)
        server.listen(port, "127.0.0.1")
        await _forever()

    uvloop.run(main())


def serve_dualweb_raw(port: int) -> None:
    """The server alone: a minimal delegate instead of the web framework."""
    sys.path.insert(0, str(ROOT))
    import uvloop

    from dualweb.connection import (
        HTTPMessageDelegate,
        HTTPServerConnectionDelegate,
        ResponseStartLine,
    )
    from dualweb.httpserver import HTTPServer
    from dualweb.httputil import HTTPHeaders

    ok = ResponseStartLine("HTTP/1.1", 200, "OK")

    class Delegate(HTTPMessageDelegate):
        __slots__ = ("conn",)

        def __init__(self, conn: object) -> None:
            self.conn = conn

        def finish(self) -> None:
            headers = HTTPHeaders()
            headers["Content-Type"] = "text/plain"
            headers["Content-Length"] = "12"
            self.conn.write_headers(ok, headers, HELLO)  # type: ignore[attr-defined]
            self.conn.finish()  # type: ignore[attr-defined]

    class App(HTTPServerConnectionDelegate):
        def start_request(  # type: ignore[override]
            self, server_conn: object, request_conn: object
        ) -> Delegate:
            return Delegate(request_conn)

    async def main() -> None:
        HTTPServer(App()).listen(port, "127.0.0.1")
        await _forever()

    uvloop.run(main())


def serve_tornado(port: int) -> None:
    import asyncio

    import tornado.web
    import uvloop

    class Hello(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

    class Json(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write({"message": "Hello, world", "items": [1, 2, 3]})

    class User(tornado.web.RequestHandler):
        def get(self, user_id: str) -> None:
            self.write("user " + user_id)

    class Upload(tornado.web.RequestHandler):
        def post(self) -> None:
            self.write(str(len(self.request.body)))

    async def main() -> None:
        app = tornado.web.Application(
            [(r"/", Hello), (r"/json", Json), (r"/user/(\d+)", User), (r"/upload", Upload)]
        )
        app.listen(port, "127.0.0.1")
        await asyncio.Event().wait()

    uvloop.run(main())


def serve_uvicorn_starlette(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Hello, world")

    async def as_json(request: Request) -> JSONResponse:
        return JSONResponse({"message": "Hello, world", "items": [1, 2, 3]})

    async def user(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"user {request.path_params['user_id']}")

    async def upload(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    app = Starlette(
        routes=[
            Route("/", hello),
            Route("/json", as_json),
            Route("/user/{user_id:int}", user),
            Route("/upload", upload, methods=["POST"]),
        ]
    )
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
        log_level="error", access_log=False,
    )


def serve_aiohttp(port: int) -> None:
    import uvloop
    from aiohttp import web as aweb

    async def hello(request: aweb.Request) -> aweb.Response:
        return aweb.Response(text="Hello, world")

    async def as_json(request: aweb.Request) -> aweb.Response:
        return aweb.json_response({"message": "Hello, world", "items": [1, 2, 3]})

    async def user(request: aweb.Request) -> aweb.Response:
        return aweb.Response(text="user " + request.match_info["user_id"])

    async def upload(request: aweb.Request) -> aweb.Response:
        return aweb.Response(text=str(len(await request.read())))

    app = aweb.Application(client_max_size=10 * 1024 * 1024)
    app.router.add_get("/", hello)
    app.router.add_get("/json", as_json)
    app.router.add_get(r"/user/{user_id:\d+}", user)
    app.router.add_post("/upload", upload)
    aweb.run_app(
        app, host="127.0.0.1", port=port, print=None, access_log=None,
        loop=uvloop.new_event_loop(),
    )


def serve_raw_protocol(port: int) -> None:
    """The ceiling: a protocol that answers every request head with a fixed response."""
    import asyncio

    import uvloop

    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n" + HELLO
    )

    class Raw(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            count = self.buffer.count(b"\r\n\r\n")
            if count:
                self.buffer = self.buffer[self.buffer.rindex(b"\r\n\r\n") + 4 :]
                self.transport.write(response * count)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(Raw, "127.0.0.1", port)
        await _forever()

    uvloop.run(main())


async def _forever() -> None:
    import asyncio

    await asyncio.Event().wait()


SERVE = {
    "dualweb": serve_dualweb,
    "dualweb-raw": serve_dualweb_raw,
    "tornado": serve_tornado,
    "uvicorn-starlette": serve_uvicorn_starlette,
    "aiohttp": serve_aiohttp,
    "raw-protocol": serve_raw_protocol,
}


# --------------------------------------------------------------------------- measuring


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start listening")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, extra: list[str], duration: float, connections: int) -> int:
    seconds = max(1, round(duration))
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if match is None:
        raise RuntimeError(out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    return int(match.group(1))


def measure(
    server: str, scenario: str, duration: float, repeat: int, connections: int, lua: str
) -> tuple[float, float] | None:
    if server == "raw-protocol" and scenario != "hello":
        return None
    if server == "dualweb-raw" and scenario not in ("hello", "close"):
        return None
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, __file__, "--serve", server, str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        path, extra = SCENARIOS[scenario]
        extra = [lua if item == "UPLOAD_LUA" else item for item in extra]
        url = f"http://127.0.0.1:{port}{path}"
        run_wrk(url, extra, 1, connections)  # warm-up
        rates, costs = [], []
        for _ in range(repeat):
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            requests = run_wrk(url, extra, duration, connections)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            rates.append(requests / (t1 - t0))
            costs.append((cpu1 - cpu0) / requests * 1e6)
        return statistics.median(rates), statistics.median(costs)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", nargs=2, metavar=("SERVER", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="2 s runs, 1 repeat")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    if args.serve:
        SERVE[args.serve[0]](int(args.serve[1]))
        return
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is required on PATH")
    if args.quick:
        args.duration, args.repeat = 2.0, 1
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(
            'wrk.method = "POST"\n'
            f'wrk.body = string.rep("a", {UPLOAD_SIZE})\n'
            'wrk.headers["Content-Type"] = "application/octet-stream"\n'
        )
    results: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        for scenario in args.scenarios.split(","):
            for server in args.servers.split(","):
                result = measure(
                    server, scenario, args.duration, args.repeat, args.connections, lua.name
                )
                if result is None:
                    continue
                results.setdefault(scenario, {})[server] = result
                if not args.json:
                    rate, cost = result
                    print(f"{scenario:8} {server:18} {rate:10.0f} req/s {cost:8.1f} µs CPU/req")
    finally:
        os.unlink(lua.name)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_ratios(results)


def print_ratios(results: dict[str, dict[str, tuple[float, float]]]) -> None:
    hello = results.get("hello", {})
    ours = hello.get("dualweb")
    if ours is None:
        return
    print("\nhello keep-alive, dualweb relative to:")
    for other, target in (("tornado", 5.0), ("uvicorn-starlette", 1.0), ("raw-protocol", 0.5)):
        if other in hello:
            ratio = ours[0] / hello[other][0]
            verdict = "ok" if ratio >= target else "BELOW TARGET"
            print(f"  {other:18} {ratio:5.2f}x (target >= {target}x) {verdict}")


if __name__ == "__main__":
    main()
