"""Routing micro benchmark: ``RuleRouter.find_handler`` in dualweb vs tornado.routing.

For tables of 1, 10, 100 and 1,000 routes, the request hits the LAST route
(the worst case for a linear scan). Two tables are measured:

* ``regex``: routes like ``r"/item{i}/([0-9]+)"`` (one capturing group each);
* ``exact``: literal routes like ``"/page{i}"``.

Both routers use a ``get_target_delegate`` that returns a prebuilt delegate, so
only the routing itself is timed. The table shows µs per lookup (best of
several interleaved rounds), each router's cost relative to its own 1-route
table (flat is 1.0x) and Tornado's time divided by dualweb's.

    python benchmarks/bench_routing.py [--quick] [--sizes 1,1000] [--kinds regex] [--json]

``--json`` prints ``{"regex"|"exact": {size: {"dualweb_us", "tornado_us"}}}``
(best µs per lookup) instead of the table.

Needs tornado installed (it is a benchmark-only dependency).
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tornado.httputil
import tornado.routing

import dualweb.httputil
import dualweb.routing

SIZES = (1, 10, 100, 1000)
_DELEGATE = object()


class DualwebRouter(dualweb.routing.RuleRouter):
    def get_target_delegate(self, target: Any, request: Any, **params: Any) -> Any:
        return _DELEGATE


class TornadoRouter(tornado.routing.RuleRouter):
    def get_target_delegate(self, target: Any, request: Any, **params: Any) -> Any:
        return _DELEGATE


def table(kind: str, size: int) -> tuple[list[tuple[str, object]], str]:
    """The rules and the path of the last one."""
    if kind == "regex":
        rules = [(rf"/item{i}/([0-9]+)", object()) for i in range(size)]
        return rules, f"/item{size - 1}/12345"
    rules = [(f"/page{i}", object()) for i in range(size)]
    return rules, f"/page{size - 1}"


def make_timer(router: Any, request: Any, budget: float) -> tuple[timeit.Timer, int]:
    """A timer for ``router.find_handler(request)`` and a call count that takes ~``budget`` s."""
    assert router.find_handler(request) is _DELEGATE, "the benchmark request must be routed"
    timer = timeit.Timer("find(request)", globals={"find": router.find_handler, "request": request})
    number, elapsed = timer.autorange()
    return timer, max(1, int(number * budget / max(elapsed, 1e-9)))


def tornado_request(path: str) -> Any:
    with warnings.catch_warnings():
        # Tornado 6.6 deprecates method=/uri=; the benchmark wants the same call for both.
        warnings.simplefilter("ignore", DeprecationWarning)
        return tornado.httputil.HTTPServerRequest(
            method="GET", uri=path, headers=tornado.httputil.HTTPHeaders({"Host": "x"})
        )


def dualweb_request(path: str) -> Any:
    return dualweb.httputil.HTTPServerRequest(
        method="GET", uri=path, headers=dualweb.httputil.HTTPHeaders({"Host": "x"})
    )


def main() -> None:
    """Parse the command line, time every (table, size, router) and print the table or JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="route table sizes")
    parser.add_argument("--kinds", default="regex,exact", help="route tables: regex, exact")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    kinds = [kind for kind in ("regex", "exact") if kind in args.kinds.split(",")]
    budget, repeat = (0.03, 3) if args.quick else (0.1, 9)
    sizes = sorted({1, *(int(size) for size in args.sizes.split(","))})

    # Every configuration is timed once per round, interleaved, and the best
    # round counts: machine-load drift then hits all configurations alike.
    cases = [(kind, size) for kind in kinds for size in sizes]
    timers: dict[tuple[str, int, str], tuple[timeit.Timer, int]] = {}
    for kind, size in cases:
        rules, path = table(kind, size)
        timers[kind, size, "ours"] = make_timer(DualwebRouter(rules), dualweb_request(path), budget)
        timers[kind, size, "theirs"] = make_timer(
            TornadoRouter(rules), tornado_request(path), budget
        )
    best = dict.fromkeys(timers, float("inf"))
    for _ in range(repeat):
        for key, (timer, number) in timers.items():
            best[key] = min(best[key], timer.timeit(number) / number * 1e6)
    if args.json:
        found: dict[str, dict[int, dict[str, float]]] = {}
        for kind, size in cases:
            found.setdefault(kind, {})[size] = {
                "dualweb_us": best[kind, size, "ours"], "tornado_us": best[kind, size, "theirs"]
            }
        print(json.dumps(found, indent=2))
        return

    print(f"find_handler, request hitting the last route; best of {repeat} interleaved rounds")
    header = (
        f"{'table':<6} {'routes':>6} {'dualweb µs':>11} {'vs 1':>6} "
        f"{'tornado µs':>11} {'vs 1':>6} {'tornado/dualweb':>16}"
    )
    print(header)
    print("-" * len(header))
    for kind, size in cases:
        ours, theirs = best[kind, size, "ours"], best[kind, size, "theirs"]
        ours_1, theirs_1 = best[kind, 1, "ours"], best[kind, 1, "theirs"]
        print(
            f"{kind:<6} {size:>6} {ours:>11.3f} {ours / ours_1:>5.2f}x "
            f"{theirs:>11.3f} {theirs / theirs_1:>5.2f}x {theirs / ours:>15.1f}x"
        )


if __name__ == "__main__":
    main()
