"""Exceptions a handler raises to end a request: :class:`HTTPError`, :class:`Finish`, ...

These are the names Tornado users import from ``tornado.web``; they are
re-exported by :mod:`dualweb.web`.
"""

from __future__ import annotations

from typing import Any

from dualweb.connection import AsyncUnavailableError
from dualweb.httputil import responses as _responses

__all__ = ["AsyncUnavailableError", "Finish", "HTTPError", "MissingArgumentError"]


class HTTPError(Exception):
    """Raise to end the request with an HTTP error response.

    The handler's :meth:`~dualweb.web.RequestHandler.send_error` turns it into
    a response with ``status_code``; it is *not* logged as an uncaught
    exception (only ``log_message``, when given, is logged at WARNING).

    Args:
        status_code: the HTTP status to answer with (default 500).
        log_message: a message for the server log, never shown to the client;
            ``%`` placeholders are filled from ``args``.
        args: values for the placeholders in ``log_message``.
        reason: the reason phrase sent on the status line and shown in the
            default error page (defaults to the standard phrase for the code).
    """

    def __init__(
        self,
        status_code: int = 500,
        log_message: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.status_code = status_code
        self._log_message = log_message
        self.args = args
        self.reason: str | None = kwargs.get("reason")

    @property
    def log_message(self) -> str | None:
        """The log message as a ``%`` format (``%`` doubled when there are no ``args``)."""
        if self._log_message and not self.args:
            return self._log_message.replace("%", "%%")
        return self._log_message

    def get_message(self) -> str | None:
        """Return the log message with ``args`` filled in, or ``None`` when there is none."""
        if self._log_message and self.args:
            return self._log_message % self.args
        return self._log_message

    def __str__(self) -> str:
        reason = self.reason or _responses.get(self.status_code, "Unknown")
        message = f"HTTP {self.status_code}: {reason}"
        log_message = self.get_message()
        if log_message:
            return f"{message} ({log_message})"
        return message


class Finish(Exception):
    """Raise to end the request without producing an error response.

    The handler's :meth:`~dualweb.web.RequestHandler.finish` is called with
    the exception's first argument (if any) as the final chunk, so
    ``raise Finish("done")`` sends ``done`` with the current status and
    headers. Nothing is logged.
    """


class MissingArgumentError(HTTPError):
    """Raised by :meth:`~dualweb.web.RequestHandler.get_argument` for a missing required argument.

    It is an :class:`HTTPError` with status 400, so an uncaught one answers
    ``400: Bad Request`` and logs ``Missing argument <name>`` at WARNING.

    Attributes:
        arg_name: the name of the argument that was missing.
    """

    def __init__(self, arg_name: str) -> None:
        super().__init__(400, f"Missing argument {arg_name}")
        self.arg_name = arg_name
