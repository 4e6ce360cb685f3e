"""What the parts of :mod:`dualweb.web` use of each other, as protocols.

:class:`ApplicationLike` is what a handler uses of its application and
:class:`HandlerLike` is what templates' helpers (UI modules, the rendering
mixin) use of a handler. They live in this leaf module so that the handler,
rendering, UI module and application modules can name each other's types
without importing each other (imports in ``dualweb`` flow one way; see
``docs/architecture.md``, "Layers"). :class:`~dualweb.web.Application` and
:class:`~dualweb.web.RequestHandler` satisfy them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest
    from dualweb.util import ObjectDict
    from dualweb.web.transforms import OutputTransform

__all__ = ["ApplicationLike", "HandlerLike"]


class ApplicationLike(Protocol):
    """What a handler uses of its application (an :class:`~dualweb.web.Application`)."""

    settings: dict[str, Any]
    transforms: list[type[OutputTransform]]
    ui_modules: dict[str, Any]
    ui_methods: dict[str, Any]

    def reverse_url(self, name: str, *args: Any) -> str:
        """The URL of the route named ``name``."""

    # ``handler`` is a RequestHandler; naming that class here would make this
    # module import the handler module, which imports this one.
    def log_request(self, handler: Any) -> None:
        """Write the access-log line for a finished request."""


class HandlerLike(Protocol):
    """What UI modules and UI methods use of the handler rendering a page.

    A :class:`~dualweb.web.RequestHandler` (every one) satisfies it.
    """

    request: HTTPServerRequest

    @property
    def ui(self) -> ObjectDict:
        """The UI methods and modules available to templates."""

    @property
    def locale(self) -> Any:
        """The locale of the current user (a :class:`dualweb.locale.Locale`)."""

    @property
    def current_user(self) -> Any:
        """The authenticated user of the request, or ``None``."""

    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        """Render a template with the handler's namespace and return it."""

    def xsrf_form_html(self) -> str:
        """The hidden ``_xsrf`` form field."""
