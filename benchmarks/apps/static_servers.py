"""The static-file servers compared by ``bench_static.py``, one per process.

Run one in the foreground::

    python benchmarks/apps/static_servers.py dualweb|tornado PORT ROOT

Each serves the directory ``ROOT`` under ``/static/`` with its framework's
own ``StaticFileHandler`` (the same application code: only the module
differs), on uvloop, with keep-alive.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
SERVERS = ("dualweb", "tornado")


async def serve(framework: str, port: int, root: str) -> None:
    """Listen on 127.0.0.1:``port`` and serve ``root`` under /static/ until killed."""
    web = importlib.import_module(framework + ".web")
    app = web.Application(static_path=root)
    app.listen(port, "127.0.0.1")
    await asyncio.Event().wait()


def main() -> None:
    framework, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if framework not in SERVERS:
        raise SystemExit(f"unknown server {framework!r}; choose from {SERVERS}")
    import uvloop

    uvloop.run(serve(framework, port, root))


if __name__ == "__main__":
    main()
