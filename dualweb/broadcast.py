"""Publish/subscribe fan-out across processes and hosts (optional, native mode only).

A chat room, a live dashboard or a notification feed served by several
processes needs each message posted to one process to reach the clients
connected to every other one. :class:`Broadcast` does that::

    broadcast = Broadcast("redis://127.0.0.1:6379/0")   # or Broadcast("memory://")

    async def main():
        async with broadcast:                  # connect() ... disconnect()
            make_app().listen(8888)
            await asyncio.Event().wait()

    class Post(RequestHandler):
        async def post(self):
            await broadcast.publish("chat", self.get_argument("text"))

    class Poll(RequestHandler):                # long polling
        async def get(self):
            async with broadcast.subscribe("chat") as subscription:
                event = await subscription.get()
            self.write({"text": event.message})

    class ChatSocket(WebSocketHandler):        # callback style
        def open(self):
            self.subscription = broadcast.subscribe("chat", self.on_event)

        def on_event(self, event):
            self.write_message(event.message)

        def on_close(self):
            self.subscription.close()

Backends, chosen by the URL's scheme:

* ``memory://`` fans out inside this :class:`Broadcast` object only (one
  process): for tests, development and single-process deployments.
* ``redis://host:port/db`` (also ``rediss://`` and ``unix://``) uses Redis
  PUBLISH/SUBSCRIBE through redis-py's asyncio client, so every process on
  every host that connects to the same Redis gets every message. Install it
  with ``pip install 'dualweb[broadcast]'``.

Delivery is at most once, like Redis pub/sub: a message reaches the
subscriptions that exist when it is published; nothing is stored for later
subscribers or for a process that is disconnected from Redis at that moment.

**Slow subscribers.** Each iterator-style subscription has a bounded queue
(``max_queue`` events, 1000 by default). With ``overflow="drop_oldest"`` (the
default) a subscriber that falls behind loses its oldest queued events; the
first drop is logged once per subscription at WARNING and
:attr:`Subscription.dropped` counts them. With ``overflow="close"`` the
subscription is closed instead (logged at WARNING): its iterator ends and
:meth:`Subscription.get` raises :class:`SubscriptionClosed`, so the handler can
drop that client. Callback subscriptions have no queue: ``on_message`` is
called as each event arrives and must not block.

**Redis going away.** The subscriber connection reconnects with exponential
backoff (``reconnect_delay`` doubling up to ``max_reconnect_delay``, with
jitter), logging one WARNING on ``dualweb.general`` when the connection is
lost and one INFO line when it is back; every channel that still has
subscribers is subscribed again. Messages published while a process was
disconnected do not reach it. :meth:`Broadcast.publish` does not queue: while
Redis is unreachable it raises :class:`BroadcastUnavailableError` at once.
:meth:`Broadcast.connect` raises it too when Redis cannot be reached at start.

**Native only.** Subscriptions and publishing run on the event loop of
dualweb's native server. Under :class:`dualweb.wsgi.WSGIAdapter` a request has
no running event loop, and :meth:`Broadcast.subscribe` and
:meth:`Broadcast.publish` raise :class:`dualweb.connection.AsyncUnavailableError`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from dualweb._broadcast_base import (
    BroadcastBackend,
    BroadcastError,
    BroadcastUnavailableError,
    Deliver,
    Event,
)
from dualweb.connection import AsyncUnavailableError
from dualweb.log import app_log, gen_log

__all__ = [
    "Broadcast",
    "BroadcastBackend",
    "BroadcastError",
    "BroadcastUnavailableError",
    "Event",
    "MemoryBackend",
    "Subscription",
    "SubscriptionClosed",
]

Overflow = Literal["drop_oldest", "close"]
_OVERFLOW_POLICIES = ("drop_oldest", "close")


class SubscriptionClosed(BroadcastError):
    """:meth:`Subscription.get` was awaited on a closed subscription.

    ``reason`` says why it closed: ``"closed"`` (its owner called
    :meth:`Subscription.close`), ``"overflow"`` (it fell behind with
    ``overflow="close"``) or ``"disconnected"`` (the broadcast was disconnected).
    """

    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(f"subscription to channel {channel!r} is closed ({reason})")
        self.channel = channel
        self.reason = reason


class MemoryBackend(BroadcastBackend):
    """Fan-out within one :class:`Broadcast` object, in this process (``memory://``)."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def connect(self, deliver: Deliver) -> None:
        """Start delivering published messages to ``deliver``."""
        self._deliver = deliver

    async def disconnect(self) -> None:
        """Stop delivering."""
        self._deliver = None

    async def publish(self, channel: str, data: bytes) -> None:
        """Hand ``data`` to the local subscribers of ``channel`` now."""
        if self._deliver is None:
            raise BroadcastUnavailableError("the memory:// broadcast is not connected")
        self._deliver(channel, data)

    def subscribe(self, channel: str) -> Awaitable[None]:
        """Nothing to set up in memory: the result is already complete."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def unsubscribe(self, channel: str) -> None:
        """Nothing to tear down in memory."""


def _backend_for(url: str, reconnect_delay: float, max_reconnect_delay: float) -> BroadcastBackend:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBackend()
    if scheme in ("redis", "rediss", "unix"):
        try:
            from dualweb._broadcast_redis import RedisBackend
        except ImportError as exc:
            raise ImportError(
                f"Broadcast({url!r}) needs the redis package: pip install 'dualweb[broadcast]'"
            ) from exc
        return RedisBackend(
            url, reconnect_delay=reconnect_delay, max_reconnect_delay=max_reconnect_delay
        )
    raise ValueError(
        f"Broadcast URL {url!r} has an unsupported scheme {scheme!r}: use memory://, "
        "redis://host:port/db, rediss:// or unix://"
    )


class Broadcast:
    """Publish messages to channels and subscribe to them, across processes.

    ``url`` picks the backend (``"memory://"`` or ``"redis://host:port/db"``,
    see the module documentation); ``backend`` passes a
    :class:`BroadcastBackend` instance instead. ``max_queue`` and ``overflow``
    are the defaults for iterator-style subscriptions (see
    :meth:`subscribe`). ``reconnect_delay`` and ``max_reconnect_delay`` (seconds)
    bound the Redis backend's reconnection backoff.

    Call :meth:`connect` once the event loop runs (or use ``async with
    broadcast:``) and :meth:`disconnect` at shutdown. Raises ``ValueError`` for
    an unknown URL scheme or overflow policy, ``ImportError`` when the Redis
    backend is asked for and the ``redis`` package is missing.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        backend: BroadcastBackend | None = None,
        max_queue: int = 1000,
        overflow: Overflow = "drop_oldest",
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 5.0,
    ) -> None:
        _check_queue_options(max_queue, overflow)
        self.url = url
        self.max_queue = max_queue
        self.overflow: Overflow = overflow
        self._backend = backend or _backend_for(url, reconnect_delay, max_reconnect_delay)
        self._loop: asyncio.AbstractEventLoop | None = None
        # channel -> its local subscriptions, in subscription order (a dict as an ordered set)
        self._channels: dict[str, dict[Subscription, None]] = {}
        self._ready: dict[str, asyncio.Future[None]] = {}

    def __repr__(self) -> str:
        return f"Broadcast({self.url!r})"

    @property
    def connected(self) -> bool:
        """Whether :meth:`connect` has completed and :meth:`disconnect` has not been called."""
        return self._loop is not None

    def subscriber_count(self, channel: str) -> int:
        """How many open subscriptions this process has on ``channel`` (for monitoring)."""
        return len(self._channels.get(channel, ()))

    async def connect(self) -> None:
        """Connect the backend on the running event loop.

        Raises :class:`BroadcastUnavailableError` when the backend cannot be
        reached, and :class:`BroadcastError` when already connected.
        """
        if self._loop is not None:
            raise BroadcastError(f"{self!r} is already connected")
        await self._backend.connect(self._dispatch)
        self._loop = asyncio.get_running_loop()

    async def disconnect(self) -> None:
        """Close every subscription (their iterators end) and the backend connection.

        Calling it when not connected does nothing.
        """
        if self._loop is None:
            return
        self._loop = None
        for subscriptions in list(self._channels.values()):
            for subscription in list(subscriptions):
                subscription._end("disconnected")
        self._channels.clear()
        self._ready.clear()
        await self._backend.disconnect()

    async def __aenter__(self) -> Broadcast:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    def publish(self, channel: str, message: str | bytes) -> Awaitable[None]:
        """Send ``message`` to every subscriber of ``channel`` in every process; await it.

        A ``str`` is sent as UTF-8. The awaitable completes once the backend
        accepted the message. Raises ``TypeError`` for other message types,
        :class:`dualweb.connection.AsyncUnavailableError` with no running event
        loop (under ``WSGIAdapter``), :class:`BroadcastError` before
        :meth:`connect`, and (when awaited) :class:`BroadcastUnavailableError`
        while the backend is unreachable; the message is then not sent.
        """
        if isinstance(message, str):
            data = message.encode("utf-8")
        elif isinstance(message, (bytes, bytearray, memoryview)):
            data = bytes(message)
        else:
            raise TypeError(
                f"Broadcast.publish({channel!r}, ...) takes str or bytes, got "
                f"{type(message).__name__}; use publish_json() for other values"
            )
        self._check_usable("publish", channel)
        return self._backend.publish(channel, data)

    def publish_json(self, channel: str, value: Any) -> Awaitable[None]:
        """:meth:`publish` ``value`` encoded as JSON (read it back with :meth:`Event.json`).

        Raises ``TypeError`` when ``value`` is not JSON-serializable, and
        whatever :meth:`publish` raises.
        """
        return self.publish(channel, json.dumps(value, separators=(",", ":")))

    def subscribe(
        self,
        channel: str,
        on_message: Callable[[Event], object] | None = None,
        *,
        max_queue: int | None = None,
        overflow: Overflow | None = None,
    ) -> Subscription:
        """Receive the messages published to ``channel`` from now on.

        Registration is immediate (no ``await``), so it fits a handler's
        ``open()`` or ``prepare()``; call :meth:`Subscription.close` when done
        (``on_close()``, ``on_connection_close()``), or use the subscription as
        ``async with``, which also waits until the backend delivers the channel.

        Without ``on_message`` the events queue up in the subscription: read
        them with ``async for event in subscription`` or ``await
        subscription.get()``. The queue holds ``max_queue`` events; when it is
        full, ``overflow`` decides (``"drop_oldest"`` or ``"close"``; defaults
        from the :class:`Broadcast`). With ``on_message`` each event is passed
        to it as it arrives; if it returns an awaitable (a coroutine, or the
        future of ``write_message``) that is run as a task and its failure logged.

        Raises :class:`dualweb.connection.AsyncUnavailableError` with no running
        event loop (under ``WSGIAdapter``), :class:`BroadcastError` before
        :meth:`connect` or on another event loop, ``ValueError`` for a bad
        queue option.
        """
        self._check_usable("subscribe", channel)
        max_queue = self.max_queue if max_queue is None else max_queue
        overflow = self.overflow if overflow is None else overflow
        _check_queue_options(max_queue, overflow)
        subscriptions = self._channels.get(channel)
        if subscriptions is None:
            subscriptions = self._channels[channel] = {}
            self._ready[channel] = asyncio.ensure_future(self._backend.subscribe(channel))
        subscription = Subscription(self, channel, on_message, max_queue, overflow)
        subscriptions[subscription] = None
        return subscription

    def _check_usable(self, operation: str, channel: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise AsyncUnavailableError.for_feature(
                f"Broadcast.{operation}({channel!r})",
                "was called with no running event loop",
                "dualweb.broadcast channels",
                "Publish and subscribe from a coroutine or WebSocketHandler served natively.",
            ) from None
        if self._loop is None:
            raise BroadcastError(
                f"{self!r} is not connected: await broadcast.connect() (or use "
                f"'async with broadcast:') before {operation}()"
            )
        if loop is not self._loop:
            raise BroadcastError(
                f"{self!r} was connected on another event loop; use it from the loop "
                "that called connect()"
            )

    def _ready_for(self, channel: str) -> asyncio.Future[None]:
        return self._ready[channel]

    def _remove(self, subscription: Subscription) -> None:
        subscriptions = self._channels.get(subscription.channel)
        if subscriptions is None or subscription not in subscriptions:
            return
        del subscriptions[subscription]
        if not subscriptions:
            del self._channels[subscription.channel]
            del self._ready[subscription.channel]
            self._backend.unsubscribe(subscription.channel)

    def _dispatch(self, channel: str, data: bytes) -> None:
        subscriptions = self._channels.get(channel)
        if not subscriptions:
            return
        event = Event(channel, data)
        for subscription in list(subscriptions):
            subscription._deliver(event)


def _check_queue_options(max_queue: int, overflow: str) -> None:
    if max_queue < 1:
        raise ValueError(f"max_queue must be at least 1, got {max_queue}")
    if overflow not in _OVERFLOW_POLICIES:
        raise ValueError(f"overflow must be one of {_OVERFLOW_POLICIES}, got {overflow!r}")


class Subscription:
    """One subscriber's view of a channel, made by :meth:`Broadcast.subscribe`.

    Iterate it (``async for event in subscription``) or ``await get()`` for
    the next :class:`Event`; use it as ``async with`` to wait until the
    backend delivers the channel and to close it on exit. :attr:`dropped`
    counts the events lost to the ``drop_oldest`` policy.
    """

    __slots__ = (
        "_broadcast",
        "_callback",
        "_overflow",
        "_queue",
        "_waiter",
        "channel",
        "close_reason",
        "dropped",
        "max_queue",
    )

    def __init__(
        self,
        broadcast: Broadcast,
        channel: str,
        on_message: Callable[[Event], object] | None,
        max_queue: int,
        overflow: Overflow,
    ) -> None:
        self._broadcast = broadcast
        self._callback = on_message
        self._overflow = overflow
        self._queue: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self.channel = channel
        self.max_queue = max_queue
        self.dropped = 0
        self.close_reason: str | None = None

    def __repr__(self) -> str:
        state = f"closed: {self.close_reason}" if self.close_reason else "open"
        return f"<Subscription {self.channel!r} ({state})>"

    @property
    def closed(self) -> bool:
        """Whether the subscription is closed (see :attr:`close_reason`)."""
        return self.close_reason is not None

    async def ready(self) -> None:
        """Wait until the backend delivers this channel.

        A channel first subscribed while Redis is unreachable becomes ready once it is back.
        """
        if not self.closed:
            # Shielded: a cancelled waiter (a client that went away) must not cancel the
            # channel's readiness for the other subscribers.
            await asyncio.shield(self._broadcast._ready_for(self.channel))

    async def get(self) -> Event:
        """The next event; waits for one.

        Raises :class:`SubscriptionClosed` once the subscription is closed and
        its queue is empty, and ``BroadcastError`` for a callback subscription.
        """
        if self._callback is not None:
            raise BroadcastError(
                f"subscription to {self.channel!r} delivers to its on_message callback; "
                "it has no queue to read"
            )
        while not self._queue:
            if self.close_reason is not None:
                raise SubscriptionClosed(self.channel, self.close_reason)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Subscription:
        try:
            await self.ready()
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop receiving; queued events can still be read. Calling it again does nothing."""
        self._end("closed")

    def _end(self, reason: str) -> None:
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self._broadcast._remove(self)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _deliver(self, event: Event) -> None:
        if self.close_reason is not None:
            return
        if self._callback is not None:
            self._call(event)
            return
        if len(self._queue) >= self.max_queue:
            if self._overflow == "close":
                gen_log.warning(
                    "broadcast: subscriber to channel %r fell behind (%d events queued); "
                    "closing its subscription",
                    self.channel,
                    len(self._queue),
                )
                self._end("overflow")
                return
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1:
                gen_log.warning(
                    "broadcast: subscriber to channel %r fell behind (%d events queued); "
                    "dropping its oldest events (logged once per subscriber)",
                    self.channel,
                    self.max_queue,
                )
        self._queue.append(event)
        self._wake()

    def _call(self, event: Event) -> None:
        assert self._callback is not None
        try:
            result = self._callback(event)
        except Exception:
            app_log.exception(
                "broadcast: on_message callback %r failed for channel %r",
                self._callback,
                self.channel,
            )
            return
        if isinstance(result, Awaitable):
            future = asyncio.ensure_future(result)
            future.add_done_callback(self._log_failure)

    def _log_failure(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            app_log.error(
                "broadcast: on_message callback %r failed for channel %r",
                self._callback,
                self.channel,
                exc_info=future.exception(),
            )
