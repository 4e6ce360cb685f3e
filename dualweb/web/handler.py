"""The request lifecycle: :class:`RequestHandler`.

Theory of operation
-------------------

A handler is created per request by the application's handler delegate and
driven through :meth:`RequestHandler._execute` (``_run``, which takes the
path arguments without re-packing them), which runs these steps, each
written once:

1. ``_begin``: method check (405 + ``Allow``), body parsing, path argument
   decoding, XSRF check;
2. ``prepare()``;
3. ``_after_prepare``: release the streaming gate, stop if ``prepare``
   finished the request;
4. (``@stream_request_body`` only) wait for the whole body;
5. ``_call_verb``: the verb method (``get``, ``post``, ...);
6. ``_end``: auto-finish unless ``@asynchronous`` turned it off.

Exceptions from any step go to ``_handle_request_exception`` (``send_error``
/ ``write_error``). While every step returns ``None`` the whole request runs
synchronously and ``_execute`` returns ``None``: a plain ``def`` handler
never creates a coroutine, a task or a future. As soon as ``prepare`` or the
verb returns an awaitable, ``_execute`` returns the coroutine ``_resume``,
which awaits it and carries on from the next step with the same step
functions. Under a driver without an event loop
(``connection.supports_async`` is false, i.e. WSGI) that awaitable is closed
and :class:`~dualweb.connection.AsyncUnavailableError` is raised instead,
which is handled like any handler exception.

Hot path notes: hooks whose base implementation does nothing
(``initialize`` without rule arguments, ``set_default_headers``,
``prepare``, ``on_finish``) are only called when a class in the MRO
overrides them; when ``compute_etag``/``set_etag_header``/
``check_etag_header`` are all the defaults, ``_complete_headers`` computes
the Etag inline and joins the body once; ``finish`` stores ``Etag`` and
``Content-Length`` straight into the header dict (both are known absent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from dualweb.connection import (
    COMPLETED,
    AsyncUnavailableError,
    HTTPConnection,
    ResponseStartLine,
    discard_awaitable,
)
from dualweb.escape import url_unescape
from dualweb.headers import SMALL_LENGTHS, HTTPHeaders, HTTPInputError
from dualweb.httputil import http_date_now, responses
from dualweb.log import app_log
from dualweb.web.arguments import ArgumentsMixin
from dualweb.web.bodystream import BodyStream
from dualweb.web.cookies import CookieMixin
from dualweb.web.errorpages import ErrorPagesMixin
from dualweb.web.errors import HTTPError
from dualweb.web.localization import LocaleMixin
from dualweb.web.origin import OriginMixin
from dualweb.web.output import (
    HTML_UTF8,
    LINE_BREAKING,
    SERVER_HEADER,
    VALID_REASON,
    OutputMixin,
    body_etag,
    etag_matches,
)
from dualweb.web.protocols import ApplicationLike
from dualweb.web.rendering import RenderingMixin
from dualweb.web.staticurl import StaticURLMixin
from dualweb.web.traits import HandlerTraits, feature_reasons
from dualweb.web.userinfo import UserMixin
from dualweb.web.xsrf import XSRFMixin

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest
    from dualweb.web.transforms import OutputTransform

__all__ = ["RequestHandler", "async_feature_reasons", "run_handler", "start_streaming_handler"]


_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
_ETAG_METHODS = frozenset(("GET", "HEAD"))
_VERB_ATTRS = {
    m: m.lower() for m in ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
}
_NO_TRANSFORMS: tuple[OutputTransform, ...] = ()
# Shared by every request without rule or path keyword arguments; only ever unpacked.
_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})
_BODILESS = frozenset((204, 304, *range(100, 200)))
# The start line of almost every response; NamedTuple construction is a Python call.
_OK_LINE = ResponseStartLine("", 200, "OK")
_new_tuple = tuple.__new__
# Bound once: looking a class method up on the class makes a bound method per call.
_headers_from_normalized = HTTPHeaders.from_normalized
_SMALL_LENGTH = len(SMALL_LENGTHS)
# What clear() resets the headers to (Date is filled in then).
_DEFAULT_HEADERS = {"Server": SERVER_HEADER, "Content-Type": HTML_UTF8, "Date": ""}


# Where _resume picks up the lifecycle after the awaitable it was given.
_AFTER_PREPARE = 0  # ``pending`` is prepare()'s awaitable
_AWAIT_BODY = 1  # wait for a streamed body, then call the verb
_CALL_VERB = 2  # call the verb
_AFTER_VERB = 3  # ``pending`` is the verb's awaitable


def _unimplemented_method(self: RequestHandler, *args: Any, **kwargs: Any) -> None:
    """Override to handle this HTTP method; by default it answers ``405 Method Not Allowed``.

    Receives the route's captured groups (decoded to ``str``) as arguments.
    """
    raise HTTPError(405)


def _default_initialize(self: RequestHandler, **kwargs: Any) -> None:
    """Override ``initialize`` to receive the keyword arguments of the URL rule.

    ``(r"/user/(.*)", ProfileHandler, dict(database=db))`` calls
    ``initialize(database=db)`` for each request. The default accepts no
    arguments.

    Raises:
        TypeError: the rule has keyword arguments but ``initialize`` was not
            overridden to accept them.
    """
    if kwargs:
        raise TypeError(
            f"{type(self).__name__} got keyword arguments {sorted(kwargs)} from its URL "
            "rule, but does not override initialize() to accept them"
        )


class RequestHandler(
    ArgumentsMixin,
    OutputMixin,
    ErrorPagesMixin,
    LocaleMixin,
    UserMixin,
    CookieMixin,
    XSRFMixin,
    OriginMixin,
    RenderingMixin,
    StaticURLMixin,
):
    """Base class for HTTP request handlers: subclass it and define ``get``, ``post``, ...

    One instance serves one request. The application creates it with the
    rule's keyword arguments (passed on to :meth:`initialize`), then calls
    :meth:`prepare`, the method named after the HTTP verb with the URL's
    captured groups as arguments, and finally :meth:`finish` if the method
    did not. Output is built with :meth:`write`, :meth:`set_header`,
    :meth:`set_status`, :meth:`redirect` and friends.

    Verb methods may be plain functions (the fast path; the only kind
    allowed under :class:`~dualweb.wsgi.WSGIAdapter`) or coroutines when
    running on dualweb's native server.

    Args:
        application: the :class:`~dualweb.web.Application` serving the request.
        request: the :class:`~dualweb.httputil.HTTPServerRequest`.
        kwargs: the rule's keyword arguments, passed to :meth:`initialize`.
    """

    SUPPORTED_METHODS: tuple[str, ...] = (
        "GET",
        "HEAD",
        "POST",
        "DELETE",
        "PATCH",
        "PUT",
        "OPTIONS",
    )

    #: Set by :func:`~dualweb.web.stream_request_body`.
    _stream_request_body: ClassVar[bool] = False
    #: Why this handler class can only run natively (set by WebSocketHandler,
    #: the auth mixins, ...); ``None`` when it has no such feature. Found
    #: anywhere in the MRO (mixins come after RequestHandler); ``{handler}``
    #: in it stands for the handler's name (see web/traits.py).
    _native_only_feature: ClassVar[str | None] = None
    #: This class's HandlerTraits, computed on its first request (each
    #: subclass starts with None, see __init_subclass__).
    _dualweb_traits: ClassVar[HandlerTraits | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dualweb_traits = None

    __slots__ = (
        "__weakref__",
        "_auto_finish",
        "_body_stream",
        "_class_traits",
        "_client_gone",
        "_finished",
        "_headers",
        "_headers_written",
        "_new_cookies",
        "_raw_xsrf_token",
        "_reason",
        "_status_code",
        "_transforms",
        "_ui",
        "_watching_close",
        "_write_buffer",
        "_xsrf_token",
        "application",
        "path_args",
        "path_kwargs",
        "request",
    )

    get: Callable[..., Any] = _unimplemented_method
    head: Callable[..., Any] = _unimplemented_method
    post: Callable[..., Any] = _unimplemented_method
    delete: Callable[..., Any] = _unimplemented_method
    patch: Callable[..., Any] = _unimplemented_method
    put: Callable[..., Any] = _unimplemented_method
    options: Callable[..., Any] = _unimplemented_method

    def __init__(
        self, application: ApplicationLike, request: HTTPServerRequest, **kwargs: Any
    ) -> None:
        # The class's traits, read by every step: a slot is quicker to read
        # than the class attribute (and set before clear() needs it).
        traits = self._class_traits = type(self)._dualweb_traits or _traits(type(self))
        self.application = application
        self.request = request
        self._headers_written = False
        self._finished = False
        self._auto_finish = True
        self._body_stream: BodyStream | None = None
        self._client_gone = False
        self._transforms: tuple[OutputTransform, ...] | list[OutputTransform] = _NO_TRANSFORMS
        self.path_args: list[str] = []
        self.path_kwargs: dict[str, str] = {}
        self._new_cookies = None
        # The driver's close callback is registered only if the request outlives
        # the synchronous part of the lifecycle (_watch_close): until then no
        # close can be reported (the loop is not running callbacks).
        self._watching_close = False
        self.clear()
        if kwargs:
            self.initialize(**kwargs)
        elif traits.initialize:
            # (The default, with no arguments, does nothing: skip the call.)
            self.initialize()

    # -- hooks -------------------------------------------------------------

    # Typed as a Callable attribute so subclasses may override it with any
    # signature (their rule's keyword arguments) without a type error.
    initialize: Callable[..., None] = _default_initialize

    def prepare(self) -> Awaitable[None] | None:
        """Override to run code before the verb method, for every HTTP method.

        May finish the request (e.g. ``self.redirect(...)`` or
        ``self.send_error(...)``), in which case the verb method is not
        called. May be a coroutine when running natively.
        """
        return None

    def on_finish(self) -> None:
        """Override to clean up after the response has been sent (logging, metrics, ...)."""

    def on_connection_close(self) -> None:
        """Called (natively) when the client closes the connection before the response finished.

        Override to stop long-polling or streaming work for a client that is
        gone. Not called once :meth:`finish` ran.
        """
        if self._body_stream is not None:
            self._body_stream.lost()

    def _watch_close(self) -> None:
        """Have ``on_connection_close`` called if the client goes away before ``finish``."""
        connection = self.request.connection
        if connection is not None and not self._watching_close and not self._finished:
            self._watching_close = True
            connection.set_close_callback(self._connection_lost)

    def _connection_lost(self) -> None:
        # The driver's close callback: remember it (a cancelled coroutine then
        # ends quietly), then run the user's hook.
        self._client_gone = True
        self.on_connection_close()

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Receive a chunk of the body; implement it in ``@stream_request_body`` handlers.

        May be a coroutine: the next chunk is read once it completes.

        Raises:
            NotImplementedError: the handler streams its body but did not
                implement this method.
        """
        raise NotImplementedError(
            f"{type(self).__name__} uses @stream_request_body and must implement data_received()"
        )

    # -- response state -----------------------------------------------------

    def clear(self) -> None:
        """Reset the headers (to the defaults), the status (200) and the buffered body.

        Cookies set with ``set_cookie`` are kept.
        """
        # A copy of the defaults (cheaper than a dict display), Date replaced.
        fields = _DEFAULT_HEADERS.copy()
        fields["Date"] = http_date_now()
        self._headers = _headers_from_normalized(fields)
        if self._class_traits.set_default_headers:
            self.set_default_headers()
        self._write_buffer = []
        self._status_code = 200
        self._reason = "OK"

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """Set the response status code and, optionally, the reason phrase.

        Args:
            status_code: the status code; codes without a standard reason phrase
                get ``"Unknown"`` unless ``reason`` is given.
            reason: the reason phrase. A phrase with characters not allowed
                on a status line is replaced by ``"Unknown"``.

        Raises:
            ValueError: ``reason`` contains CR, LF or NUL (a response-splitting attempt).
        """
        self._status_code = status_code
        if reason is None:
            self._reason = responses.get(status_code, "Unknown")
        elif LINE_BREAKING.search(reason):
            raise ValueError(f"Unsafe reason phrase {reason!r}: CR, LF and NUL are not allowed")
        elif "<" in reason or not VALID_REASON.fullmatch(reason):
            # "<" is refused as defense in depth: the reason is shown on error pages.
            self._reason = "Unknown"
        else:
            self._reason = reason

    # -- settings and helpers ---------------------------------------------

    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings (``self.application.settings``)."""
        return self.application.settings

    def require_setting(self, name: str, feature: str = "this feature") -> None:
        """Raise an error naming this handler if the application setting ``name`` is not set.

        Raises:
            Exception: with a message naming the handler class, the setting
                and ``feature``.
        """
        if not self.application.settings.get(name):
            raise Exception(
                f"{type(self).__name__}: you must define the '{name}' setting in your "
                f"application to use {feature}, e.g. Application(handlers, {name}=...)"
            )

    def reverse_url(self, name: str, *args: Any) -> str:
        """Return the URL of the route named ``name`` (see :meth:`Application.reverse_url`)."""
        return self.application.reverse_url(name, *args)

    def _request_summary(self) -> str:
        request = self.request
        return f"{request.method} {request.uri} ({request.remote_ip})"

    @classmethod
    def _async_feature_reasons(cls) -> list[str]:
        """Why this handler class needs the native server; ``[]`` if it runs under WSGI."""
        return async_feature_reasons(cls)

    @classmethod
    def _allowed_methods(cls) -> str:
        return _traits(cls).allow

    # -- output: redirect, flush, finish ----------------------------------

    def flush(self, include_footers: bool = False) -> Awaitable[None]:
        """Send the headers (first time) and the buffered body to the client.

        The status and headers are then committed, with the same observable
        rules in both drivers: a later ``redirect()`` or ``set_status()``
        raises, and an exception ends the response instead of replacing it
        with an error page. Natively the response is streamed (chunked when
        its length is not known) and the returned awaitable completes when
        the data is handed to the transport; under WSGI the adapter sends
        everything when the handler returns (an already-completed awaitable).
        """
        return self._flush(include_footers)

    def _flush(self, include_footers: bool) -> Awaitable[None]:
        request = self.request
        connection = request.connection
        if connection is None:
            raise RuntimeError(f"{type(self).__name__}: the request has no connection to write to")
        if not self._headers_written:
            start_line, headers, chunk = self._commit_head(include_footers)
            return connection.write_headers(start_line, headers, chunk)
        buffer = self._write_buffer
        chunk = (buffer[0] if len(buffer) == 1 else b"".join(buffer)) if buffer else b""
        self._write_buffer = []
        for transform in self._transforms:
            chunk = transform.transform_chunk(chunk, include_footers)
        if request.method == "HEAD":
            return COMPLETED
        return connection.write(chunk)

    def _commit_head(self, include_footers: bool) -> tuple[ResponseStartLine, HTTPHeaders, bytes]:
        """Commit the status and headers; return them with the buffered body, to send first.

        The output transforms see them first; cookies become ``Set-Cookie``
        headers; a HEAD response keeps its headers and drops the body.
        """
        buffer = self._write_buffer
        chunk = (buffer[0] if len(buffer) == 1 else b"".join(buffer)) if buffer else b""
        self._write_buffer = []
        self._headers_written = True
        status = self._status_code
        headers = self._headers
        for transform in self._transforms:
            status, headers, chunk = transform.transform_first_chunk(
                status, headers, chunk, include_footers
            )
            self._status_code, self._headers = status, headers
        if self.request.method == "HEAD":
            chunk = b""
        cookies = self._new_cookies
        if cookies:
            for value in cookies.values():
                headers.add("Set-Cookie", value)
        reason = self._reason
        if status == 200 and reason == "OK":
            return _OK_LINE, headers, chunk
        return _new_tuple(ResponseStartLine, ("", status, reason)), headers, chunk

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> Awaitable[None]:
        """Finish the response: write ``chunk`` (if given), send everything, end the request.

        Adds ``Content-Length`` and, for 200 answers to GET/HEAD, an ``Etag``
        (answering ``304 Not Modified`` when it matches ``If-None-Match``),
        then calls :meth:`on_finish`. Returns an awaitable that completes when
        the data is handed to the transport. When the client has gone away
        (:meth:`on_connection_close` ran) nothing is sent and the request
        ends quietly, however much of the body is missing; ``on_finish`` still runs.

        Raises:
            RuntimeError: ``finish()`` was already called, or a body was
                written for a status that cannot have one (1xx, 204, 304).
        """
        if self._finished:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        whole = not self._headers_written
        if whole:
            self._complete_headers()
        connection = self.request.connection
        if connection is None:
            raise RuntimeError(f"{type(self).__name__}: the request has no connection to write to")
        if self._client_gone:
            # Nobody can receive the rest: a response cut short is not an error.
            self._write_buffer = []
            future: Awaitable[None] = COMPLETED
        else:
            if self._watching_close:
                connection.set_close_callback(None)
            if whole and isinstance(connection, HTTPConnection):
                # Nothing sent yet (the usual case): the whole response in one
                # driver call (a duck-typed connection gets the two calls).
                start_line, headers, body = self._commit_head(True)
                future = connection.write_response(start_line, headers, body)
            else:
                future = self._flush(True)
                connection.finish()
        self.application.log_request(self)
        self._finished = True
        if self._class_traits.on_finish:
            self.on_finish()
        return future

    def _complete_headers(self) -> None:
        status = self._status_code
        headers = self._headers
        # Read (and add absent names) through the live dict when no header is
        # repeated (the usual case): the documented use of single_values().
        fields: Any = headers.single_values()
        if fields is None:
            fields = headers
        # The body is joined once here and kept joined (_commit_head sends it as it is).
        buffer = self._write_buffer
        if len(buffer) == 1:
            body = buffer[0]
        elif buffer:
            body = b"".join(buffer)
            self._write_buffer = [body]
        else:
            body = b""
        if status == 200 and self.request.method in _ETAG_METHODS and "Etag" not in fields:
            if self._class_traits.default_etag:
                # set_etag_header + check_etag_header, inlined.
                # A quoted hex digest is always a valid value.
                etag = fields["Etag"] = body_etag(body)
                inm = self.request.headers.get("If-None-Match")
                if inm and etag_matches(inm, etag):
                    self._write_buffer = []
                    self.set_status(304)
                    status = 304
            else:
                self.set_etag_header()
                if self.check_etag_header():
                    self._write_buffer = []
                    self.set_status(304)
                    status = 304
        if status in _BODILESS:
            if self._write_buffer:
                raise RuntimeError(f"Cannot send body with status code HTTP{status}")
            self._clear_representation_headers()
        elif "Content-Length" not in fields:
            length = len(body)
            fields["Content-Length"] = (
                SMALL_LENGTHS[length] if length < _SMALL_LENGTH else str(length)
            )

    def detach(self) -> Any:
        """Take over the connection from HTTP (for protocols like WebSockets); native only.

        The handler counts as finished afterwards. Returns what the native
        connection hands over (see ``dualweb.http1connection``).

        Raises:
            AsyncUnavailableError: under WSGI, where there is no connection to take.
        """
        connection = self.request.connection
        if connection is None or not connection.supports_async:
            raise AsyncUnavailableError.for_feature(
                f"{type(self).__name__}.detach()",
                "takes over the connection",
                "detached connections",
                "Run natively.",
            )
        result = connection.detach()
        self._finished = True
        return result

    # -- the lifecycle -------------------------------------------------------

    def _fail(self, e: BaseException) -> None:
        try:
            self._handle_request_exception(e)
        except Exception:
            app_log.error("Exception in exception handler", exc_info=True)
            self._abort_response()

    def _abort_response(self) -> None:
        """Last resort when error handling itself failed: a bare 500, so no client hangs."""
        if self._finished:
            return
        self._finished = True
        connection = self.request.connection
        if connection is None:
            return
        try:
            if not self._headers_written:
                self._headers_written = True
                connection.write_headers(
                    ResponseStartLine("", 500, "Internal Server Error"),
                    HTTPHeaders(
                        {"Content-Type": "text/plain; charset=UTF-8", "Content-Length": "0"}
                    ),
                )
            connection.finish()
        except Exception:
            app_log.error("Could not send the fallback 500 response", exc_info=True)

    def _execute(
        self,
        transforms: list[OutputTransform] | tuple[OutputTransform, ...],
        *args: bytes,
        **kwargs: bytes,
    ) -> Awaitable[None] | None:
        """Run the request; ``None`` if it completed synchronously, else a coroutine to run."""
        return self._run(transforms, args, kwargs)

    def _run(
        self,
        transforms: list[OutputTransform] | tuple[OutputTransform, ...],
        args: Sequence[bytes | str | None],
        kwargs: Mapping[str, bytes | None],
    ) -> Awaitable[None] | None:
        """:meth:`_execute` with the path arguments passed as they are (no re-packing)."""
        self._transforms = transforms
        traits = self._class_traits
        # The hooks that do nothing by default are not called unless overridden.
        try:
            request = self.request
            method = request.method
            # _begin() has nothing to do for a supported, safe method without a
            # body, path arguments or anything to refuse: the usual GET skips its frame.
            if (
                args
                or kwargs
                or request.body
                or method not in _SAFE_METHODS
                or method not in traits.verbs
                or traits.needs_loop
            ):
                self._begin(args, kwargs)
            if traits.prepare:
                result = self.prepare()
                if result is not None:
                    self._watch_close()
                    return self._resume(self._awaitable(result, "prepare"), _AFTER_PREPARE)
            # _after_prepare(), inlined on this per-request path (one frame fewer).
            if self._body_stream is not None:
                self._body_stream.release_prepared()
            if self._finished:
                return None
            if self._stream_request_body:
                self._watch_close()
                return self._resume(None, _AWAIT_BODY)
            # _call_verb(), inlined for the methods the traits name (all standard ones).
            # (Read again: prepare() may change the method, e.g. for X-HTTP-Method-Override.)
            name = traits.verbs.get(self.request.method)
            verb = getattr(self, name) if name is not None else self._verb()
            if self.path_kwargs:
                result = verb(*self.path_args, **self.path_kwargs)
            elif self.path_args:
                result = verb(*self.path_args)
            else:
                result = verb()
            if result is not None:
                self._watch_close()
                return self._resume(self._awaitable(result, self._verb_name()), _AFTER_VERB)
            if self._auto_finish:
                if not self._finished:
                    self.finish()
            else:
                self._watch_close()  # @asynchronous: finished later, by the application
        except Exception as e:
            self._fail(e)
        if self._body_stream is not None:
            self._body_stream.release_prepared()
        return None

    async def _resume(self, pending: Awaitable[Any] | None, stage: int) -> None:
        # Imported where a loop runs: a WSGI-only application never loads asyncio.
        import asyncio

        try:
            if stage == _AFTER_PREPARE:
                await pending  # type: ignore[misc]
                if self._after_prepare():
                    return
                stage = _AWAIT_BODY if self._stream_request_body else _CALL_VERB
            if stage == _AWAIT_BODY:
                stream = self._body_stream
                if stream is not None and not await stream.wait_complete():
                    return
                stage = _CALL_VERB
            if stage == _CALL_VERB:
                result = self._call_verb()
                pending = None if result is None else self._awaitable(result, self._verb_name())
            if pending is not None:
                await pending
            if self._auto_finish and not self._finished:
                self.finish()
        except asyncio.CancelledError:
            if self._client_gone:
                # Cancelled by the driver after on_connection_close(): there is
                # nobody to answer, so end without an error response.
                self._finished = True
            elif not self._finished:
                try:
                    self.send_error(500)
                except Exception:
                    app_log.error("Exception in exception handler", exc_info=True)
            raise
        except Exception as e:
            self._fail(e)
        finally:
            if self._body_stream is not None:
                self._body_stream.release_prepared()

    def _begin(
        self, args: Sequence[bytes | str | None], kwargs: Mapping[str, bytes | None]
    ) -> None:
        request = self.request
        method = request.method
        traits = self._class_traits
        if method not in traits.verbs:  # (the SUPPORTED_METHODS)
            raise HTTPError(405)
        # Only a class with something to refuse pays for the call.
        if traits.needs_loop:
            connection = request.connection
            if connection is None or not connection.supports_async:
                self._refuse_loop_features()
        if (
            request.body
            and not self._stream_request_body
            and not request.body_arguments
            and not request.files
        ):
            try:
                request.parse_body()
            except HTTPInputError as e:
                raise HTTPError(400, "Invalid body: %s", e) from e
        if args:
            self.path_args = self._decode_path_args(args)
        if kwargs:
            decode = self.decode_argument
            self.path_kwargs = {k: decode(v, name=k) for k, v in kwargs.items()}  # type: ignore[arg-type]
        if method not in _SAFE_METHODS:
            settings = self.application.settings
            if settings.get("xsrf_cookies"):
                self.check_xsrf_cookie()
            if settings.get("cross_origin_protection"):
                error = self._cross_origin_error(self.check_trusted_origin)
                if error is not None:
                    raise HTTPError(403, error)

    def _decode_path_args(self, args: Sequence[bytes | str | None]) -> list[str]:
        # Path arguments are raw bytes (URL-unescaped), or str as captured from
        # the path, still percent-encoded (RuleRouter.find_route's groups).
        if self._class_traits.default_decode and None not in args:
            if isinstance(args[0], str):
                if "%" not in "".join(args):  # type: ignore[arg-type]
                    # Nothing to unescape, and decode_argument(s.encode()) == s:
                    # the groups are the arguments.
                    return list(args)  # type: ignore[arg-type]
            else:
                # decode_argument is the default: decode in C, and let it report bad UTF-8.
                try:
                    return list(map(bytes.decode, args))  # type: ignore[arg-type]
                except UnicodeDecodeError:
                    pass
        decode = self.decode_argument
        return [decode(_raw_path_arg(arg)) for arg in args]  # type: ignore[arg-type]

    def _refuse_loop_features(self) -> None:
        """Without an event loop (WSGI), refuse what needs one before running any of it."""
        cls = type(self)
        if cls._stream_request_body:
            if self._verb_name() not in (cls._dualweb_traits or _traits(cls)).implemented:
                # The method is not served at all: that is the answer, as natively.
                raise HTTPError(405)
            raise AsyncUnavailableError.for_feature(
                cls.__name__,
                "uses @stream_request_body",
                "streaming request bodies",
                "Remove @stream_request_body (the body is then in self.request.body), "
                "or run natively.",
            )
        marked = (cls._dualweb_traits or _traits(cls)).loop_bound
        if marked:
            # A @gen.coroutine method would start a task (and an event loop)
            # as soon as it is called, so it must not be called at all.
            for name in ("prepare", self._verb_name()):
                if name in marked:
                    raise AsyncUnavailableError.for_feature(
                        f"{cls.__name__}.{name}",
                        "is a coroutine",
                        "coroutines",
                        "Use a plain def, or run natively.",
                    )

    def _verb_name(self) -> str:
        method = self.request.method or ""
        name = _VERB_ATTRS.get(method) or method.lower()
        if name == "head" and (type(self)._dualweb_traits or _traits(type(self))).head_from_get:
            return "get"
        return name

    def _verb(self) -> Callable[..., Any]:
        # RFC 9110 9.3.2: HEAD is GET without the body (stripped in _flush);
        # _verb_name() maps it when the class has no head of its own.
        return getattr(self, self._verb_name())  # type: ignore[no-any-return]

    def _call_verb(self) -> Any:
        verb = self._verb()
        path_args = self.path_args
        path_kwargs = self.path_kwargs
        if path_args or path_kwargs:
            return verb(*path_args, **path_kwargs)
        return verb()

    def _after_prepare(self) -> bool:
        if self._body_stream is not None:
            self._body_stream.release_prepared()
        return self._finished

    def _awaitable(self, result: Any, method: str) -> Awaitable[Any]:
        """Check what ``prepare``/the verb returned; raise if it cannot be awaited here."""
        import inspect  # only when prepare or the verb returned something (see _resume)

        where = f"{type(self).__name__}.{method}"
        if not inspect.isawaitable(result):
            raise TypeError(
                f"{where} returned {type(result).__name__}; verb methods and prepare() "
                "must return None (use self.write() for output), or be coroutines"
            )
        connection = self.request.connection
        if connection is None or not connection.supports_async:
            discard_awaitable(result)
            if method in (type(self)._dualweb_traits or _traits(type(self))).coroutines:
                raise AsyncUnavailableError.for_feature(
                    where, "is a coroutine", "coroutines", "Use a plain def, or run natively."
                )
            raise AsyncUnavailableError.for_feature(
                where,
                "returned an awaitable",
                "handlers that finish later",
                "Return None from plain def methods (finish the work before returning), "
                "or run natively.",
            )
        return result




def _raw_path_arg(arg: bytes | str | None) -> bytes | None:
    """A path argument as bytes: a str captured from the path is URL-unescaped first."""
    if isinstance(arg, str):
        return url_unescape(arg, encoding=None, plus=False) if "%" in arg else arg.encode()
    return arg


def _traits(cls: type[RequestHandler]) -> HandlerTraits:
    """Compute and keep the class's :class:`HandlerTraits` (once, on its first request).

    The hot path reads ``cls._dualweb_traits`` and calls this only when it is
    still ``None``.
    """
    traits = cls.__dict__.get("_dualweb_traits")
    if traits is None:
        traits = cls._dualweb_traits = HandlerTraits(cls, RequestHandler)
    return traits


def async_feature_reasons(cls: type[RequestHandler]) -> list[str]:
    """Why handler class ``cls`` needs dualweb's native server; ``[]`` if it runs under WSGI.

    Lists coroutine and ``@asynchronous`` methods, ``@stream_request_body``
    and native-only features (WebSockets, auth mixins), one sentence each.
    """
    return feature_reasons(cls, _traits(cls))


def run_handler(
    application: ApplicationLike,
    request: HTTPServerRequest,
    handler_class: type[RequestHandler],
    handler_kwargs: Mapping[str, Any] | None = None,
    path_args: Sequence[bytes | str | None] = (),
    path_kwargs: Mapping[str, bytes | None] = _NO_KWARGS,
) -> Awaitable[None] | None:
    """Create a ``handler_class`` for ``request`` (body in place) and run its whole lifecycle.

    What routing to a handler class comes down to once the request is complete,
    for callers that route without making a :class:`HandlerDelegate` (the
    application's intake does, for handlers that do not stream their body).

    Args:
        application: the application.
        request: the request, with its whole body.
        handler_class: the :class:`RequestHandler` subclass.
        handler_kwargs: keyword arguments for its ``initialize``.
        path_args: positional path arguments for the verb method: raw bytes
            (URL-unescaped), or ``str`` as captured from the path (still
            percent-encoded, as :meth:`~dualweb.routing.RuleRouter.find_route` gives them).
        path_kwargs: keyword path arguments (raw bytes) for the verb method.

    Returns ``None`` when the request completed synchronously (a plain ``def``
    handler: no coroutine, no task), else the awaitable that completes it.
    """
    if handler_kwargs:
        handler = handler_class(application, request, **handler_kwargs)
    else:
        handler = handler_class(application, request)
    transforms = application.transforms
    if transforms:
        return handler._run(_transforms(application, request), path_args, path_kwargs)
    return handler._run(_NO_TRANSFORMS, path_args, path_kwargs)


def start_streaming_handler(
    application: ApplicationLike,
    request: HTTPServerRequest,
    handler_class: type[RequestHandler],
    handler_kwargs: Mapping[str, Any],
    path_args: Sequence[bytes | str | None],
    path_kwargs: Mapping[str, bytes | None],
    stream: BodyStream,
) -> tuple[RequestHandler, Awaitable[None] | None]:
    """Create a ``@stream_request_body`` handler and start its lifecycle before the body arrives.

    ``stream`` coordinates the handler with the body (see
    :class:`~dualweb.web.bodystream.BodyStream`). Returns the handler (it
    receives the body chunks) and the coroutine that completes the request,
    or ``None`` if it already completed.
    """
    handler = handler_class(application, request, **handler_kwargs)
    handler._body_stream = stream
    return handler, handler._run(_transforms(application, request), path_args, path_kwargs)


def _transforms(application: ApplicationLike, request: HTTPServerRequest) -> list[OutputTransform]:
    return [transform(request) for transform in application.transforms]
