"""``python -m dualweb``: help, version, routes, and serve over real sockets.

Servers are started as subprocesses on port 0 (the chosen port is read from
the log), every wait is bounded, and every process is stopped.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualweb.cli import main
from tests.proc_support import ROOT, LoggedProcess, get, stopped_at_end

TEST_DATA = ROOT / "dualweb" / "test_data"

APP_MODULE = textwrap.dedent(
    """
    import asyncio, os
    import dualweb.web

    class PidHandler(dualweb.web.RequestHandler):
        def get(self):
            self.write(f"{VERSION} {os.getpid()}")

    class AsyncHandler(dualweb.web.RequestHandler):
        async def get(self):
            await asyncio.sleep(0)
            self.write("async")

        def post(self):
            self.write("posted")

    class BoomHandler(dualweb.web.RequestHandler):
        def get(self):
            raise ValueError("boom for the traceback")

    VERSION = "v1"

    def make_app():
        return dualweb.web.Application(
            [("/", PidHandler), ("/async", AsyncHandler), ("/boom", BoomHandler)]
        )

    app = make_app()
    """
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "cliapp.py").write_text(APP_MODULE)
    return tmp_path


def run_cli(cwd: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualweb", *args],
        cwd=cwd, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True, text=True, timeout=timeout,
    )


class Serving(LoggedProcess):
    """A running ``dualweb serve``."""

    listening = r"Listening on https?://127\.0\.0\.1:(\d+)"

    def __init__(self, cwd: Path, *args: str) -> None:
        super().__init__(cwd, "dualweb", "serve", *args)


@pytest.fixture
def serving(app_dir: Path) -> Iterator[list[Serving]]:
    yield from stopped_at_end()


# -- help, version, routes --------------------------------------------------------


def test_help_lists_commands_and_every_serve_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "routes", "version"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--processes", "--reload", "--debug", "--wsgi",
                   "--unix-socket", "--certfile", "--keyfile", "--graceful-timeout", "SIGHUP"):
        assert option in out


def test_version(app_dir: Path) -> None:
    result = run_cli(app_dir, "version")
    assert result.returncode == 0
    assert re.fullmatch(r"dualweb \S+ \(Python 3\.\d+\.\d+\S*\)\n", result.stdout)


def test_routes_lists_handlers_methods_and_native_only(app_dir: Path) -> None:
    result = run_cli(app_dir, "routes", "cliapp:app")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows == [
        ["PATTERN", "HANDLER", "METHODS", "MODES"],
        ["/", "PidHandler", "GET", "native+wsgi"],
        ["/async", "AsyncHandler", "GET,POST", "native", "only"],
        ["/boom", "BoomHandler", "GET", "native+wsgi"],
    ]
    assert "AsyncRoutesWarning" not in result.stderr  # the answer, not a warning


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("cliapp", "expected 'module:attribute'"),
        ("nosuchmodule:app", "cannot import module 'nosuchmodule'"),
        ("cliapp:nope", "module 'cliapp' has no attribute 'nope'"),
        ("cliapp:VERSION", "cliapp:VERSION is str, not a dualweb Application"),
    ],
)
def test_bad_target_is_one_clear_line_and_status_2(
    app_dir: Path, target: str, message: str
) -> None:
    for command in ("routes", "serve"):
        result = run_cli(app_dir, command, target)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert message in result.stderr


# -- serve --------------------------------------------------------------------------


def test_serve_native_raises_file_limit_and_stops_cleanly(
    app_dir: Path, serving: list[Serving]
) -> None:
    server = Serving(app_dir, "cliapp:make_app", "--port", "0")
    serving.append(server)
    port = server.port()
    assert re.search(r"Open files limit: soft \d+", server.log)
    status, body = get(port)
    assert status == 200 and body.startswith("v1 ")
    assert get(port, "/async") == (200, "async")  # native: coroutines work
    assert server.stop() == 0
    assert "Traceback" not in server.log
    assert "Received SIGTERM: stopping workers gracefully" in server.log


def test_serve_several_processes_share_the_port(app_dir: Path, serving: list[Serving]) -> None:
    server = Serving(app_dir, "cliapp:app", "--port", "0", "--processes", "2")
    serving.append(server)
    port = server.port()
    assert "(2 worker(s))" in server.log
    pids = {get(port)[1].split()[1] for _ in range(40)}
    assert 1 <= len(pids) <= 2
    assert len(re.findall(r"Worker \d+ serving cliapp:app", server.log)) == 2


def test_serve_on_a_unix_socket(app_dir: Path, serving: list[Serving]) -> None:
    path = app_dir / "app.sock"
    server = Serving(app_dir, "cliapp:app", "--unix-socket", str(path))
    serving.append(server)
    server.wait_for(r"Listening on unix:")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b"\r\n\r\nv1 " in data
    assert server.stop() == 0
    assert not path.exists()


def test_serve_tls(app_dir: Path, serving: list[Serving]) -> None:
    server = Serving(app_dir, "cliapp:app", "--port", "0",
                     "--certfile", str(TEST_DATA / "test.crt"),
                     "--keyfile", str(TEST_DATA / "test.key"))
    serving.append(server)
    port = server.port()
    assert "Listening on https://" in server.log
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read().startswith(b"v1 ")
    finally:
        conn.close()


def test_sighup_restarts_with_new_code_and_zero_failed_requests(
    app_dir: Path, serving: list[Serving]
) -> None:
    server = Serving(app_dir, "cliapp:app", "--port", "0", "--processes", "2")
    serving.append(server)
    port = server.port()
    results: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                status, body = get(port)
                if status == 200:
                    results.append(body)
                else:
                    failures.append(f"status {status}")
            except OSError as exc:
                failures.append(repr(exc))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        time.sleep(0.5)
        (app_dir / "cliapp.py").write_text(APP_MODULE.replace('"v1"', '"v2"'))
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for(r"Restart done")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(r.startswith("v2") for r in results[-5:]):
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(30)
    assert failures == []
    assert results[0].startswith("v1 ") and results[-1].startswith("v2 ")
    old_pids = {r.split()[1] for r in results if r.startswith("v1")}
    new_pids = {r.split()[1] for r in results if r.startswith("v2")}
    assert old_pids and new_pids and not old_pids & new_pids
    assert server.stop() == 0


def test_failed_restart_keeps_the_old_workers(app_dir: Path, serving: list[Serving]) -> None:
    server = Serving(app_dir, "cliapp:app", "--port", "0")
    serving.append(server)
    port = server.port()
    (app_dir / "cliapp.py").write_text("raise RuntimeError('broken deploy')\n")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for(r"Restart failed: new workers did not start; the old ones keep serving")
    assert "broken deploy" in server.log
    status, body = get(port)
    assert status == 200 and body.startswith("v1 ")


def test_reload_restarts_when_the_source_changes(app_dir: Path, serving: list[Serving]) -> None:
    server = Serving(app_dir, "cliapp:app", "--port", "0", "--reload")
    serving.append(server)
    port = server.port()
    assert get(port)[1].startswith("v1 ")
    source = app_dir / "cliapp.py"
    source.write_text(APP_MODULE.replace('"v1"', '"v3"'))
    os.utime(source, (time.time() + 5, time.time() + 5))  # a visibly newer mtime
    server.wait_for(r"Restart done")
    assert get(port)[1].startswith("v3 ")


def test_serve_wsgi_runs_gunicorn_with_the_adapter(app_dir: Path, serving: list[Serving]) -> None:
    pytest.importorskip("gunicorn")
    server = Serving(app_dir, "cliapp:app", "--wsgi", "--port", "0")
    serving.append(server)
    port = int(server.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1))
    status, body = get(port)
    assert status == 200 and body.startswith("v1 ")
    assert get(port, "/async")[0] == 500  # coroutines need the native server
    assert "AsyncHandler.get is a coroutine" in server.wait_for("AsyncHandler.get").string
    assert server.stop() == 0


def test_a_second_serve_can_start_on_the_same_port(app_dir: Path, serving: list[Serving]) -> None:
    first = Serving(app_dir, "cliapp:app", "--port", "0")
    serving.append(first)
    port = first.port()
    second = Serving(app_dir, "cliapp:app", "--port", str(port))
    serving.append(second)
    assert second.port() == port  # SO_REUSEPORT: no "address already in use"
    assert first.stop() == 0
    status, body = get(port)
    assert status == 200 and body.startswith("v1 ")


def test_debug_serves_tracebacks(app_dir: Path, serving: list[Serving]) -> None:
    server = Serving(app_dir, "cliapp:app", "--port", "0", "--debug")
    serving.append(server)
    port = server.port()
    status, body = get(port, "/boom")
    assert status == 500
    assert "ValueError: boom for the traceback" in body
    plain = Serving(app_dir, "cliapp:app", "--port", "0")
    serving.append(plain)
    status, body = get(plain.port(), "/boom")
    assert status == 500 and "boom for the traceback" not in body
