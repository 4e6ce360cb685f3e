"""The ``dualweb`` package itself: lazy submodules, when uvloop is used, and the docs
saying so truthfully."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import dualweb

ROOT = Path(__file__).resolve().parent.parent


# -- lazy submodules -----------------------------------------------------------------------


def test_a_listed_submodule_that_does_not_exist_is_an_attribute_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dualweb, "_SUBMODULES", dualweb._SUBMODULES | {"not_shipped"})
    with pytest.raises(AttributeError, match=r"dualweb\.not_shipped is not available"):
        dualweb.not_shipped  # noqa: B018
    assert not hasattr(dualweb, "not_shipped")
    assert "not_shipped" not in sys.modules


def test_every_listed_submodule_is_importable_or_absent() -> None:
    for name in sorted(dualweb._SUBMODULES):
        present = importlib.util.find_spec("dualweb." + name) is not None
        assert hasattr(dualweb, name) is present, name


def test_a_submodule_missing_a_dependency_reports_the_dependency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only the submodule's own absence becomes an AttributeError; a missing
    # third-party import inside it must surface as is.
    def import_module(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'somedependency'", name="somedependency")

    monkeypatch.setattr(dualweb, "_SUBMODULES", dualweb._SUBMODULES | {"needs_dependency"})
    monkeypatch.setattr(dualweb, "importlib", SimpleNamespace(import_module=import_module))
    with pytest.raises(ModuleNotFoundError, match="somedependency"):
        dualweb.needs_dependency  # noqa: B018


def test_unknown_names_are_attribute_errors() -> None:
    assert not hasattr(dualweb, "no_such_thing")


# -- uvloop: what happens and what the docs say --------------------------------------------

_LOOP_TYPE = "import asyncio; loop = asyncio.new_event_loop(); print(type(loop).__module__)"


@pytest.mark.parametrize(
    ("script", "env", "expected"),
    [
        pytest.param(f"import dualweb; {_LOOP_TYPE}", {}, "uvloop", id="installed"),
        pytest.param(
            f"import dualweb; {_LOOP_TYPE}", {"DUALWEB_UVLOOP": "0"}, "asyncio", id="env-off"
        ),
        # uvloop's package imports asyncio while it is itself half initialized:
        # importing it after dualweb (and before asyncio) used to fail with
        # "partially initialized module 'uvloop' has no attribute 'EventLoopPolicy'".
        pytest.param(
            f"import dualweb; import uvloop; {_LOOP_TYPE}", {}, "uvloop", id="app-imports-uvloop"
        ),
        pytest.param(
            f"import dualweb.web; import uvloop; uvloop.install(); {_LOOP_TYPE}",
            {},
            "uvloop",
            id="app-installs-uvloop",
        ),
        pytest.param(
            f"import dualweb; import uvloop; {_LOOP_TYPE}",
            {"DUALWEB_UVLOOP": "0"},
            "asyncio",
            id="app-imports-uvloop-env-off",
        ),
        pytest.param(
            "import asyncio\n"
            "class Mine(asyncio.DefaultEventLoopPolicy): pass\n"
            "asyncio.set_event_loop_policy(Mine())\n"
            f"import dualweb; {_LOOP_TYPE}",
            {},
            "asyncio",
            id="app-policy",
        ),
        pytest.param(
            "import asyncio\n"
            "async def main():\n"
            "    import dualweb\n"
            "asyncio.run(main())\n"
            f"{_LOOP_TYPE}",
            {},
            "asyncio",
            id="imported-in-a-running-loop",
        ),
    ],
)
def test_when_uvloop_is_used(script: str, env: dict[str, str], expected: str) -> None:
    pytest.importorskip("uvloop")
    if sys.version_info >= (3, 14):  # pragma: no cover - policies are deprecated there
        expected = "asyncio"
    environ = {k: v for k, v in os.environ.items() if k != "DUALWEB_UVLOOP"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split(".")[0] == expected


def _prose(text: str) -> str:
    """Text with markup and line breaks dropped, to compare what two documents say."""
    text = re.sub(r":\w+:`([^`]*)`", r"\1", text)
    return " ".join(text.replace("`", "").split())


_UVLOOP_STATEMENT = _prose(
    """When uvloop is installed (pip install dualweb[speedups]), importing dualweb makes new
    asyncio event loops use it, so asyncio.run(main()) and IOLoop.current().start() both run
    on uvloop. It stays off when the environment variable DUALWEB_UVLOOP=0 is set, when the
    application installed its own event-loop policy (before importing dualweb, or after: the
    last policy set wins), when dualweb is first imported inside a running event loop, and on
    Python 3.14+, where event-loop policies are deprecated."""
)


@pytest.mark.parametrize("where", ["README.md", "dualweb/__init__.py", "dualweb/ioloop.py"])
def test_docs_say_the_same_about_uvloop(where: str) -> None:
    assert _UVLOOP_STATEMENT in _prose((ROOT / where).read_text())


def test_architecture_doc_names_the_design_notes_relative_to_the_repository() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert "../shared/DESIGN.md" in text
    assert "/work/" not in text
