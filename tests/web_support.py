"""Shared pieces of the handler tests: an app builder, a hello handler, and a handler
wired to a recording connection for the few checks no client can make."""

from __future__ import annotations

from typing import Any

from dualweb.web import Application, RequestHandler


def app_with(*routes: Any, **settings: Any) -> Application:
    """An Application serving ``routes`` with ``settings``."""
    return Application(list(routes), **settings)


class HelloHandler(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class RecordingConnection:
    """A minimal HTTPConnection recording what the handler sends."""

    def __init__(self, supports_async: bool) -> None:
        from dualweb.httputil import HTTPHeaders

        self.supports_async = supports_async
        self.start_line: Any = None
        self.headers: HTTPHeaders = HTTPHeaders()
        self.written: list[bytes] = []
        self.finished = False
        self.context = type("Ctx", (), {"remote_ip": "127.0.0.1", "protocol": "http"})()

    def write_headers(self, start_line: Any, headers: Any, chunk: bytes | None = None) -> Any:
        from dualweb.connection import COMPLETED

        self.start_line = start_line
        self.headers = headers
        if chunk:
            self.written.append(chunk)
        return COMPLETED

    def write(self, chunk: bytes) -> Any:
        from dualweb.connection import COMPLETED

        self.written.append(chunk)
        return COMPLETED

    def finish(self) -> None:
        self.finished = True

    def set_close_callback(self, callback: Any) -> None:
        pass


def make_handler(
    cls: type[RequestHandler], supports_async: bool = False, uri: str = "/", **settings: Any
) -> RequestHandler:
    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

    request = HTTPServerRequest(
        method="GET",
        uri=uri,
        headers=HTTPHeaders({"Host": "example.com"}),
        connection=RecordingConnection(supports_async),  # type: ignore[arg-type]
    )
    return cls(Application(**settings), request)

