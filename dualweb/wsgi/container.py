"""Hosting a WSGI application (Flask, Django, ...) on dualweb's native HTTP server.

:class:`WSGIContainer` is the other direction from
:class:`~dualweb.wsgi.WSGIAdapter`: it wraps a PEP 3333 callable so that
``HTTPServer(WSGIContainer(app))`` (or a ``FallbackHandler`` route) serves it.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from dualweb.connection import ResponseStartLine
from dualweb.httputil import HTTPHeaders, HTTPServerRequest, responses
from dualweb.log import access_log, app_log
from dualweb.wsgi.pages import error_page

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import WSGIApplication

__all__ = ["WSGIContainer"]

_NO_BODY_STATUS = frozenset({204, 304})


class WSGIContainer:
    """Serve a WSGI application (Flask, Django, ...) with dualweb's native HTTP server.

    ``HTTPServer(WSGIContainer(flask_app)).listen(8888)``, or route part of an
    :class:`~dualweb.web.Application` to it with ``FallbackHandler``.

    Args:
        wsgi_application: the PEP 3333 callable to host.
        executor: a :class:`concurrent.futures.Executor` to run the WSGI
            application in. By default the application runs directly on the
            event loop thread, which blocks the server while it works (WSGI
            applications are synchronous); pass a thread pool to keep the loop
            responsive and serve several requests at once.
    """

    def __init__(
        self, wsgi_application: WSGIApplication, executor: Executor | None = None
    ) -> None:
        self.wsgi_application = wsgi_application
        self.executor = executor
        # Strong references: the event loop only keeps weak ones to tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, request: HTTPServerRequest) -> None:
        """Serve ``request`` by calling the WSGI application and writing its response."""
        if self.executor is None:
            self._write_response(request, *self._call_app(request))
            return
        task = asyncio.get_running_loop().create_task(self.handle_request(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle_request(self, request: HTTPServerRequest) -> None:
        """Run the WSGI application for ``request`` (in the executor, if any) and respond."""
        if self.executor is None:
            self._write_response(request, *self._call_app(request))
            return
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.executor, self._call_app, request)
        except Exception:
            app_log.error("Uncaught exception in WSGI application %r", request, exc_info=True)
            result = _container_error()
        self._write_response(request, *result)

    def environ(self, request: HTTPServerRequest) -> dict[str, Any]:
        """Build the PEP 3333 environ dictionary for ``request``."""
        host, port = _split_host(request.host, request.protocol)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(request.path).decode("latin-1"),
            "QUERY_STRING": request.query,
            "REMOTE_ADDR": request.remote_ip,
            "SERVER_NAME": host,
            "SERVER_PORT": port,
            "SERVER_PROTOCOL": request.version,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.protocol,
            "wsgi.input": io.BytesIO(request.body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.executor is not None,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if request.body:
            environ["CONTENT_LENGTH"] = str(len(request.body))
        for name, value in request.headers.get_all():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = value
                continue
            if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                # The body is already whole (a chunked one too): its length is known.
                continue
            key = "HTTP_" + key
            # Repeated headers are folded as a WSGI server would.
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _call_app(
        self, request: HTTPServerRequest
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Call the WSGI application; return its status, headers and whole body."""
        data: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            # Nothing is sent before the application returns, so a second call
            # (with exc_info, after an error) may always replace the response.
            data["status"] = status
            data["headers"] = headers
            return chunks.append

        try:
            app_response = self.wsgi_application(self.environ(request), start_response)
            try:
                for chunk in app_response:
                    if chunk:
                        chunks.append(chunk)
            finally:
                close = getattr(app_response, "close", None)
                if close is not None:
                    close()
        except Exception:
            app_log.error("Uncaught exception in WSGI application %r", request, exc_info=True)
            return _container_error()
        if "status" not in data:
            app_log.error("WSGI application did not call start_response (%r)", request)
            return _container_error()
        return data["status"], list(data["headers"]), b"".join(chunks)

    def _write_response(
        self,
        request: HTTPServerRequest,
        status: str,
        header_list: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        present = {name.lower() for name, _ in header_list}
        headers = HTTPHeaders()
        for name, value in header_list:
            headers.add(name, value)
        if code not in _NO_BODY_STATUS and code >= 200:
            if "content-length" not in present:
                headers["Content-Length"] = str(len(body))
            if "content-type" not in present:
                headers["Content-Type"] = "text/html; charset=UTF-8"
        if "server" not in present:
            headers["Server"] = "dualweb"
        connection = request.connection
        if connection is None:
            raise RuntimeError(
                "WSGIContainer needs a request with a connection; serve it with "
                "dualweb's HTTPServer (HTTPServer(WSGIContainer(app)))."
            )
        start_line = ResponseStartLine("HTTP/1.1", code, reason or responses.get(code, "Unknown"))
        connection.write_headers(start_line, headers, chunk=body)
        connection.finish()
        self._log(code, request)

    def _log(self, status_code: int, request: HTTPServerRequest) -> None:
        if status_code < 400:
            log = access_log.info
        elif status_code < 500:
            log = access_log.warning
        else:
            log = access_log.error
        elapsed_ms = 1000.0 * request.request_time()
        log(
            "%d %s %s (%s) %.2fms",
            status_code,
            request.method,
            request.uri,
            request.remote_ip,
            elapsed_ms,
        )


def _split_host(host: str, protocol: str) -> tuple[str, str]:
    """``"example.com:8080"`` -> ``("example.com", "8080")``; IPv6 brackets removed."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    if not port.isdigit():
        port = "443" if protocol == "https" else "80"
    return name, port


def _container_error() -> tuple[str, list[tuple[str, str]], bytes]:
    body = error_page(500, "Internal Server Error")
    return (
        "500 Internal Server Error",
        [("Content-Type", "text/html; charset=UTF-8")],
        body,
    )

