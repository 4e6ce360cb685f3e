"""Every figure of issue 12 in one run, each beside its target: ``python benchmarks/bench_all.py``.

Usage::

    python benchmarks/bench_all.py                    # everything, ~15 min on 2 quiet cores
    python benchmarks/bench_all.py --quick            # 1 round of short runs, ~5 min
    python benchmarks/bench_all.py --smoke            # seconds: a subset, to check the script
    python benchmarks/bench_all.py --sections native,import
    python benchmarks/bench_all.py --json             # one JSON object instead of the tables

The sections run one after another, each through the benchmark script that
owns the measurement (so a section can also be rerun alone):

* ``native`` (``bench_native.py --json``): wrk on CPU 1 against servers on
  CPU 0, keep-alive, 50 connections, medians of ``--repeat`` interleaved
  rounds: dualweb against the raw limits (``raw-httptools``: httptools + uvloop
  ``asyncio.Protocol`` with a fixed response, the issue's yardstick;
  ``raw-protocol``: the same without a parser; ``dualweb-raw``: dualweb's
  server with a minimal delegate) on hello, ``Connection: close``, JSON, a
  path argument and a 100 KB upload, and against Tornado, uvicorn+Starlette
  and aiohttp on hello and the 1- and 1,000-route tables;
* ``wsgi`` (``bench_wsgi.py --json``): the in-process cost of each framework
  over a bare WSGI callable, and req/s + CPU µs/request under gunicorn (one
  sync worker), for dualweb, Falcon, Bottle, Flask and the bare callable;
* ``routing``: the 1,000-route table against the one-route hello natively
  (from the native section) and ``find_handler`` alone (``bench_routing.py``);
* ``import`` (``bench_import.py --both --json``): ``import dualweb.web`` over
  ``import tornado.web`` with ``-X importtime``, from cached bytecode and
  compiled from source;
* ``where`` (``bench_instructions.py``, needs valgrind): instructions per
  request of each of its cases; with its per-stage cases (``native-raw-*``:
  dualweb's HTTP server alone) the framework's share is their difference.

At the end: one row per issue-12 target with the measured ratio, the target
and ``ok`` / ``BELOW TARGET`` / ``not measured``; for a missed target, the
CPU time (or milliseconds) that would close it and where its profile is. The
load average is printed at the start and the end: on a busy machine, trust
the CPU µs/request figures over requests/s.

Requires ``wrk`` and ``taskset`` on PATH and the packages of the ``bench``
extra (plus Falcon and Bottle for the WSGI comparison, valgrind for ``where``).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# ``python benchmarks/bench_all.py`` puts benchmarks/ first on sys.path.
from bench_native import Results, Samples, print_matrix, print_ratios

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("native", "wsgi", "routing", "import", "where")
PEERS = ("tornado", "uvicorn-starlette", "aiohttp")
RAW = "raw-httptools"  # the raw limit
NATIVE_SERVERS = ("dualweb", "dualweb-raw", RAW, "raw-protocol", *PEERS)
WSGI_APPS = ("bare", "dualweb", "falcon", "bottle", "flask")
# Where the profile of a missed target comes from, per section.
PROFILES = {
    "native": "the CPU split of the native section; per-stage instruction counts: "
    "bench_instructions.py --cases native-hello,native-raw-hello",
    "wsgi": "bench_wsgi.py --profile (in-process), --inside-profile (in the gunicorn worker)",
    "routing": "bench_routing.py; bench_native.py --servers dualweb --scenarios hello,routes1000",
    "import": "bench_import.py --top 30 (add --source for the compiled-from-source row)",
}
# The end-to-end cases of bench_instructions.py; any other case is a per-stage one.
END_TO_END_CASES = ("wsgi-hello", "wsgi-json", "native-hello", "native-close")


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Plan:
    """How long and how much each section measures (default, ``--quick`` or ``--smoke``)."""

    native_scenarios: str = "hello,close,json,path,upload,routes1,routes1000"
    native_servers: str = ",".join(NATIVE_SERVERS)
    peers_on: str = "hello,routes1,routes1000"
    duration: int = 4
    repeat: int = 3
    warmup: int = 1
    wsgi_args: tuple[str, ...] = ()
    wsgi_inprocess_only: bool = False
    wsgi_count: int = 0  # calls per in-process timing (0: the script's default)
    routing_args: tuple[str, ...] = ()
    import_n: int = 15
    instructions_n: int = 1000
    instruction_cases: tuple[str, ...] = ()  # () = every case bench_instructions.py has


PLANS = {
    "default": Plan(),
    "quick": Plan(
        duration=2, repeat=1, wsgi_args=("--reps", "1", "--seconds", "2"),
        routing_args=("--quick",), import_n=5, instructions_n=300,
        instruction_cases=("wsgi-hello", "native-hello", "native-raw-hello"),
    ),
    "smoke": Plan(
        native_scenarios="hello,close,routes1000", native_servers=f"dualweb,{RAW}",
        peers_on="", duration=1, repeat=1, warmup=0, wsgi_inprocess_only=True, wsgi_count=300,
        routing_args=("--quick", "--sizes", "1000", "--kinds", "regex"), import_n=1,
    ),
}


# --------------------------------------------------------------------------- targets


@dataclass
class Check:
    """One issue-12 target: the measured ratio, the bound, and what a miss would need."""

    section: str
    name: str
    bound: float
    at_least: bool = True  # ratio >= bound (else ratio <= bound)
    ratio: float | None = None
    detail: str = ""  # the figures behind the ratio
    gap: str = ""  # for a miss: what would close it, and where the profile is

    @property
    def verdict(self) -> str:
        """``ok``, ``BELOW TARGET`` or ``not measured``."""
        if self.ratio is None:
            return "not measured"
        met = self.ratio >= self.bound if self.at_least else self.ratio <= self.bound
        return "ok" if met else "BELOW TARGET"

    @property
    def target(self) -> str:
        """The bound as text, e.g. ``>= 0.50x``."""
        return f"{'>=' if self.at_least else '<='} {self.bound:.2f}x"


def make_checks() -> list[Check]:
    """Every target of issue 12 items 1-4, in the order of the summary table."""
    checks = [
        Check("native", f"hello keep-alive / {RAW}", 0.5),
        Check("native", f"JSON / {RAW}", 0.5),
        Check("native", f"path argument / {RAW}", 0.5),
        Check("native", f"100 KB upload / {RAW}", 0.5),
        Check("native", f"Connection: close / {RAW}", 0.9),
        Check("native", "hello keep-alive / tornado", 5.0),
        Check("native", "hello keep-alive / uvicorn-starlette", 1.0),
        Check("native", "hello keep-alive / aiohttp", 1.0),
        Check("wsgi", "in-process hello: cost over bare / Falcon's", 1.0, at_least=False),
        Check("wsgi", "in-process JSON: cost over bare / Falcon's", 1.0, at_least=False),
    ]
    for route in ("hello", "json"):
        checks += [
            Check("wsgi", f"gunicorn {route} / falcon", 1.0),
            Check("wsgi", f"gunicorn {route} / bottle", 1.0),
            Check("wsgi", f"gunicorn {route} / bare", 0.95),
        ]
    checks += [
        Check("routing", "routes1000 / hello (native)", 0.9),
        Check("routing", "routes1000 / routes1 (native)", 0.9),
        Check("import", "import dualweb.web / tornado.web, cached bytecode", 0.8, at_least=False),
        Check("import", "import dualweb.web / tornado.web, from source", 0.8, at_least=False),
    ]
    return checks


def find(checks: list[Check], name: str) -> Check:
    """The check called ``name``."""
    return next(check for check in checks if check.name == name)


def rate_check(check: Check, ours: Samples | None, theirs: Samples | None, who: str) -> None:
    """Fill a req/s-ratio check; the gap is the CPU µs/request the target allows dualweb."""
    if ours is None or theirs is None:
        return
    check.ratio = ours.rate / theirs.rate
    check.detail = (
        f"{ours.rate:.0f} vs {theirs.rate:.0f} req/s; CPU {ours.cost:.1f} vs {theirs.cost:.1f} "
        f"µs/req ({theirs.cost / ours.cost:.2f}x)"
    )
    allowed = theirs.cost / check.bound
    if check.verdict != "BELOW TARGET":
        return
    if ours.cost <= allowed:
        check.gap = (
            f"CPU µs/req meets it ({ours.cost:.1f} <= {who} {theirs.cost:.1f} / {check.bound}): "
            "the req/s miss is not this server's CPU (machine noise or the load generator)"
        )
    else:
        check.gap = (
            f"CPU-bound, dualweb may spend <= {allowed:.1f} µs/req "
            f"({who} {theirs.cost:.1f} / {check.bound}); now {ours.cost:.1f}: "
            f"cut {ours.cost - allowed:.1f} µs"
        )


# --------------------------------------------------------------------------- running


def tool(
    script: str, args: list[str], pin: bool = False, timeout: float = 3600
) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks/<script> args`` with stdout captured and stderr (progress) passed on.

    ``pin`` runs it on CPU 0 (for in-process measurements; the scripts that
    start servers pin them themselves, and their load generator to CPU 1).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(HERE / script), *args]
    print(f"+ {' '.join([Path(cmd[0]).name, *cmd[1:]])}", file=sys.stderr, flush=True)
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    return subprocess.run(
        cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env, timeout=timeout, check=False
    )


def json_tool(script: str, args: list[str], pin: bool = False) -> Any:
    """Run a script that prints JSON; return it, or raise ``RuntimeError`` saying what failed."""
    result = tool(script, args, pin)
    if result.returncode != 0:
        raise RuntimeError(f"{script} exited with {result.returncode}")
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"{script}: no JSON on stdout ({error})") from None


def options_of(script: str) -> str:
    """The ``--help`` text of a benchmark script (to see which options it has)."""
    return tool(script, ["--help"], timeout=120).stdout


# --------------------------------------------------------------------------- native


def native_results(raw: dict[str, dict[str, dict[str, Any]]]) -> Results:
    """``bench_native.py --json`` output back into its Samples."""
    return {
        name: {
            server: Samples(list(cell["rates"]), list(cell["cpu_us_samples"]))
            for server, cell in row.items()
        }
        for name, row in raw.items()
    }


def run_native(plan: Plan, checks: list[Check], out: dict[str, Any]) -> None:
    """Measure the native servers; print their tables and the CPU split; fill the checks."""
    args = [
        "--json", "--scenarios", plan.native_scenarios, "--servers", plan.native_servers,
        "--peers-on", plan.peers_on, "--duration", str(plan.duration),
        "--repeat", str(plan.repeat), "--warmup", str(plan.warmup),
    ]
    raw = json_tool("bench_native.py", args)
    out["native"] = raw
    results = native_results(raw)
    servers = [s for s in NATIVE_SERVERS if any(s in row for row in results.values())]
    rounds = f"median of {plan.repeat} x {plan.duration} s, wrk -t1 -c50, server cpu0, wrk cpu1"
    print("\n== native (bench_native.py)")
    print_matrix(results, servers, f"requests/s ({rounds})", cost=False)
    print_matrix(results, servers, "server CPU µs per request (lower is better)", cost=True)
    print_ratios(results)
    print_cpu_split(results)
    for scenario, name in (
        ("hello", "hello keep-alive"), ("json", "JSON"), ("path", "path argument"),
        ("upload", "100 KB upload"), ("close", "Connection: close"),
    ):
        row = results.get(scenario, {})
        rate_check(find(checks, f"{name} / {RAW}"), row.get("dualweb"), row.get(RAW), RAW)
    hello = results.get("hello", {})
    for peer in PEERS:
        check = find(checks, f"hello keep-alive / {peer}")
        rate_check(check, hello.get("dualweb"), hello.get(peer), peer)
    big = results.get("routes1000", {}).get("dualweb")
    for base in ("hello", "routes1"):
        check = find(checks, f"routes1000 / {base} (native)")
        rate_check(check, big, results.get(base, {}).get("dualweb"), f"dualweb {base}")


def print_cpu_split(results: Results) -> None:
    """Where the server CPU time of one request goes, from the raw servers' costs."""
    layers = (
        ("event loop + socket I/O (raw-protocol)", None, "raw-protocol"),
        ("dualweb's HTTP server beyond that", "raw-protocol", "dualweb-raw"),
        ("web framework: request, routing, handler, response", "dualweb-raw", "dualweb"),
    )
    scenarios = ("hello", "close", "json", "path", "upload")
    rows = [name for name in scenarios if "dualweb" in results.get(name, {})]
    if not rows:
        return
    print("\nwhere the server CPU goes, µs per request (differences of the servers above)")
    print(f"{'layer':52}" + "".join(f"{name:>9}" for name in rows))
    for label, below, server in (*layers, ("total (dualweb)", None, "dualweb")):
        cells = []
        for name in rows:
            row = results[name]
            if server not in row or (below is not None and below not in row):
                cells.append(f"{'-':>9}")
                continue
            cost = row[server].cost - (row[below].cost if below else 0.0)
            cells.append(f"{cost:9.1f}")
        print(f"{label:52}" + "".join(cells))


# --------------------------------------------------------------------------- WSGI


def wsgi_from_text(micro: str, server: str) -> dict[str, Any]:
    """The tables of a bench_wsgi.py without ``--json`` (``--micro`` and the gunicorn run)."""
    found: dict[str, Any] = {"inprocess": {}, "gunicorn": {}}
    pattern = r"^(\w+)\s+(\w+)\s+([\d.]+)\s+([+-][\d.]+)\s*$"
    for route, app, us, over in re.findall(pattern, micro, re.MULTILINE):
        cell = {"us": float(us), "over_bare_us": float(over)}
        found["inprocess"].setdefault(app, {})[route] = cell
    pattern = r"^(\w+)\s+(\w+)\s+(\d+)\s+[\d.]+x\s+[\d.]+x\s+([\d.]+)\s"
    for route, app, rps, cpu in re.findall(pattern, server, re.MULTILINE):
        found["gunicorn"].setdefault(app, {})[route] = {"rps": float(rps), "cpu_us": float(cpu)}
    return found


def measure_wsgi(plan: Plan) -> dict[str, Any]:
    """Run bench_wsgi.py: with ``--json`` if it has it, else parse its tables."""
    help_text = options_of("bench_wsgi.py")
    count = ["--count", str(plan.wsgi_count)] if plan.wsgi_count else []
    if "--json" in help_text:
        args = ["--json", *count]
        if plan.wsgi_inprocess_only:
            args.append("--inprocess-only")
        if "--rounds" in help_text and plan.wsgi_count:
            args += ["--rounds", "1"]
        return dict(json_tool("bench_wsgi.py", [*args, *plan.wsgi_args]))
    print(
        "note: bench_wsgi.py lacks --json: parsing its --micro and gunicorn tables "
        "(no Falcon or Bottle there)"
    )
    micro = tool("bench_wsgi.py", ["--micro", *count]).stdout
    server = "" if plan.wsgi_inprocess_only else tool("bench_wsgi.py", list(plan.wsgi_args)).stdout
    return wsgi_from_text(micro, server)


def run_wsgi(plan: Plan, checks: list[Check], out: dict[str, Any]) -> None:
    """Measure WSGI in-process and under gunicorn; print the tables; fill the checks."""
    data = measure_wsgi(plan)
    out["wsgi"] = data
    inprocess, gunicorn = data.get("inprocess", {}), data.get("gunicorn", {})
    print("\n== WSGI (bench_wsgi.py)")
    apps = [app for app in WSGI_APPS if app in inprocess] + sorted(set(inprocess) - set(WSGI_APPS))
    if apps:
        print("\nin-process, µs per call (cost over the bare callable)")
        print(f"{'route':7}" + "".join(f"{app:>20}" for app in apps))
        for route in ("hello", "json"):
            cells = [cell_us(inprocess[app].get(route)) for app in apps]
            print(f"{route:7}" + "".join(f"{cell:>20}" for cell in cells))
    for route, label in (("hello", "hello"), ("json", "JSON")):
        ours = inprocess.get("dualweb", {}).get(route)
        theirs = inprocess.get("falcon", {}).get(route)
        check = find(checks, f"in-process {label}: cost over bare / Falcon's")
        if ours and theirs and theirs["over_bare_us"] > 0:
            check.ratio = ours["over_bare_us"] / theirs["over_bare_us"]
            check.detail = f"{ours['over_bare_us']:.2f} vs {theirs['over_bare_us']:.2f} µs"
            if check.verdict == "BELOW TARGET":
                check.gap = f"cut {ours['over_bare_us'] - theirs['over_bare_us']:.2f} µs per call"
    print_gunicorn(gunicorn, checks)


def cell_us(cell: dict[str, float] | None) -> str:
    """``12.34 (+5.67)`` for an in-process cell, ``-`` when missing."""
    return "-" if not cell else f"{cell['us']:.2f} ({cell['over_bare_us']:+.2f})"


def print_gunicorn(gunicorn: dict[str, Any], checks: list[Check]) -> None:
    """The gunicorn table and dualweb's ratios to Falcon, Bottle and the bare callable."""
    apps = [app for app in WSGI_APPS if app in gunicorn]
    if not apps:
        print("\n(gunicorn: not measured)")
        return
    print("\nunder gunicorn -w 1 -k sync: req/s, CPU µs/req of the worker")
    print(f"{'route':7}" + "".join(f"{app:>18}" for app in apps))
    for route in ("hello", "json"):
        cells = []
        for app in apps:
            cell = gunicorn[app].get(route)
            cells.append("-" if not cell else f"{cell['rps']:.0f} {cell['cpu_us']:.1f}µs")
        print(f"{route:7}" + "".join(f"{cell:>18}" for cell in cells))
    for route in ("hello", "json"):
        for other in ("falcon", "bottle", "bare"):
            mine = gunicorn.get("dualweb", {}).get(route)
            theirs = gunicorn.get(other, {}).get(route)
            if mine and theirs:
                ours = Samples([mine["rps"]], [mine["cpu_us"]])
                base = Samples([theirs["rps"]], [theirs["cpu_us"]])
                rate_check(find(checks, f"gunicorn {route} / {other}"), ours, base, other)


# --------------------------------------------------------------------------- routing, import


def run_routing(plan: Plan, checks: list[Check], out: dict[str, Any]) -> None:
    """find_handler µs per lookup at 1 and 1,000 routes, dualweb and Tornado."""
    data = json_tool("bench_routing.py", ["--json", *plan.routing_args], pin=True)
    out["routing"] = data
    print("\n== routing: find_handler alone, request hitting the last route (bench_routing.py)")
    print(f"{'table':7}{'routes':>7}{'dualweb µs':>12}{'tornado µs':>12}")
    for kind, sizes in data.items():
        for size, cell in sizes.items():
            print(f"{kind:7}{size:>7}{cell['dualweb_us']:12.3f}{cell['tornado_us']:12.3f}")
    regex = data.get("regex", {})
    for name in ("routes1000 / hello (native)", "routes1000 / routes1 (native)"):
        check = find(checks, name)
        if check.verdict == "BELOW TARGET" and "1000" in regex and "1" in regex:
            check.gap += (
                f"; find_handler costs {regex['1000']['dualweb_us']:.2f} µs at 1,000 routes, "
                f"{regex['1']['dualweb_us']:.2f} at 1"
            )
    if find(checks, "routes1000 / hello (native)").ratio is None:
        print("(the routes1000 targets come from the native section)")


def run_import(plan: Plan, checks: list[Check], out: dict[str, Any]) -> None:
    """``import dualweb.web`` over ``import tornado.web``, cached bytecode and from source."""
    args = ["--both", "--json", "-n", str(plan.import_n), "--top", "5"]
    data = json_tool("bench_import.py", args, pin=True)
    out["import"] = data
    print(f"\n== import time: python -X importtime, medians of {plan.import_n} (bench_import.py)")
    print(f"{'mode':16}{'statement':22}{'wall ms':>9}{'ratio':>8}{'CPU ms':>9}{'ratio':>8}")
    for mode, name in (("cached", "cached bytecode"), ("source", "from source")):
        report = data.get(mode)
        if report is None:
            continue
        statements = report["statements"]
        for label, row in statements.items():
            print(
                f"{mode:16}{label:22}{row['ms']:9.1f}{row['ratio']:7.2f}x"
                f"{row['cpu_ms']:9.1f}{row['cpu_ratio']:7.2f}x"
            )
        ours, tornado = statements["import dualweb.web"], statements["import tornado.web"]
        check = find(checks, f"import dualweb.web / tornado.web, {name}")
        check.ratio = ours["ratio"]
        check.detail = (
            f"{ours['ms']:.1f} vs {tornado['ms']:.1f} ms; CPU {ours['cpu_ms']:.1f} vs "
            f"{tornado['cpu_ms']:.1f} ms ({ours['cpu_ratio']:.2f}x)"
        )
        if check.verdict == "BELOW TARGET":
            top = ", ".join(f"{module} {ms:.1f}" for module, ms, _parent in report["top"])
            allowed = check.bound * tornado["ms"]
            check.gap = f"cut {ours['ms'] - allowed:.1f} ms; largest self times (ms): {top}"


# --------------------------------------------------------------------------- where


def instruction_cases() -> list[str]:
    """The cases bench_instructions.py defines (its ``CASES`` tuple, read without importing)."""
    tree = ast.parse((HERE / "bench_instructions.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "CASES" for target in node.targets
        ):
            return [str(case) for case in ast.literal_eval(node.value)]
    return []


def run_where(plan: Plan, checks: list[Check], out: dict[str, Any]) -> None:
    """Instructions per request of every bench_instructions.py case, and the per-stage split."""
    print("\n== where the time goes: instructions per request (bench_instructions.py, callgrind)")
    if shutil.which("valgrind") is None:
        print("skipped: valgrind is not installed (Debian package valgrind)")
        return
    cases = instruction_cases()
    if plan.instruction_cases:
        cases = [case for case in cases if case in plan.instruction_cases]
    stages = [case for case in cases if case not in END_TO_END_CASES]
    if not stages:
        print("note: bench_instructions.py has no per-stage cases; end-to-end counts only")
    n = plan.instructions_n or 300
    counts: dict[str, int] = {}
    for case in cases:  # one run per case: the "+ ..." lines on stderr show the progress
        result = tool("bench_instructions.py", ["--cases", case, "--n", str(n)])
        found = re.search(rf"^{re.escape(case)}\s+([\d,]+)\s*$", result.stdout, re.MULTILINE)
        if result.returncode != 0 or found is None:
            print(f"  {case}: bench_instructions.py failed (exit {result.returncode})")
            continue
        counts[case] = int(found.group(1).replace(",", ""))
        print(f"  {case:24}{counts[case]:>12,}")
    out["where"] = counts
    for case, server in counts.items():
        whole = counts.get(case.replace("native-raw-", "native-"))
        if case.startswith("native-raw-") and whole:
            print(
                f"  {case.replace('-raw', '')}: HTTP server {server:,} ({server / whole:.0%}), "
                f"web framework {whole - server:,} ({1 - server / whole:.0%})"
            )


# --------------------------------------------------------------------------- summary


def print_summary(checks: list[Check]) -> None:
    """One row per target; then what would close each missed one."""
    print("\n== issue 12 targets (ratio: dualweb over the other; req/s unless said)")
    print(f"{'section':8} {'figure':50} {'ratio':>7} {'target':>9}  {'verdict':13} detail")
    for check in checks:
        ratio = "-" if check.ratio is None else f"{check.ratio:.2f}x"
        print(
            f"{check.section:8} {check.name:50} {ratio:>7} {check.target:>9}  "
            f"{check.verdict:13} {check.detail}"
        )
    missed = [check for check in checks if check.verdict == "BELOW TARGET"]
    if missed:
        print("\nmissed targets: what would close them")
        for check in missed:
            print(f"  {check.name}: {check.gap or 'see the section above'}")
            if "not this server's CPU" not in check.gap:
                print(f"    profile: {PROFILES[check.section]}")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="1 round of short runs")
    parser.add_argument("--smoke", action="store_true", help="a few seconds: a subset, no where")
    parser.add_argument("--duration", type=int, help="seconds per native wrk run")
    parser.add_argument("--repeat", type=int, help="native rounds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"--sections: unknown {sorted(unknown)}; choose from {list(SECTIONS)}")
    if args.smoke and args.sections == ",".join(SECTIONS):
        args.sections = ",".join(s for s in SECTIONS if s != "where")
    return args


RUNNERS: dict[str, Callable[[Plan, list[Check], dict[str, Any]], None]] = {
    "native": run_native, "wsgi": run_wsgi, "routing": run_routing, "import": run_import,
    "where": run_where,
}


def main() -> None:
    """Run the chosen sections, print their tables and the summary of targets."""
    args = parse_args()
    for needed in ("wrk", "taskset"):
        if shutil.which(needed) is None:
            sys.exit(f"{needed} is required on PATH (Debian packages wrk, util-linux)")
    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "default"]
    if args.duration or args.repeat:
        plan = dataclasses.replace(
            plan, duration=args.duration or plan.duration, repeat=args.repeat or plan.repeat
        )
    real_stdout = sys.stdout
    if args.json:
        sys.stdout = sys.stderr  # the tables go to stderr, the JSON alone to stdout
    started, load_start = time.monotonic(), os.getloadavg()
    print(f"load average at start: {fmt_load(load_start)}")
    checks, out = make_checks(), {}
    for section in args.sections.split(","):
        try:
            RUNNERS[section](plan, checks, out)
        except (RuntimeError, OSError, subprocess.SubprocessError, KeyError, ValueError) as error:
            print(f"\n== {section}: FAILED: {error!r}")
            out.setdefault("failed", {})[section] = repr(error)
    print_summary(checks)
    load_end = os.getloadavg()
    print(f"\nload average at end: {fmt_load(load_end)}")
    print(f"(total {time.monotonic() - started:.0f} s)")
    if args.json:
        out["targets"] = [{**asdict(c), "verdict": c.verdict, "target": c.target} for c in checks]
        out["load"] = {"start": load_start, "end": load_end}
        sys.stdout = real_stdout
        print(json.dumps(out, indent=1))


def fmt_load(load: tuple[float, float, float]) -> str:
    """``0.52 0.58 1.00 (1, 5, 15 min)``."""
    return " ".join(f"{value:.2f}" for value in load) + " (1, 5, 15 min)"


if __name__ == "__main__":
    main()
