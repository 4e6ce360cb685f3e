"""dualweb peer app for the WSGI benchmark: the same two routes, through WSGIAdapter."""

from __future__ import annotations

from dualweb.web import Application, RequestHandler
from dualweb.wsgi import WSGIAdapter


class HelloHandler(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class JSONHandler(RequestHandler):
    def get(self) -> None:
        self.write({"message": "Hello, world"})


def make_app() -> Application:
    return Application([(r"/", HelloHandler), (r"/json", JSONHandler)])


app = WSGIAdapter(make_app())
