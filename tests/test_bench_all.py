"""benchmarks/bench_all.py: one command prints every issue-12 figure beside its target.

Runs the real script once in ``--smoke`` mode (one 1-second wrk run per
(scenario, server), dualweb and the raw httptools server only, in-process WSGI,
one fresh interpreter per import statement; ~20 s) and checks what a user sees:
every table, every target row with a verdict, the load average at both ends,
and the same figures as JSON. Needs ``wrk`` (Debian package ``wrk``) and
``taskset`` (util-linux); the servers bind 127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.harness import ROOT

BENCH_ALL = ROOT / "benchmarks" / "bench_all.py"
# Measured in --smoke mode (the other rows need the peers, gunicorn or more scenarios).
SMOKE_MEASURED = (
    "hello keep-alive / raw-httptools",
    "Connection: close / raw-httptools",
    "routes1000 / hello (native)",
    "import dualweb.web / tornado.web, cached bytecode",
    "import dualweb.web / tornado.web, from source",
)
EVERY_TARGET = (
    "hello keep-alive / raw-httptools",
    "JSON / raw-httptools",
    "path argument / raw-httptools",
    "100 KB upload / raw-httptools",
    "Connection: close / raw-httptools",
    "hello keep-alive / tornado",
    "hello keep-alive / uvicorn-starlette",
    "hello keep-alive / aiohttp",
    "in-process hello: cost over bare / Falcon's",
    "in-process JSON: cost over bare / Falcon's",
    "gunicorn hello / falcon",
    "gunicorn hello / bottle",
    "gunicorn hello / bare",
    "gunicorn json / falcon",
    "gunicorn json / bottle",
    "gunicorn json / bare",
    "routes1000 / hello (native)",
    "routes1000 / routes1 (native)",
    "import dualweb.web / tornado.web, cached bytecode",
    "import dualweb.web / tornado.web, from source",
)


@pytest.fixture(scope="module")
def smoke() -> tuple[dict[str, Any], str]:
    """One ``bench_all.py --smoke --json`` run: (the JSON on stdout, the tables on stderr)."""
    for tool, package in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package {package})")
    result = subprocess.run(
        [sys.executable, str(BENCH_ALL), "--smoke", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout), result.stderr


def test_every_target_row_is_printed_with_a_verdict(smoke: tuple[dict[str, Any], str]) -> None:
    out, tables = smoke
    summary = tables[tables.index("== issue 12 targets") :].splitlines()
    verdicts = {target["name"]: target["verdict"] for target in out["targets"]}
    assert list(verdicts) == list(EVERY_TARGET)
    for name in EVERY_TARGET:
        line = next((line for line in summary if f" {name} " in line), None)
        assert line is not None, f"no summary row for {name!r}"
        assert f" {verdicts[name]}" in line


def test_smoke_measures_native_routing_and_import(smoke: tuple[dict[str, Any], str]) -> None:
    out, _tables = smoke
    verdicts = {target["name"]: target for target in out["targets"]}
    for name in SMOKE_MEASURED:
        assert verdicts[name]["verdict"] in ("ok", "BELOW TARGET"), verdicts[name]
        assert verdicts[name]["ratio"] > 0
    # Not run in --smoke: the other frameworks and gunicorn.
    assert verdicts["hello keep-alive / tornado"]["verdict"] == "not measured"
    assert verdicts["gunicorn hello / falcon"]["verdict"] == "not measured"
    hello = out["native"]["hello"]
    assert set(hello) == {"dualweb", "raw-httptools"}
    assert hello["dualweb"]["rate"] > 0 and hello["dualweb"]["cpu_us"] > 0
    assert out["routing"]["regex"]["1000"]["dualweb_us"] > 0
    assert set(out["import"]) == {"cached", "source"}


def test_tables_and_load_average_are_printed(smoke: tuple[dict[str, Any], str]) -> None:
    out, tables = smoke
    for heading in (
        "load average at start:",
        "== native (bench_native.py)",
        "requests/s (median of 1 x 1 s",
        "server CPU µs per request",
        "where the server CPU goes, µs per request",
        "== WSGI (bench_wsgi.py)",
        "== routing: find_handler alone",
        "== import time: python -X importtime",
        "== issue 12 targets",
        "load average at end:",
    ):
        assert heading in tables, heading
    assert len(out["load"]["start"]) == 3 and len(out["load"]["end"]) == 3
    # A missed target says what would close it.
    if any(target["verdict"] == "BELOW TARGET" for target in out["targets"]):
        assert "missed targets: what would close them" in tables


def test_wsgi_in_process_cost_is_measured(smoke: tuple[dict[str, Any], str]) -> None:
    out, _tables = smoke
    peers = all(importlib.util.find_spec(name) for name in ("falcon", "bottle"))
    if "wsgi" in out.get("failed", {}):
        if not peers:
            pytest.skip("bench_wsgi.py compares with Falcon and Bottle: not installed")
        pytest.fail(f"the WSGI section failed: {out['failed']['wsgi']}")
    inprocess = out["wsgi"]["inprocess"]
    assert inprocess["dualweb"]["hello"]["us"] > 0
    assert inprocess["bare"]["hello"]["over_bare_us"] == 0
    if "falcon" in inprocess:
        verdicts = {target["name"]: target["verdict"] for target in out["targets"]}
        assert verdicts["in-process hello: cost over bare / Falcon's"] != "not measured"
