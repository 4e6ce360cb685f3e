"""Import time: ``import dualweb.web`` vs ``import tornado.web``, from ``python -X importtime``.

Each repetition starts two fresh interpreters (dualweb first or Tornado first,
alternating, so a noisy machine hurts both alike) and reads the interpreter's own
``-X importtime`` report: the time of a statement is the sum of the cumulative
times of the top-level imports it caused (everything after ``site``, which is
interpreter start-up). Those are wall-clock times, which other processes on a busy
machine inflate; the CPU column is steadier: the child's user+system CPU time
minus that of ``python -c pass`` (start-up). The table shows medians; then the modules with the
largest median self time in ``import dualweb.web``, with who imported them.

By default both packages import from cached bytecode, as an installed package
does: the ``.pyc`` files go to a temporary ``PYTHONPYCACHEPREFIX`` (nothing is
written next to the sources), filled by one warm-up run of each statement.
``--source`` measures with ``PYTHONDONTWRITEBYTECODE=1`` instead: every module
without a cached ``.pyc`` (dualweb in a fresh checkout) is compiled on each import.

    python benchmarks/bench_import.py [-n 15] [--top 20] [--module dualweb.web] [--source]
        [--both] [--before DIR] [--json]

``--both`` measures with cached bytecode and then compiled from source, in one
run; ``--json`` prints the medians (and the top modules) as JSON instead of tables:
``{"cached"|"source": {"statements": {label: {"ms", "min_ms", "max_ms", "cpu_ms",
"ratio", "cpu_ratio"}}, "top": [[module, ms, imported_by], ...]}}``, the ratios
being over ``import tornado.web``.

``--before DIR`` adds a third statement, the same import from another checkout
(e.g. ``git worktree add /tmp/old <commit>``), measured in the same interleaved
rounds, for before/after tables.

Needs tornado installed (it is a benchmark-only dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# One line of the report: "import time: <self us> | <cumulative us> | <indent><name>".
Entry = tuple[int, str, int, int]  # depth, name, self_us, cumulative_us


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_report(
    statement: str, env: dict[str, str], root: Path = ROOT
) -> tuple[list[Entry], float]:
    """Run ``statement`` in a fresh interpreter with ``-X importtime``.

    Returns its report entries after site, and the CPU milliseconds the child used.
    """
    env = {**env, "PYTHONPATH": str(root)}
    cpu_before = _children_cpu()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        env=env,
        cwd=root,  # python -c puts the working directory first on sys.path
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    cpu_ms = (_children_cpu() - cpu_before) * 1000
    entries: list[Entry] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|")
        if not self_us.strip().isdigit():
            continue  # the header line
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        entries.append((depth, name.strip(), int(self_us), int(cumulative)))
    # The report lists a module after everything it imported; site is the last
    # top-level entry of interpreter start-up.
    starts = [i for i, entry in enumerate(entries) if entry[0] == 0 and entry[1] == "site"]
    return (entries[starts[-1] + 1 :] if starts else entries), cpu_ms


def total_ms(entries: list[Entry]) -> float:
    """Milliseconds spent in the statement's imports (top-level cumulative times)."""
    return sum(cumulative for depth, _, _, cumulative in entries if depth == 0) / 1000


def importers(entries: list[Entry]) -> dict[str, str]:
    """Module -> the module whose import caused it (the next entry one level up)."""
    parent: dict[str, str] = {}
    for i, (depth, name, _, _) in enumerate(entries):
        for later_depth, later_name, _, _ in entries[i + 1 :]:
            if later_depth < depth:
                parent[name] = later_name
                break
    return parent


def main() -> None:
    """Parse the command line, measure each bytecode mode asked for, print tables or JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15, help="fresh interpreters per statement")
    parser.add_argument("--top", type=int, default=20, help="modules listed by self time")
    parser.add_argument("--module", default="dualweb.web", help="dualweb module to import")
    parser.add_argument("--source", action="store_true", help="no bytecode cache: compile")
    parser.add_argument("--before", type=Path, help="another dualweb checkout to compare")
    parser.add_argument("--both", action="store_true", help="cached bytecode, then --source")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    modes = ["cached", "source"] if args.both else ["source" if args.source else "cached"]
    report: dict[str, Report] = {}
    for mode in modes:
        with tempfile.TemporaryDirectory() as pycache:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            if mode == "source":
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            else:
                env["PYTHONPYCACHEPREFIX"] = pycache
            report[mode] = measure(args, env)
        if not args.json:
            print_report(args, mode, report[mode])
    if args.json:
        print(json.dumps(report, indent=2))


# The medians of one bytecode mode: {"statements": {label: {...}}, "top": [...]}.
Report = dict[str, Any]


def measure(args: argparse.Namespace, env: dict[str, str]) -> Report:
    """Run the interleaved repetitions; return the medians and the top modules."""
    ours = f"import {args.module}"
    # label -> (statement, checkout on PYTHONPATH)
    runs = {
        ours: (ours, ROOT),
        "import tornado.web": ("import tornado.web", ROOT),
        "pass": ("pass", ROOT),
    }
    if args.before is not None:
        runs[f"{ours} (before)"] = (ours, args.before.resolve())
    for statement, root in runs.values():
        import_report(statement, env, root)  # warm-up: fills the bytecode cache
    times: dict[str, list[float]] = {label: [] for label in runs}
    cpu: dict[str, list[float]] = {label: [] for label in runs}
    self_times: dict[str, list[int]] = {}
    parent: dict[str, str] = {}
    labels = list(runs)
    for i in range(args.n):
        for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
            statement, root = runs[label]
            entries, cpu_ms = import_report(statement, env, root)
            times[label].append(total_ms(entries))
            cpu[label].append(cpu_ms)
            if label == ours:
                parent = importers(entries)
                for _, name, self_us, _ in entries:
                    self_times.setdefault(name, []).append(self_us)
    startup = statistics.median(cpu.pop("pass"))
    del times["pass"]
    tornado = statistics.median(times["import tornado.web"])
    tornado_cpu = statistics.median(cpu["import tornado.web"]) - startup
    statements = {}
    for label, values in times.items():
        median = statistics.median(values)
        cpu_ms = statistics.median(cpu[label]) - startup
        statements[label] = {
            "ms": median, "min_ms": min(values), "max_ms": max(values), "cpu_ms": cpu_ms,
            "ratio": median / tornado, "cpu_ratio": cpu_ms / tornado_cpu,
        }
    ranked = sorted(self_times.items(), key=lambda item: -statistics.median(item[1]))
    top = [
        [name, statistics.median(values) / 1000, parent.get(name, "-")]
        for name, values in ranked[: args.top]
    ]
    return {"statements": statements, "top": top}


def print_report(args: argparse.Namespace, mode: str, report: Report) -> None:
    """The table of one bytecode mode, the target and the top modules by self time."""
    cache = "compiled from source" if mode == "source" else "cached bytecode"
    print(f"python -X importtime ({cache}), medians of {args.n} fresh interpreters each\n")
    print(
        f"{'statement':<34}{'median ms':>10}{'min ms':>8}{'max ms':>8}{'/ tornado':>10}"
        f"{'CPU ms':>8}{'/ tornado':>10}"
    )
    for label, row in report["statements"].items():
        print(
            f"{label:<34}{row['ms']:>10.1f}{row['min_ms']:>8.1f}{row['max_ms']:>8.1f}"
            f"{row['ratio']:>9.2f}x{row['cpu_ms']:>8.1f}{row['cpu_ratio']:>9.2f}x"
        )
    print(f"\ntarget: {args.module} <= 0.80x tornado.web\n")
    print(f"top {args.top} modules by median self time in `import {args.module}`:")
    for name, median_ms, parent in report["top"]:
        print(f"  {median_ms:7.2f} ms  {name:<36} <- {parent}")
    print()


if __name__ == "__main__":
    main()
