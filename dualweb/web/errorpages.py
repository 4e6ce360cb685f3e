"""Error responses: ``send_error``, ``write_error`` and exception logging.

:class:`ErrorPagesMixin` is part of :class:`~dualweb.web.RequestHandler`; the
lifecycle (:mod:`dualweb.web.handler`) sends every exception raised by a
handler here.
"""

from __future__ import annotations

import traceback
import types
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from dualweb.connection import AsyncUnavailableError
from dualweb.escape import xhtml_escape
from dualweb.log import app_log, gen_log
from dualweb.web.errors import Finish, HTTPError

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest

__all__ = ["ErrorPagesMixin"]

_ERROR_PAGE = "<html><title>%(code)d: %(message)s</title><body>%(code)d: %(message)s</body></html>"


class ErrorPagesMixin:
    """Turning exceptions into error responses and log lines."""

    __slots__ = ()

    request: HTTPServerRequest
    _headers_written: bool
    _finished: bool
    _reason: str

    if TYPE_CHECKING:

        @property
        def settings(self) -> dict[str, Any]: ...

        def clear(self) -> None: ...

        def set_status(self, status_code: int, reason: str | None = None) -> None: ...

        def set_header(self, name: str, value: Any) -> None: ...

        def write(self, chunk: str | bytes | dict[str, Any]) -> None: ...

        def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> Awaitable[None]: ...

        def _request_summary(self) -> str: ...

        @classmethod
        def _allowed_methods(cls) -> str: ...

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Answer with an error page for ``status_code`` (the headers must not be sent yet).

        Clears the response (cookies are kept), sets the status and calls
        :meth:`write_error` with ``kwargs``. ``reason=`` sets the reason
        phrase; ``exc_info=`` passes the exception being handled (an
        :class:`HTTPError`'s ``reason`` is used). If the headers were already
        sent, the error is logged and the response is just finished.
        """
        if self._headers_written:
            gen_log.error("Cannot send error response after headers written")
            if not self._finished:
                try:
                    self.finish()
                except Exception:
                    gen_log.error("Failed to flush partial response", exc_info=True)
            return
        self.clear()
        reason = kwargs.get("reason")
        exc_info = kwargs.get("exc_info")
        if exc_info is not None:
            exception = exc_info[1]
            if isinstance(exception, HTTPError) and exception.reason:
                reason = exception.reason
        try:
            self.set_status(status_code, reason=reason)
        except ValueError:
            self.set_status(status_code)
        if status_code == 405:
            self.set_header("Allow", self._allowed_methods())
        try:
            self.write_error(status_code, **kwargs)
        except Exception:
            app_log.error("Uncaught exception in write_error", exc_info=True)
        if not self._finished:
            self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Override to render custom error pages; called by :meth:`send_error`.

        The default writes a small HTML page ``<code>: <reason>``, or the
        traceback as ``text/plain`` when the ``serve_traceback`` setting (on
        with ``debug=True``) is set and ``exc_info`` is given.
        """
        exc_info = kwargs.get("exc_info")
        if exc_info is not None and self.settings.get("serve_traceback"):
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            for line in traceback.format_exception(*exc_info):
                self.write(line)
            self.finish()
        else:
            message = xhtml_escape(self._reason)
            self.finish(_ERROR_PAGE % {"code": status_code, "message": message})

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        """Log an exception raised while handling the request.

        An :class:`HTTPError` is logged at WARNING on ``dualweb.general``
        only when it has a ``log_message``; any other exception is logged at
        ERROR on ``dualweb.application`` as ``Uncaught exception <METHOD>
        <uri> (<ip>)`` with its traceback. Override to change this.
        """
        if isinstance(value, HTTPError):
            log_message = value.get_message()
            if log_message:
                summary = self._request_summary()
                gen_log.warning("%d %s: %s", value.status_code, summary, log_message)
        elif isinstance(value, AsyncUnavailableError):
            # The message says everything (handler, feature, fix); a traceback
            # into dualweb's own lifecycle would only hide it.
            app_log.error(
                "Uncaught exception %s: %s\n%r", self._request_summary(), value, self.request
            )
        else:
            app_log.error(
                "Uncaught exception %s\n%r",
                self._request_summary(),
                self.request,
                exc_info=(typ, value, tb),  # type: ignore[arg-type]
            )

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, Finish):
            if not self._finished:
                self.finish(*e.args)
            return
        exc_info = (type(e), e, e.__traceback__)
        try:
            self.log_exception(*exc_info)
        except Exception:
            app_log.error("Error in exception logger", exc_info=True)
        if self._finished:
            # The response went out before the error; there is nothing to send.
            return
        status = e.status_code if isinstance(e, HTTPError) else 500
        self.send_error(status, exc_info=exc_info)
