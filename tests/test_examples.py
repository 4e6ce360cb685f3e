"""The seed's examples run natively: started as subprocesses, checked over real sockets."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ROOT = EXAMPLES.parent

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A running example program and a way to talk to it."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int):
        self.proc = proc
        self.port = port

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()


def start_example(name: str, *args: str) -> Served:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), "--port", str(port), *args],
        cwd=EXAMPLES,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"{name} exited early: {err.decode(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Served(proc, port)
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise AssertionError(f"{name} did not start listening on {port}")


def stop(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.stderr is not None
    return proc.stderr.read().decode(errors="replace")


@pytest.fixture
def example() -> Iterator[object]:
    started: list[Served] = []

    def run(name: str, *args: str) -> Served:
        served = start_example(name, *args)
        started.append(served)
        return served

    yield run
    for served in started:
        stop(served.proc)


def test_hello_world_answers_like_the_notes(example) -> None:  # type: ignore[no-untyped-def]
    served = example("hello.py")
    status, headers, body = served.request("GET", "/")
    assert status == 200
    assert body == b"Hello, world"
    assert headers["Content-Length"] == "12"
    assert headers["Content-Type"] == "text/html; charset=UTF-8"
    assert headers["Etag"].startswith('"') and len(headers["Etag"]) == 42
    assert "Date" in headers and headers["Server"].startswith("Dualweb")


def test_json_prepare_parses_body(example) -> None:  # type: ignore[no-untyped-def]
    served = example("json_prepare.py")
    status, headers, body = served.request(
        "POST", "/echo", body=b'{"name": "ada"}', headers={"Content-Type": "application/json"}
    )
    assert status == 200
    assert json.loads(body) == {"received": {"name": "ada"}}
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    status, _, body = served.request("POST", "/echo", body=b"x=1")
    assert json.loads(body) == {"received": None}


def test_base_handler_overrides(example) -> None:  # type: ignore[no-untyped-def]
    served = example("base_handler.py")
    status, headers, _ = served.request("GET", "/me")
    assert status == 302
    assert headers["Location"] == "/login?next=%2Fme"
    status, _, body = served.request("GET", "/me", headers={"Cookie": "user=ada"})
    assert (status, body) == (200, b"Hello, ada")
    status, _, body = served.request("GET", "/missing")
    assert status == 404
    assert json.loads(body) == {"error": {"code": 404, "message": "Not Found"}}
    status, _, body = served.request("GET", "/boom")
    assert status == 500
    assert json.loads(body)["error"]["code"] == 500
    status, _, body = served.request("GET", "/me", headers={"Cookie": "user=bob"})
    assert (status, body) == (200, b"Hello, bob")


def test_redirects_with_ioloop_start(example) -> None:  # type: ignore[no-untyped-def]
    served = example("redirects.py")
    status, headers, _ = served.request("GET", "/old")
    assert (status, headers["Location"]) == (301, "/new")
    status, headers, _ = served.request("GET", "/photos/7")
    assert (status, headers["Location"]) == (301, "/pictures/7")
    status, headers, _ = served.request("GET", "/go?to=/pictures/3")
    assert (status, headers["Location"]) == (302, "/pictures/3")
    assert served.request("GET", "/new")[2] == b"This is the new page"


def test_bind_start_forks_processes_sharing_one_port(example) -> None:  # type: ignore[no-untyped-def]
    served = example("multiprocess.py", "--processes", "2")
    pids: set[int] = set()
    task_ids: set[int] = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        status, _, body = served.request("GET", "/", headers={"Connection": "close"})
        assert status == 200
        answer = json.loads(body)
        pids.add(answer["pid"])
        task_ids.add(answer["task_id"])
    assert len(pids) == 2, pids
    assert task_ids == {0, 1}
    assert served.proc.pid not in pids


def test_debug_mode_serves_tracebacks(example) -> None:  # type: ignore[no-untyped-def]
    served = example("debug_mode.py")
    status, _, body = served.request("GET", "/boom")
    assert status == 500
    assert b"Traceback (most recent call last)" in body
    assert b"ZeroDivisionError: debug mode shows this traceback" in body
