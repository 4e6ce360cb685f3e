"""Redirection both ways from the notes: ``self.redirect()`` and ``RedirectHandler``.

Run ``python examples/redirects.py --port 8888``: ``/old`` redirects (301) to ``/new``
through ``RedirectHandler``, ``/photos/7`` to ``/pictures/7`` with a ``{0}`` placeholder,
and ``/go?to=/new`` calls ``self.redirect`` (302). The main loop is started the
pre-asyncio way, with ``IOLoop.current().start()``.
"""

from __future__ import annotations

import argparse

import dualweb.web
from dualweb.ioloop import IOLoop


class NewHandler(dualweb.web.RequestHandler):
    def get(self) -> None:
        self.write("This is the new page")


class GoHandler(dualweb.web.RequestHandler):
    def get(self) -> None:
        self.redirect(self.get_argument("to", "/new"))


class PictureHandler(dualweb.web.RequestHandler):
    def get(self, number: str) -> None:
        self.write(f"picture {number}")


def make_app() -> dualweb.web.Application:
    return dualweb.web.Application(
        [
            (r"/new", NewHandler),
            (r"/old", dualweb.web.RedirectHandler, {"url": "/new"}),
            (r"/photos/(\d+)", dualweb.web.RedirectHandler, {"url": "/pictures/{0}"}),
            (r"/pictures/(\d+)", PictureHandler),
            (r"/go", GoHandler),
        ]
    )


def main(port: int) -> None:
    app = make_app()
    app.listen(port)
    IOLoop.current().start()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8888)
    main(parser.parse_args().port)
