"""The Redis backend of :mod:`dualweb.broadcast` (redis-py's asyncio client).

Theory of operation: one client connection publishes (PUBLISH, through
redis-py's pool); one dedicated connection subscribes, owned by a reader task.
That connection is always subscribed to a private control channel as well as
to every channel with local subscribers, so it stays in subscriber mode and a
lost connection is noticed at once even when no user channel is subscribed.

SUBSCRIBE/UNSUBSCRIBE for user channels are sent from short tasks serialized
by a lock (so they reach Redis in the order the subscriptions changed) while
the reader blocks on the next message; Redis's subscribe confirmation, read by
the reader, completes the channel's readiness future.

redis-py's own retries are switched off: when the connection fails, the
reader drops the whole PubSub, reconnects with its own backoff and logs the
loss and the recovery once each, then subscribes to every wanted channel again.
"""

from __future__ import annotations

import asyncio
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dualweb._broadcast_base import BroadcastBackend, BroadcastUnavailableError, Deliver
from dualweb.log import gen_log

# Errors that mean "Redis is not reachable right now" (OSError covers refused/reset sockets).
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_CONTROL_CHANNEL = "dualweb.broadcast:control"


def _safe_url(url: str) -> str:
    """``url`` with any password replaced, fit for logs and error messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class RedisBackend(BroadcastBackend):
    """Fan-out through Redis PUBLISH/SUBSCRIBE, across processes and hosts.

    ``url`` is a redis-py URL (``redis://host:port/db``, ``rediss://``,
    ``unix://path``); ``reconnect_delay`` is the first wait after a lost
    connection, doubled on each failed attempt up to ``max_reconnect_delay``.
    """

    def __init__(
        self, url: str, *, reconnect_delay: float = 0.1, max_reconnect_delay: float = 5.0
    ) -> None:
        self.url = url
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self._client: Redis | None = None
        self._deliver: Deliver | None = None
        self._pubsub: PubSub | None = None  # None while disconnected
        self._reader: asyncio.Task[None] | None = None
        self._wanted: set[str] = set()
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def connect(self, deliver: Deliver) -> None:
        """Connect and start the reader; raises ``BroadcastUnavailableError`` if Redis is down."""
        # No retries inside redis-py: a failure surfaces at once and is handled here.
        self._client = Redis.from_url(self.url, retry=Retry(NoBackoff(), 0))
        self._deliver = deliver
        try:
            pubsub = await self._open()
        except _UNREACHABLE as exc:
            await self._client.aclose()
            self._client = None
            raise BroadcastUnavailableError(
                f"cannot connect to Redis at {_safe_url(self.url)}: {exc}"
            ) from exc
        self._reader = asyncio.get_running_loop().create_task(self._run(pubsub))

    async def disconnect(self) -> None:
        """Stop the reader and close both connections."""
        if self._reader is not None:
            reader, self._reader = self._reader, None
            for _ in range(100):
                # redis-py can swallow a cancellation that lands while it sets up a
                # connection (the reader reconnecting), so cancel until the task is gone.
                reader.cancel()
                await asyncio.wait({reader}, timeout=0.1)
                if reader.done():
                    await asyncio.gather(reader, return_exceptions=True)
                    break
            else:
                gen_log.warning("broadcast: the Redis reader did not stop within 10 s")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pubsub is not None:
            await self._discard(self._pubsub)
            self._pubsub = None
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._wanted.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def publish(self, channel: str, data: bytes) -> None:
        """PUBLISH ``data`` on ``channel``; ``BroadcastUnavailableError`` if Redis is down."""
        if self._client is None:
            raise BroadcastUnavailableError(f"not connected to Redis at {_safe_url(self.url)}")
        try:
            await self._client.publish(channel, data)
            return
        except _UNREACHABLE:
            # A pooled connection left over from before a Redis restart fails once and is
            # dropped by the pool; a second attempt uses a fresh one. Only a server dying
            # between delivering the first attempt and replying makes it go out twice.
            pass
        try:
            await self._client.publish(channel, data)
        except _UNREACHABLE as exc:
            raise BroadcastUnavailableError(
                f"could not publish to channel {channel!r}: Redis at {_safe_url(self.url)} "
                f"is unreachable ({exc}); the message was not sent"
            ) from exc

    def subscribe(self, channel: str) -> Awaitable[None]:
        """SUBSCRIBE ``channel`` (now, or on reconnection); completes on Redis's confirmation."""
        self._wanted.add(channel)
        future = self._pending.get(channel)
        if future is None:
            future = self._pending[channel] = asyncio.get_running_loop().create_future()
        self._command(lambda pubsub: pubsub.subscribe(channel))
        return future

    def unsubscribe(self, channel: str) -> None:
        """UNSUBSCRIBE ``channel``; a pending readiness future is cancelled."""
        self._wanted.discard(channel)
        future = self._pending.pop(channel, None)
        if future is not None:
            future.cancel()
        self._command(lambda pubsub: pubsub.unsubscribe(channel))

    def _command(self, send: Callable[[PubSub], Awaitable[object]]) -> None:
        if self._pubsub is None:
            return  # the reconnection subscribes to every wanted channel
        task = asyncio.get_running_loop().create_task(self._send(self._pubsub, send))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, pubsub: PubSub, send: Callable[[PubSub], Awaitable[object]]) -> None:
        async with self._lock:
            if pubsub is not self._pubsub:
                return  # reconnected meanwhile: the new connection has the current channels
            try:
                await send(pubsub)
            except _UNREACHABLE:
                pass  # the reader sees the same failure and reconnects

    async def _open(self) -> PubSub:
        assert self._client is not None
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(_CONTROL_CHANNEL, *sorted(self._wanted))
        except BaseException:
            await self._discard(pubsub)
            raise
        self._pubsub = pubsub
        return pubsub

    async def _discard(self, pubsub: PubSub) -> None:
        try:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
        except _UNREACHABLE:
            pass

    async def _run(self, pubsub: PubSub) -> None:
        while True:
            try:
                await self._read(pubsub)
            except _UNREACHABLE as exc:
                self._pubsub = None
                gen_log.warning(
                    "broadcast: lost the connection to Redis at %s (%s); reconnecting",
                    _safe_url(self.url),
                    exc or type(exc).__name__,
                )
                await self._discard(pubsub)
                pubsub = await self._reconnect()

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode("utf-8", "replace")
            kind = message["type"]
            if kind == "message" and channel != _CONTROL_CHANNEL:
                assert self._deliver is not None
                self._deliver(channel, message["data"])
            elif kind == "subscribe":
                future = self._pending.pop(channel, None)
                if future is not None and not future.done():
                    future.set_result(None)

    async def _reconnect(self) -> PubSub:
        lost_at = time.monotonic()
        delay = self.reconnect_delay
        attempts = 0
        while True:
            # Jitter spreads the reconnections of many processes after a Redis restart.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            attempts += 1
            try:
                pubsub = await self._open()
            except _UNREACHABLE as exc:
                gen_log.debug("broadcast: Redis still unreachable (attempt %d): %s", attempts, exc)
                delay = min(delay * 2, self.max_reconnect_delay)
                continue
            gen_log.info(
                "broadcast: reconnected to Redis at %s after %.1f s; %d channel "
                "subscription(s) restored",
                _safe_url(self.url),
                time.monotonic() - lost_at,
                len(self._wanted),
            )
            return pubsub
