"""Flask peer app for the WSGI benchmark: the same two routes as the others."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "Hello, world"


@app.route("/json")
def json_route() -> dict[str, str]:
    return {"message": "Hello, world"}
