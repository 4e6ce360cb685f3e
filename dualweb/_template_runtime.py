"""What compiled templates call at run time, and the default template namespace.

Shared by :mod:`dualweb.template` (generated code calls ``_tt_s``,
``_tt_escaper``, ``_tt_bytes`` from the namespace) and the Jinja2 adapter
(which gives Jinja2 templates the same public names).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from dualweb import escape

__all__ = ["DEFAULT_NAMESPACE", "escaper", "to_bytes", "to_str", "xhtml"]


def to_str(value: Any) -> str:
    """Unescaped output: ``str`` as is, ``bytes`` decoded, anything else through ``str()``."""
    if type(value) is str:
        return value
    if isinstance(value, bytes):
        # surrogateescape keeps invalid UTF-8 byte for byte through the final encode.
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def to_bytes(text: str) -> bytes:
    """``text`` as UTF-8, bytes that :func:`to_str` decoded restored as they were."""
    return text.encode("utf-8", "surrogateescape")


def xhtml(value: Any) -> str:
    """:func:`~dualweb.escape.xhtml_escape` of ``str(value)``, without the extra calls."""
    if type(value) is str:
        text: str = value
    elif type(value) is int:
        return str(value)  # digits need no escaping
    else:
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


def escaper(function: Callable[[Any], Any]) -> Callable[[Any], str]:
    """The output function for ``{% autoescape function %}``.

    As in Tornado, a custom function receives the value as UTF-8 ``bytes``
    (non-strings through ``str()`` first) and may return ``str`` or ``bytes``.
    """
    if function is escape.xhtml_escape:
        return xhtml

    def custom(value: Any) -> str:
        if isinstance(value, str):
            data = value.encode("utf-8")
        elif isinstance(value, bytes):
            data = value
        else:
            data = str(value).encode("utf-8")
        return to_str(function(data))

    return custom


#: The names every template sees (before the loader's namespace and the variables).
DEFAULT_NAMESPACE: dict[str, Any] = {
    "escape": escape.xhtml_escape,
    "xhtml_escape": escape.xhtml_escape,
    "url_escape": escape.url_escape,
    "json_encode": escape.json_encode,
    "squeeze": escape.squeeze,
    "linkify": escape.linkify,
    "datetime": datetime,
    "_tt_utf8": escape.utf8,
    "_tt_string_types": (str, bytes),
    "_tt_escaper": escaper,
    "_tt_s": to_str,
    "_tt_bytes": to_bytes,
}
