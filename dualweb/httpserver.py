"""dualweb's non-blocking, single-threaded HTTP/1.x server.

:class:`HTTPServer` has Tornado's constructor and behaviour::

    app = dualweb.web.Application([(r"/", MainHandler)])
    server = HTTPServer(app)
    server.listen(8888)

or, for several processes sharing a port::

    server = HTTPServer(app)
    server.bind(8888)
    server.start(0)  # one process per CPU

Each connection is served by an :class:`~dualweb.http1connection.HTTP1ServerProtocol`
directly on the asyncio transport (no stream layer in between).  uvloop is not
chosen here: install its event loop policy (or let ``dualweb.ioloop`` do it)
and the server runs on it unchanged.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dualweb.connection import (
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
)
from dualweb.http1connection import HTTP1ConnectionParameters, HTTP1ServerProtocol
from dualweb.intake import as_server_delegate
from dualweb.tcpserver import TCPServer
from dualweb.util import Configurable

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest

__all__ = ["HTTPServer"]

# Seconds drain() leaves a new connection to send its first request: the
# client has usually sent it already, its bytes just not read yet.
_FIRST_REQUEST_GRACE = 1.0


class HTTPServer(TCPServer, Configurable, HTTPServerConnectionDelegate):
    """A non-blocking HTTP/1.x server (Tornado's ``HTTPServer``).

    ``request_callback`` is an :class:`~dualweb.connection.HTTPServerConnectionDelegate`
    such as :class:`~dualweb.web.Application`, or a plain callable that takes
    an :class:`~dualweb.httputil.HTTPServerRequest` once its whole body has
    arrived and writes the response through ``request.connection``.

    Arguments (Tornado's):

    * ``no_keep_alive``: close every connection after one response;
    * ``xheaders``: trust ``X-Real-Ip``/``X-Forwarded-For`` and
      ``X-Scheme``/``X-Forwarded-Proto`` for ``request.remote_ip`` and
      ``request.protocol`` (behind a reverse proxy); ``trusted_downstream``
      lists proxy IPs to skip in ``X-Forwarded-For``;
    * ``ssl_options``: an :class:`ssl.SSLContext` or a dict of
      ``ssl.wrap_socket``-style arguments (``certfile``, ``keyfile``, ...);
    * ``protocol``: force ``request.protocol`` (``"http"``/``"https"``);
    * ``decompress_request``: gunzip ``Content-Encoding: gzip`` request bodies;
    * ``chunk_size``: largest body chunk passed to ``data_received`` (64 KiB);
    * ``max_header_size``: request line plus headers, else 431 (64 KiB);
    * ``max_body_size``: else 413 (100 MiB); ``max_buffer_size`` is accepted
      for compatibility and used as ``max_body_size`` when that is not given;
    * ``idle_connection_timeout``: seconds a connection may wait for the next
      request head (3600); ``body_timeout``: seconds to read one body (none).

    dualweb adds ``header_timeout``: seconds from a request's first byte to its
    last header line (none by default), which cuts "slowloris" clients that
    trickle headers without ever finishing them.

    Raises :class:`KeyError`/:class:`ValueError` for a dict ``ssl_options``
    without ``certfile`` or naming a missing file.

    As in Tornado, HTTPServer is :class:`~dualweb.util.Configurable`:
    ``HTTPServer.configure(MyServer, **defaults)`` makes ``HTTPServer(...)``
    (and ``Application.listen``) create a ``MyServer``; the constructor's
    arguments go to :meth:`initialize`, which subclasses override instead of
    ``__init__``.
    """

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """:class:`HTTPServer`: ``HTTPServer(...)`` creates the class chosen with ``configure``."""
        return HTTPServer

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """:class:`HTTPServer` itself."""
        return HTTPServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Configurable.__new__ already passed the arguments to initialize(); a
        # configured subclass's initialize() may take others than ours.
        pass

    def initialize(
        self,
        request_callback: HTTPServerConnectionDelegate | Callable[[HTTPServerRequest], Any],
        no_keep_alive: bool = False,
        xheaders: bool = False,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        protocol: str | None = None,
        decompress_request: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        idle_connection_timeout: float | None = None,
        body_timeout: float | None = None,
        max_body_size: int | None = None,
        max_buffer_size: int | None = None,
        trusted_downstream: list[str] | None = None,
        header_timeout: float | None = None,
    ) -> None:
        """Set up the server with the constructor's arguments (see the class).

        Subclasses configured with ``HTTPServer.configure`` override this,
        calling ``super().initialize(request_callback, ...)``.
        """
        TCPServer.__init__(self, ssl_options=ssl_options, max_buffer_size=max_buffer_size)
        self.request_callback = request_callback
        self.xheaders = xheaders
        self.protocol = protocol
        self.conn_params = HTTP1ConnectionParameters(
            no_keep_alive=no_keep_alive,
            chunk_size=chunk_size,
            max_header_size=max_header_size,
            # None (or 0) leaves the connection's own idle default (3600 s) in force.
            header_timeout=idle_connection_timeout or None,
            max_body_size=max_body_size or max_buffer_size,
            body_timeout=body_timeout,
            decompress=decompress_request,
            request_header_timeout=header_timeout,
            xheaders=xheaders,
            protocol=protocol,
            trusted_downstream=trusted_downstream,
        )
        self.trusted_downstream = trusted_downstream
        self._connections: set[HTTP1ServerProtocol] = set()
        self._track = self._connections.add
        self._untrack = self._connections.discard
        # A plain callable is adapted once; connections then call the
        # delegate's start_request directly unless a subclass overrides ours.
        self._start = as_server_delegate(request_callback).start_request
        own_start = type(self).start_request is HTTPServer.start_request
        self._direct_start = self._start if own_start else None

    def _protocol_factory(self) -> asyncio.BaseProtocol:
        """One :class:`~dualweb.http1connection.HTTP1ServerProtocol` per connection.

        The protocol joins ``_connections`` in ``connection_made``, i.e. after
        a TLS handshake succeeded: asyncio never reports a failed handshake to
        the protocol, so adding it here would leak an entry.
        """
        return HTTP1ServerProtocol(
            self,
            self.conn_params,
            self._untrack,
            start_request=self._direct_start,
            on_made=self._track,
        )

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return the request callback's delegate (a plain callable is adapted)."""
        return self._start(server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        """A connection ended; forget it."""
        self._connections.discard(server_conn)

    async def drain(self, timeout: float | None = None) -> bool:
        """Let requests in flight finish, then close their connections; wait up to ``timeout``.

        For a graceful shutdown, after :meth:`stop`: idle keep-alive
        connections are closed at once (a connection made less than a second
        ago that has not sent its first request yet gets that second to send
        it), and each busy one gets
        ``Connection: close`` on its response (if not yet sent) and is closed
        once that response is complete. Returns ``True`` when every
        connection is gone, ``False`` if some are still open after ``timeout``
        seconds (``None``: no limit); call :meth:`close_all_connections` to
        cut those. See :mod:`dualweb.shutdown` for the whole sequence.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._connections:
            now = loop.time()
            for proto in list(self._connections):
                proto.codec.no_keep_alive = True
                if proto.codec.in_request:
                    continue
                if proto.fresh and now - proto.connected_at < _FIRST_REQUEST_GRACE:
                    # Accepted just before the stop, its request not read yet:
                    # closing it now would fail a client that did nothing wrong.
                    continue
                proto.close()
            if deadline is not None and loop.time() >= deadline:
                return not self._connections
            # Polling keeps this hunk independent of the connection internals.
            await asyncio.sleep(0.02)
        return True

    async def close_all_connections(self) -> None:
        """Close every open connection and wait until they are all gone.

        Call after :meth:`stop` for a clean shutdown (tests do this).  Requests
        in flight are cut: their handlers see ``on_connection_close()``.
        """
        while self._connections:
            proto = next(iter(self._connections))
            self._connections.discard(proto)
            await proto.close_and_wait()
