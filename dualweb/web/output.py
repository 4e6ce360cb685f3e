"""Building the response: status, headers, body buffer, redirects and Etags.

:class:`OutputMixin` is part of :class:`~dualweb.web.RequestHandler`; it only
*prepares* the response. Sending it (``flush``/``finish``) is the lifecycle's
job, in :mod:`dualweb.web.handler`.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

from dualweb import version as _version
from dualweb.escape import json_encode, utf8
from dualweb.httputil import format_timestamp

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

__all__ = ["OutputMixin", "body_etag", "browser_authority", "etag_matches", "is_absolute"]

_HeaderTypes = bytes | str | int | datetime.datetime

SERVER_HEADER = "DualwebServer/" + _version
HTML_UTF8 = "text/html; charset=UTF-8"
_JSON_UTF8 = "application/json; charset=UTF-8"

# What may appear in a header value we send: HTAB, visible ASCII, space and
# obs-text. Anything else (CR, LF, NUL, other controls, DEL, or characters
# beyond latin-1) could split the response or corrupt the header block.
_VALID_HEADER_VALUE = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")
VALID_REASON = re.compile(r"[\x09\x20-\x7e\x80-\xff]+")
LINE_BREAKING = re.compile(r"[\r\n\x00]")
_ETAG_LIST = re.compile(rb'\*|(?:W/)?"[^"]*"')
# RFC 9110 field names are tokens: no spaces, colons, controls or non-ASCII.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Names already found valid, so the usual constant names are checked once per
# process. Bounded, because a handler may pass names taken from a request.
_CHECKED_NAMES: set[str] = set()
_CHECKED_NAMES_LIMIT = 1000
# What browsers (the WHATWG URL standard) ignore when they read a URL: C0
# controls and spaces around it, and tabs and line breaks anywhere in it.
_URL_STRIPPED = "".join(chr(i) for i in range(0x21))
_URL_DELETED = str.maketrans("", "", "\t\n\r")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_AUTHORITY_END = re.compile(r"[/?#]")
# Schemes whose host browsers find after any number of slashes (even none).
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})
_REPRESENTATION_HEADERS = ("Content-Encoding", "Content-Language", "Content-Type")
_LIST_WRITE_MESSAGE = (
    "write() only accepts bytes, unicode, and dict objects. Lists not accepted "
    "for security reasons (a JSON array at the top level of a response can be "
    "read cross-site by old browsers); wrap the list in a dict, e.g. "
    'self.write({"items": [...]})'
)


def _check_header_value(value: str) -> str:
    # isascii()+isprintable() are C-speed and accept almost every real value;
    # the regex only runs for tabs, latin-1 text or genuinely bad input.
    if (value.isascii() and value.isprintable()) or _VALID_HEADER_VALUE.fullmatch(value):
        return value
    raise ValueError(
        f"Unsafe header value {value!r}: header values may not contain CR, LF, NUL, "
        "other control characters or characters outside latin-1"
    )


def _check_header_name(handler: object, method: str, name: str) -> None:
    """Raise unless ``name`` is a valid header name (then remember it)."""
    if not isinstance(name, str):
        raise TypeError(
            f"{type(handler).__name__}.{method}({name!r}, ...): header names must be str, "
            f"not {type(name).__name__}"
        )
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(
            f"{type(handler).__name__}.{method}({name!r}, ...): invalid header name "
            f"{name[:100]!r}; a header name must be an RFC 9110 token: ASCII letters, "
            "digits and !#$%&'*+-.^_`|~, without spaces, colons, CR/LF or other characters"
        )
    if len(_CHECKED_NAMES) < _CHECKED_NAMES_LIMIT:
        _CHECKED_NAMES.add(name)


def convert_header_value(value: _HeaderTypes) -> str:
    """Return ``value`` as a header string, or raise for unsafe or unsupported values.

    ``str`` values are used as they are, ``bytes`` are decoded as latin-1,
    integers are formatted in decimal and ``datetime`` objects as HTTP dates.

    Raises:
        ValueError: the value contains CR, LF, NUL or another control character.
        TypeError: the value is of another type.
    """
    if isinstance(value, str):
        return _check_header_value(value)
    if isinstance(value, bytes):
        return _check_header_value(value.decode("latin1"))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime.datetime):
        return format_timestamp(value)
    raise TypeError(f"Unsupported header value {value!r}: use str, bytes, int or datetime")


class OutputMixin:
    """Status, headers and the buffered body of a :class:`~dualweb.web.RequestHandler`."""

    __slots__ = ()

    request: HTTPServerRequest
    _headers: HTTPHeaders
    _write_buffer: list[bytes]
    _status_code: int
    _reason: str
    _finished: bool
    _headers_written: bool

    if TYPE_CHECKING:

        def set_status(self, status_code: int, reason: str | None = None) -> None: ...

        def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> Awaitable[None]: ...

    def set_default_headers(self) -> None:
        """Override to set headers (e.g. a custom ``Server``) at the start of every response.

        Called when the handler is created and again by :meth:`clear`, so
        error pages produced by ``send_error`` carry these headers too.
        """

    def get_status(self) -> int:
        """Return the response status code set so far (200 by default)."""
        return self._status_code

    def set_header(self, name: str, value: _HeaderTypes) -> None:
        """Set the response header ``name`` to ``value``, replacing earlier values.

        ``value`` may be ``str``, ``bytes`` (latin-1), ``int`` or ``datetime``
        (formatted as an HTTP date). A ``str`` value must be latin-1 text;
        encode anything else yourself (e.g. RFC 8187 for a filename).

        Raises:
            ValueError: ``name`` is not an RFC 9110 token (it contains a space,
                colon, CR, LF or a non-ASCII character, or is empty), or the
                value contains CR, LF, NUL, another control character or a
                character outside latin-1. The client gets a 500 through the
                usual error path.
            TypeError: the name is not a ``str``, or the value has another type.
        """
        if name not in _CHECKED_NAMES:
            _check_header_name(self, "set_header", name)
        self._headers[name] = convert_header_value(value)

    def add_header(self, name: str, value: _HeaderTypes) -> None:
        """Add another value for the response header ``name`` (e.g. a second ``Link``).

        Same name and value rules and errors as :meth:`set_header`.
        """
        if name not in _CHECKED_NAMES:
            _check_header_name(self, "add_header", name)
        self._headers.add(name, convert_header_value(value))

    def clear_header(self, name: str) -> None:
        """Remove the response header ``name`` (all its values), if it was set.

        Raises:
            ValueError: ``name`` is not a valid header name (see :meth:`set_header`).
            TypeError: ``name`` is not a ``str``.
        """
        if name not in _CHECKED_NAMES:
            _check_header_name(self, "clear_header", name)
        if name in self._headers:
            del self._headers[name]

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        """Append ``chunk`` to the response body buffer.

        ``str`` is encoded as UTF-8. A ``dict`` is sent as JSON and sets the
        ``Content-Type`` to ``application/json; charset=UTF-8``. The buffer is
        sent by :meth:`flush` or :meth:`finish`.

        Raises:
            RuntimeError: the response is already finished.
            TypeError: ``chunk`` is a list or another unsupported type.
        """
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        if type(chunk) is str:
            # encode() is UTF-8 by default; naming the codec costs a lookup per call.
            self._write_buffer.append(chunk.encode())
        elif isinstance(chunk, bytes):
            self._write_buffer.append(chunk)
        elif isinstance(chunk, str):
            self._write_buffer.append(chunk.encode())
        elif isinstance(chunk, dict):
            # Encoded first, as in Tornado: a value JSON cannot represent raises
            # before the Content-Type changes. The text is ASCII (json_encode
            # escapes the rest), so encode() takes its shortest path.
            body = json_encode(chunk).encode()
            if type(self).set_header is _BASE_SET_HEADER:
                # A constant, safe value: set_header's checks would find nothing.
                self._headers["Content-Type"] = _JSON_UTF8
            else:
                self.set_header("Content-Type", _JSON_UTF8)
            self._write_buffer.append(body)
        elif isinstance(chunk, list):
            raise TypeError(_LIST_WRITE_MESSAGE)
        else:
            raise TypeError(
                f"write() only accepts bytes, unicode, and dict objects, not {type(chunk).__name__}"
            )

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Redirect the client to ``url`` and finish the response.

        Args:
            url: the target (absolute or relative).
            permanent: use 301 instead of 302.
            status: an explicit 3xx status (overrides ``permanent``).

        A protocol-relative ``//host/path`` is honoured as written, as in
        Tornado: a URL built from request input must be checked by the caller,
        e.g. with ``browser_authority(url) == ("", "")`` (see
        :func:`browser_authority`) for a target that stays on this site.

        Raises:
            RuntimeError: the headers were already sent.
            ValueError: ``status`` is not a 3xx code; ``url`` contains CR, LF or
                another control character; or a browser would find a host in
                ``url`` that it does not show plainly (``/\\evil.example``,
                ``///evil.example``, ``https:evil.example``, a tab inside
                ``//evil.example``), the signature of an open-redirect attack.
        """
        if self._headers_written:
            raise RuntimeError("Cannot redirect after headers have been written")
        if status is None:
            status = 301 if permanent else 302
        elif not (isinstance(status, int) and 300 <= status <= 399):
            raise ValueError(f"redirect status must be a 3xx code, got {status!r}")
        _refuse_disguised_host(type(self).__name__, url)
        self.set_header("Location", utf8(url))
        self.set_status(status)
        self.finish()

    def compute_etag(self) -> str | None:
        """Return the ``Etag`` for the response: by default a SHA-1 of the body written so far.

        Override to compute a cheaper or more stable tag, or return ``None``
        to send no ``Etag``.
        """
        buffer = self._write_buffer
        return body_etag(buffer[0] if len(buffer) == 1 else b"".join(buffer))

    def set_etag_header(self) -> None:
        """Set the ``Etag`` header from :meth:`compute_etag` (no header if it returns ``None``)."""
        etag = self.compute_etag()
        if etag is not None:
            self._headers["Etag"] = convert_header_value(etag)

    def check_etag_header(self) -> bool:
        """Return whether the request's ``If-None-Match`` matches the response's ``Etag``.

        Weak (``W/"..."``) and strong tags compare equal when their values
        match, and ``*`` matches any tag. :meth:`finish` uses this to answer
        ``304 Not Modified``.
        """
        inm = self.request.headers.get("If-None-Match")
        if not inm:
            return False
        etag = self._headers.get("Etag")
        if not etag:
            return False
        return etag_matches(inm, etag)

    def _clear_representation_headers(self) -> None:
        # A 304 (and any bodiless status) must not describe a representation.
        for name in _REPRESENTATION_HEADERS:
            self.clear_header(name)


_BASE_SET_HEADER = OutputMixin.set_header


# Bodies up to this size are hashed by the interpreter's own SHA-1 (_sha1): it
# starts in a fraction of the instructions OpenSSL's needs (~3.4k against
# ~5.5k for a 12-byte body), while OpenSSL's is faster per byte beyond a few
# hundred bytes. Both give the same digest.
_SMALL_BODY = 256


def _first_sha1(data: bytes) -> Any:
    # hashlib initialises OpenSSL, a large part of import time: it is imported with
    # the first Etag, then _sha1 / _small_sha1 are the constructors themselves.
    global _sha1, _small_sha1
    import hashlib
    import importlib

    _sha1 = hashlib.sha1
    try:
        _small_sha1 = importlib.import_module("_sha1").sha1
    except ImportError:  # a Python built without its own hash implementations
        _small_sha1 = hashlib.sha1
    return _sha1(data)


_sha1: Callable[[bytes], Any] = _first_sha1
_small_sha1: Callable[[bytes], Any] = _first_sha1


# The tags of recent small bodies. Small bodies repeat (fixed pages, API
# answers like {"ok": true}), and looking one up costs a seventh of hashing it
# again (~0.6k instructions against ~4k). Bounded: emptied when full.
_SMALL_ETAGS: dict[bytes, str] = {}
_SMALL_ETAGS_LIMIT = 256


def body_etag(body: bytes) -> str:
    """Return the default ``Etag`` of a response body: its SHA-1 in hex, in double quotes."""
    if len(body) > _SMALL_BODY:
        digest: str = _sha1(body).hexdigest()
        return '"' + digest + '"'
    etag = _SMALL_ETAGS.get(body)
    if etag is None:
        etag = '"' + _small_sha1(body).hexdigest() + '"'
        if len(_SMALL_ETAGS) >= _SMALL_ETAGS_LIMIT:
            _SMALL_ETAGS.clear()
        _SMALL_ETAGS[body] = etag
    return etag


def is_absolute(path: str) -> bool:
    """Return whether ``path`` is an absolute URL or an absolute path (not relative)."""
    return path.startswith(("/", "http:", "https:"))


def browser_authority(url: str) -> tuple[str, str]:
    """Return the ``(scheme, authority)`` a browser would go to for the redirect target ``url``.

    Both are lower-cased; the authority is ``host[:port]`` with any user
    info. Both are empty for a target that stays on the current site (a path,
    a query or a fragment). Browsers read URLs more loosely than
    :mod:`urllib.parse`: they ignore spaces and control characters around the
    URL and tabs and line breaks inside it, read ``\\`` as ``/``, and find
    the host of an ``http(s)`` URL after any number of slashes. So
    ``/\\evil.example``, ``///evil.example`` and ``https:evil.example`` all
    name the host ``evil.example``, and a check like
    ``url.startswith("/") and not url.startswith("//")`` is not enough to
    keep a redirect on the site; ``browser_authority(url) == ("", "")`` is.
    Never raises.
    """
    text = url.strip(_URL_STRIPPED).translate(_URL_DELETED).replace("\\", "/")
    return _authority(text, browser=True)


def _authority(text: str, browser: bool) -> tuple[str, str]:
    """(scheme, authority) of ``text``, read by a browser or by the letter of RFC 3986."""
    match = _URL_SCHEME.match(text)
    scheme = match.group(1).lower() if match else ""
    rest = text[match.end() :] if match else text
    if browser and (scheme in _SPECIAL_SCHEMES or (not scheme and rest.startswith("//"))):
        return scheme, _AUTHORITY_END.split(rest.lstrip("/"), 1)[0].lower()
    if rest.startswith("//"):
        return scheme, _AUTHORITY_END.split(rest[2:], 1)[0].lower()
    return scheme, ""


def _refuse_disguised_host(handler_name: str, url: str) -> None:
    """Raise ValueError when a browser would find a host in ``url`` that it does not show."""
    seen = browser_authority(url)
    if seen[1] and seen != _authority(url, browser=False):
        raise ValueError(
            f"{handler_name}.redirect({url[:200]!r}): a browser would send the client to "
            f"{seen[1]!r}, a host this URL does not show plainly (backslashes, extra "
            "slashes, a missing '//', or tabs or spaces around it): an open-redirect "
            "attempt. If the URL comes from the request, redirect only when "
            'dualweb.web.output.browser_authority(url) == ("", "").'
        )


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Return whether an ``If-None-Match`` header value matches the ``etag`` of a response.

    Weak (``W/"..."``) and strong tags compare equal when their values match,
    and ``*`` matches any tag.
    """
    candidates = _ETAG_LIST.findall(if_none_match.encode("latin1", "replace"))
    if not candidates:
        return False
    if candidates[0] == b"*":
        return True
    ours = _strip_weak(etag.encode("latin1", "replace"))
    return any(_strip_weak(tag) == ours for tag in candidates)


def _strip_weak(tag: bytes) -> bytes:
    return tag[2:] if tag.startswith(b"W/") else tag
