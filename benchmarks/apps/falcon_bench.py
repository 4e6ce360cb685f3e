"""Falcon peer app for the WSGI benchmark: the same two routes as the others."""

from __future__ import annotations

from typing import Any

import falcon


class HelloResource:
    def on_get(self, req: Any, resp: Any) -> None:
        resp.content_type = "text/html; charset=UTF-8"
        resp.text = "Hello, world"


class JSONResource:
    def on_get(self, req: Any, resp: Any) -> None:
        resp.media = {"message": "Hello, world"}


app = falcon.App()
app.add_route("/", HelloResource())
app.add_route("/json", JSONResource())
