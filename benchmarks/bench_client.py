"""HTTP client cost: dualweb's AsyncHTTPClient against Tornado's, aiohttp's and httpx's.

Usage::

    python benchmarks/bench_client.py                 # 2,000 requests, 5 rounds
    python benchmarks/bench_client.py --quick         # 500 requests, 1 round
    python benchmarks/bench_client.py --clients dualweb,aiohttp --requests 4000

One server (the ``raw-protocol`` server of ``apps/native_servers.py``: a bare
``asyncio.Protocol`` answering a fixed keep-alive response, so the server
costs as little as possible) runs pinned to CPU 0. Each client runs in its
own process pinned to CPU 1 (``taskset``), on uvloop, and makes the requests
twice: sequentially, then from 50 concurrent tasks (``max_clients`` /
connection limits set to 50). Rounds interleave the clients, so drift on a
shared machine hits all alike. Reported: median wall time per request and
median client CPU time (user+system of the client process) per request, and
dualweb's ratio over each peer (their cost / dualweb's cost: > 1 means
dualweb is cheaper). Targets (issue 7): >= 4x Tornado's client, >= 1.0x
aiohttp, at both concurrencies.

Requires ``taskset`` and the ``bench`` extra (tornado, aiohttp, httpx, uvloop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

CLIENTS = ("dualweb", "tornado", "aiohttp", "httpx")
TARGETS = {"tornado": 4.0, "aiohttp": 1.0}
CONCURRENCY = 50


# --------------------------------------------------------------------------- client side


def _make_fetcher(name: str, concurrency: int) -> tuple[Callable[[str], Awaitable[Any]], Any]:
    """``(fetch(url) -> awaitable, closer)`` for one client library."""
    if name == "dualweb":
        from dualweb.httpclient import AsyncHTTPClient

        client = AsyncHTTPClient(force_instance=True, max_clients=concurrency)
        return client.fetch, client.close
    if name == "tornado":
        from tornado.simple_httpclient import SimpleAsyncHTTPClient

        tclient = SimpleAsyncHTTPClient(force_instance=True, max_clients=concurrency)
        return tclient.fetch, tclient.close
    if name == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

        async def aio_fetch(url: str) -> bytes:
            async with session.get(url) as response:
                return await response.read()

        return aio_fetch, session.close
    if name == "httpx":
        import httpx

        hclient = httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency))

        async def httpx_fetch(url: str) -> bytes:
            return (await hclient.get(url)).content

        return httpx_fetch, hclient.aclose
    raise ValueError(name)


async def _measure(name: str, url: str, requests: int, concurrency: int) -> dict[str, float]:
    fetch, close = _make_fetcher(name, concurrency)
    for _ in range(50):  # warm up: connections, caches
        await fetch(url)

    async def worker(count: int) -> None:
        for _ in range(count):
            await fetch(url)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    wall0 = time.perf_counter()
    if concurrency == 1:
        await worker(requests)
    else:
        await asyncio.gather(*[worker(requests // concurrency) for _ in range(concurrency)])
    wall = time.perf_counter() - wall0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    result = close()
    if asyncio.iscoroutine(result):
        await result
    return {"wall_us": wall / requests * 1e6, "cpu_us": cpu / requests * 1e6}


def run_client(name: str, url: str, requests: int, concurrency: int) -> None:
    """Entry point of the pinned client process: print one JSON measurement."""
    import uvloop

    uvloop.install()
    print(json.dumps(asyncio.run(_measure(name, url, requests, concurrency))))


# --------------------------------------------------------------------------- driver


def measure_once(name: str, port: int, requests: int, concurrency: int) -> dict[str, float]:
    cmd = ["taskset", "-c", "1", sys.executable, __file__, "--run-client", name]
    cmd += ["--url", f"http://127.0.0.1:{port}/", "--requests", str(requests)]
    cmd += ["--concurrency", str(concurrency)]
    out = subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return json.loads(out.stdout.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--run-client")
    parser.add_argument("--url")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    if args.run_client:
        run_client(args.run_client, args.url, args.requests, args.concurrency)
        return
    if args.quick:
        args.requests, args.repeat = 500, 1
    from apps.launch import start_server, stop_server

    clients = [c for c in args.clients.split(",") if c]
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    proc, port = start_server("raw-protocol")
    try:
        for round_number in range(args.repeat):
            for concurrency in (1, CONCURRENCY):
                for name in clients:
                    sample = measure_once(name, port, args.requests, concurrency)
                    results.setdefault((name, concurrency), []).append(sample)
            print(f"round {round_number + 1}/{args.repeat} done", file=sys.stderr)
    finally:
        stop_server(proc)
    report(clients, results, args.requests, args.repeat)


def report(
    clients: list[str],
    results: dict[tuple[str, int], list[dict[str, float]]],
    requests: int,
    repeat: int,
) -> None:
    print(f"\n{requests} GETs per run, medians of {repeat} runs; client pinned to CPU 1\n")
    print("| client | concurrency | wall µs/req | client CPU µs/req | their CPU / dualweb's |")
    print("| --- | --- | --- | --- | --- |")
    for concurrency in (1, CONCURRENCY):
        base = statistics.median(s["cpu_us"] for s in results[("dualweb", concurrency)])
        for name in clients:
            samples = results[(name, concurrency)]
            wall = statistics.median(s["wall_us"] for s in samples)
            cpu = statistics.median(s["cpu_us"] for s in samples)
            ratio = cpu / base
            target = TARGETS.get(name)
            verdict = ""
            if target is not None:
                verdict = " (target met)" if ratio >= target else f" (target {target}x missed)"
            print(f"| {name} | {concurrency} | {wall:.1f} | {cpu:.1f} | {ratio:.2f}x{verdict} |")


if __name__ == "__main__":
    main()
