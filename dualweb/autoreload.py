"""Restart the process when its source files change (native server, development only).

``Application(debug=True)`` (or ``autoreload=True``) calls :func:`start`,
which checks every imported module's file, and every file given to
:func:`watch`, each ``check_time`` milliseconds on the event loop. When one
changes, the hooks from :func:`add_reload_hook` run and the process
replaces itself with a fresh copy of the same command (``os.execv``), so
code, templates and settings are all reloaded. Open sockets are closed by
the exec (Python creates them non-inheritable) and the new process binds
them again.

A syntax error in a module would kill the process for good; running the
program through this module instead keeps it waiting until the file is
fixed::

    python -m dualweb.autoreload app.py --port=8000
    python -m dualweb.autoreload -m mypackage.server

Limits:

* Watching happens on the event loop, so only the native server reloads.
  Under a WSGI server nothing is watched (the loop never runs); use the
  server's own reloader there, e.g. ``gunicorn --reload``.
* Multi-process mode (``HTTPServer.start(n)`` / ``fork_processes``) cannot
  reload, since each worker restarting itself would fork again: :func:`start`
  refuses to run in a worker, and a watcher set up before the fork logs an
  error in each worker and stays off.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import os
import runpy
import signal
import subprocess
import sys
import traceback
import weakref
from collections.abc import Callable, Iterator
from types import SimpleNamespace

from dualweb import process
from dualweb.ioloop import IOLoop, PeriodicCallback
from dualweb.log import enable_pretty_logging, gen_log

__all__ = ["add_reload_hook", "main", "start", "wait", "watch"]

_MULTI_PROCESS_ERROR = (
    "autoreload cannot run in multi-process mode (this is worker {task} of "
    "fork_processes()/HTTPServer.start(n)): a worker restarting itself would fork again. "
    "Run a single process while developing, or turn autoreload off "
    "(Application(..., autoreload=False), or debug=False)"
)

_watched_files: set[str] = set()
_reload_hooks: list[Callable[[], None]] = []
_started_loops: weakref.WeakSet[IOLoop] = weakref.WeakSet()
_reload_attempted = False
# What to re-run: set by main() (python -m dualweb.autoreload ...), else
# derived from __main__ and sys.argv when the reload happens.
_restart_args: list[str] | None = None
# Where the program started; it may chdir, and the relaunch must not notice.
_original_cwd = os.getcwd()
# Modification times recorded before watching began (main() records them when
# the program fails), so a fix saved in between still restarts the process.
_known_times: dict[str, float] = {}


def start(check_time: int = 500) -> None:
    """Watch the source files on the current event loop; restart the process when one changes.

    Safe to call more than once per loop. When no loop is running yet, the
    watcher is scheduled on this thread's current loop (created if there is
    none, as :meth:`IOLoop.current` does) and begins when that loop runs: so
    create the application inside the coroutine given to ``asyncio.run()``,
    or run the loop with ``IOLoop.current().start()``. The files watched are
    logged when watching begins (``dualweb.general``, INFO).

    Args:
        check_time: milliseconds between checks.

    Raises:
        RuntimeError: in a worker process of ``fork_processes()`` /
            ``HTTPServer.start(n)`` (multi-process mode cannot reload).
    """
    task = process.task_id()
    if task is not None:
        raise RuntimeError(_MULTI_PROCESS_ERROR.format(task=task))
    io_loop = IOLoop.current()
    if io_loop in _started_loops:
        return
    _started_loops.add(io_loop)
    if asyncio._get_running_loop() is None:
        gen_log.info(
            "autoreload: on; watching starts when the event loop runs (native server only: "
            "under a WSGI server use its reloader, e.g. gunicorn --reload)"
        )
    io_loop.add_callback(_begin, check_time)


def _begin(check_time: int) -> None:
    task = process.task_id()
    if task is not None:
        # start() ran before the fork; every worker says so, and none reloads.
        gen_log.error(_MULTI_PROCESS_ERROR.format(task=task))
        return
    modify_times = dict(_known_times)
    changed = [path for path in _watched_paths() if _changed(modify_times, path)]
    gen_log.info(
        "autoreload: watching %d files (%d imported modules, %d added with watch()) every %d ms; "
        "a change restarts the process",
        len(modify_times),
        len(modify_times) - len(_watched_files & modify_times.keys()),
        len(_watched_files),
        check_time,
    )
    if gen_log.isEnabledFor(logging.DEBUG):
        gen_log.debug("autoreload: watched files:\n%s", "\n".join(sorted(modify_times)))
    if changed:
        gen_log.info("autoreload: %s modified; restarting", changed[0])
        _reload()
        return
    PeriodicCallback(functools.partial(_check, modify_times), check_time).start()


def _watched_paths() -> Iterator[str]:
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        if path.endswith(".pyc"):
            path = path[:-1]
        yield path
    yield from list(_watched_files)


def _check(modify_times: dict[str, float]) -> None:
    if _reload_attempted:
        return
    for path in _watched_paths():
        if _changed(modify_times, path):
            gen_log.info("autoreload: %s modified; restarting", path)
            _reload()
            return


def _changed(modify_times: dict[str, float], path: str) -> bool:
    """Record ``path``'s modification time; True if it differs from the one recorded."""
    try:
        modified = os.stat(path).st_mtime
    except OSError:
        return False  # not a real file (zip import, deleted while editing, ...)
    previous = modify_times.setdefault(path, modified)
    return previous != modified


def watch(filename: str) -> None:
    """Also restart when ``filename`` changes (a template, a config file, ...)."""
    _watched_files.add(os.path.abspath(filename))


def add_reload_hook(fn: Callable[[], None]) -> None:
    """Call ``fn()`` just before the process restarts (e.g. to close resources).

    Sockets and files opened by Python are not inherited by the new
    process, so hooks are rarely needed for them.
    """
    _reload_hooks.append(fn)


def _relaunch_args() -> list[str]:
    if _restart_args is not None:
        return list(_restart_args)
    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    if spec is not None and spec.name != "__main__":
        # Started as "python -m name": run it the same way.
        return ["-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]]
    return list(sys.argv)


def _reload() -> None:
    global _reload_attempted
    _reload_attempted = True
    for hook in _reload_hooks:
        try:
            hook()
        except Exception:
            gen_log.exception("autoreload: reload hook %r failed", hook)
    if hasattr(signal, "setitimer"):
        # An interval timer survives exec and would kill the new process.
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
    args = [sys.executable, *_relaunch_args()]
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    try:
        os.chdir(_original_cwd)
        if sys.platform == "win32":
            # No exec that keeps the process id: start a new one and leave.
            subprocess.Popen(args)
            os._exit(0)
        os.execv(sys.executable, args)
    except OSError:
        gen_log.exception("autoreload: could not restart with %r", args)
        _reload_attempted = False


def wait() -> None:
    """Block until a watched file changes, then restart the process.

    For the end of a script that should run again when its sources change
    (a test runner, a batch job). Runs its own event loop.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    start()
    IOLoop.current().start()


_USAGE = """\
Usage:
  python -m dualweb.autoreload [-m module | path/to/script.py] [args...]

Runs the program and restarts it when its source files change. Unlike
autoreload=True alone, this survives a program that fails to start (a syntax
error, an exception at import): it waits until the file is fixed.
"""


def main() -> None:
    """Run the program named on the command line, restarting it on changes (the ``-m`` entry)."""
    global _restart_args
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "-m":
        module, script, rest = argv[1], None, argv[2:]
    elif argv and not argv[0].startswith("-"):
        module, script, rest = None, argv[0], argv[1:]
    else:
        print(_USAGE, file=sys.stderr)
        sys.exit(2)
    _restart_args = ["-m", "dualweb.autoreload", *argv]
    sys.argv = [script or module or "", *rest]
    try:
        if module is not None:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            assert script is not None
            sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        _ensure_logging()
        gen_log.info("autoreload: the program exited with status %s", exc.code)
    except Exception as exc:
        for frame in traceback.extract_tb(exc.__traceback__):
            watch(frame.filename)
        if isinstance(exc, SyntaxError) and exc.filename:
            watch(exc.filename)
        # Before the failure is reported: a fix saved right after the report,
        # before the watcher starts, must still count as a change.
        for path in _watched_paths():
            _changed(_known_times, path)
        _ensure_logging()
        gen_log.warning("autoreload: the program failed; waiting for a change", exc_info=True)
    else:
        _ensure_logging()
        gen_log.info("autoreload: the program exited normally")
    if script is not None:
        watch(script)
    elif module is not None:
        _watch_module(module)
    wait()


def _watch_module(name: str) -> None:
    # runpy ran it as __main__, so it is not in sys.modules under its name.
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, SyntaxError):
        return
    if spec is not None and spec.origin and os.path.exists(spec.origin):
        watch(spec.origin)


def _ensure_logging() -> None:
    """Show this module's messages when the program did not configure logging."""
    if not logging.getLogger().handlers:
        enable_pretty_logging(SimpleNamespace(logging="info", log_to_stderr=True))


if __name__ == "__main__":
    # Running as "python -m dualweb.autoreload" imports this file twice (as
    # __main__ and as dualweb.autoreload); the program must see one state.
    from dualweb import autoreload

    autoreload.main()
