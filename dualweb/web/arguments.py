"""Reading request arguments: ``get_argument`` and friends, and ``decode_argument``.

:class:`ArgumentsMixin` is part of :class:`~dualweb.web.RequestHandler`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, overload

from dualweb.web.errors import HTTPError, MissingArgumentError

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest

__all__ = ["ArgumentsMixin"]


class _ArgDefaultMarker:
    """The default of ``get_argument``: "no default given, the argument is required"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<required>"


_ARG_DEFAULT = _ArgDefaultMarker()


class ArgumentsMixin:
    """Query, body and path arguments of a :class:`~dualweb.web.RequestHandler`."""

    __slots__ = ()

    request: HTTPServerRequest

    # Control characters other than whitespace are replaced by a space in
    # argument values, so they cannot sneak into logs, headers or markup.
    _remove_control_chars_regex = re.compile(r"[\x00-\x08\x0e-\x1f]")

    @overload
    def get_argument(self, name: str, default: str, strip: bool = True) -> str: ...

    @overload
    def get_argument(
        self, name: str, default: _ArgDefaultMarker = _ARG_DEFAULT, strip: bool = True
    ) -> str: ...

    @overload
    def get_argument(self, name: str, default: None, strip: bool = True) -> str | None: ...

    def get_argument(
        self,
        name: str,
        default: str | _ArgDefaultMarker | None = _ARG_DEFAULT,
        strip: bool = True,
    ) -> str | None:
        """Return the last value of the argument ``name`` from the query or the body.

        Args:
            name: the argument name.
            default: returned when the argument is missing; without it the
                argument is required.
            strip: strip leading and trailing whitespace from the value.

        Raises:
            MissingArgumentError: the argument is missing and no default was
                given (the client gets ``400 Bad Request``).
            HTTPError: the value is not valid UTF-8 (400).
        """
        return self._get_argument(name, default, self.request.arguments, strip)

    def get_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Return every value of the argument ``name`` (query and body); ``[]`` if absent."""
        if not isinstance(strip, bool):
            raise TypeError("get_arguments(name, strip): strip must be a bool")
        return self._get_arguments(name, self.request.arguments, strip)

    @overload
    def get_body_argument(self, name: str, default: str, strip: bool = True) -> str: ...

    @overload
    def get_body_argument(
        self, name: str, default: _ArgDefaultMarker = _ARG_DEFAULT, strip: bool = True
    ) -> str: ...

    @overload
    def get_body_argument(self, name: str, default: None, strip: bool = True) -> str | None: ...

    def get_body_argument(
        self,
        name: str,
        default: str | _ArgDefaultMarker | None = _ARG_DEFAULT,
        strip: bool = True,
    ) -> str | None:
        """Like :meth:`get_argument`, but only from the request body (form fields)."""
        return self._get_argument(name, default, self.request.body_arguments, strip)

    def get_body_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Like :meth:`get_arguments`, but only from the request body."""
        return self._get_arguments(name, self.request.body_arguments, strip)

    @overload
    def get_query_argument(self, name: str, default: str, strip: bool = True) -> str: ...

    @overload
    def get_query_argument(
        self, name: str, default: _ArgDefaultMarker = _ARG_DEFAULT, strip: bool = True
    ) -> str: ...

    @overload
    def get_query_argument(self, name: str, default: None, strip: bool = True) -> str | None: ...

    def get_query_argument(
        self,
        name: str,
        default: str | _ArgDefaultMarker | None = _ARG_DEFAULT,
        strip: bool = True,
    ) -> str | None:
        """Like :meth:`get_argument`, but only from the query string."""
        return self._get_argument(name, default, self.request.query_arguments, strip)

    def get_query_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Like :meth:`get_arguments`, but only from the query string."""
        return self._get_arguments(name, self.request.query_arguments, strip)

    def _get_argument(
        self,
        name: str,
        default: str | _ArgDefaultMarker | None,
        source: dict[str, list[bytes]],
        strip: bool,
    ) -> str | None:
        values = self._get_arguments(name, source, strip)
        if values:
            return values[-1]
        if isinstance(default, _ArgDefaultMarker):
            raise MissingArgumentError(name)
        return default

    def _get_arguments(
        self, name: str, source: dict[str, list[bytes]], strip: bool = True
    ) -> list[str]:
        raw = source.get(name)
        if not raw:
            return []
        values = []
        for value in raw:
            text = self.decode_argument(value, name=name)
            if isinstance(text, str):
                text = self._remove_control_chars_regex.sub(" ", text)
                if strip:
                    text = text.strip()
            values.append(text)
        return values

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """Decode an argument value (query, body or path) from the request.

        The default decodes UTF-8. Override to accept another encoding; the
        result is also used for path arguments passed to the verb methods.

        Args:
            value: the raw bytes.
            name: the argument name, or ``None`` for regex path arguments.

        Raises:
            HTTPError: 400 (``Bad Request``) when the bytes are not valid
                UTF-8; the log message names the argument (``url`` for a path
                argument) and shows the start of the bytes, as in Tornado.
        """
        if not isinstance(value, bytes):
            # Already text, or None for an optional group that did not match.
            return value
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            # The name comes from the client: quoted when it could forge log lines.
            where = "url" if name is None else name if name.isprintable() else repr(name)
            raise HTTPError(400, "Invalid unicode in %s: %r", where, value[:40]) from None
