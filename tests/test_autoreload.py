"""dualweb.autoreload: real app processes that restart when their files change."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dualweb import autoreload, process
from tests.harness import ROOT, free_port

WAIT = 40.0  # seconds; generous for a loaded machine, every loop below is bounded by it

APP = """\
import asyncio, os, pathlib
from dualweb import autoreload
from dualweb.options import define, options, parse_command_line
from dualweb.web import Application, RequestHandler
import greeting

HERE = pathlib.Path(__file__).resolve().parent
define("port", type=int)
autoreload.watch(str(HERE / "extra.txt"))
autoreload.add_reload_hook(lambda: (HERE / "hooks.log").open("a").write("reload\\n"))
EXTRA = (HERE / "extra.txt").read_text().strip()

class Main(RequestHandler):
    def get(self):
        self.write(f"{greeting.MESSAGE} {EXTRA} pid={os.getpid()}")

async def main():
    parse_command_line()
    Application([("/", Main)], debug=True).listen(options.port, "127.0.0.1")
    await asyncio.Event().wait()

if __name__ == "__main__":
    asyncio.run(main())
"""


def fetch(port: int) -> str | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/")
        body = conn.getresponse().read().decode()
        conn.close()
        return body
    except OSError:
        return None


def wait_for(
    port: int, predicate: Callable[[str], bool], proc: subprocess.Popen[bytes], log: Path
) -> str:
    deadline = time.monotonic() + WAIT
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"app exited ({proc.returncode}):\n{log.read_text()}"
        last = fetch(port)
        if last is not None and predicate(last):
            return last
        time.sleep(0.1)
    raise AssertionError(f"no matching response within {WAIT}s (last {last!r}):\n{log.read_text()}")


def wait_for_log(log: Path, text: str, count: int = 1) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if log.read_text().count(text) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged {count} times:\n{log.read_text()}")


def edit(path: Path, content: str) -> None:
    """Rewrite ``path`` with a modification time clearly different from before."""
    before = path.stat().st_mtime if path.exists() else 0
    path.write_text(content)
    os.utime(path, (time.time(), max(time.time(), before) + 2))


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "greeting.py").write_text('MESSAGE = "one"\n')
    (tmp_path / "extra.txt").write_text("first\n")
    return tmp_path


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, cwd: Path = tmp_path) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"stderr-{len(procs)}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"},
            )
        procs.append(proc)
        return proc, log

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_edit_module_and_watched_file_restart_the_app(
    app_dir: Path, spawn: Callable[..., tuple[subprocess.Popen[bytes], Path]]
) -> None:
    port = free_port()
    proc, log = spawn(str(app_dir / "app.py"), f"--port={port}")
    first = wait_for(port, lambda body: body.startswith("one first"), proc, log)
    assert first.endswith(f"pid={proc.pid}")
    # Watching is announced (the app's parse_command_line() enabled INFO logging).
    wait_for_log(log, "autoreload: watching")

    edit(app_dir / "greeting.py", 'MESSAGE = "two"\n')
    second = wait_for(port, lambda body: body.startswith("two first"), proc, log)
    assert second.endswith(f"pid={proc.pid}")  # the same process, re-executed
    assert "greeting.py modified; restarting" in log.read_text()

    edit(app_dir / "extra.txt", "second\n")
    wait_for(port, lambda body: body.startswith("two second"), proc, log)
    assert (app_dir / "hooks.log").read_text() == "reload\nreload\n"


def test_command_line_survives_a_syntax_error(
    app_dir: Path, spawn: Callable[..., tuple[subprocess.Popen[bytes], Path]]
) -> None:
    edit(app_dir / "greeting.py", 'MESSAGE = "unterminated\n')
    port = free_port()
    proc, log = spawn("-m", "dualweb.autoreload", str(app_dir / "app.py"), f"--port={port}")
    wait_for_log(log, "SyntaxError")
    assert "the program failed; waiting for a change" in log.read_text()
    assert fetch(port) is None and proc.poll() is None  # waiting, not serving, not dead
    edit(app_dir / "greeting.py", 'MESSAGE = "fixed"\n')
    wait_for(port, lambda body: body.startswith("fixed first"), proc, log)
    # A later syntax error in the running app is survived too.
    edit(app_dir / "greeting.py", 'MESSAGE = (\n')
    wait_for_log(log, "SyntaxError", count=2)
    edit(app_dir / "greeting.py", 'MESSAGE = "again"\n')
    wait_for(port, lambda body: body.startswith("again first"), proc, log)


def test_command_line_module_mode(
    app_dir: Path, spawn: Callable[..., tuple[subprocess.Popen[bytes], Path]]
) -> None:
    port = free_port()
    proc, log = spawn("-m", "dualweb.autoreload", "-m", "app", f"--port={port}", cwd=app_dir)
    wait_for(port, lambda body: body.startswith("one first"), proc, log)
    edit(app_dir / "greeting.py", 'MESSAGE = "two"\n')
    wait_for(port, lambda body: body.startswith("two first"), proc, log)


def test_command_line_usage(spawn: Callable[..., tuple[subprocess.Popen[bytes], Path]]) -> None:
    proc, log = spawn("-m", "dualweb.autoreload")
    assert proc.wait(30) == 2
    assert "python -m dualweb.autoreload [-m module | path/to/script.py]" in log.read_text()


MULTI = """\
from dualweb.httpserver import HTTPServer
from dualweb.ioloop import IOLoop
from dualweb.log import enable_pretty_logging
from dualweb.options import options
from dualweb.web import Application, RequestHandler
import sys

class Main(RequestHandler):
    def get(self):
        self.write("worker")

enable_pretty_logging(options)
app = Application([("/", Main)], debug=True)
server = HTTPServer(app)
server.bind(int(sys.argv[1]), "127.0.0.1")
server.start(2)
IOLoop.current().start()
"""


def test_multi_process_mode_is_refused_in_each_worker(
    tmp_path: Path, spawn: Callable[..., tuple[subprocess.Popen[bytes], Path]]
) -> None:
    (tmp_path / "multi.py").write_text(MULTI)
    port = free_port()
    proc, log = spawn(str(tmp_path / "multi.py"), str(port))
    wait_for_log(log, "autoreload cannot run in multi-process mode", count=2)
    assert "turn autoreload off" in log.read_text()
    assert "autoreload: watching" not in log.read_text()
    wait_for(port, lambda body: body == "worker", proc, log)


def test_start_in_a_worker_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "_task_id", 1)
    with pytest.raises(RuntimeError, match=r"multi-process mode .*worker 1.*autoreload=False"):
        autoreload.start()


def test_autoreload_is_importable_without_side_effects() -> None:
    # Importing must not start watching or touch the event loop.
    script = textwrap.dedent(
        """
        import asyncio, dualweb.autoreload
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            print("no loop")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert result.stdout == "no loop\n"
