"""Hosting a WSGI application (Flask, Django, ...) on dualweb's native HTTP server.

:class:`WSGIContainer` is the other direction from
:class:`~dualweb.wsgi.WSGIAdapter`: it wraps a PEP 3333 callable so that
``HTTPServer(WSGIContainer(app))`` (or a ``FallbackHandler`` route) serves it.

The container talks to the server only through the seam's public interface:
``request.connection.write_headers`` / ``write`` / ``finish`` /
``set_close_callback`` and ``request.connection.context`` (through the request).
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import unquote_to_bytes

from dualweb.connection import COMPLETED, HTTPConnection, ResponseStartLine
from dualweb.httputil import HTTPHeaders, HTTPServerRequest, responses
from dualweb.log import access_log, app_log
from dualweb.wsgi.pages import error_page

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import WSGIApplication

__all__ = ["WSGIContainer"]

_T = TypeVar("_T")

_NO_BODY_STATUS = frozenset({204, 304})


class WSGIContainer:
    """Serve a WSGI application (Flask, Django, ...) with dualweb's native HTTP server.

    ``HTTPServer(WSGIContainer(flask_app)).listen(8888)``, or route part of an
    :class:`~dualweb.web.Application` to it with ``FallbackHandler``.

    The response is streamed: each chunk the application's iterable yields
    (and each call of the ``write()`` callable ``start_response`` returns) is
    sent to the client as it is produced, chunk-encoded unless the
    application set ``Content-Length`` (a list or tuple response is sent
    whole, with its ``Content-Length``). The request body is ``wsgi.input``.
    The iterable's ``close()`` is always called, also when the client
    disconnects, which stops the iteration. An exception from the
    application is logged and answered ``500``; once the headers are sent it
    can no longer be, so the connection is closed and the client sees a
    truncated response.

    Args:
        wsgi_application: the PEP 3333 callable to host.
        executor: where the application runs. ``None`` (the default, as in
            Tornado) runs it on the event loop thread: while the application
            works (its call, each step of its iterable), every other
            connection of the server waits, so one slow request stalls them
            all. Pass a :class:`concurrent.futures.Executor` (normally a
            ``ThreadPoolExecutor``) to run the application, each ``next()`` on
            its iterable and its ``close()`` in it: the loop keeps serving,
            requests run concurrently (up to the pool's size) and each chunk
            is written with back-pressure (a slow client pauses the
            iteration). ``"threads"`` (dualweb only) gives this container a
            ``ThreadPoolExecutor`` of the standard library's default size.

    Raises:
        ValueError: ``executor`` is a string other than ``"threads"``.
    """

    def __init__(
        self,
        wsgi_application: WSGIApplication,
        executor: Executor | Literal["threads"] | None = None,
    ) -> None:
        if isinstance(executor, str):
            if executor != "threads":
                raise ValueError(
                    f"WSGIContainer(executor={executor!r}): pass a concurrent.futures.Executor, "
                    '"threads" (a thread pool of the default size), or None (the event loop thread)'
                )
            executor = ThreadPoolExecutor(thread_name_prefix="dualweb-wsgi")
        self.wsgi_application = wsgi_application
        self.executor: Executor | None = executor
        # Strong references: the event loop only keeps weak ones to tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, request: HTTPServerRequest) -> None:
        """Serve ``request``.

        Without an executor the application is called at once; a list or tuple
        response is then written at once too, any other iterable is consumed
        by a task on the running loop. With an executor, everything happens in
        a task (see :meth:`handle_request`).
        """
        if self.executor is not None:
            self._spawn(self.handle_request(request))
            return
        out = _Response(self, request, None)
        try:
            result = self._call_app(request, out)
        except Exception:
            out.fail()
            return
        if isinstance(result, (list, tuple)):
            try:
                out.send_whole(b"".join(result))
            except Exception:
                out.fail()
            else:
                out.end()
            return
        self._spawn(self._respond(out, result))

    async def handle_request(self, request: HTTPServerRequest) -> None:
        """Run the WSGI application for ``request`` (in the executor, if any) and respond."""
        loop = asyncio.get_running_loop() if self.executor is not None else None
        out = _Response(self, request, loop)
        try:
            result = await self._step(self._call_app, request, out)
        except Exception:
            out.fail()
            return
        await self._respond(out, result)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respond(self, out: _Response, result: Iterable[bytes]) -> None:
        """Send what ``result`` yields as it comes, then call its ``close()``."""
        try:
            try:
                if isinstance(result, (list, tuple)):
                    await _settled(out.send_whole(b"".join(result)))
                else:
                    chunks = iter(result)
                    while not out.gone:
                        chunk = await self._step(next, chunks, None)
                        if chunk is None:
                            break
                        await _settled(out.send(chunk))
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    await self._step(close)
        except Exception:
            out.fail()
        else:
            out.end()

    async def _step(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)`` in the executor, or on this thread after a turn of the loop."""
        if self.executor is None:
            # Between two steps of the application the loop serves other
            # connections and notices a client that went away.
            await asyncio.sleep(0)
            return function(*args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

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

    def _call_app(self, request: HTTPServerRequest, out: _Response) -> Iterable[bytes]:
        return self.wsgi_application(self.environ(request), out.start_response)

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


class _Response:
    """One request's response: the state ``start_response`` sets and the writes to the client.

    Lives on the loop thread; only :meth:`start_response` and the ``write()``
    callable may be called from the executor (the latter hops to the loop).
    """

    __slots__ = ("connection", "container", "gone", "headers", "loop", "request", "sent", "status")

    def __init__(
        self,
        container: WSGIContainer,
        request: HTTPServerRequest,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        connection = request.connection
        if connection is None:
            raise RuntimeError(
                "WSGIContainer needs a request with a connection; serve it with "
                "dualweb's HTTPServer (HTTPServer(WSGIContainer(app)))."
            )
        self.container = container
        self.request = request
        self.connection: HTTPConnection = connection
        # Set when the executor runs the application: write() must then hop to it.
        self.loop = loop
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = False
        self.gone = False
        connection.set_close_callback(self._client_gone)

    def _client_gone(self) -> None:
        self.gone = True

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        """PEP 3333's ``start_response``: remember the status and headers, return ``write``."""
        if exc_info is not None and exc_info[1] is not None:
            if self.sent:
                # Too late to replace the response: PEP 3333 says re-raise.
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise RuntimeError(
                "start_response() called twice without exc_info: a WSGI application may "
                "replace its response only while handling an error (pass sys.exc_info())"
            )
        code = status[:3]
        if not (code.isdigit() and (len(status) == 3 or status[3] == " ")):
            raise ValueError(f'WSGI status must look like "200 OK", got {status!r}')
        self.status = status
        self.headers = list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        """The ``write()`` callable: send ``data`` now (waiting for the client in an executor)."""
        loop = self.loop
        if loop is None:
            self.send(data)
        else:
            asyncio.run_coroutine_threadsafe(self._send_from_loop(data), loop).result()

    async def _send_from_loop(self, data: bytes) -> None:
        await _settled(self.send(data))

    def send(self, chunk: bytes) -> Awaitable[None]:
        """Send a body chunk, with the headers first; returns the write's awaitable.

        Raises:
            RuntimeError: the application has not called ``start_response``.
        """
        if not chunk or self.gone:
            return COMPLETED
        if not self.sent:
            return self._write_head(chunk, None)
        return self._watch(self.connection.write(chunk))

    def send_whole(self, body: bytes) -> Awaitable[None]:
        """Send a response known in full (a list or tuple), with its ``Content-Length``."""
        if self.sent or self.gone:
            return self.send(body)
        return self._write_head(body, len(body))

    def _write_head(self, chunk: bytes, length: int | None) -> Awaitable[None]:
        status = self.status
        if status is None:
            raise RuntimeError("the WSGI application did not call start_response()")
        code = int(status[:3])
        reason = status[4:] or responses.get(code, "Unknown")
        present = {name.lower() for name, _ in self.headers}
        headers = HTTPHeaders()
        for name, value in self.headers:
            headers.add(name, value)
        if code not in _NO_BODY_STATUS and code >= 200:
            if length is not None and "content-length" not in present:
                headers["Content-Length"] = str(length)
            if "content-type" not in present:
                headers["Content-Type"] = "text/html; charset=UTF-8"
        if "server" not in present:
            headers["Server"] = "dualweb"
        self.sent = True
        start_line = ResponseStartLine("HTTP/1.1", code, reason)
        return self._watch(self.connection.write_headers(start_line, headers, chunk=chunk or None))

    def _watch(self, written: Awaitable[None]) -> Awaitable[None]:
        """Note (now or when it fails) a write refused because the client is gone."""
        if isinstance(written, asyncio.Future):
            if not written.done():
                written.add_done_callback(self._write_done)
                return written
            self._write_done(written)
            return COMPLETED
        return written

    def _write_done(self, written: asyncio.Future[None]) -> None:
        if written.cancelled() or written.exception() is not None:
            self.gone = True

    def end(self, body: bytes = b"") -> None:
        """The application is done: finish the response (headers first if none were sent)."""
        if self.gone:
            self.container._log(self._code(), self.request)
            return
        try:
            if not self.sent:
                if body or self.request.method != "HEAD":
                    self.send_whole(body)
                else:
                    # An empty answer to HEAD says nothing about the GET's length.
                    self._write_head(b"", None)
            self.connection.finish()
        except Exception:
            # E.g. fewer bytes than the Content-Length the application declared:
            # the connection is closed, so the client sees a truncated response.
            app_log.error("WSGI response to %r could not be finished", self.request, exc_info=True)
        self.container._log(self._code(), self.request)

    def fail(self) -> None:
        """The application raised (the exception is being handled): log it, answer 500."""
        app_log.error("Uncaught exception in WSGI application %r", self.request, exc_info=True)
        if self.gone:
            self.end()
            return
        if self.sent:
            self._abort()
            return
        self.status = "500 Internal Server Error"
        self.headers = [("Content-Type", "text/html; charset=UTF-8")]
        self.end(error_page(500, "Internal Server Error"))

    def _abort(self) -> None:
        """End a response cut short by an error: close the connection without completing it.

        Finishing would make a chunked response look complete to the client;
        closing the connection after the bytes already sent shows it truncated.
        """
        try:
            self.connection.upgrade().close()
        except Exception:
            # No way to take the connection over: end the response as a
            # RequestHandler does after an error past flush().
            self.end()
            return
        self.container._log(self._code(), self.request)

    def _code(self) -> int:
        return int(self.status[:3]) if self.status else 500


async def _settled(written: Awaitable[None]) -> None:
    """Wait for a write; a failure (the client went away) is noted by ``_Response._watch``."""
    try:
        await written
    except Exception:
        pass


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
