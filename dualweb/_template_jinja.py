"""Jinja2 as the alternative template engine: :class:`Jinja2Loader` (``template_loader``).

Re-exported by :mod:`dualweb.template`. jinja2 is optional (``pip install
dualweb[templates]``) and imported only when a :class:`Jinja2Loader` is created.
"""

from __future__ import annotations

import os.path
from collections.abc import Callable
from typing import Any

from dualweb._template_runtime import DEFAULT_NAMESPACE, to_str

__all__ = ["Jinja2Loader", "Jinja2Template"]


# Namespace entries whose value is HTML: Jinja2 must not escape what they return.
_HTML_CALLABLES = ("xsrf_form_html",)
_HTML_NAMESPACES = ("modules", "_tt_modules")


class Jinja2Loader:
    """Use Jinja2 templates with ``RequestHandler.render``: ``template_loader=Jinja2Loader(path)``.

    The templates get the same namespace as Tornado-syntax templates
    (``handler``, ``request``, ``current_user``, ``xsrf_form_html()``,
    ``reverse_url``, ``escape``, ``json_encode``, UI methods, ``modules``,
    ...). HTML produced by ``xsrf_form_html()`` and ``modules.Name(...)`` is
    marked safe; autoescaping is on. Needs ``jinja2`` (``pip install
    dualweb[templates]``), imported when the loader is created.

    Args:
        root_directory: the directory holding the templates (ignored when
            ``environment`` is given).
        environment: a ready ``jinja2.Environment`` to use instead.
        options: more ``jinja2.Environment`` arguments (e.g. ``extensions``).

    Raises:
        ImportError: jinja2 is not installed (the message says how to install it).
        TypeError: neither ``root_directory`` nor ``environment`` is given.
    """

    def __init__(
        self, root_directory: str | None = None, environment: Any = None, **options: Any
    ) -> None:
        if environment is None:
            if root_directory is None:
                raise TypeError("Jinja2Loader needs a root_directory or an environment")
            jinja2 = _import_jinja2()
            options.setdefault("autoescape", True)
            loader = jinja2.FileSystemLoader(root_directory)
            environment = jinja2.Environment(loader=loader, **options)
        self.environment = environment
        self.root = os.path.abspath(root_directory) if root_directory else None

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """Return ``name``: Jinja2 resolves names itself."""
        return name

    def load(self, name: str, parent_path: str | None = None) -> Jinja2Template:
        """Return the Jinja2 template ``name`` (cached by Jinja2).

        Raises:
            jinja2.TemplateNotFound: there is no such template.
            jinja2.TemplateSyntaxError: it is invalid (names the file and line).
        """
        return Jinja2Template(self.environment.get_template(name))

    def reset(self) -> None:
        """Forget compiled templates (Jinja2 also reloads changed files by itself)."""
        cache = getattr(self.environment, "cache", None)
        if cache is not None:
            cache.clear()


class Jinja2Template:
    """A Jinja2 template with :class:`Template`'s :meth:`generate` (made by :class:`Jinja2Loader`).

    Args:
        template: the ``jinja2.Template``.
    """

    def __init__(self, template: Any) -> None:
        self.template = template
        self.name: str = template.name

    def generate(self, **kwargs: Any) -> bytes:
        """Render with ``kwargs`` plus the default template names; return UTF-8 bytes."""
        markup = _markup_class()
        namespace = {
            name: value for name, value in DEFAULT_NAMESPACE.items() if not name.startswith("_")
        }
        namespace.update(kwargs)
        for name in _HTML_CALLABLES:
            function = namespace.get(name)
            if callable(function):
                namespace[name] = _returning_markup(function, markup)
        for name in _HTML_NAMESPACES:
            if name in namespace:
                namespace[name] = _SafeModules(namespace[name], markup)
        return str(self.template.render(namespace)).encode("utf-8")


def _import_jinja2() -> Any:
    try:
        import jinja2
    except ImportError:
        raise ImportError(
            "Jinja2Loader needs jinja2: pip install 'dualweb[templates]' (or pip install jinja2)"
        ) from None
    return jinja2


def _markup_class() -> Any:
    from markupsafe import Markup

    return Markup


def _returning_markup(function: Callable[..., Any], markup: Any) -> Callable[..., Any]:
    def safe(*args: Any, **kwargs: Any) -> Any:
        return markup(to_str(function(*args, **kwargs)))

    return safe


class _SafeModules:
    """``modules.Name(...)`` for Jinja2: the UI module's HTML is not escaped again."""

    __slots__ = ("_markup", "_modules")

    def __init__(self, modules: Any, markup: Any) -> None:
        self._modules = modules
        self._markup = markup

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return _returning_markup(getattr(self._modules, name), self._markup)

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return _returning_markup(self._modules[name], self._markup)
