"""A sans-io HTTP/1.0 and HTTP/1.1 codec for servers and clients.

Theory of operation
-------------------

The codec turns bytes into events and events into bytes.  It never touches a
socket, a clock or an event loop; the native server
(:mod:`dualweb.http1connection`) and the HTTP client drive it.  This module
is the public face: every name lives in one of the modules below and is
re-exported here.

* :mod:`dualweb.http1events` — the events and sentinels;
* :mod:`dualweb.http1state` — the named states, the limits, header writing
  with its checks, and body framing (``Content-Length``, ``chunked``,
  close-delimited), written once for both halves;
* :mod:`dualweb.http1base` — the receive loop both halves run;
* :mod:`dualweb.http1server` — :class:`HTTP1ServerCodec`;
* :mod:`dualweb.http1client` — :class:`HTTP1ClientCodec`.

The driver follows the shape of h11:

* ``receive_data(data)`` feeds bytes (``b""`` means the peer closed);
* ``next_event()`` returns the next event, or :data:`NEED_DATA` when more bytes
  are needed, or :data:`PAUSED` on a server when a whole request has been
  delivered and its response is not finished yet.  Pipelined requests stay
  queued until then, so responses can only go out in request order; the
  driver stops reading from the socket while events are queued
  (``has_backlog``), which is the back-pressure;
* ``send_response()`` / ``send_data()`` / ``send_end()`` (``send_request()`` on
  a client) return the bytes to write.  The status line, the headers and the
  first body chunk come back as ONE ``bytes`` object so a small response is one
  ``transport.write``.

Events: :class:`Request` (server) or :class:`Response` (client) with the start
line and :class:`~dualweb.httputil.HTTPHeaders`, then :class:`Data` chunks, then
:data:`END_OF_MESSAGE`; a client first gets an :class:`InformationalResponse`
for each interim 1xx (``100 Continue``, ``103 Early Hints``). A violation
becomes a :class:`ProtocolError` event carrying the status the server must
answer with (400, 413, 431, 505); after it the codec parses nothing more and the
connection must be closed. :data:`CONNECTION_CLOSED` reports the peer's EOF.

States.  Each codec keeps ``our_state`` and ``their_state``, one of the named
:class:`State` values (:data:`IDLE`, :data:`SEND_RESPONSE`, :data:`SEND_BODY`,
:data:`DONE`, :data:`MUST_CLOSE`, :data:`CLOSED`, :data:`MIGHT_SWITCH_PROTOCOL`,
:data:`SWITCHED_PROTOCOL`, :data:`ERROR`).  The peer's state moves as events are
*taken* with ``next_event()``; ours as the ``send_*`` methods are called.  When
both sides are DONE the connection can carry the next exchange:
``start_next_cycle()`` puts both back to IDLE.  The server does this itself in
``send_end()`` (pipelining needs no call from the driver); a client, or the
pool holding it, asks ``reusable`` and then calls ``start_next_cycle()``
(``send_request()`` also does it).  The class docstrings list each half's
transitions.

How bytes are read.  The codec cuts the stream into messages itself: it finds
the end of each head (the first empty line), hands exactly those bytes to
``httptools`` (llhttp, in its default strict mode) which validates the start
line and headers and reports them through callbacks on a small reader object,
then reads the body with the framing the head declares.  llhttp never sees a
body, so the codec always knows where the next message starts.  That is what
lets the server read each request's method before llhttp does: llhttp refuses
methods it does not know, so any other RFC 9110 token (``BREW``, a lowercase
``get``) is given to llhttp as ``GET`` and the real token goes into the
:class:`Request`, where routing answers 405 unless the handler supports it.
The reader holds no reference back to the codec, so a connection's objects
are freed by reference counting.

Limits.  ``max_header_size`` cuts a head (also one that never ends) with 431;
``max_body_size`` a body with 413, from the declared ``Content-Length``, from a
chunk size as soon as its line arrives, or from the bytes received.  Limits
that handlers may change while a request is being read (``set_max_body_size``,
as Tornado's ``@stream_request_body`` handlers do in ``prepare()``) are applied
when events are *taken*, not when bytes are parsed, so a change made in
``headers_received`` applies to that request's body.  A chunk-size line (its
extensions are unbounded in the grammar) or trailer line over
:data:`~dualweb.http1state.MAX_CHUNK_LINE_SIZE` is a 400.

Request validation and smuggling. llhttp already rejects ``Content-Length``
together with ``Transfer-Encoding``, duplicate or non-numeric lengths, bare LF
and obsolete line folding (the client codec accepts a bare LF as a line end in a
response head, which RFC 9112 section 2.2 allows a recipient). We add what it
lets through: any transfer coding other than a single ``chunked``,
``Transfer-Encoding`` on HTTP/1.0, versions other than 1.0/1.1, upgrade requests
that carry a body, an HTTP/1.1 request without exactly one valid ``Host``, and
malformed absolute-form targets (whose authority otherwise replaces ``Host``,
RFC 9112 section 3.2.2). Optional whitespace around header values is stripped.

Writing.  Every header is checked before any state changes (names are RFC 9110
tokens, names and values latin-1, no CR, LF or NUL in values, a numeric
``Content-Length``); a refused header raises :class:`LocalProtocolError` (also
a :class:`ValueError`) naming it, and the server can still answer with
``send_error()``.
"""

from __future__ import annotations

from dualweb.http1client import HTTP1ClientCodec
from dualweb.http1events import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    LocalProtocolError,
    ProtocolError,
    Request,
    Response,
    Sentinel,
)
from dualweb.http1server import HTTP1ServerCodec
from dualweb.http1state import (
    CLOSED,
    DONE,
    ERROR,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    SEND_BODY,
    SEND_RESPONSE,
    SWITCHED_PROTOCOL,
    State,
)

__all__ = [
    "CLOSED",
    "CONNECTION_CLOSED",
    "DONE",
    "END_OF_MESSAGE",
    "ERROR",
    "IDLE",
    "MIGHT_SWITCH_PROTOCOL",
    "MUST_CLOSE",
    "NEED_DATA",
    "PAUSED",
    "SEND_BODY",
    "SEND_RESPONSE",
    "SWITCHED_PROTOCOL",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "HTTP1ClientCodec",
    "HTTP1ServerCodec",
    "InformationalResponse",
    "LocalProtocolError",
    "ProtocolError",
    "Request",
    "Response",
    "Sentinel",
    "State",
]
