"""Imports between dualweb's modules flow one way (docs/architecture.md, "Layers").

Every import counts: module level, under ``if TYPE_CHECKING:``, and inside
functions; a cycle hidden in a function is still a cycle in the design.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dualweb"

# Cycles tolerated while another branch removes them: none today. Delete an entry
# once its branch is merged; the test fails while a listed cycle is gone.
KNOWN_CYCLES: list[frozenset[str]] = []


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: Path) -> dict[str, Path]:
    return {_module_name(path, package): path for path in sorted(package.rglob("*.py"))}


def _imported(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every dualweb module ``module`` imports, anywhere in its source."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            # "from dualweb.web import handler" imports the submodule handler;
            # "from dualweb.web import Application" imports the package.
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    yield f"{source}.{alias.name}"
                elif source in known:
                    yield source


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """dualweb module → the dualweb modules it imports (itself excluded)."""
    modules = _modules(package)
    known = set(modules)
    return {
        name: {target for target in _imported(name, path, known) if target != name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = [
        f"{source} -> {target}"
        for source in sorted(component)
        for target in sorted(graph[source] & component)
    ]
    return "{" + ", ".join(sorted(component)) + "}: " + "; ".join(edges)


def test_no_import_cycles_between_dualweb_modules() -> None:
    graph = import_graph()
    found = cycles(graph)
    unexpected = [c for c in found if not any(c <= known for known in KNOWN_CYCLES)]
    assert not unexpected, "import cycles:\n" + "\n".join(_describe(c, graph) for c in unexpected)
    gone = [known for known in KNOWN_CYCLES if not any(c <= known for c in found)]
    assert not gone, f"these cycles are gone: delete them from KNOWN_CYCLES: {gone}"


def test_the_cycle_finder_sees_every_kind_of_import(tmp_path: Path) -> None:
    # A module-level, a TYPE_CHECKING, a function-level and a relative import.
    root = tmp_path / "dualweb"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    from dualweb.b import B\n")
    (root / "b.py").write_text("def f():\n    from dualweb import c\n")
    (root / "c.py").write_text("import dualweb.sub.d\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "d.py").write_text("from ..a import x\nfrom . import e\n")
    (root / "sub" / "e.py").write_text("")
    graph = import_graph(root)
    assert graph["dualweb.sub.d"] == {"dualweb.a", "dualweb.sub.e"}
    assert cycles(graph) == [
        frozenset({"dualweb.a", "dualweb.b", "dualweb.c", "dualweb.sub.d"})
    ]
