"""Graceful shutdown for the native server: stop accepting, drain, exit cleanly.

The one helper a program needs is :func:`serve_until_signal`::

    async def main() -> None:
        server = make_app().listen(8888)
        await dualweb.shutdown.serve_until_signal(server)

    asyncio.run(main())

On SIGTERM or SIGINT (Ctrl-C) it logs one line, then runs
:func:`graceful_shutdown`:

1. every server stops listening (new connections go to other processes
   sharing the port, or are refused);
2. the callbacks registered with :func:`add_shutdown_callback` run: this is
   where a WebSocket layer closes its connections with code 1001 ("going
   away") and long-poll handlers answer their waiting clients;
3. requests in flight finish, up to ``timeout`` seconds; idle keep-alive
   connections are closed, busy ones after their response, and one accepted
   just before the stop gets a second to send its first request
   (:meth:`dualweb.httpserver.HTTPServer.drain`);
4. whatever is still open after the timeout is cut (logged as a warning).

``main()`` then returns normally, so the process exits with status 0 and no
traceback. ``python -m dualweb serve`` and the gunicorn worker
(:class:`dualweb.gunicorn.Worker`) use the same sequence.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from dualweb.log import app_log, gen_log

if TYPE_CHECKING:
    from dualweb.httpserver import HTTPServer

__all__ = [
    "DEFAULT_TIMEOUT",
    "add_shutdown_callback",
    "graceful_shutdown",
    "remove_shutdown_callback",
    "serve_until_signal",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds requests in flight get to finish before their connections are cut."""

ShutdownCallback = Callable[[], "Awaitable[Any] | None"]

_callbacks: list[ShutdownCallback] = []


def add_shutdown_callback(callback: ShutdownCallback) -> None:
    """Call ``callback()`` when a graceful shutdown begins (after the servers stopped listening).

    For connections the HTTP server cannot finish by itself: a WebSocket
    layer registers a callback that closes its open sockets with code 1001,
    a long-poll handler one that answers its waiting requests. The callback
    may return an awaitable; the shutdown waits for it (within its timeout)
    while requests drain. Exceptions are logged and do not stop the
    shutdown. Registering the same callback twice calls it twice.
    """
    _callbacks.append(callback)


def remove_shutdown_callback(callback: ShutdownCallback) -> None:
    """Forget a callback registered with :func:`add_shutdown_callback` (no error if absent)."""
    try:
        _callbacks.remove(callback)
    except ValueError:
        pass


async def _run_callbacks() -> None:
    pending: list[Awaitable[Any]] = []
    for callback in list(_callbacks):
        try:
            result = callback()
        except Exception:
            app_log.exception("Error in shutdown callback %r", callback)
            continue
        if inspect.isawaitable(result):
            pending.append(result)
    for outcome in await asyncio.gather(*pending, return_exceptions=True):
        if isinstance(outcome, Exception):
            app_log.error(
                "Error in shutdown callback",
                exc_info=(type(outcome), outcome, outcome.__traceback__),
            )


async def graceful_shutdown(
    servers: Iterable[HTTPServer], timeout: float = DEFAULT_TIMEOUT
) -> bool:
    """Stop ``servers``, run the shutdown callbacks, drain, and cut what is left.

    Waits at most ``timeout`` seconds for requests in flight (and for the
    awaitables the callbacks returned). Returns ``True`` if everything ended
    in time, ``False`` if connections had to be cut (a warning names how
    many). Never raises for a failing callback.
    """
    servers = list(servers)
    for server in servers:
        server.stop()
    callbacks = asyncio.ensure_future(_run_callbacks())
    drains = [asyncio.ensure_future(server.drain(timeout)) for server in servers]
    done, _ = await asyncio.wait([callbacks, *drains], timeout=timeout)
    clean = callbacks in done and all(d in done and d.result() for d in drains)
    if callbacks not in done:
        callbacks.cancel()
        gen_log.warning("Shutdown callbacks did not finish within %.3gs", timeout)
    for drain in drains:
        drain.cancel()
    if not all(d in done and d.result() for d in drains):
        gen_log.warning("Closing connections with requests still in flight after %.3gs", timeout)
    for server in servers:
        await server.close_all_connections()
    return clean


async def serve_until_signal(
    *servers: HTTPServer,
    timeout: float = DEFAULT_TIMEOUT,
    signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
) -> int:
    """Serve until one of ``signals`` arrives, then shut ``servers`` down gracefully.

    Logs one line (``Received SIGINT: shutting down ...``) at INFO level on
    ``dualweb.general``, runs :func:`graceful_shutdown` with ``timeout`` and
    returns the signal's number. A second signal during the shutdown cuts
    the remaining connections at once. The loop's previous handlers for
    ``signals`` are restored before returning. Must run in the main thread
    (Unix signal handlers); raises :class:`RuntimeError` otherwise.
    """
    loop = asyncio.get_running_loop()
    received: asyncio.Future[int] = loop.create_future()
    wanted = list(signals)
    cutting: set[asyncio.Task[None]] = set()

    def on_signal(signum: int) -> None:
        if not received.done():
            received.set_result(signum)
        else:
            gen_log.warning("Received %s again: closing connections now", _name(signum))
            for server in servers:
                task = loop.create_task(server.close_all_connections())
                cutting.add(task)
                task.add_done_callback(cutting.discard)

    previous = {signum: signal.getsignal(signum) for signum in wanted}
    for signum in wanted:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        signum = await received
        gen_log.info(
            "Received %s: shutting down (requests in flight get up to %.3gs)",
            _name(signum), timeout,
        )
        await graceful_shutdown(servers, timeout)
        return signum
    finally:
        for signum in wanted:
            loop.remove_signal_handler(signum)
            handler = previous[signum]
            if handler is not None:
                signal.signal(signum, handler)


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
