"""The seed's examples run natively: started as subprocesses, checked over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from tests.harness import ServerProcess, free_port


def start_example(name: str, *args: str) -> ServerProcess:
    """examples/``name`` running natively on a free port (``--port``); stop it when done."""
    port = free_port()
    return ServerProcess([name, "--port", str(port), *args], port)


@pytest.fixture
def example() -> Iterator[Callable[..., ServerProcess]]:
    """``example(name, *args)``: :func:`start_example`, stopped after the test."""
    started: list[ServerProcess] = []

    def run(name: str, *args: str) -> ServerProcess:
        served = start_example(name, *args)
        started.append(served)
        return served

    yield run
    for served in started:
        served.stop()


def test_hello_world_answers_like_the_notes(example: Callable[..., ServerProcess]) -> None:
    served = example("hello.py")
    status, headers, body = served.request("GET", "/")
    assert status == 200
    assert body == b"Hello, world"
    assert headers["Content-Length"] == "12"
    assert headers["Content-Type"] == "text/html; charset=UTF-8"
    assert headers["Etag"].startswith('"') and len(headers["Etag"]) == 42
    assert "Date" in headers and headers["Server"].startswith("Dualweb")


def test_json_prepare_parses_body(example: Callable[..., ServerProcess]) -> None:
    served = example("json_prepare.py")
    status, headers, body = served.request(
        "POST", "/echo", body=b'{"name": "ada"}', headers={"Content-Type": "application/json"}
    )
    assert status == 200
    assert json.loads(body) == {"received": {"name": "ada"}}
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    status, _, body = served.request("POST", "/echo", body=b"x=1")
    assert json.loads(body) == {"received": None}


def test_base_handler_overrides(example: Callable[..., ServerProcess]) -> None:
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


def test_redirects_with_ioloop_start(example: Callable[..., ServerProcess]) -> None:
    served = example("redirects.py")
    status, headers, _ = served.request("GET", "/old")
    assert (status, headers["Location"]) == (301, "/new")
    status, headers, _ = served.request("GET", "/photos/7")
    assert (status, headers["Location"]) == (301, "/pictures/7")
    status, headers, _ = served.request("GET", "/go?to=/pictures/3")
    assert (status, headers["Location"]) == (302, "/pictures/3")
    assert served.request("GET", "/new")[2] == b"This is the new page"


def test_bind_start_forks_processes_sharing_one_port(example: Callable[..., ServerProcess]) -> None:
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


def test_debug_mode_serves_tracebacks(example: Callable[..., ServerProcess]) -> None:
    served = example("debug_mode.py")
    status, _, body = served.request("GET", "/boom")
    assert status == 500
    assert b"Traceback (most recent call last)" in body
    assert b"ZeroDivisionError: debug mode shows this traceback" in body
