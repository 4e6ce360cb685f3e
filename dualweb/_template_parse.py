"""Parsing for :mod:`dualweb.template`: template text to a tree of nodes.

Theory of operation
-------------------

:func:`parse` walks the template text once with a :class:`_Reader` (a
cursor that counts lines). Text between tags becomes :class:`Text` (its
whitespace already filtered with the mode in effect where it appears);
``{{ }}``, ``{% raw %}`` and ``{% module %}`` become :class:`Output`;
one-line directives (``set``, ``import``, ``break``, ...) become
:class:`Statement`; ``if``/``for``/``while``/``try`` become a
:class:`Compound` holding one :class:`Clause` per ``elif``/``else``/
``except``/``finally``; ``apply`` and ``block`` have their own nodes;
``include`` and ``extends`` keep the name and are resolved when the
template is compiled (by :mod:`dualweb._template_codegen`).

Two directives act on the parse itself rather than producing a node:
``{% autoescape %}`` sets the escaping of the whole file (the last one
wins, as in Tornado) and ``{% whitespace %}`` changes the mode for the
text that follows it.

Every node carries the line it starts on, so compile and runtime errors
can name the template line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Apply",
    "Clause",
    "Compound",
    "Extends",
    "Include",
    "NamedBlock",
    "Node",
    "Output",
    "ParseError",
    "ParsedFile",
    "Statement",
    "Text",
    "filter_whitespace",
    "parse",
]


class ParseError(Exception):
    """A template could not be parsed or compiled.

    ``str(error)`` is ``"<message> at <filename>:<lineno>"``.

    Args:
        message: what is wrong.
        filename: the template's name.
        lineno: the template line (1-based; 0 when unknown).
    """

    def __init__(self, message: str, filename: str | None = None, lineno: int = 0) -> None:
        self.message = message
        self.filename = filename
        self.lineno = lineno
        super().__init__(message, filename, lineno)

    def __str__(self) -> str:
        return f"{self.message} at {self.filename}:{self.lineno}"


_SPACES_AND_TABS = re.compile(r"[\t ]+")
_AROUND_NEWLINE = re.compile(r"\s*\n\s*")
_ANY_WHITESPACE = re.compile(r"\s+")


def filter_whitespace(mode: str, text: str) -> str:
    """Apply the whitespace mode ``mode`` to ``text`` and return the result.

    Modes: ``"all"`` keeps the text unchanged; ``"single"`` collapses each
    run of whitespace to one character (a newline if the run had one, else a
    space); ``"oneline"`` collapses every run of whitespace, newlines
    included, to one space.

    Raises:
        Exception: ``mode`` is not one of the three.
    """
    if mode == "all":
        return text
    if mode == "single":
        return _AROUND_NEWLINE.sub("\n", _SPACES_AND_TABS.sub(" ", text))
    if mode == "oneline":
        return _ANY_WHITESPACE.sub(" ", text)
    raise Exception(f"invalid whitespace mode {mode}; use 'all', 'single' or 'oneline'")


# -- nodes --------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """Base of the parse tree: ``line`` is where the node starts in its template."""

    line: int


@dataclass(slots=True)
class Text(Node):
    """Literal text (whitespace already filtered)."""

    value: str


@dataclass(slots=True)
class Output(Node):
    """An expression whose value is written: ``{{ }}`` (escaped), ``raw`` and ``module`` (not)."""

    code: str
    raw: bool = False


@dataclass(slots=True)
class Statement(Node):
    """A Python statement run in place: ``set``, ``import``, ``from``, ``break``, ``continue``."""

    code: str


@dataclass(slots=True)
class Clause:
    """One ``header:`` of a compound statement and the nodes of its body."""

    line: int
    header: str
    body: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class Compound(Node):
    """``if``/``for``/``while``/``try`` with their ``elif``/``else``/``except``/``finally``."""

    clauses: list[Clause]


@dataclass(slots=True)
class Apply(Node):
    """``{% apply f %}...{% end %}``: the rendered body (UTF-8 bytes) passed through ``f``."""

    function: str
    body: list[Node]


@dataclass(slots=True)
class NamedBlock(Node):
    """``{% block name %}``: replaceable by a template that extends this one."""

    name: str
    body: list[Node]
    template: object  # the Template that defines it (its name and autoescape apply)


@dataclass(slots=True)
class Include(Node):
    """``{% include "name" %}``: another template's body, inlined at compile time."""

    name: str


@dataclass(slots=True)
class Extends(Node):
    """``{% extends "name" %}``: render ``name`` with this file's blocks."""

    name: str


@dataclass(slots=True)
class ParsedFile:
    """The result of :func:`parse`: the body and the ``{% autoescape %}`` override, if any."""

    body: list[Node]
    autoescape_set: bool = False
    autoescape: str | None = None


# -- the reader ---------------------------------------------------------------


class _Reader:
    """A cursor over the template text that knows its line number."""

    __slots__ = ("line", "name", "pos", "text", "whitespace")

    def __init__(self, name: str, text: str, whitespace: str) -> None:
        self.name = name
        self.text = text
        self.whitespace = whitespace
        self.line = 1
        self.pos = 0

    def find(self, needle: str, start: int = 0) -> int:
        """Offset of ``needle`` from the cursor (searching from ``start``), or -1."""
        index = self.text.find(needle, self.pos + start)
        return -1 if index == -1 else index - self.pos

    def consume(self, count: int | None = None) -> str:
        """Return the next ``count`` characters (all that is left if ``None``) and advance."""
        end = len(self.text) if count is None else self.pos + count
        chunk = self.text[self.pos : end]
        self.line += chunk.count("\n")
        self.pos = end
        return chunk

    def remaining(self) -> int:
        return len(self.text) - self.pos

    def char(self, offset: int) -> str:
        return self.text[self.pos + offset]

    def error(self, message: str, line: int | None = None) -> ParseError:
        return ParseError(message, self.name, self.line if line is None else line)


# Where each continuation keyword may appear.
_CONTINUATIONS = {
    "else": ("if", "for", "while", "try"),
    "elif": ("if",),
    "except": ("try",),
    "finally": ("try",),
}
_COMPOUND = frozenset(("if", "for", "while", "try"))
_LOOPS = frozenset(("for", "while"))
_STATEMENTS = frozenset(("set", "import", "from", "break", "continue"))
_NAMED = frozenset(("extends", "include"))


class _Parser:
    """Builds the node tree for one template (see the module docstring)."""

    __slots__ = ("file", "reader", "template")

    def __init__(self, reader: _Reader, template: object) -> None:
        self.reader = reader
        self.template = template
        self.file = ParsedFile([])

    def body(self, in_block: str | None, in_loop: str | None) -> tuple[list[Node], str | None]:
        """Parse until ``{% end %}`` or a continuation keyword of ``in_block``, or EOF.

        Returns the nodes and what stopped the body: ``None`` for ``end``,
        else the continuation tag's contents (e.g. ``"elif x"``).
        """
        reader = self.reader
        nodes: list[Node] = []
        while True:
            start = self._next_tag()
            if start == -1:
                if in_block:
                    raise reader.error(f"Missing {{% end %}} block for {in_block}")
                self._text(nodes, reader.consume())
                return nodes, None
            self._text(nodes, reader.consume(start))
            opener = reader.consume(2)
            if reader.remaining() and reader.char(0) == "!":
                # "{{!", "{%!" and "{#!" stand for the two characters themselves.
                reader.consume(1)
                self._text(nodes, opener)
                continue
            if opener == "{#":
                end = reader.find("#}")
                if end == -1:
                    raise reader.error("Missing end comment #}")
                reader.consume(end + 2)
                continue
            if opener == "{{":
                nodes.append(self._expression())
                continue
            stop = self._tag(nodes, in_block, in_loop)
            if stop is not _CONTINUE:
                return nodes, stop

    def _next_tag(self) -> int:
        """Offset of the next ``{{``/``{%``/``{#`` (the innermost of ``{{{``), or -1."""
        reader = self.reader
        curly = 0
        while True:
            curly = reader.find("{", curly)
            if curly == -1 or curly + 1 == reader.remaining():
                return -1
            follower = reader.char(curly + 1)
            if follower not in "{%#":
                curly += 1
                continue
            # With more than two braces in a row, the last two open the tag
            # (so "{{{x}}}" renders a brace around x, handy for LaTeX).
            if (
                follower == "{"
                and curly + 2 < reader.remaining()
                and reader.char(curly + 2) == "{"
            ):
                curly += 1
                continue
            return curly

    def _text(self, nodes: list[Node], value: str) -> None:
        if not value:
            return
        line = self.reader.line - value.count("\n")
        if "<pre>" not in value:
            value = filter_whitespace(self.reader.whitespace, value)
        nodes.append(Text(line, value))

    def _expression(self) -> Output:
        reader = self.reader
        line = reader.line
        end = reader.find("}}")
        if end == -1:
            raise reader.error("Missing end expression }}", line)
        contents = reader.consume(end).strip()
        reader.consume(2)
        if not contents:
            raise reader.error("Empty expression", line)
        return Output(line, contents)

    def _tag(self, nodes: list[Node], in_block: str | None, in_loop: str | None) -> str | None:
        """Handle one ``{% %}`` tag; return ``_CONTINUE`` unless it ends the current body."""
        reader = self.reader
        line = reader.line
        end = reader.find("%}")
        if end == -1:
            raise reader.error("Missing end block %}", line)
        contents = reader.consume(end).strip()
        reader.consume(2)
        if not contents:
            raise reader.error("Empty block tag ({% %})", line)
        operator, _, suffix = contents.partition(" ")
        suffix = suffix.strip()
        parents = _CONTINUATIONS.get(operator)
        if parents is not None:
            if not in_block:
                raise reader.error(f"{operator} outside {' or '.join(parents)} block", line)
            if in_block not in parents:
                raise reader.error(
                    f"{operator} block cannot be attached to {in_block} block", line
                )
            return contents
        if operator == "end":
            if not in_block:
                raise reader.error("Extra {% end %} block", line)
            return None
        if operator in _COMPOUND:
            nodes.append(self._compound(operator, contents, line, in_loop))
        elif operator in _STATEMENTS:
            nodes.append(self._statement(operator, suffix, contents, line, in_loop))
        elif operator in _NAMED:
            name = suffix.strip("\"'")
            if not name:
                raise reader.error(f"{operator} missing file path", line)
            nodes.append(Extends(line, name) if operator == "extends" else Include(line, name))
        elif operator in ("raw", "module"):
            if not suffix:
                raise reader.error(f"{operator} missing expression", line)
            code = suffix if operator == "raw" else "_tt_modules." + suffix
            nodes.append(Output(line, code, raw=True))
        elif operator in ("apply", "block"):
            if not suffix:
                what = "method name" if operator == "apply" else "name"
                raise reader.error(f"{operator} missing {what}", line)
            body, _ = self.body(operator, None)
            if operator == "apply":
                nodes.append(Apply(line, suffix, body))
            else:
                nodes.append(NamedBlock(line, suffix, body, self.template))
        elif operator == "autoescape":
            self.file.autoescape_set = True
            self.file.autoescape = None if suffix == "None" else suffix
        elif operator == "whitespace":
            filter_whitespace(suffix, "")  # refuses unknown modes
            reader.whitespace = suffix
        elif operator != "comment":
            raise reader.error(f"unknown operator: {operator!r}", line)
        return _CONTINUE

    def _compound(self, operator: str, header: str, line: int, in_loop: str | None) -> Compound:
        loop = operator if operator in _LOOPS else in_loop
        clauses: list[Clause] = []
        while True:
            body, stop = self.body(operator, loop)
            clauses.append(Clause(line, header, body))
            if stop is None:
                return Compound(clauses[0].line, clauses)
            header = stop
            line = self.reader.line

    def _statement(
        self, operator: str, suffix: str, contents: str, line: int, in_loop: str | None
    ) -> Statement:
        if operator == "set":
            if not suffix:
                raise self.reader.error("set missing statement", line)
            return Statement(line, suffix)
        if operator in ("break", "continue") and not in_loop:
            raise self.reader.error(f"{operator} outside for or while block", line)
        return Statement(line, contents)


# A sentinel distinct from every tag's contents and from None ("end").
_CONTINUE = "\0continue"


def parse(name: str, text: str, whitespace: str, template: object) -> ParsedFile:
    """Parse ``text`` (the template called ``name``) into a :class:`ParsedFile`.

    Args:
        name: the template's name, used in error messages.
        text: the template source.
        whitespace: the initial whitespace mode.
        template: the owning template object, recorded on named blocks.

    Raises:
        ParseError: the text is not a valid template (the message names the line).
    """
    parser = _Parser(_Reader(name, text, whitespace), template)
    parser.file.body, _ = parser.body(None, None)
    return parser.file
