"""dualweb.tcpclient: connecting to local servers, failures, timeouts, TLS, source address."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import time
from typing import Any

import pytest

from dualweb.iostream import IOStream, SSLIOStream, StreamClosedError
from dualweb.netutil import (
    DefaultLoopResolver,
    OverrideResolver,
    Resolver,
)
from dualweb.tcpclient import TCPClient
from dualweb.tcpserver import TCPServer
from tests.harness import free_port, ipv6_available, run, serve_tcp


class PeerServer(TCPServer):
    """Answers every line with the client's address as the server sees it."""

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        try:
            while True:
                await stream.read_until(b"\n")
                await stream.write(b"%s %d\n" % (str(address[0]).encode(), address[1]))
        except StreamClosedError:
            pass


async def ask_peer(stream: IOStream, server: TCPServer) -> bytes:
    """Ask the peer server who we are (its one-line reply), then close both ends."""
    await stream.write(b"?\n")
    reply = await stream.read_until(b"\n")
    stream.close()
    server.stop()
    return reply


class SlowResolver(Resolver):
    """A resolver that never answers in time (stands in for a hung DNS server)."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        await asyncio.sleep(30)
        return []


class FixedResolver(Resolver):
    """Answers every name with the given address list, in order."""

    def initialize(self, answers: list[tuple[int, Any]]) -> None:  # type: ignore[override]
        self.answers = answers

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        return self.answers


def test_connect_returns_a_working_stream(kind: str) -> None:
    async def main() -> tuple[bool, bytes, tuple[str, int]]:
        server = PeerServer()
        port = serve_tcp(server)
        client = TCPClient()
        stream = await client.connect("127.0.0.1", port)
        await stream.write(b"who am i\n")
        reply = await stream.read_until(b"\n")
        local = stream.socket.getsockname()
        stream.close()
        client.close()
        server.stop()
        return isinstance(stream, IOStream), reply, local

    is_stream, reply, local = run(main, kind)
    assert is_stream
    assert reply == b"%s %d\n" % (local[0].encode(), local[1])


def test_connect_to_a_closed_port_raises_stream_closed_with_the_cause(kind: str) -> None:
    port = free_port()

    async def main() -> BaseException | None:
        with pytest.raises(StreamClosedError) as info:
            await TCPClient().connect("127.0.0.1", port)
        return info.value.real_error

    assert isinstance(run(main, kind), ConnectionRefusedError)


def test_connect_timeout_raises_timeout_error_promptly() -> None:
    async def main() -> float:
        client = TCPClient(resolver=SlowResolver())
        start = time.monotonic()
        with pytest.raises(TimeoutError, match=r"timed out after 0\.2s"):
            await client.connect("slow.test", 80, timeout=0.2)
        with pytest.raises(TimeoutError):
            await client.connect("slow.test", 80, timeout=datetime.timedelta(milliseconds=100))
        return time.monotonic() - start

    assert run(main) < 2


def test_connect_with_ssl_options_returns_a_verified_ssl_stream(
    kind: str, cert: tuple[str, str]
) -> None:
    certfile, keyfile = cert

    async def main() -> tuple[bool, bytes]:
        server = PeerServer(ssl_options={"certfile": certfile, "keyfile": keyfile})
        port = serve_tcp(server)
        # The host name doubles as the name the certificate is checked against.
        stream = await TCPClient().connect(
            "localhost", port, af=socket.AF_INET, ssl_options={"ca_certs": certfile}
        )
        await stream.write(b"hello\n")
        reply = await stream.read_until(b"\n")
        stream.close()
        server.stop()
        return isinstance(stream, SSLIOStream), reply

    is_ssl, reply = run(main, kind)
    assert is_ssl and reply.startswith(b"127.0.0.1 ")


def test_connect_with_ssl_rejects_an_untrusted_server(cert: tuple[str, str]) -> None:
    certfile, keyfile = cert

    async def main() -> BaseException | None:
        server = PeerServer(ssl_options={"certfile": certfile, "keyfile": keyfile})
        port = serve_tcp(server)
        with pytest.raises(StreamClosedError) as info:
            await TCPClient().connect("127.0.0.1", port, ssl_options=ssl.create_default_context())
        server.stop()
        return info.value.real_error

    assert isinstance(run(main), ssl.SSLCertVerificationError)


def test_source_ip_and_port_are_used() -> None:
    source_port = free_port()

    async def main() -> bytes:
        server = PeerServer()
        port = serve_tcp(server)
        stream = await TCPClient().connect(
            "127.0.0.1", port, source_ip="127.0.0.1", source_port=source_port
        )
        return await ask_peer(stream, server)

    assert run(main) == b"127.0.0.1 %d\n" % source_port


def test_falls_back_to_the_next_address_when_the_first_refuses() -> None:
    dead = free_port()

    async def main() -> bytes:
        server = PeerServer()
        port = serve_tcp(server)
        resolver = FixedResolver(
            answers=[
                (socket.AF_INET, ("127.0.0.1", dead)),
                (socket.AF_INET, ("127.0.0.1", port)),
            ]
        )
        stream = await TCPClient(resolver=resolver).connect("twice.test", port)
        return await ask_peer(stream, server)

    assert run(main).startswith(b"127.0.0.1 ")


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_happy_eyeballs_uses_the_other_family_when_the_first_fails() -> None:
    async def main() -> bytes:
        server = PeerServer()
        port = serve_tcp(server, "127.0.0.1")
        dead_v6 = free_port("::1")
        resolver = FixedResolver(
            answers=[
                (socket.AF_INET6, ("::1", dead_v6, 0, 0)),
                (socket.AF_INET, ("127.0.0.1", port)),
            ]
        )
        stream = await TCPClient(resolver=resolver).connect("dual.test", port)
        return await ask_peer(stream, server)

    assert run(main).startswith(b"127.0.0.1 ")


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_connect_over_ipv6_loopback() -> None:
    async def main() -> bytes:
        server = PeerServer()
        port = serve_tcp(server, "::1")
        stream = await TCPClient().connect("::1", port, af=socket.AF_INET6)
        return await ask_peer(stream, server)

    assert run(main).startswith(b"::1 ")


def test_override_resolver_maps_a_name_to_a_local_server() -> None:
    async def main() -> bytes:
        server = PeerServer()
        port = serve_tcp(server)
        resolver = OverrideResolver(
            resolver=DefaultLoopResolver(), mapping={"api.example.test": "127.0.0.1"}
        )
        stream = await TCPClient(resolver=resolver).connect("api.example.test", port)
        return await ask_peer(stream, server)

    assert run(main).startswith(b"127.0.0.1 ")


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_happy_eyeballs_races_the_other_family_when_the_first_hangs() -> None:
    # A listener whose accept queue is full drops further SYNs: connecting to it hangs.
    stuck = socket.socket(socket.AF_INET6)
    stuck.bind(("::1", 0))
    stuck.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET6)
        filler.setblocking(False)
        try:
            filler.connect(stuck.getsockname())
        except BlockingIOError:
            pass
        fillers.append(filler)

    async def main() -> tuple[bytes, float]:
        server = PeerServer()
        port = serve_tcp(server, "127.0.0.1")
        resolver = FixedResolver(
            answers=[(socket.AF_INET6, stuck.getsockname()), (socket.AF_INET, ("127.0.0.1", port))]
        )
        start = time.monotonic()
        stream = await TCPClient(resolver=resolver).connect("dual.test", port, timeout=5)
        elapsed = time.monotonic() - start
        return await ask_peer(stream, server), elapsed

    try:
        reply, elapsed = run(main)
    finally:
        for sock in [*fillers, stuck]:
            sock.close()
    assert reply.startswith(b"127.0.0.1 ")
    assert 0.25 <= elapsed < 2  # the IPv4 attempt starts after the head start, not after a timeout
