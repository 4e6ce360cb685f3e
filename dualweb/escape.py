"""Escaping and unescaping for HTML, URLs and JSON, and str/bytes conversion.

These helpers have the names and behaviour of ``tornado.escape``:

* :func:`utf8` / :func:`to_unicode` convert between ``bytes`` and ``str``
  (passing ``None`` through), :func:`recursive_unicode` does so through
  nested containers;
* :func:`xhtml_escape` / :func:`xhtml_unescape` for HTML text and attributes;
* :func:`url_escape` / :func:`url_unescape` / :func:`parse_qs_bytes` for URLs
  and query strings;
* :func:`json_encode` (safe to embed in a ``<script>`` block) and
  :func:`json_decode`;
* :func:`squeeze` and :func:`linkify` for plain text.
"""

from __future__ import annotations

import json
import json.encoder
import re
import string
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, overload

__all__ = [
    "json_decode",
    "json_encode",
    "linkify",
    "native_str",
    "parse_qs_bytes",
    "recursive_unicode",
    "squeeze",
    "to_basestring",
    "to_unicode",
    "url_escape",
    "url_unescape",
    "utf8",
    "xhtml_escape",
    "xhtml_unescape",
]


# --------------------------------------------------------------------------- str / bytes

_UTF8_TYPES = (bytes, type(None))
_TO_UNICODE_TYPES = (str, type(None))


@overload
def utf8(value: bytes) -> bytes: ...
@overload
def utf8(value: str) -> bytes: ...
@overload
def utf8(value: None) -> None: ...


def utf8(value: bytes | str | None) -> bytes | None:
    """Return ``value`` as UTF-8 ``bytes``.

    ``bytes`` and ``None`` are returned unchanged; ``str`` is encoded as UTF-8.

    Raises:
        TypeError: for any other type.
    """
    if isinstance(value, _UTF8_TYPES):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"utf8() expected bytes, str or None, got {type(value).__name__}")


@overload
def to_unicode(value: str) -> str: ...
@overload
def to_unicode(value: bytes) -> str: ...
@overload
def to_unicode(value: None) -> None: ...


def to_unicode(value: str | bytes | None) -> str | None:
    """Return ``value`` as ``str``, decoding ``bytes`` as UTF-8.

    ``str`` and ``None`` are returned unchanged.

    Raises:
        TypeError: for any other type.
        UnicodeDecodeError: when ``bytes`` are not valid UTF-8.
    """
    if isinstance(value, _TO_UNICODE_TYPES):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"to_unicode() expected bytes, str or None, got {type(value).__name__}")


# On Python 3 the "native" string and the "basestring" are both ``str``.
native_str = to_unicode
to_basestring = to_unicode
_unicode = to_unicode


def recursive_unicode(obj: Any) -> Any:
    """Decode every ``bytes`` inside ``obj`` (dicts, lists, tuples, nested) to ``str``.

    Dict keys are decoded too; other values are returned unchanged.
    """
    if isinstance(obj, dict):
        return {recursive_unicode(k): recursive_unicode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [recursive_unicode(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(recursive_unicode(item) for item in obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8")
    return obj


# --------------------------------------------------------------------------- HTML


def xhtml_escape(value: str | bytes) -> str:
    """Escape ``& < > " '`` so ``value`` is safe in HTML text and quoted attributes.

    ``bytes`` are decoded as UTF-8 first. The single quote becomes ``&#x27;``.
    """
    # html.escape(text, quote=True)'s replacements, in its order; importing html
    # would also load its entity table, which only unescaping needs.
    text = to_unicode(value)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


def xhtml_unescape(value: str | bytes) -> str:
    """Replace HTML character references (``&amp;``, ``&#39;``, ``&#x27;``, ...) with characters.

    Unknown entities are left as they are.
    """
    import html  # see xhtml_escape

    return html.unescape(to_unicode(value))


# --------------------------------------------------------------------------- JSON


# json.dumps() with default options builds a new C encoder (and its markers
# dict) through three Python frames on every call: ~21k instructions for a
# small dict, of which the encoding itself is ~10k. json_encode instead reuses
# C encoders made with json.dumps's options, so its text and errors are the
# same. An encoder is used by one call at a time: it is taken from _ENCODERS
# (list.pop and list.append are atomic, so threads under a WSGI server and
# re-entrant calls each get their own) and put back only after a success,
# because a failed encoding (TypeError, circular reference) can leave ids in
# its markers dict, which would then be reported as circular references.
# The pool holds at most one encoder per concurrent call. Where the C encoder
# is missing (another interpreter), json.dumps is used.
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_ENCODERS: list[Callable[[Any, int], Iterable[str]]] = []


def _new_encoder() -> Callable[[Any, int], Iterable[str]]:
    """A C encoder with json.dumps's default options (ensure_ascii, check_circular, ...)."""
    return _c_make_encoder(  # type: ignore[no-any-return]
        {},  # the markers of check_circular
        json.JSONEncoder().default,  # raises TypeError, as json.dumps does
        json.encoder.encode_basestring_ascii,
        None,  # indent
        ": ",
        ", ",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )


def json_encode(value: Any) -> str:
    """Serialize ``value`` to JSON, safe to embed inside an HTML ``<script>`` element.

    The text is that of ``json.dumps(value)``, except that ``"</"`` is written
    as ``"<\\/"`` (an equivalent JSON string) so a value containing
    ``</script>`` cannot end the script block early.

    Raises:
        TypeError: if ``value`` contains something JSON cannot represent.
        ValueError: if ``value`` contains a circular reference.
    """
    if _c_make_encoder is None:
        text = json.dumps(value)
    else:
        try:
            encoder = _ENCODERS.pop()
        except IndexError:
            encoder = _new_encoder()
        # On an error the encoder is dropped (see above), not put back.
        text = "".join(encoder(value, 0))
        _ENCODERS.append(encoder)
    return text.replace("</", "<\\/")


def json_decode(value: str | bytes) -> Any:
    """Parse a JSON document given as ``str`` or UTF-8 ``bytes``.

    Raises:
        json.JSONDecodeError: (a ``ValueError``) when ``value`` is not valid JSON.
    """
    return json.loads(value)


# --------------------------------------------------------------------------- text

_WHITESPACE_RUN = re.compile(r"[\x00-\x20]+")


def squeeze(value: str) -> str:
    """Collapse each run of whitespace/control characters to one space and strip the ends."""
    return _WHITESPACE_RUN.sub(" ", value).strip()


# --------------------------------------------------------------------------- URLs


def url_escape(value: str | bytes, plus: bool = True) -> str:
    """Percent-encode ``value`` for use in a URL.

    With ``plus=True`` (the default) the result is meant for a query string:
    spaces become ``+`` and ``/`` is encoded. With ``plus=False`` it is meant
    for a path segment: spaces become ``%20`` and ``/`` is kept.
    """
    if plus:
        return urllib.parse.quote_plus(utf8(value))
    return urllib.parse.quote(utf8(value))


@overload
def url_unescape(value: str | bytes, encoding: None, plus: bool = True) -> bytes: ...
@overload
def url_unescape(value: str | bytes, encoding: str = "utf-8", plus: bool = True) -> str: ...


def url_unescape(
    value: str | bytes, encoding: str | None = "utf-8", plus: bool = True
) -> str | bytes:
    """Decode a percent-encoded URL component.

    Args:
        value: the encoded text.
        encoding: how to decode the resulting bytes; ``None`` returns ``bytes``.
        plus: treat ``+`` as a space (query strings). Use ``plus=False`` for
            paths, where ``+`` is a literal plus sign.
    """
    text = to_unicode(value)
    if encoding is None:
        if plus:
            text = text.replace("+", " ")
        return urllib.parse.unquote_to_bytes(text)
    if plus:
        return urllib.parse.unquote_plus(text, encoding=encoding)
    return urllib.parse.unquote(text, encoding=encoding)


def _query_octets(qs: str | bytes) -> bytes:
    """Return the octets of a query string given as ``bytes`` or (latin-1) ``str``."""
    if isinstance(qs, bytes):
        return qs
    try:
        # Text read off the wire (and PEP 3333 strings) is latin-1: one
        # code point per octet.
        return qs.encode("latin-1")
    except UnicodeEncodeError:
        # Characters beyond latin-1 (a str built by hand) stand for their
        # UTF-8 octets; lone surrogates from surrogateescape-decoded input
        # stand for the byte they escaped.
        return qs.encode("utf-8", "surrogateescape")


def parse_qs_bytes(
    qs: str | bytes,
    keep_blank_values: bool = False,
    strict_parsing: bool = False,
    *,
    max_num_fields: int | None = None,
) -> dict[str, list[bytes]]:
    """Parse a query string into ``{name: [value bytes, ...]}``.

    Values are returned as raw ``bytes`` (the percent-decoded octets) because
    the query string's charset is not known; names are ``str`` decoded as
    Latin-1. Fields are separated by ``&``; ``+`` means a space; malformed
    percent escapes are kept literally. The result is the same as
    ``urllib.parse.parse_qs`` with ``encoding="latin-1"``, with values encoded
    back to bytes.

    Args:
        keep_blank_values: keep fields with an empty value (``a=`` or ``a``)
            as ``b""``; by default they are dropped.
        strict_parsing: raise on a field without ``=``.
        max_num_fields: raise if the query has more fields than this.

    Raises:
        ValueError: only when ``strict_parsing`` is true and ``qs`` is
            malformed, or when more than ``max_num_fields`` fields are present.
        UnicodeEncodeError: for a ``str`` holding unpaired surrogates outside
            the surrogateescape range.
    """
    data = _query_octets(qs)
    if max_num_fields is not None and data.count(b"&") + 1 > max_num_fields:
        raise ValueError(f"query has more than {max_num_fields} fields")
    result: dict[str, list[bytes]] = {}
    # Written out rather than via urllib.parse.parse_qsl: this runs for every
    # request with a query string, and working on bytes avoids decoding and
    # re-encoding every field.
    unquote = urllib.parse.unquote_to_bytes
    for field in data.split(b"&"):
        name, eq, value = field.partition(b"=")
        if not eq:
            if strict_parsing:
                raise ValueError(f"bad query field: {field!r}")
            if not field or not keep_blank_values:
                continue
        elif not value and not keep_blank_values:
            continue
        # Integer membership (43 is "+", 37 is "%") is several times faster
        # than testing for a one-byte bytes object.
        if 43 in name:
            name = name.replace(b"+", b" ")
        if 37 in name:
            name = unquote(name)
        if 43 in value:
            value = value.replace(b"+", b" ")
        if 37 in value:
            value = unquote(value)
        key = name.decode("latin-1")
        values = result.get(key)
        if values is None:
            result[key] = [value]
        else:
            values.append(value)
    return result


# --------------------------------------------------------------------------- linkify

# How linkify finds URLs in (already HTML-escaped) text. A URL starts with
# "scheme:" plus one to three slashes, or with "www."; then comes a run of
# units: single characters other than whitespace, "&" and parentheses, the
# escaped "&amp;" / "&quot;", or a balanced "(...)" group. It must end in a
# non-punctuation character or a "(...)" group, so sentence punctuation after
# a URL ("see http://a.com/x.") stays outside the link. Each unit is a single
# alternation step, so a failed match backtracks linearly.
_URL_CHAR = r"(?:[^\s&()]|&amp;|&quot;)"
_URL_GROUP = rf"\({_URL_CHAR}*\)"
# Slashes, hyphens, underscores and backslashes may end a URL; other
# punctuation is taken to belong to the sentence.
_SENTENCE_PUNCTUATION = "".join(c for c in string.punctuation if c not in "/-_\\")
_URL_END_CHAR = "[^\\s" + re.escape(_SENTENCE_PUNCTUATION) + "]"
_URL_PATTERN = re.compile(
    rf"\b((?:([\w-]+):(/{{1,3}})|www[.])"
    rf"(?:{_URL_CHAR}|{_URL_GROUP})*(?:{_URL_END_CHAR}|{_URL_GROUP}))"
)

_SHORTEN_MAX = 30


def _shorten_url(url: str, proto: str | None, slashes: str | None) -> str:
    """Shorten a long URL for display, or return it unchanged if that would not help."""
    original = url
    prefix_len = len(proto) + 1 + len(slashes or "") if proto else 0
    segments = url[prefix_len:].split("/")
    if len(segments) > 1:
        # Keep the host and a hint of the first path segment.
        first = segments[1][:8].split("?")[0].split(".")[0]
        url = url[:prefix_len] + segments[0] + "/" + first
    if len(url) > _SHORTEN_MAX * 1.5:
        url = url[:_SHORTEN_MAX]
    if url != original:
        # Never cut in the middle of an "&amp;" entity.
        amp = url.rfind("&")
        if amp > _SHORTEN_MAX - 5:
            url = url[:amp]
        url += "..."
        if len(url) >= len(original):
            return original
    return url


def linkify(
    text: str | bytes,
    shorten: bool = False,
    extra_params: str | Callable[[str], str] = "",
    require_protocol: bool = False,
    permitted_protocols: Iterable[str] = ("http", "https"),
) -> str:
    """Turn URLs in plain ``text`` into HTML links; the rest of the text is HTML-escaped.

    Args:
        text: plain text (not HTML).
        shorten: display long URLs shortened (the full URL goes in ``title``).
        extra_params: extra attributes for each ``<a>`` tag, e.g.
            ``'rel="nofollow" class="external"'``, or a callable taking the
            URL and returning such a string.
        require_protocol: only link URLs that have a scheme; ``www.example.com``
            alone is then left as text.
        permitted_protocols: schemes that may be linked; URLs with other
            schemes (``javascript:``, ``ftp:`` by default) are left as text.
    """
    allowed = frozenset(permitted_protocols)

    def make_link(m: re.Match[str]) -> str:
        url = m.group(1)
        proto = m.group(2)
        if require_protocol and not proto:
            return url
        if proto and proto not in allowed:
            return url
        href = url if proto else "http://" + url
        if callable(extra_params):
            params = " " + extra_params(href).strip()
        elif extra_params:
            params = " " + extra_params.strip()
        else:
            params = ""
        if shorten and len(url) > _SHORTEN_MAX:
            display = _shorten_url(url, proto, m.group(3))
            if display != url:
                params += f' title="{href}"'
            url = display
        return f'<a href="{href}"{params}>{url}</a>'

    return _URL_PATTERN.sub(make_link, xhtml_escape(text))
