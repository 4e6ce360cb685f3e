"""Shared pieces of the handler tests: an app builder, a hello handler, and a handler
wired to a recording connection for the few checks no client can make."""

from __future__ import annotations

import asyncio
from typing import Any

from dualweb.connection import COMPLETED, HTTPConnection
from dualweb.httputil import HTTPHeaders, HTTPServerRequest, ResponseStartLine
from dualweb.web import Application, RequestHandler


def app_with(*routes: Any, **settings: Any) -> Application:
    """An Application serving ``routes`` with ``settings``."""
    return Application(list(routes), **settings)


class HelloHandler(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class RecordingConnection(HTTPConnection):
    """Stands in for a driver's connection and records the response it is given:
    ``start_line``, ``headers``, ``body``; ``finished`` once the response ended
    (``done`` is the same as an event a coroutine can wait on)."""

    def __init__(self, supports_async: bool = False, remote_ip: str = "127.0.0.1") -> None:
        self.supports_async = supports_async  # type: ignore[misc]
        self.context = type("Ctx", (), {"remote_ip": remote_ip, "protocol": "http"})()
        self.start_line: ResponseStartLine | None = None
        self.headers: HTTPHeaders = HTTPHeaders()
        self.body = b""
        self.done = asyncio.Event()

    @property
    def finished(self) -> bool:
        return self.done.is_set()

    def write_headers(
        self, start_line: ResponseStartLine, headers: HTTPHeaders, chunk: bytes | None = None
    ) -> Any:
        self.start_line, self.headers = start_line, headers
        self.body += chunk or b""
        return COMPLETED

    def write(self, chunk: bytes) -> Any:
        self.body += chunk
        return COMPLETED

    def finish(self) -> None:
        self.done.set()

    def set_close_callback(self, callback: Any) -> None:
        pass


def make_handler(
    cls: type[RequestHandler], supports_async: bool = False, uri: str = "/", **settings: Any
) -> RequestHandler:
    request = HTTPServerRequest(
        method="GET",
        uri=uri,
        headers=HTTPHeaders({"Host": "example.com"}),
        connection=RecordingConnection(supports_async),  # type: ignore[arg-type]
    )
    return cls(Application(**settings), request)

