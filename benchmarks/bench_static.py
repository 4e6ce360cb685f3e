"""Static files: dualweb's StaticFileHandler against Tornado's, natively, same run.

Two parts:

1. **Throughput** — ``wrk -t1 -c10`` with keep-alive on ``/static/4k.bin``
   (4 KiB) and ``/static/1m.bin`` (1 MiB), each server pinned to CPU 0 with
   ``taskset`` and wrk to CPU 1, both servers on uvloop. Rounds alternate the
   servers so drift on the machine hits both alike; medians of requests/s,
   MiB/s and server CPU µs per request are reported, and the ratio
   dualweb/Tornado (target: >= 3x). On a shared machine requests/s mostly
   show how much CPU wrk gets (the servers are far from busy with a 1 MiB
   file): compare the CPU per request. dualweb sends files over 64 KiB with
   ``sendfile(2)`` (``HTTPConnection.send_file``), Tornado in 64 KiB chunks.
   ``bare`` (a thread per connection doing nothing but ``os.sendfile``) is
   the ceiling: its req/s over Tornado's is the most any server could show
   on this machine with this load generator.
2. **Memory** — 20 clients download one large file at once (default 256 MiB;
   ``--big-mib 1024`` for the full 1 GiB) from each server, reading slowly
   enough that the server has to wait on back-pressure. The server's RSS is
   sampled every 50 ms: it must stay flat (bounded by the chunk buffers, not
   the file size).

Run from the repository root::

    python benchmarks/bench_static.py                 # 3 rounds x 5 s, then memory (~2 min)
    python benchmarks/bench_static.py --quick         # 1 round x 2 s
    python benchmarks/bench_static.py --big-mib 1024  # the memory check with a 1 GiB file
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apps.launch import free_port, stop_server
from apps.static_servers import SERVERS
from bench_native import run_wrk

SCRIPT = Path(__file__).resolve().parent / "apps" / "static_servers.py"
FILES = {"4k.bin": 4 * 1024, "1m.bin": 1024 * 1024}
CLIENTS = 20


def start(server: str, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``server`` on CPU 0 serving ``root``; return it and its port once it answers."""
    port = free_port()
    cmd = ["taskset", "-c", "0", sys.executable, str(SCRIPT), server, str(port), str(root)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{server} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/static/4k.bin")
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status != 200 or len(body) != FILES["4k.bin"]:
                raise RuntimeError(f"{server}: bad answer {response.status}, {len(body)} bytes")
            return proc, port
        except OSError:
            time.sleep(0.05)
    stop_server(proc)
    raise RuntimeError(f"{server} did not answer within 20 s")


def cpu_split(pid: int) -> tuple[float, float]:
    """The process's (user, system) CPU seconds so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def rss_kib(pid: int) -> int:
    """The process's resident set size in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


Servers = dict[str, tuple[subprocess.Popen[bytes], int]]


def throughput(procs: Servers, args: argparse.Namespace) -> None:
    """wrk rounds over every (file, server) pair; print medians and the ratios."""
    samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for name in FILES:
        for _proc, port in procs.values():
            run_wrk(f"http://127.0.0.1:{port}/static/{name}", [], 1, args.connections)  # warm-up
        for _round in range(args.repeat):
            for server, (proc, port) in procs.items():
                (user0, sys0), t0 = cpu_split(proc.pid), time.monotonic()
                url = f"http://127.0.0.1:{port}/static/{name}"
                requests = run_wrk(url, [], args.duration, args.connections)
                (user1, sys1), t1 = cpu_split(proc.pid), time.monotonic()
                user, system = (1e6 * (user1 - user0) / requests, 1e6 * (sys1 - sys0) / requests)
                samples.setdefault((name, server), []).append((requests / (t1 - t0), user, system))
    print(f"\nthroughput: wrk -t1 -c{args.connections} keep-alive, median of {args.repeat} x "
          f"{args.duration} s")
    print(f"{'file':8} {'server':8} {'req/s':>8} {'MiB/s':>8} {'CPU µs/req':>11} "
          f"{'user':>7} {'system':>7}")
    for name, size in FILES.items():
        medians = {}
        for server in procs:
            rows = samples[(name, server)]
            rate = statistics.median(r for r, _, _ in rows)
            cost = statistics.median(u + s for _, u, s in rows)
            user = statistics.median(u for _, u, _ in rows)
            system = statistics.median(s for _, _, s in rows)
            medians[server] = (rate, cost)
            print(f"{name:8} {server:8} {rate:8.0f} {rate * size / 2**20:8.1f} {cost:11.1f} "
                  f"{user:7.1f} {system:7.1f}")
        if "dualweb" in medians and "tornado" in medians:
            (rate_d, cost_d), (rate_t, cost_t) = medians["dualweb"], medians["tornado"]
            print(f"{name:8} ratio    dualweb/tornado: {rate_d / rate_t:.2f}x req/s, "
                  f"{cost_t / cost_d:.2f}x less CPU per request")
        if "bare" in medians and "tornado" in medians:
            # The most any server could reach over Tornado under this load generator.
            print(f"{name:8} ceiling  bare/tornado:    "
                  f"{medians['bare'][0] / medians['tornado'][0]:.2f}x req/s")


async def slow_download(port: int, size: int, pace: float) -> int:
    """Download /static/big.bin, pausing ``pace`` s between 256 KiB reads; return body bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**16)
    writer.write(b"GET /static/big.bin HTTP/1.1\r\nHost: bench\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    received = 0
    while received < size:
        chunk = await reader.read(min(2**18, size - received))
        if not chunk:
            break
        received += len(chunk)
        if pace:
            await asyncio.sleep(pace)
    writer.close()
    return received


async def memory_run(
    proc: subprocess.Popen[bytes], port: int, size: int, pace: float
) -> tuple[int, int, float]:
    """(RSS before, peak RSS during, seconds) while CLIENTS download the big file."""
    before = rss_kib(proc.pid)
    peak = before
    started = time.monotonic()
    tasks = [asyncio.create_task(slow_download(port, size, pace)) for _ in range(CLIENTS)]
    while not all(task.done() for task in tasks):
        peak = max(peak, rss_kib(proc.pid))
        await asyncio.sleep(0.05)
    received = [task.result() for task in tasks]
    if any(r != size for r in received):
        raise RuntimeError(f"incomplete downloads: {received}")
    return before, peak, time.monotonic() - started


def memory(root: Path, args: argparse.Namespace) -> None:
    size = args.big_mib * 2**20
    big = root / "big.bin"
    with big.open("wb") as out:
        block = os.urandom(2**20)
        for _ in range(args.big_mib):
            out.write(block)
    print(f"\nmemory: {CLIENTS} clients download a {args.big_mib} MiB file at once "
          f"(client pauses {args.pace * 1000:.0f} ms per 256 KiB read)")
    print(f"{'server':8} {'RSS before':>11} {'peak RSS':>10} {'growth':>9} {'seconds':>8}")
    for server in args.servers:
        proc, port = start(server, root)
        try:
            before, peak, seconds = asyncio.run(memory_run(proc, port, size, args.pace))
        finally:
            stop_server(proc)
        print(f"{server:8} {before / 1024:9.1f} MiB {peak / 1024:7.1f} MiB "
              f"{(peak - before) / 1024:6.1f} MiB {seconds:8.1f}")
    big.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per (file, server)")
    parser.add_argument("--connections", type=int, default=10, help="wrk connections")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated")
    parser.add_argument("--big-mib", type=int, default=256, help="size of the memory-test file")
    parser.add_argument("--pace", type=float, default=0.002, help="client pause per read (s)")
    parser.add_argument("--quick", action="store_true", help="1 round x 2 s")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    args.servers = args.servers.split(",")
    if args.quick:
        args.duration, args.repeat = 2, 1
    with tempfile.TemporaryDirectory(prefix="bench_static_") as tmp:
        root = Path(tmp)
        for name, size in FILES.items():
            (root / name).write_bytes(os.urandom(size))
        if not args.skip_throughput:
            procs = {}
            try:
                for server in args.servers:
                    procs[server] = start(server, root)
                throughput(procs, args)
            finally:
                for proc, _port in procs.values():
                    stop_server(proc)
        if not args.skip_memory:
            memory(root, args)


if __name__ == "__main__":
    main()
