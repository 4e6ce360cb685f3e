"""Routing micro benchmark: ``RuleRouter.find_handler`` in dualweb vs tornado.routing.

For tables of 1, 10, 100 and 1,000 routes, the request hits the LAST route
(the worst case for a linear scan). Two tables are measured:

* ``regex``: routes like ``r"/item{i}/([0-9]+)"`` (one capturing group each);
* ``exact``: literal routes like ``"/page{i}"``.

Both routers use a ``get_target_delegate`` that returns a prebuilt delegate, so
only the routing itself is timed. The table shows µs per lookup (best of
several repeats), each router's cost relative to its own 1-route table (flat
is 1.0x) and Tornado's time divided by dualweb's.

    python benchmarks/bench_routing.py [--quick]

Needs tornado installed (it is a benchmark-only dependency).
"""

from __future__ import annotations

import argparse
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


def measure(router: Any, request: Any, number: int, repeat: int) -> float:
    """Best time per find_handler call, in microseconds."""
    assert router.find_handler(request) is _DELEGATE, "the benchmark request must be routed"
    timer = timeit.Timer("find(request)", globals={"find": router.find_handler, "request": request})
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    number, repeat = (2_000, 3) if args.quick else (20_000, 7)

    print(f"find_handler, request hitting the last route; best of {repeat} x {number} calls")
    header = (
        f"{'table':<6} {'routes':>6} {'dualweb µs':>11} {'vs 1':>6} "
        f"{'tornado µs':>11} {'vs 1':>6} {'tornado/dualweb':>16}"
    )
    print(header)
    print("-" * len(header))
    for kind in ("regex", "exact"):
        base: dict[str, float] = {}
        for size in SIZES:
            rules, path = table(kind, size)
            ours = measure(
                DualwebRouter(rules),
                dualweb.httputil.HTTPServerRequest(
                    method="GET", uri=path, headers=dualweb.httputil.HTTPHeaders({"Host": "x"})
                ),
                number,
                repeat,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                theirs_request = tornado.httputil.HTTPServerRequest(
                    method="GET", uri=path, headers=tornado.httputil.HTTPHeaders({"Host": "x"})
                )
            theirs = measure(TornadoRouter(rules), theirs_request, number, repeat)
            base.setdefault("ours", ours)
            base.setdefault("theirs", theirs)
            print(
                f"{kind:<6} {size:>6} {ours:>11.3f} {ours / base['ours']:>5.2f}x "
                f"{theirs:>11.3f} {theirs / base['theirs']:>5.2f}x {theirs / ours:>15.1f}x"
            )


if __name__ == "__main__":
    main()
