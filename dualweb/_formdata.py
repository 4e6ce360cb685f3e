"""Form bodies: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

The public names are re-exported by :mod:`dualweb.httputil`, where Tornado
users import them: :class:`HTTPFile`, :func:`parse_body_arguments`,
:func:`parse_multipart_form_data`, :func:`set_parse_body_config` and the
``Parse*Config`` classes.

A body that cannot be parsed raises :class:`HTTPInputError` (defined in
:mod:`dualweb.headers`, re-exported here and by :mod:`dualweb.httputil`);
the request lifecycle answers it with ``400 Bad Request`` and logs the detail,
as Tornado 6.5+ does. Multipart framing is decoded by werkzeug's sans-io
``MultipartDecoder``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dualweb.escape import parse_qs_bytes, utf8
from dualweb.headers import HTTPInputError
from dualweb.util import ObjectDict

if TYPE_CHECKING:
    from werkzeug.sansio import multipart as mp

    from dualweb.headers import HTTPHeaders

__all__ = [
    "HTTPFile",
    "HTTPInputError",
    "ParseBodyConfig",
    "ParseMultipartConfig",
    "ParseUrlEncodedConfig",
    "parse_body_arguments",
    "parse_multipart_form_data",
    "set_parse_body_config",
]


class HTTPFile(ObjectDict):
    """An uploaded file: ``filename``, ``body`` (bytes) and ``content_type``.

    It is a dict, so ``f["filename"]`` and ``f.filename`` both work.
    """

    filename: str
    body: bytes
    content_type: str


class ParseUrlEncodedConfig:
    """Limits for ``application/x-www-form-urlencoded`` bodies.

    Args:
        max_arguments: the most fields accepted; a body with more is refused
            (:class:`HTTPInputError`, so ``400 Bad Request``).
    """

    __slots__ = ("max_arguments",)

    def __init__(self, max_arguments: int = 1000) -> None:
        self.max_arguments = max_arguments

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ParseUrlEncodedConfig) and other.max_arguments == self.max_arguments
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ParseUrlEncodedConfig(max_arguments={self.max_arguments!r})"


class ParseMultipartConfig:
    """Limits for ``multipart/form-data`` bodies.

    Args:
        enabled: parse multipart bodies at all.
        max_parts: the most parts accepted; a body with more is refused.
        max_part_header_size: the largest header block of one part, in bytes.
    """

    __slots__ = ("enabled", "max_part_header_size", "max_parts")

    def __init__(
        self, enabled: bool = True, max_parts: int = 100, max_part_header_size: int = 10240
    ) -> None:
        self.enabled = enabled
        self.max_parts = max_parts
        self.max_part_header_size = max_part_header_size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParseMultipartConfig) and (
            other.enabled,
            other.max_parts,
            other.max_part_header_size,
        ) == (self.enabled, self.max_parts, self.max_part_header_size)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"ParseMultipartConfig(enabled={self.enabled!r}, max_parts={self.max_parts!r}, "
            f"max_part_header_size={self.max_part_header_size!r})"
        )


class ParseBodyConfig:
    """How :func:`parse_body_arguments` treats form bodies (see :func:`set_parse_body_config`)."""

    __slots__ = ("multipart", "urlencoded")

    def __init__(
        self,
        multipart: ParseMultipartConfig | None = None,
        urlencoded: ParseUrlEncodedConfig | None = None,
    ) -> None:
        self.multipart = multipart if multipart is not None else ParseMultipartConfig()
        self.urlencoded = urlencoded if urlencoded is not None else ParseUrlEncodedConfig()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParseBodyConfig) and (other.multipart, other.urlencoded) == (
            self.multipart,
            self.urlencoded,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ParseBodyConfig(multipart={self.multipart!r}, urlencoded={self.urlencoded!r})"


_default_body_config = ParseBodyConfig()


def set_parse_body_config(config: ParseBodyConfig) -> None:
    """Set the process-wide default limits used by :func:`parse_body_arguments`."""
    global _default_body_config
    _default_body_config = config


def parse_body_arguments(
    content_type: str,
    body: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    headers: HTTPHeaders | None = None,
    *,
    config: ParseBodyConfig | None = None,
) -> None:
    """Parse a form body into ``arguments`` and ``files`` (both updated in place).

    Understands ``application/x-www-form-urlencoded`` and
    ``multipart/form-data``; other content types are left alone.

    Raises:
        HTTPInputError: the form body cannot be parsed: bad multipart framing,
            a missing boundary, a part without a form-data name or in an
            unknown charset, too many fields or parts, or a
            ``Content-Encoding`` other than ``identity``. Nothing is added to
            ``arguments`` or ``files`` then.
    """
    if config is None:
        config = _default_body_config
    if content_type.startswith("application/x-www-form-urlencoded"):
        _refuse_content_encoding(headers)
        try:
            parsed = parse_qs_bytes(
                body,
                keep_blank_values=True,
                max_num_fields=config.urlencoded.max_arguments,
            )
        except ValueError as e:
            raise HTTPInputError(f"Invalid x-www-form-urlencoded body: {e}") from e
        for name, values in parsed.items():
            if values:
                arguments.setdefault(name, []).extend(values)
    elif content_type.startswith("multipart/form-data"):
        _refuse_content_encoding(headers)
        # werkzeug is imported only when a form body needs it: importing it
        # costs tens of milliseconds of startup.
        from werkzeug.http import parse_options_header

        mimetype, params = parse_options_header(content_type)
        if mimetype != "multipart/form-data":
            raise HTTPInputError(f"Invalid multipart/form-data: Content-Type {content_type!r}")
        boundary = params.get("boundary")
        if not boundary:
            raise HTTPInputError("Invalid multipart/form-data: no boundary in Content-Type")
        parse_multipart_form_data(utf8(boundary), body, arguments, files, config=config.multipart)


def _refuse_content_encoding(headers: HTTPHeaders | None) -> None:
    # A compressed form body is only readable once the server has
    # decompressed it (decompress_request), which also drops the header.
    encoding = headers.get("Content-Encoding") if headers is not None else None
    if encoding and encoding.strip().lower() != "identity":
        raise HTTPInputError(f"Unsupported Content-Encoding: {encoding[:100]}")


def parse_multipart_form_data(
    boundary: bytes,
    data: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    *,
    config: ParseMultipartConfig | None = None,
) -> None:
    """Parse a ``multipart/form-data`` body into ``arguments`` and ``files``.

    ``boundary`` comes from the ``Content-Type`` header (surrounding quotes are
    removed). Fields with a ``filename`` become :class:`HTTPFile` entries in
    ``files``; other fields are appended to ``arguments`` as bytes (converted
    to UTF-8 when the part declares another ``charset``).

    Raises:
        HTTPInputError: the body is malformed, breaks a limit of ``config``,
            has a part without a form-data name or a field in an unknown
            charset (or bytes invalid in its charset), or multipart parsing
            is disabled. Nothing is added to ``arguments`` or ``files`` then.
    """
    if config is None:
        config = _default_body_config.multipart
    if not config.enabled:
        raise HTTPInputError("multipart/form-data parsing is disabled")
    if len(boundary) >= 2 and boundary.startswith(b'"') and boundary.endswith(b'"'):
        boundary = boundary[1:-1]
    if not boundary:
        raise HTTPInputError("Invalid multipart/form-data: empty boundary")
    if data.rfind(b"--" + boundary + b"--") == -1:
        raise HTTPInputError("Invalid multipart/form-data: no final boundary")
    try:
        parts = _decode_multipart(boundary, data, config)
    except HTTPInputError:
        raise
    except Exception as e:
        # The decoder reports malformed input with ValueError (and, for its
        # own limits, werkzeug's RequestEntityTooLarge); a client must never
        # be able to turn a body into a crash, so everything becomes a 400.
        raise HTTPInputError(f"Invalid multipart/form-data: {e or type(e).__name__}") from e
    # Every part is checked before anything is stored: a bad body adds nothing.
    fields = [_read_part(event, value) for event, value in parts]
    for name, field in fields:
        if isinstance(field, HTTPFile):
            files.setdefault(name, []).append(field)
        else:
            arguments.setdefault(name, []).append(field)


_MultipartPart = tuple["mp.Field | mp.File", bytes]


def _decode_multipart(
    boundary: bytes, data: bytes, config: ParseMultipartConfig
) -> list[_MultipartPart]:
    """Run werkzeug's sans-io decoder over the whole body; return (header event, data) pairs."""
    from werkzeug.sansio import multipart as mp

    decoder = mp.MultipartDecoder(boundary, max_parts=config.max_parts)
    decoder.receive_data(data)
    decoder.receive_data(None)
    parts: list[_MultipartPart] = []
    current: mp.Field | mp.File | None = None
    chunks: list[bytes] = []
    while True:
        event = decoder.next_event()
        if isinstance(event, (mp.Field, mp.File)):
            header_size = sum(len(k) + len(v) + 4 for k, v in event.headers.items())
            if header_size > config.max_part_header_size:
                raise HTTPInputError(
                    "Invalid multipart/form-data: part header block over "
                    f"{config.max_part_header_size} bytes"
                )
            current, chunks = event, []
        elif isinstance(event, mp.Data):
            chunks.append(event.data)
            if not event.more_data:
                if current is None:  # pragma: no cover - the decoder never does this
                    raise ValueError("data before part headers")
                parts.append((current, b"".join(chunks)))
                current = None
        elif isinstance(event, mp.Epilogue) or event is mp.NEED_DATA:
            # NEED_DATA after the final chunk cannot happen (the decoder raises
            # instead), but stopping is the safe reaction either way.
            return parts


def _read_part(event: mp.Field | mp.File, value: bytes) -> tuple[str, bytes | HTTPFile]:
    """Return ``(name, field bytes or HTTPFile)`` for one decoded part."""
    from werkzeug.http import parse_options_header

    disposition, params = parse_options_header(event.headers.get("Content-Disposition"))
    name = params.get("name")
    if disposition != "form-data" or not name:
        raise HTTPInputError("Invalid multipart/form-data: part without a form-data name")
    content_type = event.headers.get("Content-Type")
    filename = params.get("filename")
    if filename:
        return name, HTTPFile(
            filename=filename,
            body=value,
            content_type=content_type or "application/unknown",
        )
    if content_type:
        charset = parse_options_header(content_type)[1].get("charset")
        value = _to_utf8(name, value, charset)
    return name, value


_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def _to_utf8(name: str, value: bytes, charset: str | None) -> bytes:
    """Re-encode a form field declared in another charset as UTF-8 (handlers decode UTF-8)."""
    if not charset or charset.lower() in _UTF8_NAMES:
        return value
    try:
        return value.decode(charset).encode("utf-8")
    except (LookupError, ValueError) as e:
        # LookupError: no such text codec; ValueError: bytes invalid in that
        # charset, or a name the codec machinery rejects (e.g. one with NUL).
        raise HTTPInputError(
            f"Invalid multipart/form-data: field {name[:100]!r} in charset "
            f"{charset[:100]!r}: {e}"
        ) from None
