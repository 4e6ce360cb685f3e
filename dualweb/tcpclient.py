"""Open client connections as :class:`~dualweb.iostream.IOStream` objects.

:meth:`TCPClient.connect` resolves the host name (without blocking the
loop), tries the addresses it gets back, optionally upgrades the connection
to TLS, and returns the connected stream::

    stream = await TCPClient().connect("example.com", 443, ssl_options={})

When a name has both IPv4 and IPv6 addresses, the preferred family is tried
first and the other one joins after a short delay if the first has not
connected yet ("happy eyeballs", RFC 8305 in spirit).
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
from typing import Any

from dualweb.iostream import IOStream, StreamClosedError
from dualweb.netutil import Resolver

__all__ = ["TCPClient"]

# How long the preferred address family gets before the other one is tried in parallel.
_SECONDARY_DELAY = 0.3


class TCPClient:
    """A factory for client TCP connections.

    ``resolver`` is the :class:`~dualweb.netutil.Resolver` used for host
    names; by default a new ``Resolver()`` (the configured implementation),
    which :meth:`close` then closes.
    """

    def __init__(self, resolver: Resolver | None = None) -> None:
        if resolver is None:
            self.resolver: Resolver = Resolver()
            self._own_resolver = True
        else:
            self.resolver = resolver
            self._own_resolver = False

    def close(self) -> None:
        """Release the resolver if this client created it."""
        if self._own_resolver:
            self.resolver.close()

    async def connect(
        self,
        host: str,
        port: int,
        af: socket.AddressFamily = socket.AF_UNSPEC,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        source_ip: str | None = None,
        source_port: int | None = None,
        timeout: float | datetime.timedelta | None = None,
    ) -> IOStream:
        """Connect to ``host``:``port`` and return the connected stream.

        Arguments:

        * ``af``: restrict to ``socket.AF_INET`` or ``socket.AF_INET6``.
        * ``ssl_options``: an :class:`ssl.SSLContext` or the dict form to
          connect with TLS (the result is an
          :class:`~dualweb.iostream.SSLIOStream`; ``host`` is used for SNI
          and certificate checks).
        * ``max_buffer_size``: passed to the stream.
        * ``source_ip``, ``source_port``: the local address to bind first.
        * ``timeout``: seconds (or a :class:`datetime.timedelta`) for the
          whole operation, name resolution and TLS handshake included.

        Raises :class:`TimeoutError` when ``timeout`` expires,
        :class:`~dualweb.iostream.StreamClosedError` (with ``real_error``
        such as :class:`ConnectionRefusedError`) when no address accepts the
        connection, and :class:`OSError` (:class:`socket.gaierror`) when the
        name does not resolve.
        """
        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        attempt = self._connect(
            host, port, af, ssl_options, max_buffer_size, source_ip, source_port
        )
        if timeout is None:
            return await attempt
        try:
            return await asyncio.wait_for(attempt, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"TCPClient.connect({host!r}, {port}) timed out after {timeout}s"
            ) from None

    async def _connect(
        self,
        host: str,
        port: int,
        af: socket.AddressFamily,
        ssl_options: dict[str, Any] | ssl.SSLContext | None,
        max_buffer_size: int | None,
        source_ip: str | None,
        source_port: int | None,
    ) -> IOStream:
        addrinfo = await self.resolver.resolve(host, port, af)
        if not addrinfo:
            raise OSError(f"TCPClient.connect: no addresses for {host!r}")
        primary, secondary = _split(addrinfo)
        stream = await self._race(primary, secondary, max_buffer_size, source_ip, source_port)
        if ssl_options is None:
            return stream
        try:
            return await stream.start_tls(False, ssl_options=ssl_options, server_hostname=host)
        except BaseException:
            stream.close()
            raise

    async def _race(
        self,
        primary: list[tuple[int, Any]],
        secondary: list[tuple[int, Any]],
        max_buffer_size: int | None,
        source_ip: str | None,
        source_port: int | None,
    ) -> IOStream:
        """Try ``primary`` in order; start ``secondary`` if primary is slow; first wins."""

        async def try_in_order(addresses: list[tuple[int, Any]]) -> IOStream:
            error: BaseException | None = None
            for family, address in addresses:
                stream = self._create_stream(max_buffer_size, family, source_ip, source_port)
                try:
                    return await stream.connect(address)
                except (StreamClosedError, OSError) as exc:
                    error = exc
                except BaseException:
                    stream.close()
                    raise
            assert error is not None
            raise error

        tasks = [asyncio.ensure_future(try_in_order(primary))]
        winner: asyncio.Future[IOStream] | None = None
        try:
            if secondary:
                await asyncio.wait(tasks, timeout=_SECONDARY_DELAY)
                if not tasks[0].done() or tasks[0].exception() is not None:
                    tasks.append(asyncio.ensure_future(try_in_order(secondary)))
            last_error: BaseException | None = None
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is None:
                        winner = task
                        return task.result()
                    last_error = task.exception()
            assert last_error is not None
            raise last_error
        finally:
            for task in tasks:
                if task is not winner:
                    task.cancel()
                    task.add_done_callback(_close_loser)

    def _create_stream(
        self,
        max_buffer_size: int | None,
        af: int,
        source_ip: str | None,
        source_port: int | None,
    ) -> IOStream:
        sock = socket.socket(af, socket.SOCK_STREAM)
        if source_ip is not None or source_port is not None:
            wildcard = "::" if af == socket.AF_INET6 else "0.0.0.0"
            try:
                sock.bind((source_ip or wildcard, source_port or 0))
            except OSError:
                sock.close()
                raise
        return IOStream(sock, max_buffer_size=max_buffer_size)


def _close_loser(task: asyncio.Future[IOStream]) -> None:
    """Close a stream that connected after another attempt already won."""
    if task.cancelled() or task.exception() is not None:
        return
    task.result().close()


def _split(
    addrinfo: list[tuple[int, Any]],
) -> tuple[list[tuple[int, Any]], list[tuple[int, Any]]]:
    """Split addresses into the first one's family and the rest, keeping resolver order."""
    first_family = addrinfo[0][0]
    primary = [item for item in addrinfo if item[0] == first_family]
    secondary = [item for item in addrinfo if item[0] != first_family]
    return primary, secondary
