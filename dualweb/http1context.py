"""Who is on the other end of a native HTTP/1 connection: :class:`HTTPConnectionContext`.

Public as ``dualweb.http1connection.HTTPConnectionContext`` (Tornado's place
for it); it lives in this small module so the connection driver
(:mod:`dualweb.http1connection`) stays about driving the codec.
"""

from __future__ import annotations

import socket
from typing import Any, Final

from dualweb.connection import ConnectionContext, RequestSettings

__all__ = ["HTTPConnectionContext"]

# The address families whose peer address starts with the IP.
_INET_FAMILIES: Final = (socket.AF_INET, socket.AF_INET6)


class HTTPConnectionContext(ConnectionContext):
    """Who is on the other end of a native connection (a ``ConnectionContext``).

    ``remote_ip`` is the peer's address (``"0.0.0.0"`` for a Unix socket),
    ``address_family`` the socket family; ``ssl_object`` is the connection's
    :class:`ssl.SSLObject` under TLS, else ``None``. Proxy headers
    (``xheaders=True``) do not change it: each request gets the resolved
    values (see :func:`dualweb.intake.resolve_proxy_headers`).
    """

    __slots__ = ("address_family",)

    def __init__(
        self,
        address: Any,
        address_family: int | None,
        protocol: str,
        settings: RequestSettings | None = None,
        ssl_object: Any = None,
    ) -> None:
        if address_family in _INET_FAMILIES and address is not None:
            self.remote_ip: str | None = address[0]
        else:
            # A Unix socket has no peer IP; Tornado reports this placeholder.
            self.remote_ip = "0.0.0.0"
        # ConnectionContext.__init__'s fields, set here without the super() call
        # (one per connection).
        self.protocol = protocol
        self.address = address
        self.settings = settings or RequestSettings()
        self.ssl_object = ssl_object
        self.address_family = address_family

    def __str__(self) -> str:
        if self.address_family in (socket.AF_INET, socket.AF_INET6):
            return self.remote_ip or ""
        if isinstance(self.address, bytes):
            return self.address.decode("latin-1")
        return str(self.address)
