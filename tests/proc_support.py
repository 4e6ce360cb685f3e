"""A server started as a subprocess, its stderr collected for assertions (CLI and gunicorn tests).

Every wait is bounded; :meth:`LoggedProcess.stop` always ends the process.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

_P = TypeVar("_P", bound="LoggedProcess")

ROOT = Path(__file__).resolve().parent.parent


class LoggedProcess:
    """``python -m <module> args...`` running in ``cwd``, with its log (stderr) collected.

    A subclass sets :attr:`listening` to the pattern of the line the server logs once it
    listens, with the port as group 1, for :meth:`port`.
    """

    listening = r"(?!)"

    def __init__(self, cwd: Path, module: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=cwd, env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30, start: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the log (from character ``start``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.compile(pattern).search(self.log, start)
            if match:
                return match
            if self.proc.poll() is not None:
                self._reader.join(5)
                match = re.compile(pattern).search(self.log, start)
                if match:
                    return match
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not in the log:\n{self.log}")

    def port(self) -> int:
        """The port the server logged it listens on (waits for the :attr:`listening` line)."""
        return int(self.wait_for(self.listening).group(1))

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` and return the exit status (killing it after 40 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            status = self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait(5)
        self._reader.join(5)
        return status


def stopped_at_end() -> Iterator[list[_P]]:
    """For a fixture (``yield from stopped_at_end()``): a list the test appends the
    processes it starts to; each is stopped when the test ends."""
    started: list[_P] = []
    yield started
    for process in started:
        process.stop()


def get(port: int, path: str = "/", timeout: float = 10) -> tuple[int, str]:
    """Status and body of ``GET path`` on a fresh connection to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()
