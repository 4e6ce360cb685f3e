"""The hello-world app from the Tornado notes, run natively: ``python examples/hello.py``.

Then ``curl http://127.0.0.1:8888/`` answers ``Hello, world``. ``--port`` picks
another port. Ctrl-C (or SIGTERM) shuts down gracefully: one log line, requests
in flight finish, exit status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import dualweb.shutdown
import dualweb.web


class MainHandler(dualweb.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


def make_app() -> dualweb.web.Application:
    return dualweb.web.Application([(r"/", MainHandler)])


async def main(port: int = 8888) -> None:
    app = make_app()
    server = app.listen(port)
    print(f"Listening on http://127.0.0.1:{port}/", flush=True)
    await dualweb.shutdown.serve_until_signal(server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8888)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main(parser.parse_args().port))
