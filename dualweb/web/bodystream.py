"""How a ``@stream_request_body`` handler waits for its body: :class:`BodyStream`.

The small named object the streaming-body coordination of
:mod:`dualweb.web.handler` goes through (natively only: under WSGI a
streaming handler is refused before it runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

__all__ = ["BodyLost", "BodyStream"]


class BodyLost(Exception):
    """The client went away before a streamed body was complete (see :meth:`BodyStream.lost`)."""


class BodyStream:
    """Coordinates a ``@stream_request_body`` handler with the arrival of its body (natively).

    ``prepared`` completes once ``prepare()`` is done: the delegate returns it
    from ``headers_received``, so the driver reads no body before then and
    ``data_received`` never runs ahead of ``prepare``. ``complete`` completes
    when the whole body has arrived (the verb method runs next) or fails
    when the client went away (the verb method is then not called).
    """

    __slots__ = ("complete", "prepared")

    def __init__(self) -> None:
        import asyncio  # only natively (see RequestHandler._resume)

        loop = asyncio.get_running_loop()
        self.prepared: asyncio.Future[None] = loop.create_future()
        self.complete: asyncio.Future[None] = loop.create_future()

    def release_prepared(self) -> None:
        """``prepare()`` is done (or the request ended early): let the body flow."""
        if not self.prepared.done():
            self.prepared.set_result(None)

    def body_done(self) -> None:
        """The whole body has arrived."""
        if not self.complete.done():
            self.complete.set_result(None)

    def lost(self) -> None:
        """The client went away before the body was complete."""
        if not self.complete.done():
            self.complete.set_exception(BodyLost())
            self.complete.exception()  # retrieved: nobody may be awaiting it

    async def wait_complete(self) -> bool:
        """Wait for the whole body; ``False`` if the client went away first."""
        try:
            await self.complete
        except BodyLost:
            return False
        return True
