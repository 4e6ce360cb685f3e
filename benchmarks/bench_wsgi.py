"""WSGI-mode benchmark: dualweb's WSGIAdapter vs Falcon, Bottle, Flask and a bare callable.

Two measurements of the same two routes, ``/`` (hello world) and ``/json``
(a small JSON document), served by every app in benchmarks/apps/:

* **in-process** (the figure to quote on a shared, noisy machine): each WSGI
  callable is called directly, in a loop, with a prebuilt gunicorn-like
  environ (``RAW_URI``, ``SERVER_SOFTWARE``, ...) and a no-op
  ``start_response``; the body is drained and ``close()`` called as a server
  would. Apps and routes are interleaved within each round, so load arriving
  mid-run hits all of them; the table shows the median over the rounds of
  µs per call and the cost over the bare callable (the framework's cost).
* **gunicorn**: each app under gunicorn with one sync worker pinned to CPU 0
  with ``taskset``; the load generator (``wrk``, or ``ab`` if wrk is
  missing) is pinned to CPU 1. Apps are interleaved within each repetition;
  the table shows medians over the repetitions of wrk's requests/s and the
  worker's CPU time per request (utime+stime from /proc/<pid>/stat before
  and after each run), and the ratios against the peers.

    python benchmarks/bench_wsgi.py                   # in-process, then gunicorn
    python benchmarks/bench_wsgi.py --inprocess-only  # in-process only (alias: --micro)
    python benchmarks/bench_wsgi.py --json            # one JSON object instead of tables
    python benchmarks/bench_wsgi.py --instructions    # in-process, callgrind instructions/call
    python benchmarks/bench_wsgi.py --profile         # cProfile of the adapter + core
    python benchmarks/bench_wsgi.py --cold            # in-process, caches polluted per call
    python benchmarks/bench_wsgi.py --inside          # each WSGI call timed inside gunicorn

``--instructions`` counts the instructions per call of each app and route
with ``valgrind --tool=callgrind`` (two runs of different lengths, the
difference divided by the extra calls): load-independent, for comparing the
apps on a busy machine. ``--json`` prints
``{"inprocess": {app: {route: {"us": float, "over_bare_us": float}}},
"gunicorn": {app: {route: {"rps": float, "cpu_us": float}}}}``
(``"gunicorn"`` is ``{}`` with ``--inprocess-only``; with ``--instructions``:
``{"instructions": {app: {route: {"ir": float, "over_bare_ir": float}}}}``);
progress goes to stderr.

Everything runs on 127.0.0.1; nothing touches the internet.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
APPS_DIR = HERE / "apps"
APPS = {
    "bare": "bare_bench:app",
    "dualweb": "dualweb_bench:app",
    "falcon": "falcon_bench:app",
    "bottle": "bottle_bench:app",
    "flask": "flask_bench:app",
}
PEERS = ("falcon", "bottle", "flask")
ROUTES = {"hello": "/", "json": "/json"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- servers -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Gunicorn:
    """``gunicorn -w 1 -k sync`` serving one app, pinned to CPU 0."""

    def __init__(
        self, target: str, cpu: str = "0", extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "sync"]
        cmd += ["-b", f"127.0.0.1:{self.port}", "--chdir", str(APPS_DIR)]
        cmd += ["--log-level", "warning", target]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", cpu, *cmd]
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore", **(extra_env or {}))
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        self.worker = self._wait_ready()

    def _wait_ready(self) -> int:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            workers = children_of(self.proc.pid)
            if workers:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                        if sock.recv(64).startswith(b"HTTP/1."):
                            return workers[0]
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("gunicorn did not start within 15s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# -- load ------------------------------------------------------------------------


def load(url: str, seconds: int, connections: int) -> tuple[float, int, int]:
    """Drive ``url``; return (requests/s, completed requests, failed requests)."""
    pin = ["taskset", "-c", "1"] if shutil.which("taskset") else []
    if shutil.which("wrk"):
        cmd = [*pin, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
        if "Requests/sec:" not in out:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
        )
        failed = int(bad.group(1)) if bad else 0
        failed += sum(int(x) for x in errors.groups()) if errors else 0
        return rps, total, failed
    if shutil.which("ab"):
        cmd = [*pin, "ab", "-q", "-t", str(seconds), "-n", "10000000", "-c", str(connections), url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
        rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        total = int(re.search(r"Complete requests:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
        failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
        return rps, total, failed
    raise SystemExit("neither wrk nor ab is installed (apt-get install wrk)")


Table = dict[str, dict[str, dict[str, float]]]


def run_server_bench(reps: int, seconds: int, connections: int) -> Table:
    """Every app under gunicorn; return {app: {route: {"rps", "cpu_us"}}} (medians)."""
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for rep in range(reps):
        for name, target in APPS.items():
            server = Gunicorn(target)
            try:
                for route, path in ROUTES.items():
                    url = f"http://127.0.0.1:{server.port}{path}"
                    load(url, 1, connections)  # warm-up
                    before = cpu_seconds(server.worker)
                    rps, total, failed = load(url, seconds, connections)
                    used = cpu_seconds(server.worker) - before
                    if failed:
                        print(f"  !! {name} {route}: {failed} failed requests", file=sys.stderr)
                    results.setdefault((name, route), []).append((rps, 1e6 * used / max(total, 1)))
                    print(f"  rep {rep + 1} {name:8} {route:6} {rps:9.0f} req/s", file=sys.stderr)
            finally:
                server.stop()
    return {
        name: {
            route: {
                "rps": statistics.median(r[0] for r in results[(name, route)]),
                "cpu_us": statistics.median(r[1] for r in results[(name, route)]),
            }
            for route in ROUTES
        }
        for name in APPS
    }


def print_server_table(table: Table) -> None:
    print()
    print("gunicorn -w 1 -k sync; req/s: wrk medians; CPU µs/req: the worker's utime+stime")
    print("per request (steadier than req/s); 'vs X': X's CPU µs over this app's.")
    columns = ("bare", *PEERS)
    print(
        f"{'route':6} {'app':8} {'req/s':>7} {'CPU µs/req':>10} "
        + " ".join(f"{'vs ' + peer:>10}" for peer in columns)
    )
    for route in ROUTES:
        for name in APPS:
            row = table[name][route]
            ratios = " ".join(
                f"{table[peer][route]['cpu_us'] / row['cpu_us']:9.2f}x" for peer in columns
            )
            print(f"{route:6} {name:8} {row['rps']:7.0f} {row['cpu_us']:10.1f} {ratios}")


# -- inside the worker -----------------------------------------------------------


def fetch(port: int, path: str) -> bytes:
    """GET ``path`` from 127.0.0.1:``port`` with HTTP/1.0; return the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[2]


def run_inside(reps: int, seconds: int, connections: int, profile: bool) -> None:
    """Time each app's WSGI call inside the gunicorn worker (apps/timed_bench.py)."""
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for _rep in range(reps):
        for name, target in APPS.items():
            extra = {"BENCH_TARGET": target, "BENCH_PROFILE": "1" if profile else ""}
            server = Gunicorn("timed_bench:app", extra_env=extra)
            try:
                for route, path in ROUTES.items():
                    url = f"http://127.0.0.1:{server.port}{path}"
                    load(url, 1, connections)  # warm-up
                    fetch(server.port, "/__timing__")
                    fetch(server.port, "/__profile__")
                    before = cpu_seconds(server.worker)
                    _rps, total, _failed = load(url, seconds, connections)
                    used = cpu_seconds(server.worker) - before
                    timing = json.loads(fetch(server.port, "/__timing__"))
                    row = (timing["median_us"], timing["mean_us"], 1e6 * used / max(total, 1))
                    print(
                        f"  {name:8} {route:6} gc collections (gen 0/1/2) "
                        f"{timing['gc_collections']}, {timing['gc_us_per_call']:.2f} µs/call in gc",
                        file=sys.stderr,
                    )
                    results.setdefault((name, route), []).append(row)
                    if profile and name == "dualweb":
                        print(f"--- dualweb {route} inside the worker ---")
                        print(fetch(server.port, "/__profile__").decode())
            finally:
                server.stop()
    print("in-call: µs per WSGI call timed inside the worker (median and mean of the calls);")
    print("worker CPU: the worker's utime+stime per request. Medians over the repetitions.")
    print(
        f"{'route':6} {'app':8} {'in-call med':>11} {'over bare':>9} {'in-call mean':>12}"
        f" {'worker CPU':>10}"
    )
    for route in ROUTES:
        bare = statistics.median(r[0] for r in results[("bare", route)])
        for name in APPS:
            rows = results[(name, route)]
            median, mean, worker = (statistics.median(r[i] for r in rows) for i in range(3))
            print(
                f"{route:6} {name:8} {median:11.1f} {median - bare:+9.1f} {mean:12.1f}"
                f" {worker:10.1f}"
            )


# -- in-process ------------------------------------------------------------------


def environ_for(path: str) -> dict[str, Any]:
    """An environ like gunicorn 2x builds for a keep-alive GET from wrk."""
    return {
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": None,
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": "gunicorn/27.0.1",
        "wsgi.input": io.BytesIO(b""),
        "gunicorn.socket": None,
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": "",
        "RAW_URI": path,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "wrk",
        "HTTP_ACCEPT": "*/*",
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
    }


def load_apps() -> dict[str, Callable[..., Iterable[bytes]]]:
    """Import every app of APPS from benchmarks/apps/ (in-process)."""
    import importlib

    sys.path[:0] = [str(ROOT), str(APPS_DIR)]
    apps = {}
    for name, target in APPS.items():
        module, _, attr = target.partition(":")
        apps[name] = getattr(importlib.import_module(module), attr)
    return apps


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return None


def call_many(app: Callable[..., Iterable[bytes]], path: str, count: int) -> float:
    """Seconds per call of ``app`` on a prebuilt environ (body consumed like a server would).

    Each call gets a fresh copy of the environ (apps such as Bottle store
    things in it); the copy costs the same for every app and cancels out of
    the cost over the bare callable.
    """
    environ = environ_for(path)
    start = time.perf_counter()
    for _ in range(count):
        env = environ.copy()
        result = app(env, _start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return (time.perf_counter() - start) / count


def run_inprocess(rounds: int, count: int) -> Table:
    """µs per call of every app and route; return {app: {route: {"us", "over_bare_us"}}}.

    Each round times ``count`` calls of every (app, route) in turn, the
    order rotated per round; the result is the median over the rounds.
    """
    apps = load_apps()
    cases = [(name, route) for route in ROUTES for name in apps]
    for name, route in cases:
        call_many(apps[name], ROUTES[route], max(count // 5, 200))  # warm-up
    samples: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
    for index in range(rounds):
        shift = index % len(cases)
        for name, route in cases[shift:] + cases[:shift]:
            samples[(name, route)].append(1e6 * call_many(apps[name], ROUTES[route], count))
        print(f"  in-process round {index + 1}/{rounds}", file=sys.stderr)
    table: Table = {}
    for name in apps:
        for route in ROUTES:
            us = statistics.median(samples[(name, route)])
            bare = statistics.median(samples[("bare", route)])
            table.setdefault(name, {})[route] = {"us": us, "over_bare_us": us - bare}
    return table


def print_cost_table(table: Table, heading: list[str], unit: str, key: str, fmt: str) -> None:
    """Print ``table[app][route][key]`` and its cost over bare, each app relative to Falcon.

    ``heading``: the lines printed first; ``unit``: the value column's title; ``fmt``: the
    format of the values (e.g. ``".2f"``, ``",.0f"``).
    """
    for line in heading:
        print(line)
    print(f"{'route':6} {'app':8} {unit:>10} {'over bare':>10} {'vs falcon':>10}")
    over_key = f"over_bare_{key}"
    for route in ROUTES:
        falcon = table["falcon"][route][over_key]
        for name in APPS:
            row = table[name][route]
            ratio = row[over_key] / falcon if falcon > 0 else float("nan")
            print(
                f"{route:6} {name:8} {row[key]:10{fmt}} {row[over_key]:+10{fmt}} {ratio:9.2f}x"
            )


def print_inprocess_table(table: Table) -> None:
    """The in-process table: µs per WSGI call and the cost over the bare callable."""
    heading = [
        "in-process: a prebuilt gunicorn-like environ, µs per WSGI call (medians over",
        "interleaved rounds); 'over bare': the framework's own cost per request.",
    ]
    print_cost_table(table, heading, "µs/call", "us", ".2f")


def _callgrind_total(name: str, route: str, calls: int) -> int:
    """Instructions callgrind counts for a process making ``calls`` calls of one app."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    cmd += [__file__, "--child-calls", f"{name}:{route}:{calls}"]
    # A fixed hash seed: with random ones start-up (subtracted) varies by millions.
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONWARNINGS="ignore")
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    match = re.search(r"Collected\s*:\s*(\d+)", result.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr}")
    return int(match.group(1))


def run_instructions(calls: int, base: int = 200) -> Table:
    """Instructions per call of every app and route: {app: {route: {"ir", "over_bare_ir"}}}."""
    if not shutil.which("valgrind"):
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    table: Table = {}
    for name in APPS:
        for route in ROUTES:
            low = _callgrind_total(name, route, base)
            high = _callgrind_total(name, route, base + calls)
            table.setdefault(name, {})[route] = {"ir": (high - low) / calls}
            print(f"  {name:8} {route:6} {(high - low) / calls:9,.0f}", file=sys.stderr)
    for name in APPS:
        for route in ROUTES:
            row = table[name][route]
            row["over_bare_ir"] = row["ir"] - table["bare"][route]["ir"]
    return table


def print_instructions_table(table: Table) -> None:
    """The callgrind table: instructions per WSGI call and the cost over the bare callable."""
    heading = ["in-process instructions per WSGI call (callgrind; load-independent)"]
    print_cost_table(table, heading, "instr/call", "ir", ",.0f")


def child_calls(spec: str) -> None:
    """(``--child-calls app:route:count``, under callgrind) make the calls, print nothing."""
    name, route, count = spec.split(":")
    app = load_apps()[name]
    call_many(app, ROUTES[route], int(count))


def run_cold(calls: int, rounds: int = 5, junk_size: int = 200_000) -> None:
    """In-process µs per call with the CPU caches polluted before every call.

    A gunicorn worker runs ~300 µs of its own Python between two calls into
    the app, which evicts most of what the app's previous request had in
    cache; the tight --micro loop hides that. Sweeping a few MB of objects
    before each call approximates it: per-call medians here land close to
    what --inside measures in the worker, and show that the cost there
    follows how much code and data a request touches, not just how many
    instructions it runs.
    """
    apps = load_apps()
    junk = list(range(junk_size))

    def pollute() -> int:
        return sum(junk[::8])

    print(f"{'route':6} {'app':8} {'cold µs':>8} {'over bare':>10}")
    for route, path in ROUTES.items():
        environ = environ_for(path)
        medians: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(rounds):
            for name, app in apps.items():
                samples = []
                for _ in range(calls):
                    pollute()
                    env = environ.copy()
                    start = time.perf_counter()
                    for _chunk in app(env, _start_response):
                        pass
                    samples.append(time.perf_counter() - start)
                medians[name].append(statistics.median(samples))
        best = {name: 1e6 * min(values) for name, values in medians.items()}
        for name, us in best.items():
            print(f"{route:6} {name:8} {us:8.1f} {us - best['bare']:+9.1f}")


def run_profile(count: int) -> None:
    app = load_apps()["dualweb"]
    for path in ROUTES.values():
        call_many(app, path, 1000)
    profiler = cProfile.Profile()
    profiler.enable()
    for path in ROUTES.values():
        call_many(app, path, count)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(30)
    # Where the time goes, by file: own time of every function summed per module.
    by_file: dict[str, float] = {}
    for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        key = str(Path(filename).relative_to(ROOT)) if filename.startswith(str(ROOT)) else ""
        key = key or "other (stdlib)"
        by_file[key] = by_file.get(key, 0.0) + row[2]
    total = sum(by_file.values())
    print(f"{'module':40} {'share':>6}")
    for key, own in sorted(by_file.items(), key=lambda item: -item[1]):
        print(f"{key:40} {100 * own / total:5.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=3, help="gunicorn repetitions")
    parser.add_argument("--seconds", type=int, default=5, help="seconds of load per gunicorn run")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=9, help="in-process rounds")
    parser.add_argument(
        "--inprocess-only", "--micro", action="store_true", help="in-process measurement only"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--instructions", action="store_true", help="callgrind instructions per in-process call"
    )
    parser.add_argument("--child-calls", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="cProfile dualweb in-process")
    parser.add_argument(
        "--cold", action="store_true", help="in-process, caches polluted before each call"
    )
    parser.add_argument(
        "--inside", action="store_true", help="time each app's WSGI call inside the worker"
    )
    parser.add_argument(
        "--inside-profile", action="store_true", help="--inside, with cProfile of dualweb"
    )
    parser.add_argument("--count", type=int, default=5000, help="calls per in-process timing")
    args = parser.parse_args()
    if args.child_calls:
        child_calls(args.child_calls)
    elif args.instructions:
        table = run_instructions(max(args.count // 10, 100))
        if args.json:
            print(json.dumps({"instructions": table}, indent=1))
        else:
            print_instructions_table(table)
    elif args.inside or args.inside_profile:
        run_inside(args.reps, args.seconds, args.connections, args.inside_profile)
    elif args.cold:
        run_cold(max(args.count // 10, 100))
    elif args.profile:
        run_profile(args.count * 4)
    else:
        inprocess = run_inprocess(args.rounds, args.count)
        if not args.json:
            print_inprocess_table(inprocess)
        server: Table = {}
        if not args.inprocess_only:
            server = run_server_bench(args.reps, args.seconds, args.connections)
            if not args.json:
                print_server_table(server)
        if args.json:
            print(json.dumps({"inprocess": inprocess, "gunicorn": server}, indent=1))


if __name__ == "__main__":
    main()
