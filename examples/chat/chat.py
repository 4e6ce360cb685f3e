"""A chat room served natively, with both long-lived connection styles sharing one history.

    python examples/chat/chat.py [--port 8888] [--broadcast redis://127.0.0.1:6379/0]

Then open http://127.0.0.1:8888/ (WebSocket page) or http://127.0.0.1:8888/poll
(long-polling page) in two browser windows. Endpoints:

* ``GET /ws`` — WebSocket: on open the server sends the history; each text
  message the client sends is posted; every post is sent to every socket as
  ``{"id": n, "body": "..."}``.
* ``GET /updates?cursor=N`` — long polling: answers at once with the
  messages after id ``N``, or waits until there is one (an empty list after
  ``POLL_TIMEOUT`` seconds); a client that goes away stops waiting.
* ``POST /send`` (form field ``body``) — post a message from the polling page
  (503 while the broadcast backend is unreachable).

Messages travel through :mod:`dualweb.broadcast`: with the default
``memory://`` they stay in this process; with ``--broadcast redis://...``
every chat process connected to that Redis gets every message, so a message
posted to one process reaches the WebSocket and long-poll clients of all of
them (run several on different ports, or behind a load balancer). Each process
numbers the messages it receives itself, so a long-poll cursor belongs to the
process that gave it out; WebSocket clients need no sticky sessions.

On SIGINT/SIGTERM every WebSocket is closed with 1001 ("going away") and
every waiting poll answered before the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from dualweb.broadcast import Broadcast, BroadcastUnavailableError, Event, Subscription
from dualweb.httpserver import HTTPServer
from dualweb.web import Application, HTTPError, RequestHandler
from dualweb.websocket import WebSocketClosedError, WebSocketHandler

HERE = Path(__file__).resolve().parent
HISTORY_SIZE = 200
POLL_TIMEOUT = 30.0
MAX_BODY = 2000
CHANNEL = "chat"


class ChatRoom:
    """The shared state: the broadcast, this process's history, the open sockets and polls.

    Every message, posted here or in another process, comes back through the
    broadcast; :meth:`record` numbers it and keeps it in the history.
    """

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast
        self.history: list[dict[str, Any]] = []
        self.next_id = 1
        self.sockets: set[ChatSocket] = set()
        self.waiters: set[asyncio.Future[None]] = set()
        self._last_event: Event | None = None
        self._subscription: Subscription | None = None

    def start(self) -> None:
        """Record every message of the channel, even while no client listens here."""
        self._subscription = self.broadcast.subscribe(CHANNEL, self.record)

    async def post(self, body: str) -> None:
        """Publish ``body`` to every chat process (raises BroadcastUnavailableError)."""
        await self.broadcast.publish_json(CHANNEL, {"body": body})

    def record(self, event: Event) -> None:
        # Each subscription's callback records the event first, so a client's callback never
        # sees a history that lacks it; the same event object reaches every subscription.
        if event is self._last_event:
            return
        self._last_event = event
        self.history.append({"id": self.next_id, "body": event.json()["body"]})
        self.next_id += 1
        del self.history[:-HISTORY_SIZE]

    def last_id(self) -> int:
        return self.next_id - 1

    def since(self, cursor: int) -> list[dict[str, Any]]:
        return [m for m in self.history if m["id"] > cursor]

    def close_all(self) -> None:
        """Close every WebSocket with 1001 and answer every poll (server shutdown)."""
        for socket in list(self.sockets):
            socket.close(1001, "server shutting down")
        waiters, self.waiters = self.waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


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
        self.subscription: Subscription | None = None

    def open(self) -> None:  # type: ignore[override]
        self.room.sockets.add(self)
        self.cursor = self.room.last_id()
        self.write_message({"history": self.room.history})
        self.subscription = self.room.broadcast.subscribe(CHANNEL, self.on_event)

    def on_event(self, event: Event) -> None:
        self.room.record(event)
        for message in self.room.since(self.cursor):
            self.cursor = message["id"]
            try:
                self.write_message(message)
            except WebSocketClosedError:
                return

    async def on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self.close(1003, "text messages only")
            return
        try:
            await self.room.post(check_body(message))
        except HTTPError:
            self.write_message({"error": f"a message is 1 to {MAX_BODY} characters"})
        except BroadcastUnavailableError:
            self.write_message({"error": "the chat is unavailable, try again"})

    def on_close(self) -> None:
        self.room.sockets.discard(self)
        if self.subscription is not None:
            self.subscription.close()


class UpdatesHandler(RequestHandler):
    def initialize(self, room: ChatRoom) -> None:
        self.room = room
        self.gone = False

    def prepare(self) -> None:
        # Subscribed before reading the history, so no message falls in between.
        self.waiter = asyncio.get_running_loop().create_future()
        self.room.waiters.add(self.waiter)
        self.subscription = self.room.broadcast.subscribe(CHANNEL, self.on_event)

    def on_event(self, event: Event) -> None:
        self.room.record(event)
        if not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self) -> None:
        try:
            cursor = int(self.get_argument("cursor", "0") or 0)
        except ValueError:
            raise HTTPError(400, "cursor must be a message id") from None
        messages = self.room.since(cursor)
        if not messages:
            await asyncio.wait([self.waiter], timeout=POLL_TIMEOUT)
            if self.gone:
                return
            messages = self.room.since(cursor)
        self.write({"messages": messages})

    def on_finish(self) -> None:
        self.done()

    def on_connection_close(self) -> None:
        # The client left: stop waiting for it.
        self.gone = True
        self.done()

    def done(self) -> None:
        self.subscription.close()
        self.room.waiters.discard(self.waiter)
        if not self.waiter.done():
            self.waiter.set_result(None)


class SendHandler(RequestHandler):
    def initialize(self, room: ChatRoom) -> None:
        self.room = room

    async def post(self) -> None:
        body = check_body(self.get_argument("body"))
        try:
            await self.room.post(body)
        except BroadcastUnavailableError:
            raise HTTPError(503, "the broadcast backend is unreachable") from None
        self.finish({"body": body})


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


async def main(port: int, broadcast_url: str = "memory://") -> None:
    async with Broadcast(broadcast_url) as broadcast:
        room = ChatRoom(broadcast)
        room.start()
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
    parser.add_argument(
        "--broadcast",
        default="memory://",
        help="broadcast URL: memory:// (this process only) or redis://host:port/db",
    )
    args = parser.parse_args()
    asyncio.run(main(args.port, args.broadcast))
