"""Memory per idle keep-alive connection: dualweb's native server against Tornado and uvicorn.

Usage::

    python benchmarks/bench_idle.py                     # 10,000 connections, 3 rounds
    python benchmarks/bench_idle.py --connections 2000 --repeat 1 --servers dualweb,tornado

For each server a fresh process is started pinned to CPU 0 (``taskset``)
serving the same hello-world app as ``bench_native.py``
(``benchmarks/apps/native_servers.py``, uvloop unless ``--loop asyncio``).
The client (this process, pinned to CPU 1) warms the server up with a few
requests on a few connections, reads the server's resident set size
(``VmRSS`` in ``/proc/<pid>/status``), then opens ``--connections``
connections in batches; on each it sends one ``GET /`` and reads the whole
response, then leaves the connection open and idle. Once all are open it
waits ``--settle`` seconds, reads the RSS again, checks that the server still
holds every connection (none was closed under us) and reports::

    per connection = (RSS with N idle connections - RSS before) / N

Then it closes everything and waits (bounded) for the server's open file
descriptors to fall back to where they were, which shows the server releases
closed connections. Servers are measured in turn in each of ``--repeat``
rounds and the medians reported.

Both the client and the servers raise their ``RLIMIT_NOFILE`` soft limit to the
hard limit; if the hard limit is too low for ``--connections`` the run uses as
many connections as it allows and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# ``python benchmarks/bench_idle.py`` puts benchmarks/ first on sys.path.
from apps.launch import start_server, stop_server
from apps.native_servers import SERVERS

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
DEFAULT_SERVERS = ("dualweb", "tornado", "uvicorn-starlette")
SPARE_FDS = 200  # descriptors kept free for stdio, the event loop, imports, wrk pipes


@dataclass
class Round:
    """One server's measurement in one round."""

    rss_before: int  # bytes
    rss_after: int  # bytes
    connections: int
    open_seconds: float  # time to open, request and read all connections
    still_open: int  # connections the server had not closed when RSS was read
    fds_released: bool  # the server's fd count returned to its baseline after closing

    @property
    def per_connection(self) -> float:
        """Resident bytes the server needs per idle connection."""
        return (self.rss_after - self.rss_before) / self.connections


# --------------------------------------------------------------------------- the server


def rss_bytes(pid: int) -> int:
    """The process's resident set size, from ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    """How many file descriptors the process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


# --------------------------------------------------------------------------- the client


def response_complete(data: bytes) -> bool:
    """True once ``data`` holds a whole 200 response with a Content-Length body."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = data[:end].lower()
    if not head.startswith(b"http/1.1 200"):
        raise RuntimeError(f"unexpected response {data[:80]!r}")
    start = head.find(b"\ncontent-length:")
    if start < 0:
        raise RuntimeError(f"response without Content-Length: {data[:200]!r}")
    stop = head.find(b"\r", start + 1)
    length = int(head[start + 16 : stop if stop >= 0 else len(head)])
    return len(data) >= end + 4 + length


async def open_one(port: int) -> socket.socket:
    """Connect, send one request, read its whole response, return the still-open socket."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, REQUEST)
        data = b""
        while not response_complete(data):
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise RuntimeError("server closed the connection before answering")
            data += chunk
    except BaseException:
        sock.close()
        raise
    return sock


async def open_many(port: int, count: int, batch: int, timeout: float) -> list[socket.socket]:
    """Open ``count`` answered connections, ``batch`` at a time, within ``timeout`` seconds."""
    socks: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    try:
        while len(socks) < count:
            size = min(batch, count - len(socks))
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"opened only {len(socks)} of {count} in {timeout:.0f} s")
            results = await asyncio.wait_for(
                asyncio.gather(*(open_one(port) for _ in range(size)), return_exceptions=True),
                left,
            )
            for result in results:
                if isinstance(result, BaseException):
                    close_all([s for s in results if isinstance(s, socket.socket)])
                    raise RuntimeError(f"after {len(socks)} connections: {result!r}")
                socks.append(result)
    except BaseException:
        close_all(socks)
        raise
    return socks


def count_still_open(socks: list[socket.socket]) -> int:
    """How many sockets the server has neither closed nor written to since the response."""
    alive = 0
    for sock in socks:
        try:
            if sock.recv(1, socket.MSG_PEEK) == b"":
                continue  # orderly close by the server
        except BlockingIOError:
            alive += 1  # nothing to read: idle and open, as expected
        except OSError:
            continue
    return alive


def close_all(socks: list[socket.socket]) -> None:
    """Close every socket in ``socks``."""
    for sock in socks:
        sock.close()


def wait_fds(pid: int, target: int, timeout: float) -> bool:
    """Wait until ``pid`` has at most ``target`` open descriptors; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if open_fds(pid) <= target:
            return True
        time.sleep(0.1)
    return False


def warm_up(port: int) -> None:
    """A few requests on a few connections, so lazy imports and caches are in place."""
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for _ in range(20):
                sock.sendall(REQUEST)
                data = b""
                while not response_complete(data):
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise RuntimeError("server closed the warm-up connection")
                    data += chunk


def measure(server: str, args: argparse.Namespace) -> Round:
    """Start ``server``, hold ``args.connections`` idle connections on it, measure, stop it."""
    proc, port = start_server(server, loop_kind=args.loop)
    try:
        warm_up(port)
        time.sleep(args.settle)
        rss_before, fds_before = rss_bytes(proc.pid), open_fds(proc.pid)
        started = time.monotonic()
        socks = asyncio.run(open_many(port, args.connections, args.batch, args.timeout))
        open_seconds = time.monotonic() - started
        try:
            time.sleep(args.settle)
            rss_after = rss_bytes(proc.pid)
            still_open = count_still_open(socks)
        finally:
            close_all(socks)
        released = wait_fds(proc.pid, fds_before, timeout=15)
        return Round(rss_before, rss_after, len(socks), open_seconds, still_open, released)
    finally:
        stop_server(proc)


# --------------------------------------------------------------------------- main


def plan_connections(wanted: int) -> int:
    """Raise our descriptor limit; return how many connections it allows (at most ``wanted``)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    allowed = hard - SPARE_FDS
    if allowed < wanted:
        print(
            f"RLIMIT_NOFILE hard limit is {hard}: using {allowed} connections, not {wanted}",
            file=sys.stderr,
        )
        return max(1, allowed)
    return wanted


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS))
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds over all servers")
    parser.add_argument("--batch", type=int, default=200, help="connections opened at once")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before reading RSS")
    parser.add_argument("--timeout", type=float, default=120, help="max seconds to open them")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    unknown = set(args.servers.split(",")) - set(SERVERS)
    if unknown:
        parser.error(f"--servers: unknown {sorted(unknown)}; choose from {list(SERVERS)}")
    if args.connections < 1 or args.repeat < 1 or args.batch < 1:
        parser.error("--connections, --repeat and --batch must be at least 1")
    return args


def report(rounds: dict[str, list[Round]], args: argparse.Namespace) -> None:
    """Print the per-round lines' medians as a table."""
    print(
        f"\n{args.connections} idle keep-alive connections, {args.loop}, "
        f"median of {args.repeat} round(s)"
    )
    print(
        f"{'server':18}{'RSS before':>12}{'RSS after':>12}{'KiB/conn':>10}"
        f"{'open conn/s':>13}{'still open':>12}{'fds freed':>11}"
    )
    for server, runs in rounds.items():
        per = statistics.median(r.per_connection for r in runs) / 1024
        before = statistics.median(r.rss_before for r in runs) / 2**20
        after = statistics.median(r.rss_after for r in runs) / 2**20
        rate = statistics.median(r.connections / r.open_seconds for r in runs)
        still = min(r.still_open for r in runs)
        freed = "yes" if all(r.fds_released for r in runs) else "NO"
        print(
            f"{server:18}{before:10.1f}Mi{after:10.1f}Mi{per:10.2f}"
            f"{rate:13.0f}{still:12d}{freed:>11}"
        )
    if "dualweb" in rounds and "tornado" in rounds:
        ours = statistics.median(r.per_connection for r in rounds["dualweb"])
        theirs = statistics.median(r.per_connection for r in rounds["tornado"])
        verdict = "ok" if ours <= theirs else "ABOVE TARGET"
        print(f"dualweb / tornado per connection: {ours / theirs:.2f}x (target <= 1.0x) {verdict}")


def main() -> None:
    """Measure every selected server ``--repeat`` times and print the medians."""
    args = parse_args()
    args.connections = plan_connections(args.connections)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the servers run on CPU 0
    servers = args.servers.split(",")
    rounds: dict[str, list[Round]] = {server: [] for server in servers}
    for number in range(args.repeat):
        for server in servers:
            result = measure(server, args)
            rounds[server].append(result)
            print(
                f"  round {number + 1} {server:18} {result.per_connection / 1024:7.2f} KiB/conn "
                f"(RSS {result.rss_before / 2**20:.1f} -> {result.rss_after / 2**20:.1f} MiB, "
                f"{result.still_open}/{result.connections} open, "
                f"opened in {result.open_seconds:.1f} s)",
                flush=True,
            )
    report(rounds, args)


if __name__ == "__main__":
    main()
