"""dualweb.process: cpu_count, fork_processes (in child programs) and Subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dualweb.process import CalledProcessError, Subprocess, cpu_count, fork_processes, task_id
from tests.harness import run

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process model")


def run_script(
    tmp_path: Path, source: str, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(source)
    return subprocess.run(
        [sys.executable, str(script)],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def test_cpu_count_is_positive() -> None:
    assert cpu_count() >= 1


def test_task_id_is_none_outside_forked_workers() -> None:
    assert task_id() is None


def test_fork_processes_inside_a_running_loop_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="running event loop"):
            fork_processes(2)

    run(main)


def test_fork_processes_children_get_ids_and_own_random_and_parent_exits_0(
    tmp_path: Path,
) -> None:
    result = run_script(
        tmp_path,
        """
import os, random, sys
from dualweb.process import fork_processes, task_id
worker = fork_processes(3)
assert worker == task_id()
# One write per line: children share the pipe, and stdout may be unbuffered.
os.write(1, f"{worker} {os.getpid()} {random.random()}\\n".encode())
sys.exit(0)
""",
    )
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert sorted(int(line[0]) for line in lines) == [0, 1, 2]
    assert len({line[1] for line in lines}) == 3
    assert len({line[2] for line in lines}) == 3  # each child reseeded random


def test_fork_processes_gives_up_after_max_restarts(tmp_path: Path) -> None:
    result = run_script(
        tmp_path,
        """
import os, sys
from dualweb.process import fork_processes
fork_processes(1, max_restarts=2)
os._exit(7)
""",
    )
    assert result.returncode != 0
    assert result.stderr.count("exited with status 7, restarting") == 2
    assert "Too many child restarts" in result.stderr


def test_fork_processes_zero_means_one_per_cpu(tmp_path: Path) -> None:
    result = run_script(
        tmp_path,
        """
from dualweb.process import fork_processes
import os
os.write(1, b"%d\\n" % fork_processes(0))
""",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(int(x) for x in result.stdout.split()) == list(range(cpu_count()))


def test_subprocess_streams_stdin_to_stdout_and_reports_exit(kind: str) -> None:
    async def main() -> tuple[bytes, int, list[int]]:
        proc = Subprocess(
            [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"],
            stdin=Subprocess.STREAM,
            stdout=Subprocess.STREAM,
        )
        assert proc.stdin is not None and proc.stdout is not None
        exits: list[int] = []
        proc.set_exit_callback(exits.append)
        await proc.stdin.write(b"through a pipe\n" * 1000)
        proc.stdin.close()
        output = await proc.stdout.read_until_close()
        code = await proc.wait_for_exit()
        await asyncio.sleep(0)
        return output, code, exits

    output, code, exits = run(main, kind)
    assert output == b"THROUGH A PIPE\n" * 1000
    assert code == 0 and exits == [0]


def test_subprocess_nonzero_exit_raises_called_process_error() -> None:
    async def main() -> tuple[int, int]:
        proc = Subprocess([sys.executable, "-c", "raise SystemExit(3)"], stderr=subprocess.DEVNULL)
        with pytest.raises(CalledProcessError) as info:
            await proc.wait_for_exit()
        code = await proc.wait_for_exit(raise_error=False)
        return info.value.returncode, code

    assert run(main) == (3, 3)


def test_subprocess_killed_by_signal_reports_a_negative_status() -> None:
    async def main() -> int:
        proc = Subprocess([sys.executable, "-c", "import time; time.sleep(30)"])
        os.kill(proc.pid, signal.SIGKILL)
        return await proc.wait_for_exit(raise_error=False)

    assert run(main) == -signal.SIGKILL


def test_subprocess_exit_callback_set_after_exit_still_runs() -> None:
    async def main() -> list[int]:
        proc = Subprocess([sys.executable, "-c", "pass"], stderr=Subprocess.STREAM)
        await proc.wait_for_exit()
        assert proc.stderr is not None
        assert await proc.stderr.read_until_close() == b""
        seen: list[int] = []
        proc.set_exit_callback(seen.append)
        await asyncio.sleep(0.01)
        return seen

    assert run(main) == [0]


def test_subprocess_popen_errors_propagate_and_close_pipes() -> None:
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None

    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            Subprocess(["/nonexistent/program"], stdout=Subprocess.STREAM)

    run(main)
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before


def test_subprocess_io_loop_is_the_current_ioloop() -> None:
    from dualweb.ioloop import IOLoop

    async def main() -> bool:
        proc = Subprocess([sys.executable, "-c", "pass"])
        same = proc.io_loop is IOLoop.current()
        await proc.wait_for_exit()
        return same

    assert run(main)
