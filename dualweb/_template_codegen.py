"""Code generation for :mod:`dualweb.template`: node tree to one Python function.

Theory of operation
-------------------

A template compiles to the source of one function, ``_tt_execute``, that
appends ``str`` pieces to a list and returns their concatenation. For a
template that ``{% extends %}`` another, the root ancestor's body is
generated, with every ``{% block %}`` replaced by the most derived
definition; ``{% include %}`` inlines the other template's body, so both
share the same local variables (as in Tornado).

Runs of text and expressions with nothing in between are written as one
``_tt_extend((...))`` call with one element per line, so rendering a table
row is one method call however many cells it has. Escaping goes through a
function bound once per render (``_tt_e0 = _tt_escaper(xhtml_escape)``):
the name is looked up in the template namespace like Tornado does, and the
standard ``xhtml_escape`` gets a fast path.

Every generated line is recorded with the (template, line) it came from,
so :mod:`dualweb.template` can turn a compile error into a
:class:`~dualweb.template.ParseError` and a runtime traceback into frames
that name the template file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from dualweb._template_parse import (
    Apply,
    Compound,
    Extends,
    Include,
    NamedBlock,
    Node,
    Output,
    ParseError,
    Statement,
    Text,
)

if TYPE_CHECKING:
    from dualweb._template_parse import ParsedFile

__all__ = ["CompiledSource", "LoadRelated", "TemplateSource", "generate_source"]

_INDENT = "    "


class TemplateSource(Protocol):
    """What the code generator needs from a template."""

    name: str
    autoescape: str | None
    file: ParsedFile


#: ``load(template, name)``: the template ``name`` refers to from inside ``template``.
LoadRelated = Callable[[TemplateSource, str], TemplateSource]


class CompiledSource:
    """Generated Python source and the template line of each of its lines.

    Attributes:
        code: the source of the module defining ``_tt_execute``.
        line_map: ``line_map[n]`` is the ``(template name, line)`` that
            generated line ``n`` (1-based; index 0 unused) came from.
    """

    __slots__ = ("code", "line_map")

    def __init__(self, code: str, line_map: list[tuple[str, int]]) -> None:
        self.code = code
        self.line_map = line_map


class _Writer:
    """Accumulates generated lines, their origins, and pending output pieces."""

    def __init__(
        self, root: TemplateSource, blocks: dict[str, NamedBlock], load: LoadRelated
    ) -> None:
        self.load = load
        self.lines: list[str] = []
        self.origins: list[tuple[str, int]] = []
        self.depth = 1
        self.blocks = blocks
        self.stack: list[TemplateSource] = [root]
        self.escapers: dict[str, str] = {}
        self.pending: list[tuple[str, str, int]] = []
        self.applies = 0

    @property
    def template(self) -> TemplateSource:
        return self.stack[-1]

    def line(self, code: str, line: int) -> None:
        """Write a statement (possibly spanning several lines) at the current depth."""
        self.flush()
        self._raw(code, self.template.name, line, self.depth)

    def _raw(self, code: str, name: str, line: int, depth: int) -> None:
        for offset, physical in enumerate(code.split("\n")):
            self.lines.append((_INDENT * depth if offset == 0 else "") + physical)
            self.origins.append((name, line + offset))

    def output(self, code: str, line: int) -> None:
        """Queue one output piece (a Python expression yielding ``str``)."""
        self.pending.append((code, self.template.name, line))

    def flush(self) -> None:
        """Write the queued pieces as one ``append`` or ``extend`` call."""
        pending = self.pending
        if not pending:
            return
        self.pending = []
        if len(pending) == 1:
            code, name, line = pending[0]
            self._raw(f"_tt_append({code})", name, line, self.depth)
            return
        self._raw("_tt_extend((", pending[0][1], pending[0][2], self.depth)
        for code, name, line in pending:
            self._raw(code + ",", name, line, self.depth + 1)
        self._raw("))", pending[-1][1], pending[-1][2], self.depth)

    def escaper(self, function_name: str) -> str:
        """The local name bound to the escaping function ``function_name``."""
        local = self.escapers.get(function_name)
        if local is None:
            local = self.escapers[function_name] = f"_tt_e{len(self.escapers)}"
        return local

    @contextmanager
    def indented(self) -> Iterator[None]:
        self.flush()
        self.depth += 1
        try:
            yield
        finally:
            self.flush()
            self.depth -= 1

    @contextmanager
    def inside(
        self, template: TemplateSource, line: int, include: bool = False
    ) -> Iterator[None]:
        """Generate code for ``template`` (an include or a block's definer) in place."""
        if include and template in self.stack:
            chain = " -> ".join(t.name for t in [*self.stack, template])
            raise ParseError(f"{{% include %}} cycle: {chain}", self.template.name, line)
        self.stack.append(template)
        try:
            yield
        finally:
            self.stack.pop()


def _wrap(code: str) -> str:
    # A "#" may start a comment inside the expression: close the call on the next line.
    return code + "\n" if "#" in code else code


def _generate_nodes(writer: _Writer, nodes: list[Node]) -> None:
    for node in nodes:
        _generate_node(writer, node)


def _generate_node(writer: _Writer, node: Node) -> None:
    if isinstance(node, Text):
        writer.output(repr(node.value), node.line)
    elif isinstance(node, Output):
        autoescape = writer.template.autoescape
        if node.raw or autoescape is None:
            writer.output(f"_tt_s({_wrap(node.code)})", node.line)
        else:
            writer.output(f"{writer.escaper(autoescape)}({_wrap(node.code)})", node.line)
    elif isinstance(node, Statement):
        writer.line(node.code, node.line)
    elif isinstance(node, Compound):
        for clause in node.clauses:
            writer.line(clause.header + ":", clause.line)
            with writer.indented():
                before = len(writer.lines)
                _generate_nodes(writer, clause.body)
                writer.flush()
                if len(writer.lines) == before:
                    writer.line("pass", clause.line)
    elif isinstance(node, Apply):
        _generate_apply(writer, node)
    elif isinstance(node, NamedBlock):
        block = writer.blocks[node.name]
        with writer.inside(block.template, node.line):  # type: ignore[arg-type]
            _generate_nodes(writer, block.body)
    elif isinstance(node, Include):
        included = _load(writer.load, writer.template, node.name, node.line, "include")
        with writer.inside(included, node.line, include=True):
            _generate_nodes(writer, included.file.body)
    # Extends nodes produce no code: the ancestors are handled by generate_source.


def _generate_apply(writer: _Writer, node: Apply) -> None:
    function_name = f"_tt_apply{writer.applies}"
    writer.applies += 1
    writer.line(f"def {function_name}():", node.line)
    with writer.indented():
        writer.line("_tt_buffer = []", node.line)
        writer.line("_tt_append = _tt_buffer.append", node.line)
        writer.line("_tt_extend = _tt_buffer.extend", node.line)
        _generate_nodes(writer, node.body)
        writer.line("return _tt_bytes(''.join(_tt_buffer))", node.line)
    writer.output(f"_tt_s({_wrap(node.function)}({function_name}()))", node.line)


def _load(
    load: LoadRelated, template: TemplateSource, name: str, line: int, what: str
) -> TemplateSource:
    try:
        return load(template, name)
    except ParseError as e:
        if e.lineno:
            raise  # an error inside the loaded template names its own file and line
        raise ParseError(e.message, template.name, line) from e
    except Exception as e:
        raise ParseError(
            f"{{% {what} {name!r} %}} could not be loaded: {e}", template.name, line
        ) from e


def _ancestors(template: TemplateSource, load: LoadRelated) -> list[TemplateSource]:
    """``template`` and the templates it extends, most derived first."""
    chain = [template]
    while True:
        extends = [node for node in chain[-1].file.body if isinstance(node, Extends)]
        if not extends:
            return chain
        parent = _load(load, chain[-1], extends[0].name, extends[0].line, "extends")
        if parent in chain:
            names = " -> ".join(t.name for t in [*chain, parent])
            raise ParseError(f"{{% extends %}} cycle: {names}", chain[-1].name, extends[0].line)
        chain.append(parent)


def _collect_blocks(
    template: TemplateSource,
    nodes: list[Node],
    blocks: dict[str, NamedBlock],
    seen: set[int],
    load: LoadRelated,
) -> None:
    """Record every named block under ``nodes`` (included templates too); later ones win."""
    for node in nodes:
        if isinstance(node, NamedBlock):
            blocks[node.name] = node
            _collect_blocks(template, node.body, blocks, seen, load)
        elif isinstance(node, Compound):
            for clause in node.clauses:
                _collect_blocks(template, clause.body, blocks, seen, load)
        elif isinstance(node, Apply):
            _collect_blocks(template, node.body, blocks, seen, load)
        elif isinstance(node, Include):
            included = _load(load, template, node.name, node.line, "include")
            if id(included) not in seen:  # an include cycle is reported by the writer
                seen.add(id(included))
                _collect_blocks(included, included.file.body, blocks, seen, load)


def generate_source(template: TemplateSource, load: LoadRelated) -> CompiledSource:
    """Generate the Python source of ``template``'s ``_tt_execute`` function.

    ``load`` resolves the names given to ``{% extends %}`` and ``{% include %}``.

    Raises:
        ParseError: an ``extends``/``include`` target cannot be loaded or
            parsed, or the templates include or extend each other in a cycle.
    """
    ancestors = _ancestors(template, load)
    blocks: dict[str, NamedBlock] = {}
    seen: set[int] = set()
    for ancestor in reversed(ancestors):
        _collect_blocks(ancestor, ancestor.file.body, blocks, seen, load)
    root = ancestors[-1]
    writer = _Writer(root, blocks, load)
    _generate_nodes(writer, root.file.body)
    writer.flush()
    head = [
        "def _tt_execute():",
        _INDENT + "_tt_buffer = []",
        _INDENT + "_tt_append = _tt_buffer.append",
        _INDENT + "_tt_extend = _tt_buffer.extend",
    ]
    head += [f"{_INDENT}{local} = _tt_escaper({name})" for name, local in writer.escapers.items()]
    tail = [_INDENT + "return ''.join(_tt_buffer)"]
    origin = (template.name, 1)
    lines = head + writer.lines + tail
    line_map = [origin] * (len(head) + 1) + writer.origins + [origin]
    return CompiledSource("\n".join(lines) + "\n", line_map)
