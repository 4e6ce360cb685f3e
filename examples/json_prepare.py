"""Parsing JSON request bodies in ``prepare()``, as in the Tornado notes.

Run ``python examples/json_prepare.py --port 8888`` and
``curl -d '{"name": "ada"}' -H 'Content-Type: application/json' http://127.0.0.1:8888/echo``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import dualweb.web


class JSONHandler(dualweb.web.RequestHandler):
    json_args: Any

    def prepare(self) -> None:
        if self.request.headers.get("Content-Type", "").startswith("application/json"):
            self.json_args = json.loads(self.request.body)
        else:
            self.json_args = None


class EchoHandler(JSONHandler):
    def post(self) -> None:
        self.write({"received": self.json_args})


def make_app() -> dualweb.web.Application:
    return dualweb.web.Application([(r"/echo", EchoHandler)])


async def main(port: int) -> None:
    make_app().listen(port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8888)
    asyncio.run(main(parser.parse_args().port))
