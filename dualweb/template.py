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

import linecache
import os.path
import posixpath
import threading
from collections.abc import Mapping
from types import CodeType, FrameType, FunctionType, TracebackType
from typing import TYPE_CHECKING, Any

from dualweb import escape
from dualweb._template_codegen import TemplateSource, generate_source
from dualweb._template_jinja import Jinja2Loader, Jinja2Template
from dualweb._template_parse import ParseError, filter_whitespace, parse
from dualweb._template_runtime import DEFAULT_NAMESPACE

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

# Documented (and pickled) as dualweb.template names.
for _public in (ParseError, filter_whitespace, Jinja2Loader, Jinja2Template):
    _public.__module__ = __name__
del _public


class _UnsetMarker:
    """The default of arguments whose absence differs from ``None``."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _UnsetMarker()
_DEFAULT_AUTOESCAPE = "xhtml_escape"


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
            **DEFAULT_NAMESPACE,
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
