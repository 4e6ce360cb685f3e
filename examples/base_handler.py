"""A ``BaseHandler`` overriding ``write_error`` and ``get_current_user``, as in the notes.

Run ``python examples/base_handler.py --port 8888``; ``/me`` greets the user named by
the ``user`` cookie (or redirects to ``/login``), ``/missing`` shows the custom 404
page and ``/boom`` the custom 500 page.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import dualweb.web


class BaseHandler(dualweb.web.RequestHandler):
    def get_current_user(self) -> str | None:
        return self.get_cookie("user")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish({"error": {"code": status_code, "message": self._reason}})


class MeHandler(BaseHandler):
    @dualweb.web.authenticated
    def get(self) -> None:
        self.write(f"Hello, {self.current_user}")


class LoginHandler(BaseHandler):
    def get(self) -> None:
        self.write("Please log in")


class BoomHandler(BaseHandler):
    def get(self) -> None:
        raise RuntimeError("this handler always fails")


class NotFoundHandler(BaseHandler):
    def prepare(self) -> None:
        raise dualweb.web.HTTPError(404)


def make_app() -> dualweb.web.Application:
    return dualweb.web.Application(
        [(r"/me", MeHandler), (r"/login", LoginHandler), (r"/boom", BoomHandler)],
        login_url="/login",
        default_handler_class=NotFoundHandler,
    )


async def main(port: int) -> None:
    make_app().listen(port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8888)
    asyncio.run(main(parser.parse_args().port))
