"""``python -m dualweb.autoreload``: a fix saved between the failure and the watcher's start.

The program fails (a syntax error); the user saves the fix at once, before
the watcher has looked at the files. The restart must still happen: the
modification times compared against are those from when the program failed,
not those the watcher first sees.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import pytest

from dualweb import autoreload
from dualweb.ioloop import IOLoop


def test_fix_saved_before_watching_begins_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "broken_app.py"
    script.write_text('MESSAGE = "unterminated\n')
    restarts: list[str] = []

    def fix_then_wait() -> None:
        # The fix lands after the failure was reported, before watching starts.
        script.write_text('MESSAGE = "fixed"\n')
        stat = script.stat()
        os.utime(script, (stat.st_atime, stat.st_mtime + 5))
        # What wait() does, with a bound: the test fails rather than hangs.
        asyncio.set_event_loop(asyncio.new_event_loop())
        autoreload.start()
        loop = IOLoop.current()
        loop.call_later(5, loop.stop)
        loop.start()
        loop.close()

    def fake_reload() -> None:
        restarts.append("restart")
        IOLoop.current().stop()

    monkeypatch.setattr(autoreload, "wait", fix_then_wait)
    monkeypatch.setattr(autoreload, "_reload", fake_reload)
    monkeypatch.setattr(autoreload, "_known_times", {})
    monkeypatch.setattr(autoreload, "_watched_files", set())
    monkeypatch.setattr(sys, "argv", ["dualweb.autoreload", str(script)])
    monkeypatch.setattr(sys, "path", list(sys.path))
    with caplog.at_level(logging.INFO, logger="dualweb.general"):
        autoreload.main()
    assert restarts == ["restart"]
    assert "the program failed; waiting for a change" in caplog.text
    assert f"{script} modified; restarting" in caplog.text
