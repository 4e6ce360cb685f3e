"""dualweb.netutil: listening sockets, accept handlers, resolvers and TLS helpers.

The shared TLS certificate is the ``cert`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from dualweb.netutil import (
    BlockingResolver,
    DefaultExecutorResolver,
    DefaultLoopResolver,
    OverrideResolver,
    Resolver,
    ThreadedResolver,
    add_accept_handler,
    bind_sockets,
    bind_unix_socket,
    is_valid_ip,
    ssl_options_to_context,
    ssl_wrap_socket,
)
from tests.harness import ipv6_available, run

# -- bind_sockets ------------------------------------------------------------------------


def test_bind_sockets_port_0_on_loopback_gives_a_listening_nonblocking_socket() -> None:
    sockets = bind_sockets(0, "127.0.0.1")
    try:
        assert len(sockets) == 1
        sock = sockets[0]
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 0
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the kernel completed the handshake: the socket listens
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_bind_sockets_port_0_on_all_interfaces_shares_one_port_across_families() -> None:
    sockets = bind_sockets(0)
    try:
        families = {sock.family for sock in sockets}
        assert families == {socket.AF_INET, socket.AF_INET6}
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1
        v6 = next(sock for sock in sockets if sock.family == socket.AF_INET6)
        assert v6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        port = ports.pop()
        for host in ("127.0.0.1", "::1"):
            with socket.create_connection((host, port), timeout=5):
                pass
    finally:
        for sock in sockets:
            sock.close()


def test_bind_sockets_family_restricts_the_result() -> None:
    sockets = bind_sockets(0, family=socket.AF_INET)
    try:
        assert [sock.family for sock in sockets] == [socket.AF_INET]
    finally:
        for sock in sockets:
            sock.close()


def test_bind_sockets_on_a_port_in_use_raises_eaddrinuse() -> None:
    first = bind_sockets(0, "127.0.0.1")
    port = first[0].getsockname()[1]
    try:
        with pytest.raises(OSError) as info:
            bind_sockets(port, "127.0.0.1")
        assert info.value.errno == errno.EADDRINUSE
    finally:
        first[0].close()


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_bind_sockets_reuse_port_lets_two_sockets_share_a_port() -> None:
    first = bind_sockets(0, "127.0.0.1", reuse_port=True)
    port = first[0].getsockname()[1]
    second = bind_sockets(port, "127.0.0.1", reuse_port=True)
    try:
        assert second[0].getsockname()[1] == port
    finally:
        first[0].close()
        second[0].close()


def test_bind_sockets_empty_address_means_all_interfaces() -> None:
    sockets = bind_sockets(0, "", family=socket.AF_INET)
    try:
        assert sockets[0].getsockname()[0] == "0.0.0.0"
    finally:
        sockets[0].close()


# -- bind_unix_socket --------------------------------------------------------------------


def test_bind_unix_socket_listens_with_mode_and_replaces_a_stale_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    first = bind_unix_socket(path, mode=0o600)
    first.close()  # leaves the socket file behind, like a crashed server
    sock = bind_unix_socket(path, mode=0o640)
    try:
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
    finally:
        sock.close()


def test_bind_unix_socket_refuses_to_delete_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "important.txt"
    path.write_text("keep me")
    with pytest.raises(ValueError, match="exists and is not a socket"):
        bind_unix_socket(str(path))
    assert path.read_text() == "keep me"


# -- add_accept_handler ------------------------------------------------------------------


def test_add_accept_handler_delivers_nonblocking_connections_until_removed() -> None:
    async def main() -> None:
        [listener] = bind_sockets(0, "127.0.0.1")
        port = listener.getsockname()[1]
        accepted: list[tuple[socket.socket, Any]] = []
        got = asyncio.Event()

        def on_accept(conn: socket.socket, address: Any) -> None:
            accepted.append((conn, address))
            got.set()

        remove = add_accept_handler(listener, on_accept)
        loop = asyncio.get_running_loop()
        client = socket.socket()
        client.setblocking(False)
        await loop.sock_connect(client, ("127.0.0.1", port))
        await asyncio.wait_for(got.wait(), 5)
        conn, address = accepted[0]
        assert address == client.getsockname()
        assert conn.getblocking() is False
        await loop.sock_sendall(conn, b"hi")
        assert await loop.sock_recv(client, 2) == b"hi"

        remove()
        remove()  # idempotent
        late = socket.socket()
        late.setblocking(False)
        await loop.sock_connect(late, ("127.0.0.1", port))  # queued by the kernel only
        await asyncio.sleep(0.2)
        assert len(accepted) == 1
        for sock in (client, late, conn, listener):
            sock.close()

    run(main)


# -- is_valid_ip -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("fe80::1%1", True),
        ("2001:db8::ff00:42:8329", True),
        ("localhost", False),
        ("example.com", False),
        ("", False),
        ("1.2.3.4\x00", False),
        ("300.1.1.1", False),
        ("1.2.3", True),  # inet_aton accepts the short form, as getaddrinfo does
    ],
)
def test_is_valid_ip(text: str, valid: bool) -> None:
    assert is_valid_ip(text) is valid


# -- resolvers ---------------------------------------------------------------------------


def test_resolver_default_is_the_loop_resolver_and_resolves_numeric_hosts() -> None:
    resolver = Resolver()
    assert isinstance(resolver, DefaultLoopResolver)
    result = run(lambda: _resolve(resolver, "127.0.0.1", 8080))
    assert result == [(socket.AF_INET, ("127.0.0.1", 8080))]


async def _resolve(resolver: Resolver, host: str, port: int, family: int = 0) -> Any:
    return await resolver.resolve(host, port, socket.AddressFamily(family))


@pytest.mark.parametrize("cls", [DefaultExecutorResolver, BlockingResolver, ThreadedResolver])
def test_other_resolvers_give_the_same_answer(cls: type[Resolver]) -> None:
    resolver = cls()
    try:
        assert run(lambda: _resolve(resolver, "127.0.0.1", 80)) == [
            (socket.AF_INET, ("127.0.0.1", 80))
        ]
    finally:
        resolver.close()


def test_resolver_family_filters_addresses() -> None:
    v6 = run(lambda: _resolve(Resolver(), "::1", 80, socket.AF_INET6))
    assert [(family, address[:2]) for family, address in v6] == [(socket.AF_INET6, ("::1", 80))]
    with pytest.raises(socket.gaierror):
        run(lambda: _resolve(Resolver(), "127.0.0.1", 80, socket.AF_INET6))


def test_resolver_configure_by_name_and_back() -> None:
    saved = Resolver._save_configuration()
    try:
        Resolver.configure(
            "dualweb.netutil.OverrideResolver",
            resolver=DefaultLoopResolver(),
            mapping={"service.test": "127.0.0.1"},
        )
        resolver = Resolver()
        assert isinstance(resolver, OverrideResolver)
        assert run(lambda: _resolve(resolver, "service.test", 1)) == [
            (socket.AF_INET, ("127.0.0.1", 1))
        ]
    finally:
        Resolver._restore_configuration(saved)
    assert isinstance(Resolver(), DefaultLoopResolver)


def test_resolver_configure_rejects_other_classes() -> None:
    with pytest.raises(ValueError, match="Resolver"):
        Resolver.configure(dict)  # type: ignore[arg-type]


def test_override_resolver_most_specific_key_wins() -> None:
    mapping = {
        "a.test": "127.0.0.1",
        ("b.test", 80): ("127.0.0.2", 8080),
        ("c.test", 80, socket.AF_INET): "127.0.0.3",
    }
    resolver = OverrideResolver(resolver=DefaultLoopResolver(), mapping=mapping)

    async def main() -> list[Any]:
        return [
            await resolver.resolve("a.test", 81),
            await resolver.resolve("b.test", 80),
            await resolver.resolve("c.test", 80, socket.AF_INET),
            await resolver.resolve("127.0.0.9", 5),
        ]

    a, b, c, untouched = run(main)
    assert a == [(socket.AF_INET, ("127.0.0.1", 81))]
    assert b == [(socket.AF_INET, ("127.0.0.2", 8080))]
    assert c == [(socket.AF_INET, ("127.0.0.3", 80))]
    assert untouched == [(socket.AF_INET, ("127.0.0.9", 5))]


# -- TLS helpers -------------------------------------------------------------------------


def test_ssl_options_to_context_passes_a_context_through() -> None:
    context = ssl.create_default_context()
    assert ssl_options_to_context(context) is context


def test_ssl_options_to_context_builds_server_and_client_contexts(cert: tuple[str, str]) -> None:
    certfile, keyfile = cert
    server = ssl_options_to_context({"certfile": certfile, "keyfile": keyfile}, server_side=True)
    assert server.protocol == ssl.PROTOCOL_TLS_SERVER
    assert server.options & ssl.OP_NO_COMPRESSION
    client = ssl_options_to_context({"ca_certs": certfile})
    assert client.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
    insecure = ssl_options_to_context({"cert_reqs": ssl.CERT_NONE})
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname


def test_ssl_options_to_context_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="certifile"):
        ssl_options_to_context({"certifile": "typo.pem"})


def test_ssl_options_to_context_missing_file_raises() -> None:
    with pytest.raises(OSError):
        ssl_options_to_context({"certfile": "/nonexistent/cert.pem"}, server_side=True)


def test_ssl_wrap_socket_handshakes_with_dict_options(cert: tuple[str, str]) -> None:
    certfile, keyfile = cert
    left, right = socket.socketpair()
    left.settimeout(10)
    right.settimeout(10)
    # Extra keyword arguments reach SSLContext.wrap_socket: without this one the
    # server would block in its handshake before the client exists.
    server = ssl_wrap_socket(
        left, {"certfile": certfile, "keyfile": keyfile}, server_side=True,
        do_handshake_on_connect=False,
    )
    client = ssl_wrap_socket(
        right, {"ca_certs": certfile}, server_hostname="localhost", do_handshake_on_connect=False
    )
    result: list[bytes] = []

    def serve() -> None:
        server.do_handshake()
        result.append(server.recv(5))

    thread = threading.Thread(target=serve)
    thread.start()
    client.do_handshake()
    client.sendall(b"hello")
    thread.join(10)
    assert result == [b"hello"]
    assert client.version() is not None and client.version().startswith("TLS")  # type: ignore[union-attr]
    server.close()
    client.close()


