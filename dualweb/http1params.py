"""Settings of an HTTP/1 connection: :class:`HTTP1ConnectionParameters`.

Public as ``dualweb.http1connection.HTTP1ConnectionParameters`` (Tornado's
place for it). It lives in this small module because both the native server
(:mod:`dualweb.http1connection`) and the ``IOStream`` connections
(:mod:`dualweb.http1stream`, re-exported by ``http1connection``) use it.
"""

from __future__ import annotations

from dualweb.connection import RequestSettings

__all__ = ["HTTP1ConnectionParameters"]


class HTTP1ConnectionParameters:
    """Settings shared by every connection of one server (Tornado's name and fields).

    ``no_keep_alive`` closes after each response; ``chunk_size`` caps the
    chunks passed to ``data_received``; ``max_header_size`` and
    ``max_body_size`` are the request limits (431 / 413); ``header_timeout``
    is how long a connection may wait for a complete request head (Tornado's
    ``idle_connection_timeout``, default 3600 s); ``request_header_timeout``
    (dualweb's addition against slow-header attacks) limits the time from a
    request's first byte to its last header; ``body_timeout`` limits reading
    one body; ``decompress`` gunzips ``Content-Encoding: gzip`` request
    bodies.  ``xheaders``, ``protocol`` and ``trusted_downstream`` are as in
    :class:`~dualweb.httpserver.HTTPServer`.
    """

    __slots__ = (
        "body_timeout",
        "chunk_size",
        "decompress",
        "header_timeout",
        "max_body_size",
        "max_header_size",
        "no_keep_alive",
        "protocol",
        "request_header_timeout",
        "settings",
        "trusted_downstream",
        "xheaders",
    )

    def __init__(
        self,
        no_keep_alive: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        header_timeout: float | None = None,
        max_body_size: int | None = None,
        body_timeout: float | None = None,
        decompress: bool = False,
        *,
        request_header_timeout: float | None = None,
        xheaders: bool = False,
        protocol: str | None = None,
        trusted_downstream: list[str] | None = None,
    ) -> None:
        self.no_keep_alive = no_keep_alive
        self.chunk_size = chunk_size or 65536
        self.max_header_size = max_header_size or 65536
        self.header_timeout = header_timeout
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        self.decompress = decompress
        self.request_header_timeout = request_header_timeout
        self.xheaders = xheaders
        self.protocol = protocol
        self.trusted_downstream = frozenset(trusted_downstream or ())
        # What the core applies to each request (see dualweb.connection).
        self.settings = RequestSettings(
            xheaders, self.trusted_downstream, max_body_size, decompress
        )
