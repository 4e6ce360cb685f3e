"""Start and stop the benchmark servers of ``native_servers.py`` as pinned subprocesses.

Shared by ``bench_native.py`` and ``bench_idle.py``: each server runs in its
own process on CPU 0 (``taskset -c 0``), so the load generator can have CPU 1.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

SERVER_SCRIPT = Path(__file__).resolve().parent / "native_servers.py"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    server: str, routes: int = 0, loop_kind: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``server`` pinned to CPU 0; return the process and its port once it listens.

    ``routes`` > 0 serves the N-route table instead of the standard routes;
    ``loop_kind`` ("uvloop" or "asyncio") picks the event loop (default: the
    script's default). Raises ``RuntimeError`` if it exits or does not listen
    within 20 s.
    """
    port = free_port()
    cmd = ["taskset", "-c", "0", sys.executable, str(SERVER_SCRIPT), server, str(port)]
    if routes:
        cmd += ["--routes", str(routes)]
    if loop_kind:
        cmd += ["--loop", loop_kind]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{server} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    stop_server(proc)
    raise RuntimeError(f"{server} did not listen within 20 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server process, killing it if it does not exit within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
