"""The static-file servers compared by ``bench_static.py``, one per process.

Run one in the foreground::

    python benchmarks/apps/static_servers.py dualweb|tornado|bare PORT ROOT

``dualweb`` and ``tornado`` serve the directory ``ROOT`` under ``/static/``
with their framework's own ``StaticFileHandler`` (the same application
code: only the module differs), on uvloop, with keep-alive.

``bare`` is the ceiling, not a framework: a thread per connection that
reads the request line and answers with a fixed head and ``os.sendfile``,
no validators, no parsing beyond the path. What it reaches shows how much
of the machine the load generator and the kernel's copying take.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import socketserver
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
SERVERS = ("dualweb", "tornado", "bare")


async def serve(framework: str, port: int, root: str) -> None:
    """Listen on 127.0.0.1:``port`` and serve ``root`` under /static/ until killed."""
    web = importlib.import_module(framework + ".web")
    app = web.Application(static_path=root)
    app.listen(port, "127.0.0.1")
    await asyncio.Event().wait()


def serve_bare(port: int, root: str) -> None:
    """The ceiling: keep-alive GETs answered with a minimal head and ``os.sendfile``."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            try:
                self.serve()
            except OSError:
                pass  # wrk resets its connections at the end of a run

        def serve(self) -> None:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # the headers
                name = line.split()[1].decode().removeprefix("/static/")
                fd = os.open(os.path.join(root, os.path.basename(name)), os.O_RDONLY)
                try:
                    size = os.fstat(fd).st_size
                    self.connection.sendall(
                        f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()
                    )
                    sent = 0
                    while sent < size:
                        sent += os.sendfile(self.connection.fileno(), fd, sent, size - sent)
                finally:
                    os.close(fd)

    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler) as server:
        server.serve_forever()


def main() -> None:
    framework, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if framework not in SERVERS:
        raise SystemExit(f"unknown server {framework!r}; choose from {SERVERS}")
    if framework == "bare":
        serve_bare(port, root)
        return
    import uvloop

    uvloop.run(serve(framework, port, root))


if __name__ == "__main__":
    main()
