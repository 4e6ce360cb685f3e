"""One process per CPU sharing one port, as in the notes: ``bind()`` then ``start(0)``.

Run ``python examples/multiprocess.py --port 8888 --processes 0``; each answer names
the process (task id and pid) that served it.
"""

from __future__ import annotations

import argparse
import os

import dualweb.httpserver
import dualweb.process
import dualweb.web
from dualweb.ioloop import IOLoop


class WhoHandler(dualweb.web.RequestHandler):
    def get(self) -> None:
        self.write({"task_id": dualweb.process.task_id(), "pid": os.getpid()})


def make_app() -> dualweb.web.Application:
    return dualweb.web.Application([(r"/", WhoHandler)])


def main(port: int, processes: int) -> None:
    app = make_app()
    server = dualweb.httpserver.HTTPServer(app)
    server.bind(port)
    server.start(processes)  # 0 forks one process per CPU
    IOLoop.current().start()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--processes", type=int, default=0)
    args = parser.parse_args()
    main(args.port, args.processes)
