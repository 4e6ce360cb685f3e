"""``RequestHandler.static_url``: versioned URLs of files under the ``static_path`` setting.

This lives apart from :mod:`dualweb.web.static` because
:class:`~dualweb.web.RequestHandler` inherits it while
:class:`~dualweb.web.static.StaticFileHandler` inherits from
``RequestHandler``: one module for both would be an import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest

__all__ = ["StaticURLMixin"]


class StaticURLMixin:
    """Gives :class:`~dualweb.web.RequestHandler` its :meth:`static_url` method."""

    __slots__ = ()

    request: HTTPServerRequest

    if TYPE_CHECKING:

        @property
        def settings(self) -> dict[str, Any]: ...

        def require_setting(self, name: str, feature: str = "this feature") -> None: ...

    def static_url(self, path: str, include_host: bool | None = None, **kwargs: Any) -> str:
        """Return the URL of the static file ``path`` (relative to the ``static_path`` setting).

        The URL carries a ``?v=`` argument holding a hash of the file's
        content, so browsers may cache it for a long time and fetch the new
        version as soon as the file changes. The hashes are cached per
        process unless the ``static_hash_cache`` setting is false (the
        default in debug mode).

        Args:
            path: the file's path under ``static_path``, with ``/`` separators.
            include_host: prefix the URL with ``protocol://host`` of the
                current request. ``None`` uses the handler's ``include_host``
                attribute when it has one, else ``False``.
            kwargs: passed to the static handler class's ``make_static_url``
                (e.g. ``include_version=False``).

        Raises:
            Exception: the application has no ``static_path`` setting.
        """
        self.require_setting("static_path", "static_url")
        settings = self.settings
        handler_class = settings.get("static_handler_class")
        if handler_class is None:
            handler_class = importlib.import_module("dualweb.web.static").StaticFileHandler
        if include_host is None:
            include_host = getattr(self, "include_host", False)
        url: str = handler_class.make_static_url(settings, path, **kwargs)
        if include_host:
            request = self.request
            return f"{request.protocol}://{request.host}{url}"
        return url
