"""Compile dualweb's hot modules with mypyc in a scratch copy and compare with pure Python.

The experiment behind "Compiled build (mypyc)" in ``benchmarks/README.md``,
kept so that it can be redone whenever the pure-Python code has changed:

1. copy the tracked files (``git ls-files``: ``dualweb/``, ``benchmarks/`` and the
   top-level files; everything with ``--tests``) into a work directory (a
   temporary one unless ``--workdir`` is given); the repository itself is never
   touched, so no compiled ``.so`` file lands next to the sources other
   worktrees import;
2. apply the source rewrites mypyc needs (``_rewrite`` and the tables above it;
   each change is printed with its reason);
3. compile the chosen modules with setuptools + ``mypyc.build.mypycify`` as one
   "separate" group (see ``_SETUP`` for why), which needs gcc and the Python
   headers;
4. check that the compiled modules are the ones imported, then count
   instructions per request (``bench_instructions.py``, callgrind) for the pure
   tree and the compiled copy, and optionally time the same cases in-process
   (``--timing``) and run the test suite against the compiled copy (``--tests``,
   optionally followed by pytest arguments in one string).

Run from the repository root with the project's venv::

    python benchmarks/build_mypyc.py                    # codec + core, instructions
    python benchmarks/build_mypyc.py --group codec      # the HTTP/1 codec layer only
    python benchmarks/build_mypyc.py --group all+wsgi   # codec + core + the WSGI adapter
    python benchmarks/build_mypyc.py --timing --tests   # also µs/request and pytest
    python benchmarks/build_mypyc.py --no-instructions --tests "tests/test_seam.py -x"
    python benchmarks/build_mypyc.py --keep --workdir /tmp/dw-mypyc   # keep the build

Ratio = pure cost / compiled cost (above 1.0 the compiled build is faster).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The HTTP/1 codec layer, then the request core on top of it (server driver,
# request building, routing, handler lifecycle), in the order they were tried.
GROUPS: dict[str, tuple[str, ...]] = {
    "codec": (
        "dualweb/http1events.py",
        "dualweb/http1state.py",
        "dualweb/http1base.py",
        "dualweb/http1server.py",
        "dualweb/headers.py",
    ),
    "core": (
        "dualweb/http1connection.py",
        "dualweb/intake.py",
        "dualweb/routing.py",
        "dualweb/httputil.py",
        "dualweb/web/handler.py",
        "dualweb/web/application.py",
    ),
}
GROUPS["all"] = GROUPS["codec"] + GROUPS["core"]
# The request core plus the WSGI adapter (the other quarter of the WSGI path).
GROUPS["all+wsgi"] = GROUPS["all"] + ("dualweb/wsgi/adapter.py",)
CASES = ("wsgi-hello", "wsgi-json", "native-hello", "native-close")

# Class-body aliases such as ``__copy__ = copy`` or ``on_status = on_url``:
# mypyc treats them as attribute defaults it cannot compile ("Unsupported
# default attribute value") and the compiled class fails at run time.
_ALIAS_RE = re.compile(r"^(    )(\w+) = (\w+)[ \t]*(#.*)?$", re.MULTILINE)
# ``object.__new__(Cls)`` (used by the pure code to skip an ``__init__`` frame)
# is refused for a native class ("object.__new__(X) is not safe"), and a
# native class's ``__new__`` runs ``__init__`` too: each site calls the
# constructor instead (the fields set after it are then set twice, cheaply).
_CONSTRUCTOR_ARGS = {
    ("dualweb/headers.py", "cls"): "",
    ("dualweb/http1server.py", "Request"): "start_line, headers, keep",
    ("dualweb/http1connection.py", "HTTP1RequestConnection"): "self, context",
    ("dualweb/web/application.py", "_ApplicationIntake"): "server_conn, request_conn",
}
_NEW_OBJECT_RE = re.compile(r"\b_new_object\((\w+)\)")
# Classes mypyc cannot make native (several built-in bases, for example):
# compiled as ordinary Python classes inside the extension module.
_NON_NATIVE = {
    "dualweb/http1events.py": ("LocalProtocolError",),
    # Multiple inheritance (from the mixins of dualweb.web, from two routers)
    # is only allowed for native classes when the extra bases are traits, and
    # a non-native class may not inherit from a native one: the whole router
    # hierarchy down to Application stays non-native.
    "dualweb/routing.py": (
        "_TrackedRules",
        "Router",
        "ReversibleRouter",
        "RuleRouter",
        "ReversibleRuleRouter",
    ),
    "dualweb/web/application.py": ("_ApplicationRouter", "Application"),
    # Applications set their own attributes on requests (its __slots__ keep a
    # __dict__ for them); a native class has a fixed set of attributes.
    "dualweb/httputil.py": ("HTTPServerRequest",),
    # A native class cannot extend an interpreted class with non-empty
    # __slots__ (dualweb.connection.ConnectionContext; one per connection).
    "dualweb/http1connection.py": ("HTTPConnectionContext",),
    "dualweb/wsgi/adapter.py": ("_WSGIConnection",),
    "dualweb/web/handler.py": ("RequestHandler",),
}
# ``__slots__`` in a native class whose base is an interpreted class (one from
# a module that is not compiled, e.g. dualweb.connection's delegates) fails
# at import ("mypyc classes can't have __slots__"); a native class has a
# fixed layout anyway, so the declarations are dropped from native classes.
_SLOTS_RE = re.compile(r"^    __slots__ = \((?:[^()]*)\)\n", re.MULTILINE)
_CLASS_RE = re.compile(r"^class (\w+)\b", re.MULTILINE)
# Property setters are refused in non-native classes: the getter and setter
# become plain methods, and the property is rebuilt after the class.
_SETTER_RE = re.compile(r"^    @(\w+)\.setter\n    def \1\(", re.MULTILINE)
_TOP_LEVEL_RE = re.compile(r"^[^\s@)]", re.MULTILINE)
# Module functions stored as class attributes to serve as methods (the
# handler's 405 verbs and default ``initialize``): compiled functions do not
# bind ``self`` like Python functions do, so these move to a small module
# that stays interpreted. (module, functions, helper module, helper header)
_PYTHON_METHODS = (
    (
        "dualweb/web/handler.py",
        ("_unimplemented_method", "_default_initialize"),
        "dualweb/web/_handler_methods.py",
        "from __future__ import annotations\n\n"
        "from typing import TYPE_CHECKING, Any\n\n"
        "from dualweb.web.errors import HTTPError\n\n"
        "if TYPE_CHECKING:\n"
        "    from dualweb.web.handler import RequestHandler\n",
    ),
)
# Exact source rewrites: (module, old, new, why).
_PATCHES = (
    (
        "dualweb/http1connection.py",
        "    _OPEN = 0\n",
        "    _OPEN: ClassVar[int] = 0\n",
        "a class constant read through the class needs ClassVar for mypyc",
    ),
    (
        "dualweb/web/handler.py",
        'cls.__dict__.get("_dualweb_traits")',
        'vars(cls).get("_dualweb_traits")',
        "mypyc reads cls.__dict__ as an instance attribute (the slot) of the class",
    ),
)
def _rewrite(path: str, source: str) -> tuple[str, list[str]]:
    """Return ``source`` with mypyc's needs applied, and a note per change."""
    notes: list[str] = []
    source = _method_aliases(path, source, notes)
    for module, old, new, why in _PATCHES:
        if module == path:
            if old in source:
                source = source.replace(old, new)
                notes.append(f"{path}: {why}")
            else:
                notes.append(f"{path}: {old.strip()!r} not found (patch skipped)")
    source = _constructors(path, source, notes)
    source = _drop_native_slots(path, source, notes)
    source = _plain_properties(path, source, notes)
    source = _class_options(path, source, notes)
    for name in ("Any", "ClassVar"):
        if f"{name}[" in source or f"-> {name}" in source or f": {name}" in source:
            # Imported again unconditionally: harmless when the module has it already.
            source = _add_import(source, f"from typing import {name}")
    return source, notes


def _add_import(source: str, line: str) -> str:
    # After ``from __future__ import annotations``, which must stay first.
    future = "from __future__ import annotations\n"
    return source.replace(future, f"{future}\n{line}\n", 1)


def _method_aliases(path: str, source: str, notes: list[str]) -> str:
    methods = set(re.findall(r"^    def (\w+)\(", source, re.MULTILINE))

    def alias(match: re.Match[str]) -> str:
        indent, name, target = match.group(1), match.group(2), match.group(3)
        if target not in methods:
            return match.group(0)
        notes.append(f"{path}: class alias {name} = {target} -> method")
        return (
            f"{indent}def {name}(self, *args: Any, **kwargs: Any) -> Any:\n"
            f"{indent}    return self.{target}(*args, **kwargs)"
        )

    return _ALIAS_RE.sub(alias, source)


def _constructors(path: str, source: str, notes: list[str]) -> str:
    def constructor(match: re.Match[str]) -> str:
        cls = match.group(1)
        args = _CONSTRUCTOR_ARGS.get((path, cls))
        if args is None:
            notes.append(f"{path}: object.__new__({cls}) left alone: add it to _CONSTRUCTOR_ARGS")
            return match.group(0)
        notes.append(f"{path}: object.__new__({cls}) -> {cls}({args})")
        return f"{cls}({args})"

    return _NEW_OBJECT_RE.sub(constructor, source)


# Compiled code checks ``self`` and arguments with exact type tests unless a
# class allows interpreted subclasses, and users subclass the public classes
# (handlers, applications, routers, rules, headers, delegates, exceptions),
# other dualweb modules some private ones: every class allows them.
def _class_options(path: str, source: str, notes: list[str]) -> str:
    non_native = _NON_NATIVE.get(path, ())
    names = _CLASS_RE.findall(source)
    for name in non_native:
        if name not in names:
            notes.append(f"{path}: class {name} not found (left native)")
    for name in names:
        option = "native_class=False, " * (name in non_native)
        option += "allow_interpreted_subclasses=True"
        pattern = re.compile(rf"^class {name}\b", re.MULTILINE)
        source = pattern.sub(f"@_mypyc_attr({option})\nclass {name}", source, count=1)
        notes.append(f"{path}: @mypyc_attr({option}) on {name}")
    if names:
        source = _add_import(source, "from mypy_extensions import mypyc_attr as _mypyc_attr")
    return source


def _move_python_methods(workdir: Path, path: str, notes: list[str]) -> None:
    for module, functions, helper, header in _PYTHON_METHODS:
        if module != path:
            continue
        source = (workdir / module).read_text()
        moved: list[str] = []
        for name in functions:
            start = source.find(f"\ndef {name}(")
            if start < 0:
                notes.append(f"{path}: function {name} not found (left compiled)")
                continue
            following = _TOP_LEVEL_RE.search(source, source.index("\n", start + 1) + 1)
            end = following.start() if following else len(source)
            moved.append(source[start:end].rstrip() + "\n")
            source = source[:start] + "\n" + source[end:]
            notes.append(f"{path}: {name} moved to interpreted {helper}")
        if moved:
            helper_module = helper.removesuffix(".py").replace("/", ".")
            source = _add_import(source, f"from {helper_module} import {', '.join(functions)}")
            (workdir / helper).write_text(header + "\n\n" + "\n\n".join(moved))
            (workdir / module).write_text(source)


def _drop_native_slots(path: str, source: str, notes: list[str]) -> str:
    non_native = _NON_NATIVE.get(path, ())
    starts = [(match.start(), match.group(1)) for match in _CLASS_RE.finditer(source)]
    pieces: list[str] = []
    previous = 0
    for index, (start, name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(source)
        pieces.append(source[previous:start])
        body = source[start:end]
        if name not in non_native and _SLOTS_RE.search(body):
            body = _SLOTS_RE.sub("", body, count=1)
            notes.append(f"{path}: __slots__ dropped from native class {name}")
        pieces.append(body)
        previous = end
    pieces.append(source[previous:])
    return "".join(pieces)


def _plain_properties(path: str, source: str, notes: list[str]) -> str:
    # The setter becomes a plain method; after the class, the (still typed)
    # getter-only property is replaced by a full one at run time.
    while (match := _SETTER_RE.search(source)) is not None:
        name = match.group(1)
        source = source[: match.start()] + f"    def _set_{name}(" + source[match.end() :]
        owner = [m for m in _CLASS_RE.finditer(source) if m.start() < match.start()][-1]
        following = _TOP_LEVEL_RE.search(source, source.index("\n", owner.end()) + 1)
        end = following.start() if following else len(source)
        cls = owner.group(1)
        source = (
            source[:end]
            + f"setattr({cls}, {name!r}, property(vars({cls})[{name!r}].fget, {cls}._set_{name}, "
            + f"doc=vars({cls})[{name!r}].__doc__))\n\n\n"
            + source[end:]
        )
        notes.append(f"{path}: property {cls}.{name} with a setter -> setattr(property) after")
    return source


def prepare(workdir: Path, modules: tuple[str, ...], with_tests: bool) -> list[str]:
    """Copy the sources into ``workdir`` and rewrite the modules to compile."""
    # Every tracked file (the tests read examples/, docs/, README.md too).
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, listed):
        top = name.split("/", 1)[0]
        if not with_tests and top != name and top not in ("dualweb", "benchmarks"):
            continue
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    notes: list[str] = []
    for module in modules:
        _move_python_methods(workdir, module, notes)
        path = workdir / module
        source, changed = _rewrite(module, path.read_text())
        path.write_text(source)
        notes += changed
    return notes


# setuptools + mypycify, as ``python -m mypyc`` does, except for ``separate``:
# mypyc ignores ``allow_interpreted_subclasses`` on non-native classes and
# then checks ``self`` with an exact type test, so a user's RequestHandler
# subclass fails ("RequestHandler object expected"). One group compiled
# "separately" turns off the whole-program class analysis behind those exact
# tests (isinstance-style checks instead), at the price of other global
# optimizations (direct calls of methods that no subclass overrides).
_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify

modules = sys.argv[1:-2]
del sys.argv[1:-2]
setup(
    name="dualweb-mypyc-experiment",
    py_modules=[],
    ext_modules=mypycify(modules, opt_level={opt!r}, separate={separate}),
)
"""


def compile_modules(workdir: Path, modules: tuple[str, ...], global_opts: bool) -> float:
    """Run mypyc on ``modules`` inside ``workdir``; return the build's seconds."""
    start = time.perf_counter()
    separate = "False" if global_opts else "[(modules, 'dualweb_native')]"
    setup = _SETUP.format(opt=os.environ.get("MYPYC_OPT_LEVEL", "3"), separate=separate)
    result = subprocess.run(
        [sys.executable, "-c", setup, *modules, "build_ext", "--inplace"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    for line in output.splitlines():
        if ": error:" in line or ": warning:" in line:
            print("  mypyc:", line)
    if result.returncode != 0:
        raise SystemExit(f"mypyc failed (exit {result.returncode}):\n{output[-4000:]}")
    return time.perf_counter() - start


def check_compiled(workdir: Path, modules: tuple[str, ...]) -> None:
    """Fail unless every module in ``modules`` imports from an extension module."""
    names = [m.removesuffix(".py").replace("/", ".") for m in modules]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    path = importlib.import_module(name).__file__ or ''\n"
        "    if not path.endswith('.so'):\n"
        "        sys.exit(f'{name} is not compiled: {path}')\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, check=True, env=_env(workdir)
    )


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0", "DUALWEB_UVLOOP": "0"}


def instructions(tree: Path, cases: list[str], n: int) -> dict[str, float]:
    """Instructions per request of each case, counted by ``tree``'s own script."""
    result = subprocess.run(
        [
            sys.executable,
            str(tree / "benchmarks" / "bench_instructions.py"),
            "--cases",
            ",".join(cases),
            "--n",
            str(n),
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        env=_env(tree),
    )
    if result.returncode != 0:
        raise SystemExit(f"bench_instructions.py failed in {tree}:\n{result.stderr[-3000:]}")
    counts: dict[str, float] = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in cases:
            counts[parts[0]] = float(parts[1].replace(",", ""))
    return counts


_TIMING = """
import sys, time
sys.path.insert(0, {tree!r} + "/benchmarks")
import bench_instructions as b
case, count, rounds = {case!r}, {count}, {rounds}
b.run_case(case, 200)
best = []
for _ in range(rounds):
    start = time.process_time()
    b.run_case(case, count)
    best.append((time.process_time() - start) / count * 1e6)
best.sort()
print(best[len(best) // 2])
"""


def timing(tree: Path, case: str, count: int, rounds: int) -> float:
    """Median CPU µs per request of ``case`` served in-process by ``tree``."""
    code = _TIMING.format(tree=str(tree), case=case, count=count, rounds=rounds)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        env=_env(tree),
    )
    return float(result.stdout.split()[-1])


def run_tests(workdir: Path, args: list[str]) -> int:
    """Run pytest on the compiled copy; return its exit status."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(command, cwd=workdir, env=_env(workdir)).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--group", choices=sorted(GROUPS), default="all")
    parser.add_argument("--workdir", type=Path, help="build here (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--n", type=int, default=2000, help="requests counted per case")
    parser.add_argument("--no-instructions", action="store_true", help="skip callgrind")
    parser.add_argument("--timing", action="store_true", help="in-process CPU µs/request")
    parser.add_argument("--tests", nargs="?", const="tests", help="run pytest (on these args)")
    parser.add_argument(
        "--global-opts",
        action="store_true",
        help="whole-program mode (faster, but Python subclasses of RequestHandler fail)",
    )
    parser.add_argument("--skip-build", action="store_true", help="reuse --workdir's build")
    args = parser.parse_args()
    modules = GROUPS[args.group]
    cases = args.cases.split(",")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dualweb-mypyc-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_build:
            print(f"work directory: {workdir}")
            for note in prepare(workdir, modules, bool(args.tests)):
                print("  rewrite:", note)
            seconds = compile_modules(workdir, modules, args.global_opts)
            print(f"compiled {len(modules)} modules in {seconds:.0f} s")
        check_compiled(workdir, modules)
        if not args.no_instructions:
            pure = instructions(ROOT, cases, args.n)
            compiled = instructions(workdir, cases, args.n)
            print(f"\n{'case':<14} {'pure instr':>12} {'mypyc instr':>12} {'ratio':>7}")
            for case in cases:
                ratio = pure[case] / compiled[case]
                print(f"{case:<14} {pure[case]:>12,.0f} {compiled[case]:>12,.0f} {ratio:>6.2f}x")
        if args.timing:
            print(f"\n{'case':<14} {'pure µs':>9} {'mypyc µs':>9} {'ratio':>7}  (CPU, median)")
            for case in cases:
                pure_us = timing(ROOT, case, 5000, 7)
                compiled_us = timing(workdir, case, 5000, 7)
                ratio = pure_us / compiled_us
                print(f"{case:<14} {pure_us:>9.2f} {compiled_us:>9.2f} {ratio:>6.2f}x")
        if args.tests:
            status = run_tests(workdir, args.tests.split())
            print(f"pytest on the compiled copy: exit status {status}")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
