"""The servers compared by ``bench_native.py`` and ``bench_idle.py``, one per process.

Run one server in the foreground::

    python benchmarks/apps/native_servers.py SERVER PORT [--routes N] [--loop uvloop|asyncio]

``SERVER`` is one of :data:`SERVERS`. Without ``--routes`` every framework
serves the same four routes: ``/`` (``Hello, world``), ``/json`` (a small JSON
document), ``/user/<digits>`` (a path argument) and ``POST /upload`` (answers
the body's length). With ``--routes N`` it serves instead a table of ``N``
regex routes ``/item{i}/([0-9]+)``, each with its own handler (a subclass per
route, as in a real application) answering ``item {i} {n}``, followed
by one catch-all ``/item[0-9]+/([0-9]+)`` answering ``shadowed``: a request
for the last table route must get ``item {N-1} ...``, which proves the router
kept first-match-in-declaration-order semantics.

``raw-protocol`` is a bare ``asyncio.Protocol`` that answers every request
with a fixed ``Hello, world`` response (skipping request bodies and honouring
``Connection: close``): the ceiling for one Python process on this loop.
``raw-httptools`` is the same with the request heads parsed by ``httptools``
(the parser uvicorn uses): the issue's "raw httptools + uvloop" limit.
``dualweb-raw`` is dualweb's HTTP server with a minimal delegate instead of
the web framework (same fixed response).

Every server raises its ``RLIMIT_NOFILE`` soft limit to the hard limit so it
can hold many idle connections, and uses the chosen event loop (uvloop by
default) so all frameworks run on the same loop kind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent.parent
HELLO = b"Hello, world"
JSON_DOC = {"message": "Hello, world", "items": [1, 2, 3]}
SERVERS = (
    "dualweb", "dualweb-raw", "tornado", "uvicorn-starlette", "aiohttp", "raw-httptools",
    "raw-protocol",
)
# Servers that can serve the --routes table (the raw servers have no router).
ROUTING_SERVERS = ("dualweb", "tornado", "uvicorn-starlette", "aiohttp")


def raise_nofile_limit() -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit; return the new limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def run_loop(loop_kind: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` to completion on a new loop of ``loop_kind`` (``uvloop`` or ``asyncio``)."""
    if loop_kind == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def check_loop(loop_kind: str) -> None:
    """Fail if the running loop is not of ``loop_kind`` (importing dualweb may install uvloop)."""
    running = type(asyncio.get_running_loop()).__module__.split(".")[0]
    if (running == "uvloop") != (loop_kind == "uvloop"):
        raise RuntimeError(f"asked for a {loop_kind} loop but running on {running}")


async def forever() -> None:
    """Wait until the process is terminated."""
    await asyncio.Event().wait()


# --------------------------------------------------------------------------- dualweb


def tornado_style_app(web: Any, routes: int) -> Any:
    """The benchmark app, written once against Tornado's API: ``web`` is
    ``dualweb.web`` or ``tornado.web`` (the same code runs on both)."""

    class Hello(web.RequestHandler):  # type: ignore[misc]
        def get(self) -> None:
            self.write("Hello, world")

    class Json(web.RequestHandler):  # type: ignore[misc]
        def get(self) -> None:
            self.write(JSON_DOC)

    class User(web.RequestHandler):  # type: ignore[misc]
        def get(self, user_id: str) -> None:
            self.write("user " + user_id)

    class Upload(web.RequestHandler):  # type: ignore[misc]
        def post(self) -> None:
            self.write(str(len(self.request.body)))

    class Item(web.RequestHandler):  # type: ignore[misc]
        index = -1  # each route gets its own subclass, as real tables have distinct handlers

        def get(self, number: str) -> None:
            self.write(f"item {self.index} {number}")

    class Shadowed(web.RequestHandler):  # type: ignore[misc]
        def get(self, number: str) -> None:
            self.write("shadowed")

    handlers: list[Any]
    if routes:
        handlers = [
            (rf"/item{i}/([0-9]+)", type(f"Item{i}", (Item,), {"index": i}))
            for i in range(routes)
        ]
        handlers.append((r"/item[0-9]+/([0-9]+)", Shadowed))
    else:
        handlers = [(r"/", Hello), (r"/json", Json), (r"/user/(\d+)", User), (r"/upload", Upload)]
    return web.Application(handlers)


def serve_dualweb(port: int, routes: int, loop_kind: str) -> None:
    """dualweb's native server with the web framework."""
    sys.path.insert(0, str(ROOT))
    from dualweb import web

    app = tornado_style_app(web, routes)

    async def main() -> None:
        app.listen(port, "127.0.0.1", backlog=1024)
        check_loop(loop_kind)
        await forever()

    run_loop(loop_kind, main)


def dualweb_raw_app() -> Any:
    """The minimal delegate of ``dualweb-raw``: a fixed hello response, no web framework.

    Also what ``benchmarks/bench_instructions.py`` counts as ``native-raw-*``.
    """
    sys.path.insert(0, str(ROOT))
    from dualweb.connection import (
        HTTPConnection,
        HTTPMessageDelegate,
        HTTPServerConnectionDelegate,
        ResponseStartLine,
    )
    from dualweb.httputil import HTTPHeaders

    ok = ResponseStartLine("HTTP/1.1", 200, "OK")

    class Delegate(HTTPMessageDelegate):
        __slots__ = ("conn",)

        def __init__(self, conn: HTTPConnection) -> None:
            self.conn = conn

        def finish(self) -> None:
            headers = HTTPHeaders()
            headers["Content-Type"] = "text/plain"
            headers["Content-Length"] = "12"
            self.conn.write_headers(ok, headers, HELLO)
            self.conn.finish()

    class App(HTTPServerConnectionDelegate):
        def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Delegate:
            return Delegate(request_conn)

    return App()


def serve_dualweb_raw(port: int, routes: int, loop_kind: str) -> None:
    """dualweb's HTTP server alone: a minimal delegate instead of the web framework."""
    app = dualweb_raw_app()
    from dualweb.httpserver import HTTPServer

    async def main() -> None:
        HTTPServer(app).listen(port, "127.0.0.1", backlog=1024)
        check_loop(loop_kind)
        await forever()

    run_loop(loop_kind, main)


# --------------------------------------------------------------------------- the others


def serve_tornado(port: int, routes: int, loop_kind: str) -> None:
    """Tornado 6 with the same handlers."""
    import tornado.web

    app = tornado_style_app(tornado.web, routes)

    async def main() -> None:
        app.listen(port, "127.0.0.1", backlog=1024)
        check_loop(loop_kind)
        await forever()

    run_loop(loop_kind, main)


def serve_uvicorn_starlette(port: int, routes: int, loop_kind: str) -> None:
    """uvicorn (httptools parser) running a Starlette app."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Hello, world")

    async def as_json(request: Request) -> JSONResponse:
        return JSONResponse(JSON_DOC)

    async def user(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"user {request.path_params['user_id']}")

    async def upload(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    def item(index: int) -> Callable[[Request], Coroutine[Any, Any, PlainTextResponse]]:
        async def endpoint(request: Request) -> PlainTextResponse:
            return PlainTextResponse(f"item {index} {request.path_params['number']}")

        return endpoint

    async def shadowed(request: Request) -> PlainTextResponse:
        return PlainTextResponse("shadowed")

    table: list[Route]
    if routes:
        table = [Route(f"/item{i}/{{number:int}}", item(i)) for i in range(routes)]
        table.append(Route("/{prefix}/{number:int}", shadowed))
    else:
        table = [
            Route("/", hello),
            Route("/json", as_json),
            Route("/user/{user_id:int}", user),
            Route("/upload", upload, methods=["POST"]),
        ]
    uvicorn.run(
        Starlette(routes=table), host="127.0.0.1", port=port, backlog=1024,
        loop="uvloop" if loop_kind == "uvloop" else "asyncio", http="httptools",
        log_level="error", access_log=False, timeout_keep_alive=3600,
    )


def serve_aiohttp(port: int, routes: int, loop_kind: str) -> None:
    """aiohttp's web server."""
    from aiohttp import web as aweb

    async def hello(request: aweb.Request) -> aweb.Response:
        return aweb.Response(text="Hello, world")

    async def as_json(request: aweb.Request) -> aweb.Response:
        return aweb.json_response(JSON_DOC)

    async def user(request: aweb.Request) -> aweb.Response:
        return aweb.Response(text="user " + request.match_info["user_id"])

    async def upload(request: aweb.Request) -> aweb.Response:
        return aweb.Response(text=str(len(await request.read())))

    def item(index: int) -> Callable[[aweb.Request], Coroutine[Any, Any, aweb.Response]]:
        async def endpoint(request: aweb.Request) -> aweb.Response:
            return aweb.Response(text=f"item {index} {request.match_info['number']}")

        return endpoint

    async def shadowed(request: aweb.Request) -> aweb.Response:
        return aweb.Response(text="shadowed")

    app = aweb.Application(client_max_size=10 * 1024 * 1024)
    if routes:
        for i in range(routes):
            app.router.add_get(f"/item{i}/{{number:[0-9]+}}", item(i))
        app.router.add_get("/{prefix:item[0-9]+}/{number:[0-9]+}", shadowed)
    else:
        app.router.add_get("/", hello)
        app.router.add_get("/json", as_json)
        app.router.add_get(r"/user/{user_id:\d+}", user)
        app.router.add_post("/upload", upload)
    loop: asyncio.AbstractEventLoop
    if loop_kind == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    aweb.run_app(
        app, host="127.0.0.1", port=port, print=None, access_log=None, loop=loop, backlog=1024
    )


class RawProtocol(asyncio.Protocol):
    """Answer every request head with a fixed response; skip bodies; honour ``close``."""

    __slots__ = ("buffer", "closing", "skip", "transport")
    RESPONSE = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n" + HELLO
    )
    LAST_RESPONSE = RESPONSE.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")

    def __init__(self) -> None:
        self.buffer = b""
        self.skip = 0  # body bytes of the current request still to discard
        self.closing = False  # the current request asked for Connection: close
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buffer = self.buffer + data if self.buffer else data
        pos, answers = 0, 0
        while not self.closing or self.skip:
            if self.skip:
                taken = min(self.skip, len(buffer) - pos)
                pos += taken
                self.skip -= taken
                if self.skip:
                    break
                answers += 1
                continue
            end = buffer.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            head = buffer[pos:end].lower()
            pos = end + 4
            self.closing = b"\nconnection: close" in head
            start = head.find(b"\ncontent-length:")
            if start >= 0:
                stop = head.find(b"\r", start + 1)
                self.skip = int(head[start + 16 : stop if stop >= 0 else len(head)])
            if not self.skip:
                answers += 1
        self.buffer = buffer[pos:]
        if self.closing and not self.skip:
            self.transport.write(self.RESPONSE * (answers - 1) + self.LAST_RESPONSE)
            self.transport.close()
        elif answers:
            self.transport.write(self.RESPONSE * answers)


def serve_protocol(
    factory: Callable[[], asyncio.Protocol], port: int, loop_kind: str
) -> None:
    """Serve ``factory``'s protocol on a plain ``loop.create_server`` until terminated."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(factory, "127.0.0.1", port, backlog=1024)
        check_loop(loop_kind)
        await forever()

    run_loop(loop_kind, main)


class RawHttptools(asyncio.Protocol):
    """Answer every request parsed by ``httptools`` with a fixed response; honour keep-alive."""

    __slots__ = ("parser", "transport")
    parser_class: Any = None  # httptools.HttpRequestParser, set by serve_raw_httptools

    def __init__(self) -> None:
        self.parser = self.parser_class(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception:  # httptools.HttpParserError and its subclasses: drop the client
            assert self.transport is not None
            self.transport.close()

    def on_message_complete(self) -> None:
        """httptools callback: one request (head and body) has been parsed."""
        assert self.transport is not None
        if self.transport.is_closing():
            return  # a request pipelined after one that asked to close
        if self.parser.should_keep_alive():
            self.transport.write(RawProtocol.RESPONSE)
        else:
            self.transport.write(RawProtocol.LAST_RESPONSE)
            self.transport.close()


def serve_raw_protocol(port: int, routes: int, loop_kind: str) -> None:
    """The ceiling: :class:`RawProtocol` on a plain ``loop.create_server``."""
    serve_protocol(RawProtocol, port, loop_kind)


def serve_raw_httptools(port: int, routes: int, loop_kind: str) -> None:
    """The issue's limit: :class:`RawHttptools` on a plain ``loop.create_server``."""
    import httptools

    RawHttptools.parser_class = httptools.HttpRequestParser
    serve_protocol(RawHttptools, port, loop_kind)


SERVE: dict[str, Callable[[int, int, str], None]] = {
    "dualweb": serve_dualweb,
    "dualweb-raw": serve_dualweb_raw,
    "tornado": serve_tornado,
    "uvicorn-starlette": serve_uvicorn_starlette,
    "aiohttp": serve_aiohttp,
    "raw-httptools": serve_raw_httptools,
    "raw-protocol": serve_raw_protocol,
}


def main() -> None:
    """Parse the command line and run one server until terminated."""
    parser = argparse.ArgumentParser(description="Run one benchmark server in the foreground.")
    parser.add_argument("server", choices=SERVERS)
    parser.add_argument("port", type=int)
    parser.add_argument("--routes", type=int, default=0, help="serve an N-route regex table")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    if args.routes and args.server not in ROUTING_SERVERS:
        parser.error(f"{args.server} has no router; --routes needs one of {ROUTING_SERVERS}")
    raise_nofile_limit()
    if args.loop == "asyncio":
        # Importing dualweb switches new loops to uvloop unless told not to.
        os.environ["DUALWEB_UVLOOP"] = "0"
    SERVE[args.server](args.port, args.routes, args.loop)


if __name__ == "__main__":
    main()
