"""Sockets, name resolution and TLS helpers for servers and clients.

* :func:`bind_sockets` / :func:`bind_unix_socket` create listening sockets
  (the usual first step before :meth:`dualweb.tcpserver.TCPServer.add_sockets`
  or ``server.bind(); server.start(n)``);
* :func:`add_accept_handler` calls a function for each accepted connection of
  a listening socket, on the running event loop;
* :class:`Resolver` and its implementations turn host names into addresses
  without blocking the event loop;
* :func:`ssl_options_to_context` and :func:`ssl_wrap_socket` accept either an
  :class:`ssl.SSLContext` or the dictionary form Tornado applications use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import socket
import ssl
import stat
from collections.abc import Awaitable, Callable
from typing import Any, cast

from dualweb.concurrent import _get_event_loop
from dualweb.util import Configurable

__all__ = [
    "BlockingResolver",
    "DefaultExecutorResolver",
    "DefaultLoopResolver",
    "ExecutorResolver",
    "OverrideResolver",
    "Resolver",
    "ThreadedResolver",
    "add_accept_handler",
    "bind_sockets",
    "bind_unix_socket",
    "is_valid_ip",
    "ssl_options_to_context",
    "ssl_wrap_socket",
]

_DEFAULT_BACKLOG = 128

# Errors from accept() that mean "nothing to do now" rather than a broken
# listening socket: the queue is empty, or the peer gave up before we got to it.
_ACCEPT_RETRY = frozenset({errno.EWOULDBLOCK, errno.EAGAIN, errno.ECONNABORTED, errno.EPROTO})

# The keys Tornado's dictionary form of ``ssl_options`` may contain.
_SSL_OPTION_KEYS = frozenset(
    {"ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"}
)


def _errno_of(exc: BaseException) -> int | None:
    """The errno carried by an OSError-like exception, or None."""
    code = getattr(exc, "errno", None)
    if code is None and exc.args:
        first = exc.args[0]
        if isinstance(first, int):
            return first
    return code if isinstance(code, int) else None


def bind_sockets(
    port: int,
    address: str | None = None,
    family: socket.AddressFamily = socket.AF_UNSPEC,
    backlog: int = _DEFAULT_BACKLOG,
    flags: int | None = None,
    reuse_port: bool = False,
) -> list[socket.socket]:
    """Create non-blocking listening sockets bound to ``port`` and ``address``.

    Returns one socket per address ``address`` resolves to: with the default
    ``address=None`` (or ``""``) that is every interface, usually one IPv4 and
    one IPv6 socket. ``address`` may be an IP address or a host name
    (``"localhost"`` gives both ``127.0.0.1`` and ``::1`` when available).

    ``family`` restricts the result to ``socket.AF_INET`` or
    ``socket.AF_INET6``. ``backlog`` is passed to ``listen()``. ``flags`` are
    ``getaddrinfo`` flags (default ``AI_PASSIVE``). ``reuse_port=True`` sets
    ``SO_REUSEPORT`` so several processes can bind the same port.

    With ``port=0`` the operating system picks a free port, and all returned
    sockets share the same one. ``SO_REUSEADDR`` is set, and IPv6 sockets are
    IPv6-only so they do not collide with their IPv4 sibling.

    Raises :class:`OSError` if binding fails (port in use, no permission), and
    :class:`ValueError` if ``reuse_port`` is requested on a platform without
    ``SO_REUSEPORT``.
    """
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("bind_sockets(reuse_port=True): this platform has no SO_REUSEPORT")
    if address == "":
        address = None
    if not socket.has_ipv6 and family == socket.AF_UNSPEC:
        family = socket.AF_INET
    if flags is None:
        flags = socket.AI_PASSIVE
    infos = socket.getaddrinfo(address, port, family, socket.SOCK_STREAM, 0, flags)
    # IPv4 first, so a port chosen by the OS for 0.0.0.0 is then reused for ::.
    infos.sort(key=lambda info: int(info[0]))
    sockets: list[socket.socket] = []
    chosen_port: int | None = None
    seen: set[tuple[int, Any]] = set()
    try:
        for af, socktype, proto, _canon, sockaddr in infos:
            if (af, sockaddr) in seen:
                continue
            seen.add((af, sockaddr))
            if port == 0 and chosen_port is not None:
                sockaddr = (sockaddr[0], chosen_port, *sockaddr[2:])
            sock = _make_listening_socket(af, socktype, proto, sockaddr, reuse_port, address)
            if sock is None:
                continue
            try:
                sock.listen(backlog)
            except BaseException:
                sock.close()
                raise
            chosen_port = sock.getsockname()[1]
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _make_listening_socket(
    af: int,
    socktype: int,
    proto: int,
    sockaddr: tuple[Any, ...],
    reuse_port: bool,
    address: str | None,
) -> socket.socket | None:
    """Create and bind one socket; None when this address family is unusable here."""
    try:
        sock = socket.socket(af, socktype, proto)
    except OSError as exc:
        if _errno_of(exc) == errno.EAFNOSUPPORT:
            return None
        raise
    try:
        if os.name != "nt":
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            except OSError as exc:
                # Some sandboxes refuse the option; binding still works without it.
                if _errno_of(exc) != errno.EINVAL:
                    raise
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
            # Without V6ONLY the IPv6 socket would also claim the IPv4 port.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            # "localhost" may resolve to ::1 on hosts where IPv6 is disabled.
            if (
                _errno_of(exc) == errno.EADDRNOTAVAIL
                and address == "localhost"
                and sockaddr[0] == "::1"
            ):
                sock.close()
                return None
            raise
    except BaseException:
        sock.close()
        raise
    return sock


def bind_unix_socket(
    file: str, mode: int = 0o600, backlog: int = _DEFAULT_BACKLOG
) -> socket.socket:
    """Create a non-blocking listening Unix domain socket at path ``file``.

    An existing socket file at that path is replaced; ``mode`` is applied to
    the new file with ``chmod``. Raises :class:`ValueError` if ``file`` exists
    and is not a socket (so a typo never deletes a regular file), and
    :class:`OSError` if binding fails.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        try:
            st = os.stat(file)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise ValueError(f"bind_unix_socket: {file!r} exists and is not a socket")
            os.remove(file)
        sock.bind(file)
        os.chmod(file, mode)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def add_accept_handler(
    sock: socket.socket, callback: Callable[[socket.socket, Any], None]
) -> Callable[[], None]:
    """Call ``callback(connection, address)`` for each connection accepted on ``sock``.

    ``sock`` is a listening socket (see :func:`bind_sockets`). Accepting runs
    on the current thread's event loop (``asyncio.get_event_loop()``, the loop
    :meth:`dualweb.ioloop.IOLoop.current` wraps), so this may be called before
    that loop starts. Accepted sockets are put in non-blocking mode.

    Returns a function that stops accepting; call it before closing ``sock``.
    Connections already accepted are not affected.
    """
    loop = _current_loop()
    removed = False
    fd = sock.fileno()

    def on_readable() -> None:
        # Accept a bounded batch per wake-up so one busy listener cannot
        # starve the rest of the loop.
        for _ in range(_DEFAULT_BACKLOG):
            if removed:
                return
            try:
                conn, addr = sock.accept()
            except OSError as exc:
                if _errno_of(exc) in _ACCEPT_RETRY:
                    return
                raise
            conn.setblocking(False)
            callback(conn, addr)

    def remove_handler() -> None:
        nonlocal removed
        if not removed:
            removed = True
            loop.remove_reader(fd)

    loop.add_reader(fd, on_readable)
    return remove_handler


def _current_loop() -> asyncio.AbstractEventLoop:
    """The running loop, or the loop that will run in this thread (``IOLoop.current()``'s).

    Servers are often set up before the loop starts (``server.listen(8888);
    IOLoop.current().start()``), so without a running loop this is the
    thread's current event loop, created and installed if needed.
    """
    return _get_event_loop()


def is_valid_ip(ip: str) -> bool:
    """Return True if ``ip`` is a literal IPv4 or IPv6 address (not a host name)."""
    if not ip or "\x00" in ip:
        return False
    try:
        infos = socket.getaddrinfo(
            ip, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
        )
    except socket.gaierror as exc:
        if exc.args[0] == socket.EAI_NONAME:
            return False
        raise
    except UnicodeError:
        return False
    return bool(infos)


# --------------------------------------------------------------------------- resolvers


class Resolver(Configurable):
    """Turns a host name into addresses, without blocking the event loop.

    ``Resolver()`` returns an instance of the implementation chosen with
    :meth:`~dualweb.util.Configurable.configure` (by default
    :class:`DefaultLoopResolver`), as Tornado's configurable classes do::

        Resolver.configure("dualweb.netutil.OverrideResolver",
                           resolver=DefaultLoopResolver(),
                           mapping={"example.com": "127.0.0.1"})

    Implementations define :meth:`resolve` and may override
    :meth:`initialize` (which receives the constructor arguments) and :meth:`close`.
    """

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """:class:`Resolver` is the base of its configurable hierarchy."""
        return Resolver

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """The default implementation, :class:`DefaultLoopResolver`."""
        return DefaultLoopResolver

    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Awaitable[list[tuple[int, Any]]]:
        """Resolve ``host``:``port`` to a list of ``(family, address)`` pairs.

        ``address`` is what :meth:`socket.socket.connect` takes for that
        family. ``family`` may restrict the answer to ``AF_INET`` or
        ``AF_INET6``. The awaitable raises :class:`OSError` (usually
        :class:`socket.gaierror`) when the name cannot be resolved.
        """
        raise NotImplementedError()

    def close(self) -> None:
        """Release resources (threads) held by the resolver."""


def _addresses(infos: list[tuple[Any, ...]]) -> list[tuple[int, Any]]:
    return [(int(info[0]), info[4]) for info in infos]


class DefaultLoopResolver(Resolver):
    """Resolves with the event loop's ``getaddrinfo`` (the default)."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """See :meth:`Resolver.resolve`."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        return _addresses(cast("list[tuple[Any, ...]]", infos))


class DefaultExecutorResolver(Resolver):
    """Resolves with blocking ``socket.getaddrinfo`` in the loop's default executor."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """See :meth:`Resolver.resolve`."""
        loop = asyncio.get_running_loop()
        infos = await loop.run_in_executor(
            None, socket.getaddrinfo, host, port, family, socket.SOCK_STREAM
        )
        return _addresses(cast("list[tuple[Any, ...]]", infos))


class ExecutorResolver(Resolver):
    """Resolves in a :class:`concurrent.futures.Executor` (deprecated in Tornado; kept for ports).

    ``executor`` defaults to the loop's default executor; when given and
    ``close_executor`` is true, :meth:`close` shuts it down.
    """

    def initialize(
        self,
        executor: concurrent.futures.Executor | None = None,
        close_executor: bool = True,
    ) -> None:
        """Remember the executor to use."""
        self.executor = executor
        self.close_executor = close_executor and executor is not None

    def close(self) -> None:
        """Shut down the executor if this resolver owns it."""
        if self.close_executor and self.executor is not None:
            self.executor.shutdown()
        self.executor = None

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """See :meth:`Resolver.resolve`."""
        loop = asyncio.get_running_loop()
        infos = await loop.run_in_executor(
            self.executor, socket.getaddrinfo, host, port, family, socket.SOCK_STREAM
        )
        return _addresses(cast("list[tuple[Any, ...]]", infos))


class BlockingResolver(ExecutorResolver):
    """Resolves on the calling thread, blocking the loop (deprecated; for ports only)."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        """Takes no arguments."""
        if args or kwargs:
            raise TypeError("BlockingResolver() takes no arguments")
        super().initialize(executor=None, close_executor=False)

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """See :meth:`Resolver.resolve`."""
        return _addresses(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))


class ThreadedResolver(ExecutorResolver):
    """Resolves in a thread pool of ``num_threads`` (deprecated; for ports only)."""

    def initialize(self, num_threads: int = 10) -> None:  # type: ignore[override]
        """Create the pool of ``num_threads`` threads."""
        pool = concurrent.futures.ThreadPoolExecutor(num_threads)
        super().initialize(executor=pool, close_executor=True)


class OverrideResolver(Resolver):
    """Answers chosen names from a mapping, and asks ``resolver`` about the rest.

    ``mapping`` keys are a host, a ``(host, port)`` pair or a
    ``(host, port, family)`` triple (most specific wins); values are a
    replacement host or a ``(host, port)`` pair. Useful in tests and for
    pinning a name to a local server::

        OverrideResolver(DefaultLoopResolver(), {"login.example.com": "127.0.0.1",
                                                 ("api.example.com", 443): ("localhost", 8443)})
    """

    def initialize(self, resolver: Resolver, mapping: dict[Any, Any]) -> None:
        """Wrap ``resolver`` with the overrides in ``mapping``."""
        self.resolver = resolver
        self.mapping = mapping

    def close(self) -> None:
        """Close the wrapped resolver."""
        self.resolver.close()

    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Awaitable[list[tuple[int, Any]]]:
        """Apply the overrides, then delegate to the wrapped resolver."""
        for key in ((host, port, family), (host, port), host):
            if key in self.mapping:
                target = self.mapping[key]
                if isinstance(target, tuple):
                    host, port = target
                else:
                    host = target
                break
        return self.resolver.resolve(host, port, family)


# --------------------------------------------------------------------------- TLS


def ssl_options_to_context(
    ssl_options: dict[str, Any] | ssl.SSLContext, server_side: bool | None = None
) -> ssl.SSLContext:
    """Return an :class:`ssl.SSLContext` for ``ssl_options``.

    An :class:`ssl.SSLContext` is returned unchanged. The dictionary form may
    hold ``ssl_version``, ``certfile``, ``keyfile``, ``cert_reqs``,
    ``ca_certs`` and ``ciphers`` (the arguments of the old
    ``ssl.wrap_socket``). ``server_side`` picks the default protocol
    (``PROTOCOL_TLS_SERVER`` for servers, ``PROTOCOL_TLS_CLIENT``, which
    verifies certificates and host names, for clients).

    Raises :class:`ValueError` for an unknown key, and the usual
    :class:`OSError`/:class:`ssl.SSLError` if a certificate file cannot be loaded.
    """
    if isinstance(ssl_options, ssl.SSLContext):
        return ssl_options
    if not isinstance(ssl_options, dict):
        raise TypeError(
            f"ssl_options must be an ssl.SSLContext or a dict, not {type(ssl_options).__name__}"
        )
    unknown = set(ssl_options) - _SSL_OPTION_KEYS
    if unknown:
        raise ValueError(
            f"ssl_options: unknown key(s) {sorted(unknown)}; "
            f"allowed keys are {sorted(_SSL_OPTION_KEYS)}, or pass an ssl.SSLContext"
        )
    default_version = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
    context = ssl.SSLContext(ssl_options.get("ssl_version", default_version))
    if "certfile" in ssl_options:
        context.load_cert_chain(ssl_options["certfile"], ssl_options.get("keyfile"))
    if "cert_reqs" in ssl_options:
        if ssl_options["cert_reqs"] == ssl.CERT_NONE:
            # A client context checks host names by default, which CERT_NONE forbids.
            context.check_hostname = False
        context.verify_mode = ssl_options["cert_reqs"]
    if "ca_certs" in ssl_options:
        context.load_verify_locations(ssl_options["ca_certs"])
    if "ciphers" in ssl_options:
        context.set_ciphers(ssl_options["ciphers"])
    # Compression enables the CRIME attack.
    context.options |= ssl.OP_NO_COMPRESSION
    return context


def ssl_wrap_socket(
    socket: socket.socket,
    ssl_options: dict[str, Any] | ssl.SSLContext,
    server_hostname: str | None = None,
    server_side: bool | None = None,
    **kwargs: Any,
) -> ssl.SSLSocket:
    """Wrap ``socket`` in an :class:`ssl.SSLSocket` built from ``ssl_options``.

    ``ssl_options`` is an :class:`ssl.SSLContext` or the dictionary form
    accepted by :func:`ssl_options_to_context`. ``server_hostname`` is sent
    for SNI and checked against the certificate (clients). Extra keyword
    arguments go to :meth:`ssl.SSLContext.wrap_socket`.
    """
    context = ssl_options_to_context(ssl_options, server_side=server_side)
    return context.wrap_socket(
        socket, server_hostname=server_hostname, server_side=bool(server_side), **kwargs
    )
