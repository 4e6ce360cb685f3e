"""Template rendering for :class:`~dualweb.web.RequestHandler` (``render``, ``render_string``).

:class:`RenderingMixin` is part of ``RequestHandler``. ``render(name,
**kwargs)`` renders a template with the handler's namespace
(:meth:`~RenderingMixin.get_template_namespace`) plus ``kwargs``, injects
the JavaScript/CSS/HTML asked for by the UI modules the page used, and
finishes the response. Rendering is synchronous, so it works the same
natively and under WSGI.

Templates are loaded by the loader of :meth:`create_template_loader`
(a :class:`dualweb.template.Loader` for the ``template_path`` setting, or
the ``template_loader`` setting, e.g. a
:class:`~dualweb.template.Jinja2Loader`), kept per application and
template path. Compiled templates are cached unless the
``compiled_template_cache`` setting is false (the default with
``debug=True``), in which case every render reads the files again.
"""

from __future__ import annotations

import os.path
import sys
import threading
import weakref
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from dualweb.escape import utf8, xhtml_escape
from dualweb.util import ObjectDict
from dualweb.web.output import is_absolute
from dualweb.web.ui import UIModule, UIModuleNamespace, ui_namespace

if TYPE_CHECKING:
    from dualweb.httputil import HTTPServerRequest
    from dualweb.web.protocols import ApplicationLike

__all__ = ["RenderingMixin"]


class RenderingMixin:
    """``render``, ``render_string``, the template namespace and UI module resources."""

    __slots__ = ()

    # Loaders by application, then by template path. Per application (not
    # process-wide as in Tornado) so two applications with different
    # template settings never share a loader.
    _template_loaders: ClassVar[weakref.WeakKeyDictionary[Any, dict[str, Any]]] = (
        weakref.WeakKeyDictionary()
    )
    _template_loader_lock: ClassVar[threading.Lock] = threading.Lock()
    # Without the compiled template cache, each loader is reset once per request
    # (not once per render_string: a page may render a module's template 100 times).
    _reset_loaders: ClassVar[weakref.WeakKeyDictionary[Any, set[str]]] = (
        weakref.WeakKeyDictionary()
    )

    _ui: ObjectDict

    if TYPE_CHECKING:
        request: HTTPServerRequest
        application: ApplicationLike
        _finished: bool

        @property
        def settings(self) -> dict[str, Any]: ...

        @property
        def current_user(self) -> Any: ...

        @property
        def locale(self) -> Any: ...

        def xsrf_form_html(self) -> str: ...

        def reverse_url(self, name: str, *args: Any) -> str: ...

        def static_url(self, path: str, include_host: bool | None = None, **kwargs: Any) -> str: ...

        def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> Awaitable[None]: ...

    # -- the namespace --------------------------------------------------------

    @property
    def ui(self) -> ObjectDict:
        """The UI methods (bound to this handler) and UI modules (``modules``) of templates."""
        try:
            return self._ui
        except AttributeError:
            application = self.application
            modules = UIModuleNamespace(self, application.ui_modules)
            ui = ui_namespace(self, application.ui_methods, modules)
            self.ui = ui
            return ui

    @ui.setter
    def ui(self, value: ObjectDict) -> None:
        # The slot is RequestHandler's: a mixin with non-empty __slots__ would
        # clash with the other bases' layouts.
        handler: Any = self
        handler._ui = value

    def get_template_namespace(self) -> dict[str, Any]:
        """Return the names available to templates rendered by this handler.

        ``handler``, ``request``, ``current_user``, ``locale``, ``_``,
        ``pgettext``, ``static_url``, ``xsrf_form_html``, ``reverse_url``, the
        UI methods, and the UI modules as ``modules``. (Templates add ``escape``, ``url_escape``,
        ``json_encode``, ``squeeze``, ``linkify``, ``datetime``.) Override
        it to add names to every template.
        """
        locale = self.locale
        namespace = {
            "handler": self,
            "request": self.request,
            "current_user": self.current_user,
            "locale": locale,
            "_": locale.translate,
            "pgettext": locale.pgettext,
            "static_url": self.static_url,
            "xsrf_form_html": self.xsrf_form_html,
            "reverse_url": self.reverse_url,
        }
        namespace.update(self.ui)
        return namespace

    # -- loading ----------------------------------------------------------------

    def get_template_path(self) -> str | None:
        """The directory templates are loaded from: the ``template_path`` setting by default.

        When it returns ``None``, templates are looked up next to the
        handler's own module file.
        """
        path = self.application.settings.get("template_path")
        return None if path is None else str(path)

    def create_template_loader(self, template_path: str) -> Any:
        """Return the loader for ``template_path`` (called once per application and path).

        Uses the ``template_loader`` setting when present, else a
        :class:`dualweb.template.Loader` with the ``autoescape`` and
        ``template_whitespace`` settings.
        """
        settings = self.application.settings
        if "template_loader" in settings:
            return settings["template_loader"]
        kwargs: dict[str, Any] = {}
        if "autoescape" in settings:
            kwargs["autoescape"] = settings["autoescape"]
        if "template_whitespace" in settings:
            kwargs["whitespace"] = settings["template_whitespace"]
        # The template engine loads with the first template, not with every application.
        from dualweb import template

        return template.Loader(template_path, **kwargs)

    def _template_loader(self) -> Any:
        path = self.get_template_path()
        if not path:
            module = sys.modules.get(type(self).__module__)
            module_file = getattr(module, "__file__", None) or "."
            path = os.path.dirname(os.path.abspath(module_file))
        settings = self.application.settings
        cached = settings.get("compiled_template_cache", not settings.get("debug", False))
        with self._template_loader_lock:
            loaders = self._template_loaders.setdefault(self.application, {})
            loader = loaders.get(path)
            if loader is None:
                loader = loaders[path] = self.create_template_loader(path)
            reset = not cached and path not in self._reset_loaders.setdefault(self, set())
            if reset:
                self._reset_loaders[self].add(path)
        if reset:
            loader.reset()
        return loader

    # -- rendering ----------------------------------------------------------------

    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        """Render the template ``template_name`` and return it (UTF-8 bytes), without sending it.

        The template sees :meth:`get_template_namespace` plus ``kwargs``.

        Raises:
            dualweb.template.ParseError: the template is invalid (names file and line).
            OSError: the template file cannot be read.
        """
        loader = self._template_loader()
        compiled = loader.load(template_name)
        namespace = self.get_template_namespace()
        namespace.update(kwargs)
        return bytes(compiled.generate(**namespace))

    def render(self, template_name: str, **kwargs: Any) -> Awaitable[None]:
        """Render ``template_name`` with ``kwargs`` and finish the response with it.

        JavaScript and CSS asked for by the UI modules the page used are
        added before ``</body>`` and ``</head>`` (see :class:`~dualweb.web.UIModule`).
        Returns what :meth:`finish` returns.

        Raises:
            RuntimeError: the response was already finished.
            ValueError: modules added resources but the page has no
                ``</head>``/``</body>`` to put them in.
        """
        if self._finished:
            raise RuntimeError(
                f"{type(self).__name__}.render({template_name!r}) was called after finish(); "
                "render() sends the response, so call it once and last"
            )
        html = self.render_string(template_name, **kwargs)
        modules = self.ui["_tt_modules"]
        if isinstance(modules, UIModuleNamespace) and modules.active_modules:
            html = self._inject_resources(html, list(modules.active_modules.values()))
        return self.finish(html)

    def _inject_resources(self, html: bytes, modules: list[UIModule]) -> bytes:
        js_embed: list[bytes] = []
        js_files: list[str] = []
        css_embed: list[bytes] = []
        css_files: list[str] = []
        heads: list[bytes] = []
        bodies: list[bytes] = []
        for module in modules:
            _collect_text(module.embedded_javascript(), js_embed)
            _collect_files(module.javascript_files(), js_files)
            _collect_text(module.embedded_css(), css_embed)
            _collect_files(module.css_files(), css_files)
            _collect_text(module.html_head(), heads)
            _collect_text(module.html_body(), bodies)
        page = _Page(html, type(self).__name__)
        if js_files:
            page.before_body_end(utf8(self.render_linked_js(js_files)))
        if js_embed:
            page.before_body_end(self.render_embed_js(js_embed))
        if css_files:
            page.before_head_end(utf8(self.render_linked_css(css_files)))
        if css_embed:
            page.before_head_end(self.render_embed_css(css_embed))
        if heads:
            page.before_head_end(b"".join(heads))
        if bodies:
            page.before_body_end(b"".join(bodies))
        return page.html

    def _resource_urls(self, paths: Iterable[str]) -> list[str]:
        """``paths`` without duplicates, relative ones through ``static_url``."""
        urls: list[str] = []
        for path in paths:
            if not is_absolute(path):
                # Raises, naming the handler, when the static_path setting is missing.
                path = self.static_url(path)
            if path not in urls:
                urls.append(path)
        return urls

    def render_linked_js(self, js_files: Iterable[str]) -> str:
        """The ``<script src=...>`` tags for the UI modules' JavaScript files."""
        return "".join(
            f'<script src="{xhtml_escape(url)}" type="text/javascript"></script>'
            for url in self._resource_urls(js_files)
        )

    def render_embed_js(self, js_embed: Iterable[bytes]) -> bytes:
        """The ``<script>`` block holding the UI modules' inline JavaScript."""
        return (
            b'<script type="text/javascript">\n//<![CDATA[\n'
            + b"\n".join(js_embed)
            + b"\n//]]>\n</script>"
        )

    def render_linked_css(self, css_files: Iterable[str]) -> str:
        """The ``<link rel="stylesheet">`` tags for the UI modules' CSS files."""
        return "".join(
            f'<link href="{xhtml_escape(url)}" type="text/css" rel="stylesheet"/>'
            for url in self._resource_urls(css_files)
        )

    def render_embed_css(self, css_embed: Iterable[bytes]) -> bytes:
        """The ``<style>`` block holding the UI modules' inline CSS."""
        return b'<style type="text/css">\n' + b"\n".join(css_embed) + b"\n</style>"


def _collect_text(part: str | bytes | None, into: list[bytes]) -> None:
    if part:
        into.append(utf8(part))


def _collect_files(part: Iterable[str] | str | bytes | None, into: list[str]) -> None:
    if not part:
        return
    if isinstance(part, (str, bytes)):
        into.append(part.decode() if isinstance(part, bytes) else part)
    else:
        into.extend(part)


class _Page:
    """A rendered page that resources are inserted into (before ``</head>``/``</body>``)."""

    __slots__ = ("handler_name", "html")

    def __init__(self, html: bytes, handler_name: str) -> None:
        self.html = html
        self.handler_name = handler_name

    def before_head_end(self, part: bytes) -> None:
        self._insert(self.html.find(b"</head>"), part, "</head>")

    def before_body_end(self, part: bytes) -> None:
        self._insert(self.html.rfind(b"</body>"), part, "</body>")

    def _insert(self, where: int, part: bytes, tag: str) -> None:
        if where == -1:
            raise ValueError(
                f"{self.handler_name}.render(): the page uses UI modules that add JavaScript, "
                f"CSS or HTML, but it has no {tag} to insert them before; add {tag} to the "
                "template"
            )
        self.html = self.html[:where] + part + b"\n" + self.html[where:]
