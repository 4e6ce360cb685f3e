"""UI modules and UI methods: reusable template components (Tornado's ``UIModule``).

A UI module is a :class:`UIModule` subclass registered with the
``ui_modules`` application setting and called from a template with
``{% module Name(args) %}``. Besides its HTML, a module may ask for
JavaScript and CSS (files or inline) and extra ``<head>``/``<body>`` HTML;
:meth:`~dualweb.web.RequestHandler.render` gathers these from every module
the page used and injects them before ``</head>`` and ``</body>``.

UI methods are plain functions registered with ``ui_methods``; templates
call them with the handler passed as the first argument
(``def shout(handler, text)`` is used as ``{{ shout("hi") }}``).

Built-in modules: ``Template`` (:class:`TemplateModule`), ``linkify`` and
``xsrf_form_html``.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from dualweb import escape
from dualweb.util import ObjectDict

if TYPE_CHECKING:
    from dualweb.web.protocols import HandlerLike

__all__ = [
    "TemplateModule",
    "UIModule",
    "UIModuleNamespace",
    "load_ui_methods",
    "load_ui_modules",
]


class UIModule:
    """A reusable template component: override :meth:`render`; use it with ``{% module %}``.

    One instance is created per handler (per request) the first time a
    template uses the module, and :meth:`render` is called for every use.

    Args:
        handler: the :class:`~dualweb.web.RequestHandler` rendering the page.
    """

    def __init__(self, handler: HandlerLike) -> None:
        self.handler = handler
        self.request = handler.request
        self.ui = handler.ui
        self.locale = handler.locale

    @property
    def current_user(self) -> Any:
        """The handler's :attr:`~dualweb.web.RequestHandler.current_user`."""
        return self.handler.current_user

    def render(self, *args: Any, **kwargs: Any) -> str | bytes:
        """Return this module's HTML for one use; override it.

        Raises:
            NotImplementedError: the subclass does not define it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement render()")

    def embedded_javascript(self) -> str | None:
        """JavaScript to put inline at the end of ``<body>`` (once per page)."""
        return None

    def javascript_files(self) -> Iterable[str] | str | None:
        """JavaScript file URL(s) to link at the end of ``<body>``; relative ones use static_url."""
        return None

    def embedded_css(self) -> str | None:
        """CSS to put inline in ``<head>`` (once per page)."""
        return None

    def css_files(self) -> Iterable[str] | str | None:
        """CSS file URL(s) to link in ``<head>``; relative ones go through static_url."""
        return None

    def html_head(self) -> str | None:
        """HTML to put at the end of ``<head>``."""
        return None

    def html_body(self) -> str | None:
        """HTML to put at the end of ``<body>``."""
        return None

    def render_string(self, path: str, **kwargs: Any) -> bytes:
        """Render the template ``path`` with the handler's namespace plus ``kwargs``."""
        return self.handler.render_string(path, **kwargs)


class _Linkify(UIModule):
    def render(self, text: str, **kwargs: Any) -> str:
        return escape.linkify(text, **kwargs)


class _XSRFFormHTML(UIModule):
    def render(self) -> str:
        return self.handler.xsrf_form_html()


class TemplateModule(UIModule):
    """The built-in ``Template`` module: ``{% module Template("entry.html", entry=e) %}``.

    Renders another template with the handler's namespace plus the keyword
    arguments. That template may call ``{{ set_resources(embedded_css=...,
    javascript_files=..., ...) }}`` (any of the :class:`UIModule` resource
    names) to add resources to the page, once per template however often
    it is used.
    """

    def __init__(self, handler: HandlerLike) -> None:
        super().__init__(handler)
        self._resources: dict[str, dict[str, Any]] = {}

    def render(self, path: str, **kwargs: Any) -> bytes:
        """Render the template ``path`` with ``kwargs`` (and ``set_resources``)."""

        def set_resources(**resources: Any) -> str:
            known = self._resources.setdefault(path, resources)
            if known != resources:
                raise ValueError(
                    f"set_resources() was called with different resources for {path!r}; "
                    "a template must ask for the same resources every time it is rendered"
                )
            return ""

        return self.render_string(path, set_resources=set_resources, **kwargs)

    def _all(self, key: str) -> list[Any]:
        return [resources[key] for resources in self._resources.values() if key in resources]

    def _files(self, key: str) -> list[str]:
        files: list[str] = []
        for value in self._all(key):
            if isinstance(value, (str, bytes)):
                files.append(escape.to_unicode(value))
            else:
                files.extend(value)
        return files

    def embedded_javascript(self) -> str:
        """The ``embedded_javascript`` of every template rendered, one per line."""
        return "\n".join(self._all("embedded_javascript"))

    def javascript_files(self) -> list[str]:
        """The ``javascript_files`` of every template rendered."""
        return self._files("javascript_files")

    def embedded_css(self) -> str:
        """The ``embedded_css`` of every template rendered, one per line."""
        return "\n".join(self._all("embedded_css"))

    def css_files(self) -> list[str]:
        """The ``css_files`` of every template rendered."""
        return self._files("css_files")

    def html_head(self) -> str:
        """The ``html_head`` of every template rendered."""
        return "".join(self._all("html_head"))

    def html_body(self) -> str:
        """The ``html_body`` of every template rendered."""
        return "".join(self._all("html_body"))


class UIModuleNamespace:
    """``modules.Name(...)`` in a template: creates (once per request) and renders UI modules.

    Available to templates as ``modules`` (and used by ``{% module %}``).
    :attr:`active_modules` holds the instances used so far, in first-use order.

    Args:
        handler: the handler rendering the page.
        ui_modules: the registry, name → :class:`UIModule` subclass.
    """

    __slots__ = ("active_modules", "handler", "ui_modules")

    def __init__(self, handler: HandlerLike, ui_modules: dict[str, type[UIModule]]) -> None:
        self.handler = handler
        self.ui_modules = ui_modules
        self.active_modules: dict[str, UIModule] = {}

    def __getitem__(self, name: str) -> Callable[..., str | bytes]:
        module_class = self.ui_modules[name]

        def render(*args: Any, **kwargs: Any) -> str | bytes:
            module = self.active_modules.get(name)
            if module is None:
                module = self.active_modules[name] = module_class(self.handler)
            return module.render(*args, **kwargs)

        return render

    def __getattr__(self, name: str) -> Callable[..., str | bytes]:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"no UI module named {name!r}; register it with the ui_modules application "
                f"setting (known: {', '.join(sorted(self.ui_modules))})"
            ) from None


def ui_namespace(handler: HandlerLike, ui_methods: dict[str, Any], modules: Any) -> ObjectDict:
    """A handler's ``ui`` object: its UI methods bound to it, plus ``modules``/``_tt_modules``."""
    ui = ObjectDict(
        (name, functools.partial(method, handler)) for name, method in ui_methods.items()
    )
    ui["_tt_modules"] = ui["modules"] = modules
    return ui


_BUILTIN_MODULES: dict[str, type[UIModule]] = {
    "linkify": _Linkify,
    "xsrf_form_html": _XSRFFormHTML,
    "Template": TemplateModule,
}


def _entries(source: Any) -> Iterable[tuple[str, Any]]:
    """Name/value pairs of a module, a dict or (recursively) a list of them."""
    if isinstance(source, types.ModuleType):
        return [(name, getattr(source, name)) for name in dir(source)]
    if isinstance(source, (list, tuple)):
        return [entry for item in source for entry in _entries(item)]
    return list(source.items())


def load_ui_modules(setting: Any = None) -> dict[str, type[UIModule]]:
    """The UI module registry for the ``ui_modules`` setting (plus the built-in modules).

    ``setting`` may be a dict (name → class), a Python module (every
    :class:`UIModule` subclass in it) or a list of those; other values in
    them are ignored.
    """
    modules = dict(_BUILTIN_MODULES)
    if setting:
        for name, value in _entries(setting):
            if isinstance(value, type) and issubclass(value, UIModule):
                modules[name] = value
    return modules


def load_ui_methods(setting: Any = None) -> dict[str, Callable[..., Any]]:
    """The UI method registry for the ``ui_methods`` setting.

    ``setting`` may be a dict (name → function), a Python module or a list
    of those; only callables whose name starts with a lower-case letter are
    taken (so classes and private names in a module are skipped).
    """
    methods: dict[str, Callable[..., Any]] = {}
    if setting:
        for name, value in _entries(setting):
            if callable(value) and not name.startswith("_") and name[0].lower() == name[0]:
                methods[name] = value
    return methods
