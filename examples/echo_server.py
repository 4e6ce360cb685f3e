"""A line-based echo server on ``TCPServer`` and ``IOStream``.

Run ``python examples/echo_server.py --port 8888`` and talk to it with
``nc 127.0.0.1 8888``: every line you send comes back. Lines longer than
64 KiB close the connection (the ``max_bytes`` limit of ``read_until``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from dualweb.iostream import IOStream, StreamClosedError
from dualweb.tcpserver import TCPServer

log = logging.getLogger("echo")

MAX_LINE = 64 * 1024


class EchoServer(TCPServer):
    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        log.info("connection from %s", address)
        try:
            while True:
                line = await stream.read_until(b"\n", max_bytes=MAX_LINE)
                await stream.write(line)
        except StreamClosedError:
            log.info("%s went away", address)


async def main(port: int, address: str | None) -> None:
    server = EchoServer()
    server.listen(port, address)
    log.info("echoing lines on port %d", port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--address", default=None, help="interface to listen on (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        asyncio.run(main(args.port, args.address))
    except KeyboardInterrupt:
        pass
