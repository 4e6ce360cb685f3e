"""The delegate that runs a :class:`~dualweb.web.RequestHandler` class for one request.

Routing returns a :class:`HandlerDelegate` for a handler class on the
general path (``Application.find_handler``); the application's own fast path
for plain handlers makes none and calls :func:`~dualweb.web.handler.run_handler`
itself (see :mod:`dualweb.web.application`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dualweb.connection import HTTPMessageDelegate, RequestStartLine, ResponseStartLine
from dualweb.log import app_log
from dualweb.web.bodystream import BodyStream
from dualweb.web.handler import RequestHandler, run_handler, start_streaming_handler
from dualweb.web.protocols import ApplicationLike

if TYPE_CHECKING:
    import asyncio

    from dualweb.headers import HTTPHeaders
    from dualweb.httputil import HTTPServerRequest

__all__ = ["HandlerDelegate"]

# Shared by every delegate without rule or path keyword arguments; only ever unpacked.
_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})


class HandlerDelegate(HTTPMessageDelegate):
    """Runs one :class:`RequestHandler` class for one request (what routing returns for it).

    Buffers the body and runs the handler's lifecycle in :meth:`finish`; for
    ``@stream_request_body`` handlers (natively) it starts the handler in
    :meth:`headers_received` and passes each chunk to ``data_received``.
    :meth:`execute` runs the handler for a request whose body is already in
    place (``Application.__call__``).

    Args:
        application: the application.
        request: the request.
        handler_class: the :class:`RequestHandler` subclass.
        handler_kwargs: keyword arguments for its ``initialize``.
        path_args: positional path arguments (raw bytes) for the verb method.
        path_kwargs: keyword path arguments (raw bytes) for the verb method.
    """

    __slots__ = (
        "_task",
        "application",
        "chunks",
        "handler",
        "handler_class",
        "handler_kwargs",
        "path_args",
        "path_kwargs",
        "request",
        "stream",
        "streaming",
    )

    def __init__(
        self,
        application: ApplicationLike,
        request: HTTPServerRequest,
        handler_class: type[RequestHandler],
        handler_kwargs: dict[str, Any] | None,
        path_args: list[bytes] | None,
        path_kwargs: dict[str, bytes] | None,
    ) -> None:
        self.application = application
        self.request = request
        self.handler_class = handler_class
        self.handler_kwargs = handler_kwargs or _NO_KWARGS
        self.path_args = path_args or ()
        self.path_kwargs = path_kwargs or _NO_KWARGS
        self.chunks: list[bytes] | None = []
        #: The handler class uses ``@stream_request_body``.
        self.streaming: bool = handler_class._stream_request_body
        self.stream: BodyStream | None = None
        self.handler: RequestHandler | None = None
        self._task: asyncio.Task[None] | None = None

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """Start streaming handlers now (their ``prepare`` runs before the body arrives)."""
        if self.streaming:
            connection = self.request.connection
            if connection is not None and connection.supports_async:
                self.stream = BodyStream()
            return self.execute()
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Pass a body chunk to a streaming handler, or buffer it."""
        if self.streaming:
            handler = self.handler
            if handler is None or handler._finished:
                return None
            return handler.data_received(chunk)
        if self.chunks is not None:
            self.chunks.append(chunk)
        return None

    def finish(self) -> Awaitable[None] | None:
        """The whole request has arrived: run the handler (or release a streaming one)."""
        if self.streaming:
            if self.stream is not None:
                self.stream.body_done()
            return self._task
        chunks = self.chunks
        if chunks:
            self.request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self.execute()

    def on_connection_close(self) -> None:
        """The client went away before the request was complete."""
        if self.streaming:
            if self.handler is not None:
                self.handler.on_connection_close()
        else:
            self.chunks = None

    def execute(self) -> Awaitable[None] | None:
        """Create the handler and run its lifecycle.

        Returns ``None`` when the request completed synchronously, else the
        awaitable to run (for streaming handlers: the future that gates the
        body until ``prepare`` is done).
        """
        stream = self.stream
        handler = (self.application, self.request, self.handler_class, self.handler_kwargs)
        if stream is None:
            # Every handler without a streamed body (and any handler under WSGI,
            # where _run reports the unavailable feature through the error path).
            return run_handler(*handler, self.path_args, self.path_kwargs)
        self.handler, coroutine = start_streaming_handler(
            *handler, self.path_args, self.path_kwargs, stream
        )
        if coroutine is not None:
            import asyncio  # only natively (see RequestHandler._resume)

            self._task = asyncio.ensure_future(coroutine)
            self._task.add_done_callback(_log_task_error)
        return stream.prepared


def _log_task_error(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        app_log.error("Exception in streaming handler", exc_info=task.exception())
