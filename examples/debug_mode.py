"""``debug=True`` from the notes: tracebacks in error pages, no template or static caching.

Run ``python examples/debug_mode.py --port 8888`` and open ``/boom`` to see the
traceback page that ``serve_traceback`` (implied by ``debug``) produces.
"""

from __future__ import annotations

import argparse
import asyncio

import dualweb.web


class BoomHandler(dualweb.web.RequestHandler):
    def get(self) -> None:
        raise ZeroDivisionError("debug mode shows this traceback")


def make_app(debug: bool = True) -> dualweb.web.Application:
    return dualweb.web.Application([(r"/boom", BoomHandler)], debug=debug)


async def main(port: int) -> None:
    make_app().listen(port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8888)
    asyncio.run(main(parser.parse_args().port))
