"""``dualweb.web``: the request handlers and the application (Tornado's ``tornado.web``).

Everything a Tornado application imports from ``tornado.web`` is here under
the same name: :class:`RequestHandler`, :class:`Application`,
:class:`HTTPError`, :class:`Finish`, :class:`MissingArgumentError`,
:class:`RedirectHandler`, :class:`ErrorHandler`, :class:`FallbackHandler`,
:func:`authenticated`, :func:`addslash`, :func:`removeslash`,
:func:`stream_request_body`, :class:`OutputTransform`,
:class:`GZipContentEncoding`, :class:`StaticFileHandler`, :class:`URLSpec` / :data:`url`,
:class:`UIModule` and :class:`TemplateModule`, the signed
value helpers, and :class:`AsyncUnavailableError` (raised for async-only
features under WSGI).

The implementation is split by concern: :mod:`.handler` (the lifecycle),
:mod:`.output`, :mod:`.arguments`, :mod:`.userinfo`, :mod:`.cookies`,
:mod:`.xsrf`, :mod:`.signing`, :mod:`.application`, :mod:`.handlers`,
:mod:`.decorators`, :mod:`.transforms`, :mod:`.errors`, :mod:`.static`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dualweb._lazy import lazy_exports
from dualweb.routing import URLSpec, url
from dualweb.web.application import Application
from dualweb.web.arguments import _ARG_DEFAULT, _ArgDefaultMarker  # noqa: F401 - Tornado has them
from dualweb.web.decorators import (
    addslash,
    asynchronous,
    authenticated,
    removeslash,
    stream_request_body,
)
from dualweb.web.errors import AsyncUnavailableError, Finish, HTTPError, MissingArgumentError
from dualweb.web.handler import RequestHandler
from dualweb.web.handlers import ErrorHandler, FallbackHandler, RedirectHandler
from dualweb.web.output import is_absolute
from dualweb.web.transforms import GZipContentEncoding, OutputTransform
from dualweb.web.ui import TemplateModule, UIModule

if TYPE_CHECKING:
    from dualweb.web.signing import (
        DEFAULT_SIGNED_VALUE_MIN_VERSION,
        DEFAULT_SIGNED_VALUE_VERSION,
        create_signed_value,
        decode_signed_value,
        get_signature_key_version,
    )
    from dualweb.web.static import StaticFileHandler

# Imported on first use: static files bring werkzeug's date and range parsing, the
# signing helpers base64 and hmac; many applications need neither.
__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        "StaticFileHandler": "dualweb.web.static",
        "DEFAULT_SIGNED_VALUE_MIN_VERSION": "dualweb.web.signing",
        "DEFAULT_SIGNED_VALUE_VERSION": "dualweb.web.signing",
        "create_signed_value": "dualweb.web.signing",
        "decode_signed_value": "dualweb.web.signing",
        "get_signature_key_version": "dualweb.web.signing",
    },
)

MIN_SUPPORTED_SIGNED_VALUE_VERSION = 1
MAX_SUPPORTED_SIGNED_VALUE_VERSION = 2

__all__ = [
    "DEFAULT_SIGNED_VALUE_MIN_VERSION",
    "DEFAULT_SIGNED_VALUE_VERSION",
    "MAX_SUPPORTED_SIGNED_VALUE_VERSION",
    "MIN_SUPPORTED_SIGNED_VALUE_VERSION",
    "Application",
    "AsyncUnavailableError",
    "ErrorHandler",
    "FallbackHandler",
    "Finish",
    "GZipContentEncoding",
    "HTTPError",
    "MissingArgumentError",
    "OutputTransform",
    "RedirectHandler",
    "RequestHandler",
    "StaticFileHandler",
    "TemplateModule",
    "UIModule",
    "URLSpec",
    "addslash",
    "asynchronous",
    "authenticated",
    "create_signed_value",
    "decode_signed_value",
    "get_signature_key_version",
    "is_absolute",
    "removeslash",
    "stream_request_body",
    "url",
]


