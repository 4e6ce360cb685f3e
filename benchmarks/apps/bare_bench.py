"""The baseline: a bare PEP 3333 callable with a two-route dispatch and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

HELLO = b"Hello, world"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answer ``/`` with text and ``/json`` with a JSON document; 404 otherwise."""
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        body, ctype, status = HELLO, "text/html; charset=UTF-8", "200 OK"
    elif path == "/json":
        body = json.dumps({"message": "Hello, world"}).encode()
        ctype, status = "application/json; charset=UTF-8", "200 OK"
    else:
        body, ctype, status = b"not found", "text/plain", "404 Not Found"
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]
