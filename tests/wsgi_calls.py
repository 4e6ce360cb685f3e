"""Hand-built WSGI environs and calls, for tests that need exact control over the environ."""

from __future__ import annotations

import io
import sys
from typing import Any


def wsgi_environ(method: str = "GET", path: str = "/", **extra: Any) -> dict[str, Any]:
    """A minimal PEP 3333 environ for ``method path`` (empty body), updated with ``extra``."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    environ.update(extra)
    return environ


def call_wsgi(app: Any, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    """Call a WSGI app; return ``(status, headers, body)``."""
    box: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        box["status"], box["headers"] = status, dict(headers)
        return None

    body = b"".join(app(environ, start_response))
    return box["status"], box["headers"], body
