"""Bottle peer app for the WSGI benchmark: the same two routes as the others."""

from __future__ import annotations

import bottle

app = bottle.Bottle()


@app.route("/")
def hello() -> str:
    return "Hello, world"


@app.route("/json")
def json_route() -> dict[str, str]:
    return {"message": "Hello, world"}
