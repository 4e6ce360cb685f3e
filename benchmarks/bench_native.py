"""Throughput of dualweb's native server against Tornado, uvicorn+Starlette, aiohttp, raw asyncio.

Usage::

    python benchmarks/bench_native.py                  # all servers, all scenarios
    python benchmarks/bench_native.py --quick          # 2 s runs, 1 repeat
    python benchmarks/bench_native.py --servers dualweb,tornado --scenarios hello,routes1000
    python benchmarks/bench_native.py --peers-on hello,routes1,routes1000   # fewer pairs

Each server runs in its own process pinned to CPU 0 (``taskset``); ``wrk`` runs
pinned to CPU 1, one thread, 50 connections. All servers are started together
and every round measures every (scenario, server) pair in turn, ``--repeat``
rounds, so slow drift on a shared machine hits every pair alike; the tables
report medians of requests/s and of the server's CPU time per request
(user+system from ``/proc/<pid>/stat``), the second being far less sensitive
to noise.

Scenarios: ``hello`` (keep-alive GET, 12-byte body), ``close`` (the same with
``Connection: close``), ``json`` (a small JSON document), ``path`` (a route
with a path argument), ``upload`` (100 KB POST body), and the routing pair
``routes1`` / ``routes1000``: a table of 1 or 1,000 regex routes
``/item{i}/([0-9]+)`` plus a catch-all that would also match, the request
hitting the last table route (every router must keep first-match order; each
server's answer is checked before it is measured). The raw servers
(``raw-protocol``: a bare ``asyncio.Protocol`` with a fixed response, the
ceiling; ``raw-httptools``: the same parsing with ``httptools``, the limit
issue 12 measures against; ``dualweb-raw``: dualweb's server with a minimal
delegate) answer every scenario but the routing pair with the same fixed
response. All servers use uvloop. The servers live in
``benchmarks/apps/native_servers.py``. ``--peers-on`` limits the other
frameworks (Tornado, uvicorn+Starlette, aiohttp) to some scenarios, dualweb
and the raw servers still run all of them.

Requires ``wrk`` and ``taskset`` on PATH; the packages in the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# ``python benchmarks/bench_native.py`` puts benchmarks/ first on sys.path.
from apps.launch import start_server, stop_server
from apps.native_servers import ROUTING_SERVERS, SERVERS

UPLOAD_SIZE = 100 * 1024
RAW_SERVERS = ("dualweb-raw", "raw-httptools", "raw-protocol")
# The other frameworks (``--peers-on`` limits them to some scenarios).
PEERS = ("tornado", "uvicorn-starlette", "aiohttp")
# Whom dualweb is compared with in the ratio table, and the targets for hello
# keep-alive (dualweb's req/s over theirs; issue 12: >= 0.5x raw httptools+uvloop).
OTHERS = (*PEERS, "raw-httptools", "raw-protocol")
HELLO_TARGETS = {"tornado": 5.0, "uvicorn-starlette": 1.0, "raw-httptools": 0.5}
# dualweb's routes1000 req/s over its own hello and its own one-route table (issue 12).
ROUTES_TARGET = 0.9


@dataclass(frozen=True)
class Scenario:
    """One wrk workload: the path, extra wrk arguments, the route table and the expected body."""

    path: str
    wrk_args: tuple[str, ...] = ()
    routes: int = 0  # 0: the standard four-route app; N: the N-route regex table
    expect: str | None = None  # the body a framework must answer (raw servers are not checked)
    method: str = "GET"


SCENARIOS = {
    "hello": Scenario("/", expect="Hello, world"),
    "close": Scenario("/", ("-H", "Connection: close"), expect="Hello, world"),
    "json": Scenario("/json", expect='{"message":"Hello, world","items":[1,2,3]}'),
    "path": Scenario("/user/12345", expect="user 12345"),
    "upload": Scenario("/upload", ("-s", "UPLOAD_LUA"), expect=str(UPLOAD_SIZE), method="POST"),
    "routes1": Scenario("/item0/12345", routes=1, expect="item 0 12345"),
    "routes1000": Scenario("/item999/12345", routes=1000, expect="item 999 12345"),
}


@dataclass
class Samples:
    """Every measured round of one (scenario, server) pair."""

    rates: list[float] = field(default_factory=list)  # requests/s
    costs: list[float] = field(default_factory=list)  # server CPU µs per request

    @property
    def rate(self) -> float:
        """Median requests/s."""
        return statistics.median(self.rates)

    @property
    def cost(self) -> float:
        """Median server CPU µs per request."""
        return statistics.median(self.costs)


Results = dict[str, dict[str, Samples]]


# --------------------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float:
    """The process's user+system CPU time so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def check_answer(server: str, port: int, scenario: Scenario) -> None:
    """Fail loudly if ``server`` does not answer ``scenario`` as expected (before timing it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = b"a" * UPLOAD_SIZE if scenario.method == "POST" else None
        conn.request(scenario.method, scenario.path, body=body)
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"{server} {scenario.path}: status {response.status}")
    if server in RAW_SERVERS or scenario.expect is None:
        return
    if scenario.path == "/json":
        matches = json.loads(text) == json.loads(scenario.expect)
    else:
        matches = text == scenario.expect
    if not matches:
        raise RuntimeError(f"{server} {scenario.path}: expected {scenario.expect!r}, got {text!r}")


# --------------------------------------------------------------------------- measuring


def run_wrk(url: str, extra: list[str], seconds: int, connections: int) -> int:
    """Run wrk on CPU 1 and return the number of requests it completed."""
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 30)
    match = re.search(r"(\d+) requests in", out.stdout)
    if match is None:
        raise RuntimeError(f"{url}: unexpected wrk output\n{out.stdout}{out.stderr}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out.stdout}")
    socket_errors = re.search(r"Socket errors:.*", out.stdout)
    if socket_errors:
        print(f"  note: {url}: {socket_errors.group(0)}", file=sys.stderr)
    return int(match.group(1))


def servers_for(name: str, wanted: list[str], peers_on: list[str]) -> list[str]:
    """The servers among ``wanted`` that take part in scenario ``name``."""
    if name not in peers_on:
        wanted = [server for server in wanted if server not in PEERS]
    if SCENARIOS[name].routes:
        return [server for server in wanted if server in ROUTING_SERVERS]
    return list(wanted)


# What a server that is broken right now can raise; it is then left out of the scenario.
FAILURES = (RuntimeError, OSError, http.client.HTTPException, subprocess.SubprocessError)


def skip(name: str, server: str, error: BaseException) -> None:
    """Say on stderr that ``server`` was left out of scenario ``name``, and why."""
    print(f"  SKIPPED {name} {server}: {error!r}"[:2000], file=sys.stderr, flush=True)


def one_round(
    proc: subprocess.Popen[bytes], url: str, extra: list[str], args: argparse.Namespace
) -> tuple[float, float]:
    """One timed wrk run: (requests/s, server CPU µs per request)."""
    cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
    requests = run_wrk(url, extra, args.duration, args.connections)
    cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
    if requests == 0:
        raise RuntimeError(f"{url}: no request completed")
    return requests / (t1 - t0), (cpu1 - cpu0) / requests * 1e6


Target = tuple[subprocess.Popen[bytes], str, list[str]]  # server process, URL, wrk arguments


def prepare(
    names: list[str], wanted: list[str], args: argparse.Namespace, lua: str,
    procs: dict[tuple[str, int], tuple[subprocess.Popen[bytes], int]],
) -> dict[tuple[str, str], Target]:
    """Start every server needed (once per route table), check and warm each (scenario, server).

    Started processes are added to ``procs`` (the caller stops them). A pair
    whose server fails to start, answers wrongly or makes wrk fail is reported
    on stderr and left out.
    """
    targets: dict[tuple[str, str], Target] = {}
    broken: set[tuple[str, int]] = set()
    for name in names:
        scenario = SCENARIOS[name]
        extra = [lua if item == "UPLOAD_LUA" else item for item in scenario.wrk_args]
        for server in servers_for(name, wanted, args.peers_on.split(",")):
            key = (server, scenario.routes)
            if key in broken:
                continue
            try:
                if key not in procs:
                    broken.add(key)  # until it has started
                    procs[key] = start_server(server, scenario.routes)
                    broken.discard(key)
                proc, port = procs[key]
                check_answer(server, port, scenario)
                url = f"http://127.0.0.1:{port}{scenario.path}"
                if args.warmup:
                    run_wrk(url, extra, args.warmup, args.connections)  # untimed
            except FAILURES as error:
                skip(name, server, error)
                continue
            targets[(name, server)] = (proc, url, extra)
    return targets


def run_all(names: list[str], wanted: list[str], args: argparse.Namespace, lua: str) -> Results:
    """Measure every (scenario, server) pair in ``args.repeat`` interleaved rounds.

    All servers run at once (idle ones cost nothing) and every round visits
    every pair, so drift on a shared machine hits all pairs alike and each
    server's scenarios (hello against its 1,000-route table) compare fairly.
    """
    procs: dict[tuple[str, int], tuple[subprocess.Popen[bytes], int]] = {}
    results: Results = {name: {} for name in names}
    try:
        targets = prepare(names, wanted, args, lua, procs)
        for name, server in targets:
            results[name][server] = Samples()
        for _ in range(args.repeat):
            for (name, server), (proc, url, extra) in list(targets.items()):
                try:
                    rate, cost = one_round(proc, url, extra, args)
                except FAILURES as error:
                    skip(name, server, error)
                    del targets[(name, server)], results[name][server]
                    continue
                results[name][server].rates.append(rate)
                results[name][server].costs.append(cost)
                print(
                    f"  {name:10} {server:18} {rate:9.0f} req/s {cost:8.1f} µs CPU/req",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        for proc, _port in procs.values():
            stop_server(proc)
    return {name: row for name, row in results.items() if row}


# --------------------------------------------------------------------------- reporting


def print_matrix(results: Results, servers: list[str], title: str, cost: bool) -> None:
    """One row per scenario, one column per server: median req/s or CPU µs/request."""
    widths = [max(9, len(server) + 2) for server in servers]
    print(f"\n{title}")
    header = "".join(f"{s:>{w}}" for s, w in zip(servers, widths, strict=True))
    print(f"{'scenario':11}{header}")
    for name, row in results.items():
        cells = []
        for server, width in zip(servers, widths, strict=True):
            if server not in row:
                cells.append(f"{'-':>{width}}")
            else:
                value = row[server].cost if cost else row[server].rate
                cells.append(f"{value:>{width}.1f}" if cost else f"{value:>{width}.0f}")
        print(f"{name:11}" + "".join(cells))


def print_ratios(results: Results) -> None:
    """dualweb relative to each other server per scenario: req/s ratio (CPU-cost ratio)."""
    others = [o for o in OTHERS if any(o in row for row in results.values())]
    if not others or not any("dualweb" in row for row in results.values()):
        return
    print("\ndualweb relative to each server: req/s ratio (CPU µs/req ratio); > 1 = dualweb ahead")
    print(f"{'scenario':11}" + "".join(f"{'vs ' + o:>24}" for o in others))
    for name, row in results.items():
        ours = row.get("dualweb")
        cells = []
        for other in others:
            if ours is None or other not in row:
                cells.append(f"{'-':>24}")
                continue
            theirs = row[other]
            text = f"{ours.rate / theirs.rate:.2f}x ({theirs.cost / ours.cost:.2f}x)"
            cells.append(f"{text:>24}")
        print(f"{name:11}" + "".join(cells))
    hello = results.get("hello", {})
    if "dualweb" in hello:
        print("\nhello keep-alive targets (dualweb req/s over theirs; CPU-cost ratio in brackets):")
        for other, target in HELLO_TARGETS.items():
            if other in hello:
                ratio = hello["dualweb"].rate / hello[other].rate
                cpu_ratio = hello[other].cost / hello["dualweb"].cost
                verdict = "ok" if ratio >= target else "BELOW TARGET"
                print(
                    f"  {other:18} {ratio:5.2f}x ({cpu_ratio:.2f}x)  target >= {target}x  {verdict}"
                )


def print_routes(results: Results) -> None:
    """Each router's 1,000-route throughput relative to its own hello and 1-route table."""
    table = results.get("routes1000")
    if not table:
        return
    hello, one = results.get("hello", {}), results.get("routes1", {})
    print("\n1,000 regex routes, request hits the last: each server relative to ITSELF")
    print(
        f"{'server':18}{'hello':>9}{'routes1':>9}{'routes1000':>11}"
        f"{'÷hello':>15}{'÷routes1':>15}   (req/s ratio, CPU-cost ratio)"
    )
    for server, big in table.items():
        row = f"{server:18}"
        row += f"{hello[server].rate:9.0f}" if server in hello else f"{'-':>9}"
        row += f"{one[server].rate:9.0f}" if server in one else f"{'-':>9}"
        row += f"{big.rate:11.0f}"
        for base in (hello.get(server), one.get(server)):
            if base is None:
                row += f"{'-':>15}"
            else:
                row += f"{f'{big.rate / base.rate:.2f} ({base.cost / big.cost:.2f})':>15}"
        print(row)
    for base_name, base in (("hello", hello), ("routes1", one)):
        if "dualweb" in table and "dualweb" in base:
            ratio = table["dualweb"].rate / base["dualweb"].rate
            verdict = "ok" if ratio >= ROUTES_TARGET else "BELOW TARGET"
            print(
                f"  dualweb routes1000 / {base_name} = {ratio:.2f}x, "
                f"target >= {ROUTES_TARGET}x  {verdict}"
            )


def as_json(results: Results) -> dict[str, dict[str, dict[str, object]]]:
    """The results with every sample and the medians, for ``--json``."""
    return {
        name: {
            server: {
                "rate": s.rate, "cpu_us": s.cost, "rates": s.rates, "cpu_us_samples": s.costs
            }
            for server, s in row.items()
        }
        for name, row in results.items()
    }


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per (server, scenario)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed wrk seconds per pair first (0: none)"
    )
    parser.add_argument(
        "--peers-on", default=",".join(SCENARIOS),
        help="scenarios the other frameworks take part in (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="2 s runs, 1 round")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    choices = (
        ("--servers", args.servers, SERVERS),
        ("--scenarios", args.scenarios, SCENARIOS),
        ("--peers-on", args.peers_on, SCENARIOS),
    )
    for option, names, known in choices:
        unknown = set(names.split(",")) - set(known) - {""}
        if unknown:
            parser.error(f"{option}: unknown {sorted(unknown)}; choose from {list(known)}")
    if args.quick:
        args.duration, args.repeat = 2, 1
    return args


def main() -> None:
    """Run the selected scenarios against the selected servers and print the tables."""
    args = parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is required on PATH")
    wanted = args.servers.split(",")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(
            'wrk.method = "POST"\n'
            f'wrk.body = string.rep("a", {UPLOAD_SIZE})\n'
            'wrk.headers["Content-Type"] = "application/octet-stream"\n'
        )
    started = time.monotonic()
    try:
        results = run_all(args.scenarios.split(","), wanted, args, lua.name)
    finally:
        os.unlink(lua.name)
    if args.json:
        print(json.dumps(as_json(results), indent=2))
        return
    shown = [s for s in SERVERS if s in wanted]
    rounds = f"median of {args.repeat} x {args.duration} s, wrk -t1 -c{args.connections}"
    print_matrix(results, shown, f"requests/s ({rounds})", cost=False)
    print_matrix(results, shown, "server CPU µs per request (lower is better)", cost=True)
    print_ratios(results)
    print_routes(results)
    print(f"\n(total {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
