"""examples/dualweb_app.py under a real gunicorn (one sync worker), over real sockets.

The server is started once for the module with ``python -m gunicorn
dualweb_app:wsgi`` from examples/, bound to 127.0.0.1 on a free port; every
wait is bounded and the server is always terminated.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest

pytest.importorskip("gunicorn")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


class RunningServer:
    """A running server (gunicorn, or the example run natively) and its stderr."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, stderr_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.stderr_path = stderr_path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def wait_for_stderr(self, text: str, timeout: float = 5.0) -> str:
        """Stderr once it contains ``text`` (or after ``timeout`` seconds, whatever it holds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.stderr()
            if text in content:
                return content
            time.sleep(0.05)
        return self.stderr()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(proc: subprocess.Popen[bytes], port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited early with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /api HTTP/1.0\r\nHost: t\r\n\r\n")
                if sock.recv(16).startswith(b"HTTP/1."):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"gunicorn did not serve within {timeout}s")


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    with tempfile.TemporaryDirectory() as tmp:
        stderr_path = Path(tmp) / "gunicorn.stderr"
        with open(stderr_path, "wb") as stderr:
            command = [sys.executable, "-m", "gunicorn", "--workers", "1"]
            command += ["--worker-class", "sync", "--bind", f"127.0.0.1:{port}"]
            command += ["--graceful-timeout", "2", "dualweb_app:wsgi"]
            proc = subprocess.Popen(
                command,
                cwd=EXAMPLES,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            try:
                wait_until_serving(proc, port)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{stderr_path.read_text(errors='replace')}") from exc
            yield RunningServer(proc, port, stderr_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_startup_warns_about_the_async_route(server: RunningServer) -> None:
    stderr = server.wait_for_stderr("AsyncRoutesWarning")
    assert "AsyncRoutesWarning" in stderr
    assert "/async -> AsyncHandler: AsyncHandler.get is a coroutine" in stderr


def test_one_server_and_date_header_on_repeated_requests(server: RunningServer) -> None:
    # The adapter leaves Server and Date to gunicorn: the client sees each once,
    # and repeated requests (headers differing each time) get their own answers.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for name in ("a", "b", "c"):
            conn.request("GET", f"/api?name={name}", headers={"X-Extra": name})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200
            assert json.loads(body)["hello"] == name
            assert len(resp.headers.get_all("Server") or []) == 1
            assert len(resp.headers.get_all("Date") or []) == 1
            assert resp.headers.get_all("Content-Length") == [str(len(body))]
    finally:
        conn.close()


def test_json_route(server: RunningServer) -> None:
    status, headers, body = server.request("GET", "/api?name=gunicorn")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    assert json.loads(body) == {"hello": "gunicorn", "path": "/api", "method": "GET"}
    assert headers["Content-Length"] == str(len(body))


def test_form_get_and_post(server: RunningServer) -> None:
    status, _, body = server.request("GET", "/form")
    assert status == 200
    assert b'<form method="post"' in body
    form = urlencode({"name": "Ada", "color": "gr\u00fcn"}).encode()
    status, _, body = server.request(
        "POST", "/form", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200
    assert json.loads(body) == {"received": {"name": "Ada", "color": "gr\u00fcn"}}


def test_login_flow_with_signed_cookie(server: RunningServer) -> None:
    status, headers, _ = server.request("GET", "/private")
    assert status == 302
    assert headers["Location"].startswith("/login?next=")

    form = urlencode({"name": "grace"}).encode()
    status, headers, _ = server.request(
        "POST", "/login?next=/private", form,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 302
    assert headers["Location"] == "/private"
    jar: SimpleCookie = SimpleCookie()
    for value in headers.get_all("Set-Cookie") or []:
        jar.load(value)
    signed = jar["user"].value
    assert "grace" not in signed or "|" in signed  # signed, not the bare name

    status, _, body = server.request("GET", "/private", headers={"Cookie": f"user={signed}"})
    assert status == 200
    assert b"Hello, grace!" in body

    tampered = signed[:-1] + ("0" if signed[-1] != "0" else "1")
    status, _, _ = server.request("GET", "/private", headers={"Cookie": f"user={tampered}"})
    assert status == 302

    status, headers, _ = server.request("GET", "/logout", headers={"Cookie": f"user={signed}"})
    assert status == 302
    cleared = [v for v in headers.get_all("Set-Cookie") or [] if v.startswith("user=")]
    assert cleared and ("Max-Age=0" in cleared[0] or "expires=" in cleared[0].lower())


def test_async_route_is_500_logged_and_worker_keeps_serving(server: RunningServer) -> None:
    status, _, body = server.request("GET", "/async")
    assert status == 500
    assert b"AsyncHandler" not in body  # no details without debug/serve_traceback
    stderr = server.wait_for_stderr("AsyncHandler.get is a coroutine")
    assert "AsyncHandler.get is a coroutine" in stderr
    assert "Use a plain def, or run natively." in stderr
    for _ in range(3):
        status, _, body = server.request("GET", "/api")
        assert status == 200
    assert server.proc.poll() is None


@pytest.mark.skipif(
    not (ROOT / "dualweb" / "httpserver.py").exists(), reason="native server not present"
)
def test_same_example_natively_runs_the_async_route() -> None:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "dualweb_app.py", str(port)],
        cwd=EXAMPLES,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_serving(proc, port)
        native = RunningServer(proc, port, Path(os.devnull))
        status, _, body = native.request("GET", "/async")
        assert (status, body) == (200, b"this ran on dualweb's native server")
        status, _, body = native.request("GET", "/api")
        assert json.loads(body)["hello"] == "world"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate(timeout=5)
    # Serving natively builds no WSGI adapter, so no warning about /async.
    assert b"AsyncRoutesWarning" not in stderr
