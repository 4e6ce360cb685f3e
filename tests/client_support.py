"""Peers for the HTTP client tests: a scripted raw-socket server, a tiny proxy, a test CA.

Everything listens on 127.0.0.1 (or ::1), port 0, inside the test's event loop.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

from tests.harness import ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class _LocalServer:
    """An asyncio TCP server on ``host``, port 0, whose connections close with it."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self: _S) -> _S:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await asyncio.sleep(0)


_S = TypeVar("_S", bound=_LocalServer)


class RawPeer(_LocalServer):
    """A TCP server running ``handler(reader, writer)`` per connection; counts connections."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        super().__init__()
        self.handler = handler
        self.host = host
        self.connections = 0
        self.requests: list[bytes] = []

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """Read one request head (and a Content-Length body); remember it."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length) if length else b""
        self.requests.append(head + body)
        return head + body


def serve_responses(peer_ref: list[RawPeer], *responses: bytes, close: bool = False) -> Handler:
    """A handler answering successive requests on a connection with ``responses``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            await peer_ref[0].read_request(reader)
            writer.write(response)
            await writer.drain()
        if not close:
            await reader.read()

    return handler


async def start_peer(*responses: bytes, close: bool = False, host: str = "127.0.0.1") -> RawPeer:
    """A :class:`RawPeer` that answers each connection's requests with ``responses`` in turn."""
    ref: list[RawPeer] = []
    peer = RawPeer(serve_responses(ref, *responses, close=close), host)
    ref.append(peer)
    return await peer.start()


# --------------------------------------------------------------------------- proxy


class TinyProxy(_LocalServer):
    """An HTTP proxy: absolute-form requests are forwarded, CONNECT opens a tunnel.

    ``lines`` records each request line received; ``auth`` each
    ``Proxy-Authorization`` value.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.auth: list[str] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            self.lines.append(lines[0])
            for line in lines[1:]:
                if line.lower().startswith("proxy-authorization:"):
                    self.auth.append(line.split(":", 1)[1].strip())
            method, target, _ = lines[0].split(" ")
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                rest = target.split("://", 1)[1]
                authority, _, path = rest.partition("/")
                host, _, port = authority.rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                kept = [line for line in lines[1:] if not line.lower().startswith("proxy-")]
                up_writer.write(
                    (f"{method} /{path} HTTP/1.1\r\n" + "\r\n".join(kept)).encode("latin-1")
                )
            self._writers.append(up_writer)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


# --------------------------------------------------------------------------- TLS


def make_ca_and_server_cert(directory: Path) -> dict[str, Path]:
    """Generate a CA and a server certificate (localhost, 127.0.0.1) it signs, with openssl.

    Returns paths: ``ca`` (CA certificate), ``cert`` and ``key`` (server),
    ``client_cert`` and ``client_key`` (a client certificate the CA signs),
    ``other_ca`` (an unrelated CA, for the failure case).
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is needed to generate the test CA")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=directory)

    for name in ("ca", "other_ca"):
        run(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=dualweb test {name}",
        )  # fmt: skip
    run(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost",
    )  # fmt: skip
    (directory / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
    )  # fmt: skip
    run(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=dualweb test client",
    )  # fmt: skip
    run(
        "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "client.pem", "-days", "2",
    )  # fmt: skip
    return {
        "client_cert": directory / "client.pem",
        "client_key": directory / "client.key",
        "ca": directory / "ca.pem",
        "cert": directory / "server.pem",
        "key": directory / "server.key",
        "other_ca": directory / "other_ca.pem",
    }


# --------------------------------------------------------------------------- foreign servers


@contextmanager
def stdlib_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` with the standard library's threaded http.server; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def gunicorn(app: str, cwd: Path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """Run ``gunicorn app`` (one sync worker) from ``cwd``; yield the running server."""
    port = free_port()
    command = ["-m", "gunicorn", "--workers", "1", "--worker-class", "sync"]
    command += ["--bind", f"127.0.0.1:{port}", app]
    served = ServerProcess(command, port, cwd=cwd, env=env)
    try:
        yield served
    finally:
        served.stop()
