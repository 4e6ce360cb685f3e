"""Who the client is: ``current_user`` and the login URL of a handler.

:class:`UserMixin` is part of :class:`~dualweb.web.RequestHandler`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest

__all__ = ["UserMixin"]


class UserMixin:
    """``current_user`` and ``get_login_url`` for a handler."""

    # The one mixin of RequestHandler with slots of its own (Python allows
    # only one base with a non-empty layout); the rest live on RequestHandler.
    # ``_locale`` belongs to LocaleMixin (web/localization.py), which has no
    # slots of its own for the same reason.
    __slots__ = ("_current_user", "_locale")

    request: HTTPServerRequest
    _current_user: Any
    _locale: Any

    if TYPE_CHECKING:

        def require_setting(self, name: str, feature: str = "this feature") -> None: ...

        @property
        def settings(self) -> dict[str, Any]: ...

    @property
    def current_user(self) -> Any:
        """The authenticated user of this request, or ``None``.

        Computed by :meth:`get_current_user` on first access and cached for
        the request. It can also be assigned, e.g. from an ``async``
        ``prepare()``::

            async def prepare(self):
                self.current_user = await load_user(self.get_signed_cookie("user"))
        """
        try:
            return self._current_user
        except AttributeError:
            self._current_user = self.get_current_user()
            return self._current_user

    @current_user.setter
    def current_user(self, value: Any) -> None:
        self._current_user = value

    def get_current_user(self) -> Any:
        """Override to determine the current user, e.g. from a signed cookie.

        Returns ``None`` (nobody is logged in) by default. Used by
        :attr:`current_user` and :func:`~dualweb.web.authenticated`.
        """
        return None

    def get_login_url(self) -> str:
        """Return the URL that :func:`~dualweb.web.authenticated` redirects anonymous users to.

        Uses the application's ``login_url`` setting by default.

        Raises:
            Exception: the ``login_url`` setting is missing (the message names
                the handler and the setting).
        """
        self.require_setting("login_url", "@dualweb.web.authenticated")
        return str(self.settings["login_url"])
