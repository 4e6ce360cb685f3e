"""Re-exported names imported on first use, for a module's ``__getattr__`` (PEP 562).

A package that re-exports a class whose module is costly to import (and needed
by only some applications) lists it here instead of importing it at the top::

    if TYPE_CHECKING:  # for type checkers, and for tests/test_layering.py's import graph
        from dualweb.web.static import StaticFileHandler

    __getattr__, __dir__ = lazy_exports(__name__, globals(), {
        "StaticFileHandler": "dualweb.web.static",
    })

``from package import StaticFileHandler`` and ``package.StaticFileHandler`` then
work as before; the defining module is imported the first time either runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    module: str, namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return a module ``__getattr__`` and ``__dir__`` serving ``exports`` lazily.

    Args:
        module: the re-exporting module's ``__name__`` (for error messages).
        namespace: its ``globals()``; each name is stored there once imported,
            so later lookups do not go through ``__getattr__`` again.
        exports: re-exported name → the module that defines it.

    The returned ``__getattr__`` raises ``AttributeError`` for names not in ``exports``.
    """

    def __getattr__(name: str) -> Any:
        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
