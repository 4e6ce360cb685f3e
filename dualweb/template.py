"""Tornado's template language (``tornado.template``), compiled to Python.

A template is HTML (or any text) with Python in it::

    <html>
      <head><title>{{ title }}</title></head>
      <body>
        <ul>
          {% for item in items %}
            <li>{{ escape(item) }}</li>
          {% end %}
        </ul>
      </body>
    </html>

``{{ expr }}`` writes the value of an expression, HTML-escaped by default
(``{% raw expr %}`` writes it as it is). ``{% %}`` tags hold control flow
(``if``/``elif``/``else``, ``for``, ``while``, ``try``/``except``/
``finally``, each closed by ``{% end %}``; ``break``/``continue`` in
loops), ``set``, ``import``/``from``, template inheritance (``extends``,
``block``), ``include``, ``module`` (UI modules), ``apply``,
``autoescape``, ``whitespace`` and ``comment``; ``{# ... #}`` is a
comment; ``{{!``, ``{%!`` and ``{#!`` write ``{{``, ``{%`` and ``{#``.

Templates are compiled once, to one Python function each; a
:class:`Loader` caches them by name. Errors name the template and line: a
syntax error raises :class:`ParseError` ("... at page.html:12"), and the
traceback of an exception raised while rendering shows the template file
and line where it happened.

Jinja2 can be used instead, with the same handler namespace, through
:class:`Jinja2Loader` (``pip install dualweb[templates]``).
"""

from __future__ import annotations

import datetime
import linecache
import os.path
import posixpath
import threading
from collections.abc import Callable, Mapping
from types import CodeType, FrameType, FunctionType, TracebackType
from typing import TYPE_CHECKING, Any

from dualweb import escape
from dualweb._template_codegen import TemplateSource, generate_source
from dualweb._template_parse import ParseError, filter_whitespace, parse

if TYPE_CHECKING:
    from dualweb._template_parse import ParsedFile

__all__ = [
    "BaseLoader",
    "DictLoader",
    "Jinja2Loader",
    "Jinja2Template",
    "Loader",
    "ParseError",
    "Template",
    "filter_whitespace",
]

ParseError.__module__ = __name__
filter_whitespace.__module__ = __name__


class _UnsetMarker:
    """The default of arguments whose absence differs from ``None``."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _UnsetMarker()
_DEFAULT_AUTOESCAPE = "xhtml_escape"


# -- the helpers generated code calls ------------------------------------------


def _to_str(value: Any) -> str:
    """Unescaped output: ``str`` as is, ``bytes`` decoded, anything else through ``str()``."""
    if type(value) is str:
        return value
    if isinstance(value, bytes):
        # surrogateescape keeps invalid UTF-8 byte for byte through the final encode.
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _xhtml(value: Any) -> str:
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


def _escaper(function: Callable[[Any], Any]) -> Callable[[Any], str]:
    """The output function for ``{% autoescape function %}``.

    As in Tornado, a custom function receives the value as UTF-8 ``bytes``
    (non-strings through ``str()`` first) and may return ``str`` or ``bytes``.
    """
    if function is escape.xhtml_escape:
        return _xhtml

    def custom(value: Any) -> str:
        if isinstance(value, str):
            data = value.encode("utf-8")
        elif isinstance(value, bytes):
            data = value
        else:
            data = str(value).encode("utf-8")
        return _to_str(function(data))

    return custom


_DEFAULT_NAMESPACE: dict[str, Any] = {
    "escape": escape.xhtml_escape,
    "xhtml_escape": escape.xhtml_escape,
    "url_escape": escape.url_escape,
    "json_encode": escape.json_encode,
    "squeeze": escape.squeeze,
    "linkify": escape.linkify,
    "datetime": datetime,
    "_tt_utf8": escape.utf8,
    "_tt_string_types": (str, bytes),
    "_tt_escaper": _escaper,
    "_tt_s": _to_str,
    "_tt_bytes": _to_bytes,
}


def _function_code(module_code: CodeType) -> CodeType:
    for constant in module_code.co_consts:
        if isinstance(constant, CodeType) and constant.co_name == "_tt_execute":
            return constant
    raise AssertionError("generated template code defines no _tt_execute")  # pragma: no cover


# -- Template -------------------------------------------------------------------


class Template:
    """A compiled template: create it from a string, render it with :meth:`generate`.

    ``Template("Hello {{ name }}!").generate(name="<b>")`` returns
    ``b"Hello &lt;b&gt;!"``.

    Args:
        template_string: the template source (``str`` or UTF-8 ``bytes``).
        name: the template's name, used in error messages and tracebacks
            and to resolve relative ``extends``/``include`` paths.
        loader: the :class:`BaseLoader` that loads the templates this one
            extends or includes (and supplies the defaults below).
        compress_whitespace: deprecated; ``True`` means ``whitespace="single"``,
            ``False`` means ``"all"``.
        autoescape: the name of the escaping function in the template
            namespace applied to ``{{ }}`` output, or ``None`` for none.
            Defaults to the loader's, else ``"xhtml_escape"``.
        whitespace: ``"all"``, ``"single"`` or ``"oneline"`` (see
            :func:`filter_whitespace`). Defaults to the loader's, else
            ``"single"`` for names ending in ``.html`` or ``.js`` and ``"all"``
            otherwise.

    Raises:
        ParseError: the template (or one it extends or includes) has a syntax
            error; the message names the template and line.
        Exception: both ``whitespace`` and ``compress_whitespace`` are given,
            or the whitespace mode is unknown.
    """

    def __init__(
        self,
        template_string: str | bytes,
        name: str = "<string>",
        loader: BaseLoader | None = None,
        compress_whitespace: Any = _UNSET,
        autoescape: Any = _UNSET,
        whitespace: str | None = None,
    ) -> None:
        self.name = name
        self.loader = loader
        whitespace = _whitespace_mode(name, loader, compress_whitespace, whitespace)
        filter_whitespace(whitespace, "")  # refuse an unknown mode now
        if autoescape is not _UNSET:
            self.autoescape: str | None = autoescape
        elif loader is not None:
            self.autoescape = loader.autoescape
        else:
            self.autoescape = _DEFAULT_AUTOESCAPE
        self.namespace: dict[str, Any] = loader.namespace if loader is not None else {}
        self.source = escape.to_unicode(template_string)
        self.file: ParsedFile = parse(name, self.source, whitespace, self)
        if self.file.autoescape_set:
            self.autoescape = self.file.autoescape
        self.filename = (
            os.path.join(loader.root, name) if isinstance(loader, Loader) else name
        )
        compiled = generate_source(self, _load_related)
        #: The generated Python source (for debugging).
        self.code = compiled.code
        self._line_map = compiled.line_map
        self._code_filename = f"<generated code of template {name}>"
        try:
            self.compiled = compile(self.code, self._code_filename, "exec", dont_inherit=True)
        except SyntaxError as e:
            template_name, line = self._line_map[min(e.lineno or 0, len(self._line_map) - 1)]
            raise ParseError(
                f"invalid Python in template: {e.msg} ({(e.text or '').strip()!r})",
                template_name,
                line,
            ) from None
        self._execute_code = _function_code(self.compiled)
        self._global_name = name.replace(".", "_")

    def generate(self, **kwargs: Any) -> bytes:
        """Render the template with ``kwargs`` as variables; return UTF-8 bytes.

        The namespace also holds ``escape``/``xhtml_escape``, ``url_escape``,
        ``json_encode``, ``squeeze``, ``linkify``, ``datetime`` and the
        loader's ``namespace``.

        Raises:
            Exception: whatever the template's code raises; the traceback
                shows the template file and line that raised it.
        """
        namespace = {
            **_DEFAULT_NAMESPACE,
            "__name__": self._global_name,
            **self.namespace,
            **kwargs,
        }
        execute = FunctionType(self._execute_code, namespace, "_tt_execute")
        try:
            text: str = execute()
            return text.encode("utf-8", "surrogateescape")
        except Exception as e:
            raise e.with_traceback(self._template_traceback(e.__traceback__))  # noqa: B904

    def _template_traceback(self, tb: TracebackType | None) -> TracebackType | None:
        """``tb`` with each frame of the generated code replaced by its template line."""
        # (frame, lasti, lineno) of the frames to keep; (file name, line) for template lines.
        entries: list[tuple[FrameType, int, int] | tuple[str, int]] = []
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._code_filename:
                line_map = self._line_map
                name, line = line_map[min(tb.tb_lineno, len(line_map) - 1)]
                entries.append((self._filename_of(name), line))
            else:
                entries.append((tb.tb_frame, tb.tb_lasti, tb.tb_lineno))
            tb = tb.tb_next
        rebuilt: TracebackType | None = None
        for entry in reversed(entries):
            if len(entry) == 2:
                rebuilt = _template_frame(entry[0], entry[1], rebuilt)
            else:
                rebuilt = TracebackType(rebuilt, entry[0], entry[1], entry[2])
        return rebuilt

    def _filename_of(self, template_name: str) -> str:
        """The file name shown in tracebacks for ``template_name`` (this one or a related one)."""
        if template_name == self.name:
            template: Template = self
        elif self.loader is not None:
            related = self.loader.templates.get(template_name)
            if related is None:
                return template_name
            template = related
        else:
            return template_name
        if not os.path.isfile(template.filename):
            # Let the traceback show the template's lines (e.g. a DictLoader's).
            lines = template.source.splitlines(keepends=True)
            linecache.cache[template.filename] = (len(template.source), None, lines, "")
        return template.filename


def _whitespace_mode(
    name: str, loader: BaseLoader | None, compress_whitespace: Any, whitespace: str | None
) -> str:
    if compress_whitespace is not _UNSET:
        if whitespace is not None:
            raise Exception("cannot set both whitespace and compress_whitespace")
        return "single" if compress_whitespace else "all"
    if whitespace is not None:
        return whitespace
    if loader is not None and loader.whitespace:
        return loader.whitespace
    return "single" if name.endswith((".html", ".js")) else "all"


def _load_related(template: TemplateSource, name: str) -> TemplateSource:
    """Load ``name`` as referred to from ``template`` (for extends and include)."""
    assert isinstance(template, Template)
    if template.loader is None:
        raise ParseError(
            f"{{% extends %}} or {{% include %}} of {name!r} needs a template loader; "
            "create the template through a Loader or DictLoader",
            template.name,
        )
    return template.loader.load(name, parent_path=template.name)


class _TemplateFrameMarker(Exception):
    pass


def _template_frame(filename: str, line: int, tb_next: TracebackType | None) -> TracebackType:
    """A traceback entry whose frame shows ``filename`` at ``line`` (and nothing else)."""
    code = compile("\n" * (line - 1) + "raise _tt_marker", filename, "exec")
    code = code.replace(co_name="template")
    try:
        exec(code, {"_tt_marker": _TemplateFrameMarker()})
    except _TemplateFrameMarker as marker:
        entry = marker.__traceback__
        assert entry is not None and entry.tb_next is not None
        entry = entry.tb_next  # skip this function's own frame
        return TracebackType(tb_next, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    raise AssertionError("unreachable")  # pragma: no cover


# -- loaders ----------------------------------------------------------------------


class BaseLoader:
    """Base class of template loaders: loads templates by name and caches them.

    Subclasses implement :meth:`resolve_path` and ``_create_template(name)``.

    Args:
        autoescape: the default ``autoescape`` of the templates it loads
            (the name of an escaping function, or ``None``).
        namespace: names added to the namespace of every template it loads.
        whitespace: the default whitespace mode of its templates (by default
            it depends on the file name, see :class:`Template`).
    """

    def __init__(
        self,
        autoescape: str | None = _DEFAULT_AUTOESCAPE,
        namespace: dict[str, Any] | None = None,
        whitespace: str | None = None,
    ) -> None:
        self.autoescape = autoescape
        self.namespace = namespace or {}
        self.whitespace = whitespace
        self.templates: dict[str, Template] = {}
        # Re-entrant: compiling a template loads the ones it extends or includes.
        self.lock = threading.RLock()
        self._loading: list[str] = []

    def reset(self) -> None:
        """Forget every compiled template (they are reloaded on next use)."""
        with self.lock:
            self.templates = {}

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """Turn ``name``, referenced from the template ``parent_path``, into a template name.

        Raises:
            NotImplementedError: subclasses must implement it.
        """
        raise NotImplementedError()

    def load(self, name: str, parent_path: str | None = None) -> Template:
        """Return the compiled template ``name`` (compiled on first use, then cached).

        Raises:
            ParseError: the template (or one it extends or includes) is invalid,
                or templates extend or include each other in a cycle.
            OSError: a :class:`Loader` cannot read the file.
            KeyError: a :class:`DictLoader` has no such template.
        """
        name = self.resolve_path(name, parent_path=parent_path)
        with self.lock:
            template = self.templates.get(name)
            if template is not None:
                return template
            if name in self._loading:
                chain = " -> ".join([*self._loading[self._loading.index(name) :], name])
                raise ParseError(f"templates include or extend each other: {chain}", name)
            self._loading.append(name)
            try:
                template = self.templates[name] = self._create_template(name)
            finally:
                self._loading.pop()
            return template

    def _create_template(self, name: str) -> Template:
        raise NotImplementedError()


class Loader(BaseLoader):
    """Loads templates from files under ``root_directory``.

    Names are relative to the root; inside a template, ``extends`` and
    ``include`` paths are relative to that template's directory.

    Args:
        root_directory: the directory holding the templates.
        kwargs: ``autoescape``, ``namespace``, ``whitespace`` (see :class:`BaseLoader`).
    """

    def __init__(self, root_directory: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = os.path.abspath(root_directory)

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """Resolve ``name`` relative to the directory of ``parent_path`` (both under the root)."""
        if _is_relative_reference(name, parent_path):
            assert parent_path is not None
            directory = os.path.dirname(os.path.abspath(os.path.join(self.root, parent_path)))
            candidate = os.path.abspath(os.path.join(directory, name))
            if candidate.startswith(self.root + os.sep):
                name = candidate[len(self.root) + 1 :]
        return name

    def _create_template(self, name: str) -> Template:
        with open(os.path.join(self.root, name), "rb") as f:
            return Template(f.read(), name=name, loader=self)


class DictLoader(BaseLoader):
    """Loads templates from a dict of name → template source (handy in tests).

    Args:
        dict: the templates, by name.
        kwargs: ``autoescape``, ``namespace``, ``whitespace`` (see :class:`BaseLoader`).
    """

    def __init__(self, dict: Mapping[str, str | bytes], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dict = dict

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """Resolve ``name`` relative to the "directory" of ``parent_path`` (``/`` separated)."""
        if _is_relative_reference(name, parent_path):
            assert parent_path is not None
            name = posixpath.normpath(posixpath.join(posixpath.dirname(parent_path), name))
        return name

    def _create_template(self, name: str) -> Template:
        return Template(self.dict[name], name=name, loader=self)


def _is_relative_reference(name: str, parent_path: str | None) -> bool:
    return bool(
        parent_path
        and not parent_path.startswith(("<", "/"))
        and not name.startswith("/")
    )


# -- Jinja2 ------------------------------------------------------------------------

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
            name: value for name, value in _DEFAULT_NAMESPACE.items() if not name.startswith("_")
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
        return markup(_to_str(function(*args, **kwargs)))

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
