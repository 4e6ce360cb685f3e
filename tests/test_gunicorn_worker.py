"""``gunicorn -k dualweb.gunicorn.Worker``: the native server under a real gunicorn.

Each test starts ``python -m gunicorn`` on 127.0.0.1 port 0 (the port is read
from gunicorn's "Listening at" line), waits with bounds, and stops it.
"""

from __future__ import annotations

import http.client
import re
import signal
import socket
import ssl
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proc_support import ROOT, LoggedProcess, get, stopped_at_end

pytest.importorskip("gunicorn")

APP_MODULE = textwrap.dedent(
    """
    import asyncio, os, time
    import dualweb.web
    from dualweb.wsgi import WSGIAdapter

    class PidHandler(dualweb.web.RequestHandler):
        def get(self):
            self.write(str(os.getpid()))

    class SlowHandler(dualweb.web.RequestHandler):
        async def get(self):
            await asyncio.sleep(float(self.get_argument("s")))
            self.write("slow " + str(os.getpid()))

    class BlockHandler(dualweb.web.RequestHandler):
        def get(self):
            time.sleep(float(self.get_argument("s")))  # blocks the event loop
            self.write("blocked")

    app = dualweb.web.Application(
        [("/", PidHandler), ("/slow", SlowHandler), ("/block", BlockHandler)]
    )
    wsgi = WSGIAdapter(app)
    """
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "gapp.py").write_text(APP_MODULE)
    return tmp_path


class Gunicorn(LoggedProcess):
    listening = r"Listening at: https?://127\.0\.0\.1:(\d+)"

    def __init__(self, cwd: Path, *args: str, target: str = "gapp:app") -> None:
        # No control socket: it lives at a fixed path shared by every gunicorn.
        super().__init__(cwd, "gunicorn", "--no-control-socket", *args, target)


@pytest.fixture
def started(app_dir: Path) -> Iterator[list[Gunicorn]]:
    yield from stopped_at_end()


NATIVE = ("-k", "dualweb.gunicorn.Worker")


def start(started: list[Gunicorn], app_dir: Path, *args: str, **kwargs: str) -> Gunicorn:
    server = Gunicorn(app_dir, *args, **kwargs)
    started.append(server)
    return server


def test_native_server_workers_access_log_and_sigterm(
    app_dir: Path, started: list[Gunicorn]
) -> None:
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0", "--workers", "2",
                   "--access-logfile", "/dev/stderr",
                   "--access-logformat", 'ACCESS %(h)s "%(r)s" %(s)s')
    port = server.port()
    status, body = get(port, "/slow?s=0")
    assert status == 200 and body.startswith("slow ")  # a coroutine: the native server
    server.wait_for(r'ACCESS 127\.0\.0\.1 "GET /slow\?s=0 HTTP/1\.1" 200')
    get(port, "/missing")
    server.wait_for(r'ACCESS 127\.0\.0\.1 "GET /missing HTTP/1\.1" 404')
    assert len(re.findall(r"Booting worker with pid", server.log)) == 2
    assert server.stop() == 0
    assert "Traceback" not in server.log


def test_sigterm_lets_requests_in_flight_finish(app_dir: Path, started: list[Gunicorn]) -> None:
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0",
                   "--graceful-timeout", "10")
    port = server.port()
    result: list[tuple[int, str]] = []
    thread = threading.Thread(target=lambda: result.append(get(port, "/slow?s=1.5", 20)))
    thread.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(30)
    assert result and result[0][0] == 200 and result[0][1].startswith("slow ")
    assert server.stop() == 0
    assert "SIGTERM: shutting down gracefully" in server.log


def test_unix_socket_bind(app_dir: Path, started: list[Gunicorn]) -> None:
    path = app_dir / "g.sock"
    server = start(started, app_dir, *NATIVE, "--bind", f"unix:{path}")
    server.wait_for(r"Listening at: unix:")
    server.wait_for(r"Booting worker")
    deadline = time.monotonic() + 15
    data = b""
    while time.monotonic() < deadline and not data:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(10)
                sock.connect(str(path))
                sock.sendall(b"GET /slow?s=0 HTTP/1.0\r\nHost: x\r\n\r\n")
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError:
            time.sleep(0.1)
    assert data.startswith(b"HTTP/1.1 200") and b"\r\n\r\nslow " in data


def test_max_requests_restarts_the_worker_without_failures(
    app_dir: Path, started: list[Gunicorn]
) -> None:
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0", "--workers", "1",
                   "--max-requests", "3", "--max-requests-jitter", "0")
    port = server.port()
    pids = []
    for _ in range(7):
        status, body = get(port)
        assert status == 200
        pids.append(body)
    assert len(set(pids[:3])) == 1
    assert pids[3] not in pids[:3]  # the 4th request reached a fresh worker
    assert "Autorestarting worker after current request." in server.log


def test_sighup_replaces_workers_gracefully(app_dir: Path, started: list[Gunicorn]) -> None:
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0")
    port = server.port()
    old_pid = get(port)[1]
    result: list[tuple[int, str]] = []
    thread = threading.Thread(target=lambda: result.append(get(port, "/slow?s=1", 20)))
    thread.start()
    time.sleep(0.3)
    server.proc.send_signal(signal.SIGHUP)
    thread.join(30)
    assert result == [(200, f"slow {old_pid}")]  # the old worker finished its request
    deadline = time.monotonic() + 20
    new_pid = old_pid
    while new_pid == old_pid and time.monotonic() < deadline:
        new_pid = get(port)[1]
        time.sleep(0.05)
    assert new_pid != old_pid


def test_timeout_heartbeat_keeps_an_idle_worker_and_kills_a_blocked_one(
    app_dir: Path, started: list[Gunicorn]
) -> None:
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0", "--timeout", "2")
    port = server.port()
    first = get(port)[1]
    time.sleep(3.5)  # longer than --timeout: the idle loop kept notifying
    assert get(port)[1] == first
    assert "WORKER TIMEOUT" not in server.log
    with pytest.raises((OSError, http.client.HTTPException)):
        get(port, "/block?s=8", timeout=15)
    server.wait_for(r"WORKER TIMEOUT")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            status, body = get(port)
            break
        except OSError:
            time.sleep(0.1)
    assert status == 200 and body != first


def test_keep_alive_setting(app_dir: Path, started: list[Gunicorn]) -> None:
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0", "--keep-alive", "0")
    port = server.port()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        assert resp.headers["Connection"] == "close"
    finally:
        conn.close()
    server.stop()
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0", "--keep-alive", "5")
    port = server.port()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        pids = set()
        for _ in range(3):
            conn.request("GET", "/")
            resp = conn.getresponse()
            pids.add(resp.read())
            assert resp.headers.get("Connection") != "close"
        assert len(pids) == 1
    finally:
        conn.close()


def test_tls_options(app_dir: Path, started: list[Gunicorn]) -> None:
    data = ROOT / "dualweb" / "test_data"
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0",
                   "--certfile", str(data / "test.crt"), "--keyfile", str(data / "test.key"))
    port = server.port()
    server.wait_for(r"Booting worker")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + 15
    while True:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
        try:
            conn.request("GET", "/slow?s=0")
            resp = conn.getresponse()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert resp.status == 200 and resp.read().startswith(b"slow ")
    conn.close()


def test_bare_application_under_a_wsgi_worker_names_the_fix(
    app_dir: Path, started: list[Gunicorn]
) -> None:
    server = start(started, app_dir, "--bind", "127.0.0.1:0", "--workers", "1")
    port = server.port()
    status, _ = get(port)
    assert status == 500
    server.wait_for(
        r"TypeError: Application is not a WSGI application: serve WSGIAdapter\(app\) from "
        r"dualweb\.wsgi .*-k dualweb\.gunicorn\.Worker"
    )


def test_wsgi_adapter_given_to_the_native_worker_stops_gunicorn(
    app_dir: Path, started: list[Gunicorn]
) -> None:
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0", target="gapp:wsgi")
    server.wait_for(r"dualweb\.gunicorn\.Worker serves a dualweb Application natively, "
                    r"but gapp:wsgi is WSGIAdapter")
    assert server.proc.wait(30) != 0


def test_reload_option_restarts_the_worker_on_a_source_change(
    app_dir: Path, started: list[Gunicorn]
) -> None:
    server = start(started, app_dir, *NATIVE, "--bind", "127.0.0.1:0", "--reload")
    port = server.port()
    server.wait_for(r"Booting worker")
    deadline = time.monotonic() + 15
    while True:
        try:
            first = get(port)[1]
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    time.sleep(1.5)  # the reloader records the modules' times first
    source = app_dir / "gapp.py"
    source.write_text(APP_MODULE.replace("str(os.getpid())", '"new " + str(os.getpid())', 1))
    server.wait_for(r"Worker reloading: .*gapp\.py modified")
    deadline = time.monotonic() + 20
    body = first
    while not body.startswith("new ") and time.monotonic() < deadline:
        try:
            body = get(port)[1]
        except OSError:
            pass
        time.sleep(0.1)
    assert body.startswith("new ") and body != "new " + first
