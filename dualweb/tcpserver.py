"""A non-blocking, single-threaded TCP server built on asyncio.

Subclass :class:`TCPServer` and override :meth:`TCPServer.handle_stream`
to serve a protocol over :class:`~dualweb.iostream.IOStream`::

    class EchoServer(TCPServer):
        async def handle_stream(self, stream, address):
            while True:
                line = await stream.read_until(b"\\n")
                await stream.write(line)

    async def main():
        server = EchoServer()
        server.listen(8888)
        await asyncio.Event().wait()

Accepting runs through ``loop.create_server`` on already-bound sockets, so
it is as fast as asyncio (or uvloop) allows. Subclasses that want to skip the
stream layer (the HTTP server does) override :meth:`TCPServer._protocol_factory`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Awaitable, Iterable
from typing import Any

from dualweb.iostream import IOStream, StreamClosedError, _ServerStreamProtocol
from dualweb.log import app_log, gen_log
from dualweb.netutil import _current_loop, bind_sockets, ssl_options_to_context

__all__ = ["TCPServer"]

_DEFAULT_BACKLOG = 128



class TCPServer:
    """A listening TCP (or TLS) server that hands each connection to :meth:`handle_stream`.

    Arguments:

    * ``ssl_options``: an :class:`ssl.SSLContext`, or a dict with at least
      ``certfile`` (and ``keyfile``, ``cert_reqs``, ``ca_certs``,
      ``ciphers``) to serve TLS; connections are then
      :class:`~dualweb.iostream.SSLIOStream` objects, handed over after the
      handshake.
    * ``max_buffer_size``, ``read_chunk_size``: passed to each stream.

    There are three ways to start serving, as in Tornado:

    1. ``server.listen(8888)`` (one process);
    2. ``sockets = bind_sockets(8888); server.add_sockets(sockets)`` (for
       example after :func:`dualweb.process.fork_processes`);
    3. ``server.bind(8888); server.start(0)`` (forks one process per CPU).

    All three work inside a running event loop and before the loop starts
    (the server then begins accepting when ``IOLoop.current().start()`` runs
    the thread's loop).

    Raises :class:`KeyError` if a dict ``ssl_options`` lacks ``certfile``
    and :class:`ValueError` if a certificate file does not exist.
    """

    def __init__(
        self,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
    ) -> None:
        self.ssl_options = ssl_options
        self.max_buffer_size = max_buffer_size
        self.read_chunk_size = read_chunk_size
        self._sockets: dict[int, socket.socket] = {}
        self._backlogs: dict[int, int] = {}
        self._servers: dict[int, asyncio.AbstractServer] = {}
        self._starting: dict[int, asyncio.Task[None]] = {}
        self._pending_sockets: list[socket.socket] = []
        self._started = False
        self._stopped = False
        self._ssl_context: ssl.SSLContext | None = None
        if ssl_options is not None:
            if isinstance(ssl_options, dict):
                _check_ssl_files(type(self).__name__, ssl_options)
            self._ssl_context = ssl_options_to_context(ssl_options, server_side=True)

    # ------------------------------------------------------------------ starting

    def listen(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` on ``address`` and start accepting connections.

        The arguments are those of :func:`dualweb.netutil.bind_sockets`
        (``address=None`` listens on all interfaces). To learn the port the
        OS picked for ``port=0``, bind with ``bind_sockets`` and use
        :meth:`add_sockets` instead.
        Raises :class:`OSError` if the port cannot be bound.
        """
        sockets = bind_sockets(
            port, address=address, family=family, backlog=backlog, flags=flags,
            reuse_port=reuse_port,
        )
        for sock in sockets:
            self._backlogs[sock.fileno()] = backlog
        self.add_sockets(sockets)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        """Start accepting connections on already-listening ``sockets``.

        Use with :func:`dualweb.netutil.bind_sockets`, typically after
        :func:`dualweb.process.fork_processes`. The server owns the sockets
        from now on: :meth:`stop` closes them.
        """
        loop = _current_loop()
        for sock in sockets:
            fd = sock.fileno()
            if fd in self._sockets:
                raise ValueError(f"{type(self).__name__}.add_sockets: socket {fd} added twice")
            self._sockets[fd] = sock
            self._stopped = False
            task = loop.create_task(self._serve(loop, sock))
            self._starting[fd] = task

    def add_socket(self, socket: socket.socket) -> None:
        """Start accepting connections on one listening ``socket`` (see :meth:`add_sockets`)."""
        self.add_sockets([socket])

    def bind(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` now; accept connections once :meth:`start` is called.

        Binding before :meth:`start` lets the port be shared by the processes
        ``start(num_processes)`` forks. May be called several times to listen
        on several addresses. Arguments as in :meth:`listen`.
        """
        sockets = bind_sockets(
            port, address=address, family=family, backlog=backlog, flags=flags,
            reuse_port=reuse_port,
        )
        for sock in sockets:
            self._backlogs[sock.fileno()] = backlog
        if self._started:
            self.add_sockets(sockets)
        else:
            self._pending_sockets.extend(sockets)

    def start(self, num_processes: int | None = 1, max_restarts: int | None = None) -> None:
        """Start accepting on the sockets from :meth:`bind`, optionally in several processes.

        ``num_processes=1`` (the default) serves in this process. Any other
        value forks that many children with
        :func:`dualweb.process.fork_processes` (``0`` or ``None``: one per
        CPU) before the event loop is used; the parent then only supervises
        them and never returns from this call. ``max_restarts`` limits how
        often crashed children are restarted (default 100).

        Multi-process mode requires that no event loop was created or used
        before ``start`` (set up the loop after forking), and is not
        available on Windows. Raises :class:`RuntimeError` if called twice.
        """
        if self._started:
            raise RuntimeError(f"{type(self).__name__}.start() called twice")
        self._started = True
        if num_processes != 1:
            from dualweb.process import fork_processes

            fork_processes(num_processes, max_restarts)
        sockets, self._pending_sockets = self._pending_sockets, []
        self.add_sockets(sockets)

    def stop(self) -> None:
        """Stop listening: close every listening socket.

        Connections already accepted keep going; close them yourself (the
        HTTP server offers ``close_all_connections()``). Safe to call twice.
        """
        if self._stopped:
            return
        self._stopped = True
        for task in self._starting.values():
            task.cancel()
        self._starting.clear()
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
        for sock in self._pending_sockets:
            sock.close()
        self._pending_sockets.clear()

    async def _serve(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        """Hand ``sock`` to the loop's own accept machinery."""
        fd = sock.fileno()
        try:
            server = await loop.create_server(
                self._protocol_factory,
                sock=sock,
                ssl=self._ssl_context,
                backlog=self._backlogs.pop(fd, _DEFAULT_BACKLOG),
            )
        except Exception:
            gen_log.exception("%s: could not serve on socket %d", type(self).__name__, fd)
            self._sockets.pop(fd, None)
            sock.close()
            return
        finally:
            self._starting.pop(fd, None)
        if self._stopped or fd not in self._sockets:
            server.close()
            return
        self._servers[fd] = server

    # ------------------------------------------------------------------ connections

    def _protocol_factory(self) -> asyncio.BaseProtocol:
        """Return the asyncio protocol for one new connection.

        The default wraps the connection in an
        :class:`~dualweb.iostream.IOStream` (an
        :class:`~dualweb.iostream.SSLIOStream` with TLS) and calls
        :meth:`handle_stream`. Subclasses that speak a protocol directly on
        the transport (the HTTP server) return their own protocol here.
        """
        return _ServerStreamProtocol(
            self._on_new_stream, self.max_buffer_size, self.read_chunk_size
        )

    def _on_new_stream(self, stream: IOStream, address: Any) -> None:
        """Call :meth:`handle_stream`, logging anything it raises."""
        try:
            result = self.handle_stream(stream, address)
        except Exception:
            app_log.exception("Error in connection callback %s.handle_stream", type(self).__name__)
            stream.close()
            return
        if result is not None:
            future = asyncio.ensure_future(result)
            future.add_done_callback(self._log_handle_stream_error)

    def _log_handle_stream_error(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            if isinstance(exc, StreamClosedError):
                # The peer went away mid-conversation; that is normal for a server.
                return
            app_log.error(
                "Error in %s.handle_stream", type(self).__name__,
                exc_info=(type(exc), exc, exc.__traceback__),
            )

    def handle_stream(self, stream: IOStream, address: Any) -> Awaitable[None] | None:
        """Serve one connection; override this in a subclass.

        ``stream`` is the connection's :class:`~dualweb.iostream.IOStream`
        and ``address`` the peer's address. May be a coroutine: its
        exceptions are logged (a :class:`~dualweb.iostream.StreamClosedError`,
        a client hanging up, is not), and the server keeps serving.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must override handle_stream(stream, address) "
            "to serve connections"
        )


def _check_ssl_files(server_name: str, ssl_options: dict[str, Any]) -> None:
    """Fail at construction, not at the first connection, when TLS files are missing."""
    if "certfile" not in ssl_options:
        raise KeyError(f'{server_name}: missing key "certfile" in ssl_options')
    for key in ("certfile", "keyfile"):
        path = ssl_options.get(key)
        if path is not None and not os.path.exists(path):
            raise ValueError(
                f'{server_name}: ssl_options {key} "{path}" does not exist',
            )

