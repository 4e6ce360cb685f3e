"""WebSocket echo round trips/s, fan-out and memory per idle WebSocket: dualweb against peers.

Usage::

    python benchmarks/bench_websocket.py                # echo 12 B + 64 KiB, fan-out, idle memory
    python benchmarks/bench_websocket.py --quick        # 2 s runs, 1 round, 1,000/2,000 clients
    python benchmarks/bench_websocket.py --servers dualweb,aiohttp --only echo

Servers (each in its own process pinned to CPU 0 with ``taskset``, uvloop):
``dualweb`` (``WebSocketHandler``), ``tornado`` (Tornado's ``WebSocketHandler``),
``websockets`` (the ``websockets`` library's asyncio server) and ``aiohttp``
(``WebSocketResponse``); all echo each message back, compression off, and
send ``Hello, world`` to every open connection when one sends ``broadcast!``
(``websockets`` with its ``broadcast()``, the others with a loop of writes).

The load generator is this process, pinned to CPU 1: a bare ``asyncio.Protocol``
per connection (uvloop) that writes one pre-built masked frame and counts the
bytes of the echo, so it costs far less per round trip than any server.

* ``echo``: 50 connections, each with one message in flight; round trips/s
  over ``--seconds`` after a 1 s warm-up, plus the server's CPU time per
  round trip (user+system from ``/proc/<pid>/stat``), which shared-machine
  noise disturbs far less. 12-byte text messages and 64 KiB binary ones.
* ``fanout``: ``--fanout`` (5,000) idle connections; one sends the trigger;
  milliseconds until every connection has received the broadcast (median
  of 3 per round).
* ``idle``: open ``--idle`` WebSockets (handshake done, then silent), read
  the server's ``VmRSS`` before and after: bytes per idle WebSocket.

Each round measures every server in turn (``--repeat`` rounds); the tables
report medians and each server's ratio against Tornado and aiohttp.

Run a server alone with ``python benchmarks/bench_websocket.py --serve NAME PORT``.

``--instructions`` counts instead (``valgrind --tool=callgrind``, load-independent):
dualweb's server in-process, the upgraded connection fed whole client frames
through ``data_received`` on a fake transport that discards what is written
(framing, session glue and the handler; no sockets, no kernel). Each size runs
with ``--n`` and ``--n // 10`` messages; the difference per message is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# ``python benchmarks/bench_websocket.py`` puts benchmarks/ first on sys.path.
from apps.launch import free_port, stop_server
from bench_instructions import _FakeTransport  # benchmarks may share private helpers

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("dualweb", "tornado", "websockets", "aiohttp")
CONNECTIONS = 50
SMALL = b"Hello, world"  # 12 bytes, sent as text
LARGE = b"x" * 65536  # sent as binary
MASK = b"\x37\xfa\x21\x3d"
TRIGGER = "broadcast!"  # a client sending this makes the server send FANOUT to everyone
FANOUT = "Hello, world"


# -- the servers ----------------------------------------------------------------


def tornado_style_echo(base: Any) -> Any:
    """The echo/broadcast handler for Tornado's API, on ``base`` (dualweb's or Tornado's class)."""
    everyone: set[Any] = set()

    class Echo(base):  # type: ignore[misc, valid-type]
        def open(self) -> None:
            everyone.add(self)

        def on_message(self, message: str | bytes) -> None:
            if message == TRIGGER:
                for handler in everyone:
                    handler.write_message(FANOUT)
            else:
                self.write_message(message, binary=isinstance(message, bytes))

        def on_close(self) -> None:
            everyone.discard(self)

    return Echo


def serve_dualweb(port: int) -> None:
    sys.path.insert(0, str(ROOT))
    from dualweb.web import Application
    from dualweb.websocket import WebSocketHandler

    async def main() -> None:
        Application([("/ws", tornado_style_echo(WebSocketHandler))]).listen(port, "127.0.0.1")
        await asyncio.Event().wait()

    run_uvloop(main)


def serve_tornado(port: int) -> None:
    import tornado.web
    import tornado.websocket

    async def main() -> None:
        handler = tornado_style_echo(tornado.websocket.WebSocketHandler)
        tornado.web.Application([("/ws", handler)]).listen(port, "127.0.0.1")
        await asyncio.Event().wait()

    run_uvloop(main)


def serve_websockets(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    everyone: set[ServerConnection] = set()

    async def echo(ws: ServerConnection) -> None:
        everyone.add(ws)
        try:
            async for message in ws:
                if message == TRIGGER:
                    broadcast(everyone, FANOUT)
                else:
                    await ws.send(message)
        except ConnectionClosed:
            pass  # the load generator hangs up without a closing handshake
        finally:
            everyone.discard(ws)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", port, compression=None, max_size=None):
            await asyncio.Event().wait()

    run_uvloop(main)


def serve_aiohttp(port: int) -> None:
    from aiohttp import WSMsgType, web

    everyone: set[web.WebSocketResponse] = set()

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0)
        await ws.prepare(request)
        everyone.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    if msg.data == TRIGGER:
                        for other in list(everyone):
                            await other.send_str(FANOUT)
                    else:
                        await ws.send_str(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
        finally:
            everyone.discard(ws)
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/ws", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    run_uvloop(main)


def run_uvloop(main: object) -> None:
    import uvloop

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(main())  # type: ignore[operator]


# -- the load generator ---------------------------------------------------------


def client_frame(payload: bytes, text: bool) -> bytes:
    """A masked client frame carrying ``payload``."""
    first = 0x81 if text else 0x82
    n = len(payload)
    if n < 126:
        head = bytes([first, 0x80 | n])
    elif n < 65536:
        head = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + MASK + masked


def echo_size(payload: bytes) -> int:
    """Bytes of the server's (unmasked) echo frame."""
    n = len(payload)
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


def handshake(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class Client(asyncio.Protocol):
    """One connection: handshake, then write ``frame`` each time the echo is complete."""

    def __init__(self, port: int, frame: bytes | None, expect: int, opened: asyncio.Future[None]):
        self.port = port
        self.frame = frame
        self.expect = expect
        self.opened = opened
        self.head = b""
        self.pending = 0
        self.count = 0
        self.running = True
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(handshake(self.port))

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(self.head[:200].decode("latin-1")))
                return
            data = self.head[end + 4 :]
            self.head = b""
            self.opened.set_result(None)
            if self.frame is not None:
                self.transport.write(self.frame)  # type: ignore[union-attr]
        self.pending += len(data)
        while self.pending >= self.expect:
            self.pending -= self.expect
            self.count += 1
            if self.running and self.frame is not None:
                self.transport.write(self.frame)  # type: ignore[union-attr]


async def open_clients(
    port: int, n: int, frame: bytes | None, expect: int, batch: int = 200
) -> list[Client]:
    loop = asyncio.get_running_loop()
    clients: list[Client] = []
    for start in range(0, n, batch):
        futures = []
        for _ in range(min(batch, n - start)):
            opened: asyncio.Future[None] = loop.create_future()
            _, client = await loop.create_connection(
                lambda opened=opened: Client(port, frame, expect, opened), "127.0.0.1", port
            )
            clients.append(client)
            futures.append(opened)
        await asyncio.wait_for(asyncio.gather(*futures), 60)
    return clients


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def measure_echo(pid: int, port: int, payload: bytes, seconds: float) -> tuple[float, float]:
    """Round trips/s and server CPU µs per round trip."""
    frame = client_frame(payload, text=payload is SMALL)
    clients = await open_clients(port, CONNECTIONS, frame, echo_size(payload))
    await asyncio.sleep(1.0)  # warm-up
    start_count = sum(c.count for c in clients)
    start_cpu = cpu_seconds(pid)
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - start
    trips = sum(c.count for c in clients) - start_count
    cpu = cpu_seconds(pid) - start_cpu
    for client in clients:
        client.running = False
        client.transport.close()  # type: ignore[union-attr]
    await asyncio.sleep(0.3)
    if not trips:
        raise RuntimeError("no round trips completed")
    return trips / elapsed, cpu / trips * 1e6


async def measure_fanout(port: int, n: int) -> float:
    """Milliseconds from the trigger until all ``n`` connections received the broadcast."""
    clients = await open_clients(port, n, None, echo_size(FANOUT.encode()))
    await asyncio.sleep(0.5)
    results = []
    for _ in range(3):
        before = [c.count for c in clients]
        start = time.perf_counter()
        clients[0].transport.write(client_frame(TRIGGER.encode(), text=True))  # type: ignore[union-attr]
        deadline = start + 30
        while any(c.count == b for c, b in zip(clients, before, strict=True)):
            if time.perf_counter() > deadline:
                raise RuntimeError("the broadcast did not reach every client within 30 s")
            await asyncio.sleep(0.001)
        results.append((time.perf_counter() - start) * 1000)
    for client in clients:
        client.transport.close()  # type: ignore[union-attr]
    await asyncio.sleep(1.0)
    return statistics.median(results)


async def measure_idle(pid: int, port: int, n: int) -> float:
    """Bytes of server memory per idle WebSocket."""
    warm = await open_clients(port, 20, None, 1)
    for client in warm:
        client.transport.close()  # type: ignore[union-attr]
    await asyncio.sleep(0.5)
    before = rss_bytes(pid)
    clients = await open_clients(port, n, None, 1)
    await asyncio.sleep(1.0)
    after = rss_bytes(pid)
    for client in clients:
        client.transport.close()  # type: ignore[union-attr]
    await asyncio.sleep(1.0)
    return (after - before) / n


# -- instruction counts -----------------------------------------------------------


class FakeTransport(_FakeTransport):
    """bench_instructions' fake transport, plus what an upgrade asks of a transport."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol: Any = None

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (16384, 65536)

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol


def echo_in_process(payload: bytes, count: int) -> None:
    """Upgrade one fake connection of dualweb's server, then echo ``count`` messages."""
    sys.path.insert(0, str(ROOT))
    from dualweb.httpserver import HTTPServer
    from dualweb.web import Application
    from dualweb.websocket import WebSocketHandler

    frame = client_frame(payload, text=payload is SMALL)

    async def main() -> None:
        server = HTTPServer(Application([("/ws", tornado_style_echo(WebSocketHandler))]))
        transport = FakeTransport()
        http = server._protocol_factory()  # benchmarks may use private hooks
        transport.protocol = http
        http.connection_made(transport)
        http.data_received(handshake(8888))
        for _ in range(5):
            await asyncio.sleep(0)  # the handshake completes in a few loop turns
        channel = transport.protocol
        if channel is http:
            raise RuntimeError("the connection was not upgraded")
        before = transport.written
        for _ in range(count):
            channel.data_received(frame)
        if transport.written - before != count * echo_size(payload):
            raise RuntimeError("not every message was echoed")

    asyncio.run(main())


def instructions_per_message(size: str, n: int) -> int:
    """Callgrind's count for ``n`` echoed messages minus ``n // 10``, per message."""

    def count(messages: int) -> int:
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        command += [sys.executable, __file__, "--child-echo", size, str(messages)]
        env = {**os.environ, "PYTHONHASHSEED": "0", "DUALWEB_UVLOOP": "0"}
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        match = re.search(r"Collected\s*:\s*(\d+)", result.stderr)
        if match is None:
            raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr}")
        return int(match.group(1))

    base = n // 10
    return (count(n) - count(base)) // (n - base)


# -- orchestration --------------------------------------------------------------


def start(server: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = ["taskset", "-c", "0", sys.executable, __file__, "--serve", server, str(port)]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{server} exited before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{server} did not listen")


def table(title: str, unit: str, results: dict[str, list[float]], higher_better: bool) -> None:
    print(f"\n{title}")
    medians = {name: statistics.median(values) for name, values in results.items() if values}
    peers = [p for p in ("tornado", "aiohttp") if p in medians]
    header = f"{'server':<12}{unit:>16}" + "".join(f"{'vs ' + p:>14}" for p in peers)
    print(header)
    for name, value in medians.items():
        ratios = ""
        for peer in peers:
            ratio = value / medians[peer] if higher_better else medians[peer] / value
            ratios += f"{ratio:>13.2f}x"
        print(f"{name:<12}{value:>16.1f}{ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", nargs=2, metavar=("SERVER", "PORT"))
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--only", choices=("echo", "fanout", "idle"))
    parser.add_argument("--fanout", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--n", type=int, default=2000, help="messages counted (--instructions)")
    parser.add_argument("--child-echo", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        name, port = args.serve
        globals()[f"serve_{name}"](int(port))
        return
    if args.child_echo:
        size, count = args.child_echo
        echo_in_process(SMALL if size == "small" else LARGE, int(count))
        return
    if args.instructions:
        for size, label in (("small", "12 B"), ("large", "64 KiB")):
            n = args.n if size == "small" else max(args.n // 4, 20)
            per_message = instructions_per_message(size, n)
            print(f"echo {label}: {per_message} instructions per message (dualweb, in-process)")
        return
    if args.quick:
        args.seconds, args.repeat, args.idle, args.fanout = 2.0, 1, 2000, 1000
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    args.idle = min(args.idle, hard - 200)
    os.sched_setaffinity(0, {1})
    servers = args.servers.split(",")
    small: dict[str, list[float]] = {s: [] for s in servers}
    small_cpu: dict[str, list[float]] = {s: [] for s in servers}
    large: dict[str, list[float]] = {s: [] for s in servers}
    large_cpu: dict[str, list[float]] = {s: [] for s in servers}
    idle: dict[str, list[float]] = {s: [] for s in servers}
    fanout: dict[str, list[float]] = {s: [] for s in servers}
    import uvloop

    for round_number in range(args.repeat):
        for server in servers:
            proc, port = start(server)
            try:
                if args.only in (None, "echo"):
                    rate, cpu = uvloop.run(measure_echo(proc.pid, port, SMALL, args.seconds))
                    small[server].append(rate)
                    small_cpu[server].append(cpu)
                    rate, cpu = uvloop.run(measure_echo(proc.pid, port, LARGE, args.seconds))
                    large[server].append(rate)
                    large_cpu[server].append(cpu)
                if args.only in (None, "fanout"):
                    fanout[server].append(uvloop.run(measure_fanout(port, args.fanout)))
                if args.only in (None, "idle"):
                    idle[server].append(uvloop.run(measure_idle(proc.pid, port, args.idle)))
            finally:
                stop_server(proc)
            print(f"round {round_number + 1}: {server} done", file=sys.stderr)
    if args.only in (None, "echo"):
        table("echo 12 B, 50 connections: round trips/s", "trips/s", small, True)
        table("echo 12 B: server CPU per round trip", "CPU µs", small_cpu, False)
        table("echo 64 KiB, 50 connections: round trips/s", "trips/s", large, True)
        table("echo 64 KiB: server CPU per round trip", "CPU µs", large_cpu, False)
    if args.only in (None, "fanout"):
        table(f"fan-out of one message to {args.fanout} clients", "ms", fanout, False)
    if args.only in (None, "idle"):
        idle_kib = {k: [v / 1024 for v in values] for k, values in idle.items()}
        table(f"memory per idle WebSocket ({args.idle} open)", "KiB", idle_kib, False)


if __name__ == "__main__":
    main()
