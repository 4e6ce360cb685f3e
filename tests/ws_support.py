"""Helpers for the WebSocket tests: a native server in the test's loop, and a raw-frame client."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from dualweb.httpserver import HTTPServer
from dualweb.netutil import bind_sockets

TIMEOUT = 10.0


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    """Run the coroutine function ``test`` in a fresh loop, bounded in time."""

    async def bounded() -> Any:
        return await asyncio.wait_for(test(), TIMEOUT)

    return asyncio.run(bounded())


@asynccontextmanager
async def serve(app: Any, **kwargs: Any) -> AsyncIterator[int]:
    """Serve ``app`` natively on 127.0.0.1; yields the port."""
    server = HTTPServer(app, **kwargs)
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        yield sockets[0].getsockname()[1]
    finally:
        server.stop()
        await server.close_all_connections()


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    mask: bool = True,
    rsv: int = 0,
) -> bytes:
    """Build one WebSocket frame by hand (masked unless ``mask=False``)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame."""
    return struct.pack("!H", code) + reason.encode()


class RawClient:
    """A WebSocket client that writes the bytes the test gives it and parses what comes back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status = 0
        self.head = ""

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str = "/ws",
        headers: dict[str, str] | None = None,
        after_handshake: bytes = b"",
    ) -> RawClient:
        """Send a handshake (plus ``after_handshake`` in the same write) and read the response."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        fields = {
            "Host": f"127.0.0.1:{port}",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Version": "13",
        }
        fields.update(headers or {})
        lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in fields.items() if v]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + after_handshake)
        head = await reader.readuntil(b"\r\n\r\n")
        client.head = head.decode("latin-1")
        client.status = int(client.head.split(" ", 2)[1])
        return client

    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self.writer.write(data)

    async def read_frame(self) -> tuple[bool, int, bytes]:
        """Read one (unmasked) server frame: ``(fin, opcode, payload)``."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        assert not second & 0x80, "server frames must not be masked"
        payload = await self.reader.readexactly(length)
        return bool(first & 0x80), first & 0x0F, payload

    async def read_close(self) -> tuple[int | None, str]:
        """Read frames until the close frame; return its code and reason."""
        while True:
            _, opcode, payload = await self.read_frame()
            if opcode == 0x8:
                if len(payload) < 2:
                    return None, ""
                return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    async def at_eof(self) -> bool:
        """True when the server closed the TCP connection (after any pending bytes)."""
        data = await self.reader.read(65536)
        while data:
            data = await self.reader.read(65536)
        return True

    async def close(self) -> None:
        """Close the socket."""
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass
