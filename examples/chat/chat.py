"""A chat room served natively, with both long-lived connection styles sharing one history.

    python examples/chat/chat.py [--port 8888]

Then open http://127.0.0.1:8888/ (WebSocket page) or http://127.0.0.1:8888/poll
(long-polling page) in two browser windows. Endpoints:

* ``GET /ws`` — WebSocket: on open the server sends the history; each text
  message the client sends is posted; every post is sent to every socket as
  ``{"id": n, "body": "..."}``.
* ``GET /updates?cursor=N`` — long polling: answers at once with the
  messages after id ``N``, or waits until there is one (an empty list after
  ``POLL_TIMEOUT`` seconds); a client that goes away stops waiting.
* ``POST /send`` (form field ``body``) — post a message from the polling page.

On SIGINT/SIGTERM every WebSocket is closed with 1001 ("going away") and
every waiting poll answered before the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from dualweb.httpserver import HTTPServer
from dualweb.web import Application, HTTPError, RequestHandler
from dualweb.websocket import WebSocketClosedError, WebSocketHandler

HERE = Path(__file__).resolve().parent
HISTORY_SIZE = 200
POLL_TIMEOUT = 30.0
MAX_BODY = 2000


class ChatRoom:
    """The shared state: the recent history, the open sockets and the waiting polls."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []
        self.next_id = 1
        self.sockets: set[ChatSocket] = set()
        self.waiters: set[asyncio.Future[None]] = set()

    def post(self, body: str) -> dict[str, Any]:
        message = {"id": self.next_id, "body": body}
        self.next_id += 1
        self.history.append(message)
        del self.history[:-HISTORY_SIZE]
        for socket in list(self.sockets):
            try:
                socket.write_message(message)
            except WebSocketClosedError:
                self.sockets.discard(socket)
        self.wake_pollers()
        return message

    def since(self, cursor: int) -> list[dict[str, Any]]:
        return [m for m in self.history if m["id"] > cursor]

    def wake_pollers(self) -> None:
        waiters, self.waiters = self.waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close_all(self) -> None:
        """Close every WebSocket with 1001 and answer every poll (server shutdown)."""
        for socket in list(self.sockets):
            socket.close(1001, "server shutting down")
        self.wake_pollers()


def check_body(body: str) -> str:
    body = body.strip()
    if not body or len(body) > MAX_BODY:
        raise HTTPError(400, "a message is 1 to %d characters", MAX_BODY)
    return body


class PageHandler(RequestHandler):
    def initialize(self, page: str) -> None:
        self.page = page

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.write((HERE / self.page).read_bytes())


class ChatSocket(WebSocketHandler):
    def initialize(self, room: ChatRoom) -> None:
        self.room = room

    def open(self) -> None:  # type: ignore[override]
        self.room.sockets.add(self)
        self.write_message({"history": self.room.history})

    def on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self.close(1003, "text messages only")
            return
        try:
            self.room.post(check_body(message))
        except HTTPError:
            self.write_message({"error": f"a message is 1 to {MAX_BODY} characters"})

    def on_close(self) -> None:
        self.room.sockets.discard(self)


class UpdatesHandler(RequestHandler):
    def initialize(self, room: ChatRoom) -> None:
        self.room = room
        self.waiter: asyncio.Future[None] | None = None
        self.gone = False

    async def get(self) -> None:
        try:
            cursor = int(self.get_argument("cursor", "0") or 0)
        except ValueError:
            raise HTTPError(400, "cursor must be a message id") from None
        messages = self.room.since(cursor)
        if not messages:
            waiter = self.waiter = asyncio.get_running_loop().create_future()
            self.room.waiters.add(waiter)
            await asyncio.wait([waiter], timeout=POLL_TIMEOUT)
            self.room.waiters.discard(waiter)
            if self.gone:
                return
            messages = self.room.since(cursor)
        self.write({"messages": messages})

    def on_connection_close(self) -> None:
        # The client left: stop waiting for it.
        self.gone = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class SendHandler(RequestHandler):
    def initialize(self, room: ChatRoom) -> None:
        self.room = room

    def post(self) -> None:
        self.finish(self.room.post(check_body(self.get_argument("body"))))


def make_app(room: ChatRoom) -> Application:
    return Application(
        [
            ("/", PageHandler, {"page": "index.html"}),
            ("/poll", PageHandler, {"page": "poll.html"}),
            ("/ws", ChatSocket, {"room": room}),
            ("/updates", UpdatesHandler, {"room": room}),
            ("/send", SendHandler, {"room": room}),
        ]
    )


async def main(port: int) -> None:
    room = ChatRoom()
    server: HTTPServer = make_app(room).listen(port, "127.0.0.1")
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    print(f"Chat on http://127.0.0.1:{port}/ (long polling: /poll)", flush=True)
    await stopping.wait()
    server.stop()
    room.close_all()
    # Give the closing handshakes a moment, then drop what is left.
    for _ in range(50):
        if not room.sockets:
            break
        await asyncio.sleep(0.02)
    await server.close_all_connections()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8888)
    asyncio.run(main(parser.parse_args().port))
