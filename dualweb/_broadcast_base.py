"""What the backends of :mod:`dualweb.broadcast` share: events, errors, the backend base.

Kept apart so that the Redis backend (``dualweb._broadcast_redis``) and
``dualweb.broadcast``, which loads it on demand, do not import each other.
Import these names from :mod:`dualweb.broadcast`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BroadcastBackend", "BroadcastError", "BroadcastUnavailableError", "Deliver", "Event"]


class BroadcastError(Exception):
    """A :class:`Broadcast` was used the wrong way (e.g. before :meth:`Broadcast.connect`)."""


class BroadcastUnavailableError(BroadcastError, ConnectionError):
    """The backend (Redis) cannot be reached, so a message could not be published.

    Raised by :meth:`Broadcast.publish` while the backend is unreachable, and by
    :meth:`Broadcast.connect` when it cannot be reached at start. Nothing is queued:
    the caller decides whether to retry or report the failure to its client.
    """


@dataclass(frozen=True, slots=True)
class Event:
    """One message received on a channel.

    ``data`` is the message's bytes as published (a ``str`` is published as
    UTF-8); :attr:`message` decodes it as text and :meth:`json` parses it.
    """

    channel: str
    data: bytes

    @property
    def message(self) -> str:
        """The message as text (UTF-8); raises ``UnicodeDecodeError`` for binary data."""
        return self.data.decode("utf-8")

    def json(self) -> Any:
        """The message parsed as JSON (as sent by :meth:`Broadcast.publish_json`).

        Raises ``ValueError`` when it is not JSON.
        """
        return json.loads(self.data)


Deliver = Callable[[str, bytes], None]


class BroadcastBackend:
    """The transport under a :class:`Broadcast`; subclass it to add one.

    :class:`Broadcast` keeps the local subscriptions and counts them per
    channel: it calls :meth:`subscribe` when a channel gets its first local
    subscriber and :meth:`unsubscribe` when it loses its last one, and the
    backend calls the ``deliver(channel, data)`` function given to
    :meth:`connect` for every message that arrives on a subscribed channel.
    Every method runs on the event loop of the :class:`Broadcast`.
    """

    async def connect(self, deliver: Deliver) -> None:
        """Open the connection; raise :class:`BroadcastUnavailableError` if it cannot be made."""
        raise NotImplementedError()

    async def disconnect(self) -> None:
        """Close the connection and stop delivering."""
        raise NotImplementedError()

    async def publish(self, channel: str, data: bytes) -> None:
        """Send ``data`` to every subscriber of ``channel``, in every process.

        Raises :class:`BroadcastUnavailableError` when it cannot be sent.
        """
        raise NotImplementedError()

    def subscribe(self, channel: str) -> Awaitable[None]:
        """Start receiving ``channel``; the result completes once messages are flowing."""
        raise NotImplementedError()

    def unsubscribe(self, channel: str) -> None:
        """Stop receiving ``channel`` (it has no local subscriber left)."""
        raise NotImplementedError()
