"""Public-API snapshot: every public name and signature of dualweb, checked against tests/api.txt.

A change to the public surface must be deliberate: when this test fails, read
the diff, and if the change is intended regenerate the snapshot with
``python -m tests.test_api --update`` and commit it with the change.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType

import dualweb

SNAPSHOT = Path(__file__).with_name("api.txt")


def _public_modules() -> list[ModuleType]:
    modules = []
    for name in sorted(dualweb._SUBMODULES):
        try:
            modules.append(importlib.import_module("dualweb." + name))
        except ModuleNotFoundError as exc:
            if exc.name != "dualweb." + name:
                raise
    return modules


def _public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
        ]
    return sorted(names)


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(...)"


def _describe_class(prefix: str, cls: type) -> list[str]:
    lines = [f"{prefix}: class{_signature(cls)}"]
    for attr, value in sorted(vars(cls).items()):
        if attr.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            lines.append(f"{prefix}.{attr}{_signature(value.__func__)}")
        elif inspect.isfunction(value):
            lines.append(f"{prefix}.{attr}{_signature(value)}")
        elif isinstance(value, property):
            lines.append(f"{prefix}.{attr}: property")
    return lines


def api_listing() -> str:
    """Render the public API as sorted text lines."""
    lines: list[str] = []
    for module in _public_modules():
        for name in _public_names(module):
            obj = getattr(module, name)
            prefix = f"{module.__name__}.{name}"
            origin = getattr(obj, "__module__", None)
            if (inspect.isclass(obj) or callable(obj)) and not str(origin).startswith("dualweb"):
                # Re-exported from the standard library or a dependency: its
                # signature is theirs and varies with their versions.
                lines.append(f"{prefix}: alias of {origin}.{getattr(obj, '__qualname__', '?')}")
            elif inspect.isclass(obj):
                lines.extend(_describe_class(prefix, obj))
            elif callable(obj):
                lines.append(f"{prefix}{_signature(obj)}")
            elif isinstance(obj, ModuleType):
                lines.append(f"{prefix}: module")
            else:
                lines.append(f"{prefix}: {type(obj).__name__}")
    return "\n".join(lines) + "\n"


def test_public_api_matches_snapshot() -> None:
    current = api_listing()
    expected = SNAPSHOT.read_text()
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(True), current.splitlines(True), "tests/api.txt", "current"
        )
    )
    hint = "public API changed; if intended run `python -m tests.test_api --update`\n"
    assert not diff, hint + diff


def test_tornado_names_a_porting_user_calls_exist() -> None:
    from dualweb import gen, httpserver, ioloop, web, wsgi

    for module, names in [
        (web, ["Application", "RequestHandler", "HTTPError", "authenticated", "RedirectHandler"]),
        (ioloop, ["IOLoop", "PeriodicCallback"]),
        (gen, ["coroutine", "sleep", "multi", "with_timeout", "Return"]),
        (httpserver, ["HTTPServer"]),
        (wsgi, ["WSGIAdapter", "WSGIContainer", "AsyncUnavailableError"]),
    ]:
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, (module.__name__, missing)


if __name__ == "__main__":
    if "--update" in sys.argv:
        SNAPSHOT.write_text(api_listing())
        print(f"wrote {SNAPSHOT}")
    else:
        sys.stdout.write(api_listing())
