"""The user documentation's code examples run as shown (docs/*.md, README.md).

Every ```python block in those files is compiled. A block whose fence is directly
preceded by an HTML comment (invisible when the Markdown is rendered) is also run:

* ``<!-- test: run -->``: the block is a script; it runs in a fresh interpreter
  (working directory ``docs/examples``, which holds the ``templates/`` and
  ``static/`` the examples use) and must exit with status 0.
* ``<!-- test: pytest -->``: the block is a test module; pytest runs it in a fresh
  interpreter and every test must pass.
* ``<!-- test: app [native] CHECK | CHECK | ... -->``: the block is imported as a
  module (so ``if __name__ == "__main__":`` does not start a server) and must
  define ``make_app()``. The app is served natively over a real socket
  (127.0.0.1, port 0) and, unless ``native`` is given, under ``WSGIAdapter``
  through webtest; each ``CHECK`` is ``METHOD PATH STATUS [text=IN_BODY]
  [body=REQUEST_BODY] [Header-Name:value ...]`` (shell quoting for spaces).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import make_client

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
_FENCE = re.compile(r"^(?:<!-- test: (?P<marker>.*?) -->\n)?```python\n(?P<code>.*?)^```$",
                    re.MULTILINE | re.DOTALL)
_TIMEOUT = 120


@dataclass
class Block:
    page: Path
    line: int
    marker: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.name}:{self.line}"


def _blocks() -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start("code"))
            found.append(Block(page, line, match.group("marker") or "", match.group("code")))
    return found


BLOCKS = _blocks()


def _ids(blocks: list[Block]) -> list[str]:
    return [block.name for block in blocks]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(EXAMPLES), env.get("PYTHONPATH", "")])
    return env


USER_GUIDE = [
    "getting-started.md", "modes.md", "testing.md", "deployment.md", "settings.md",
    "porting-from-tornado.md", "performance.md",
]


def test_user_guide_pages_exist_and_are_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in USER_GUIDE:
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
        assert f"(docs/{name})" in readme, f"README.md does not link docs/{name}"
    assert len(BLOCKS) >= 20


def test_relative_links_point_to_existing_files() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


@pytest.mark.parametrize("block", BLOCKS, ids=_ids(BLOCKS))
def test_block_compiles(block: Block) -> None:
    compile(block.code, block.name, "exec")


RUN = [b for b in BLOCKS if b.marker == "run"]
PYTEST = [b for b in BLOCKS if b.marker == "pytest"]
APPS = [b for b in BLOCKS if b.marker.startswith("app")]


@pytest.mark.parametrize("block", RUN, ids=_ids(RUN))
def test_script_runs(block: Block) -> None:
    done = subprocess.run(
        [sys.executable, "-c", block.code], cwd=EXAMPLES, env=_env(),
        capture_output=True, text=True, timeout=_TIMEOUT,
    )
    assert done.returncode == 0, f"{block.name} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("block", PYTEST, ids=_ids(PYTEST))
def test_test_module_passes(block: Block, tmp_path: Path) -> None:
    test_file = tmp_path / "test_snippet.py"
    test_file.write_text(block.code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=EXAMPLES, env=_env(), capture_output=True, text=True, timeout=_TIMEOUT,
    )
    assert done.returncode == 0, f"{block.name} failed:\n{done.stdout}\n{done.stderr}"
    assert " passed" in done.stdout


def _checks(marker: str) -> tuple[list[str], list[list[str]]]:
    words = marker.split(None, 1)
    rest = words[1] if len(words) > 1 else ""
    modes = ["native", "wsgi"]
    if rest.startswith("native "):
        modes, rest = ["native"], rest[len("native "):]
    return modes, [shlex.split(part) for part in rest.split(" | ") if part.strip()]


@pytest.mark.parametrize("block", APPS, ids=_ids(APPS))
def test_app_answers(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES)
    module = types.ModuleType("docs_snippet")
    module.__file__ = str(EXAMPLES / "snippet.py")  # so os.path.dirname(__file__) finds them
    exec(compile(block.code, block.name, "exec"), module.__dict__)
    modes, checks = _checks(block.marker)
    assert checks, f"{block.name}: the marker lists no request to check"
    for mode in modes:
        client = make_client(module.make_app(), mode)
        try:
            for check in checks:
                method, path, status, *more = check
                text = [w[5:] for w in more if w.startswith("text=")]
                body = next((w[5:] for w in more if w.startswith("body=")), None)
                rest = [w for w in more if not w.startswith(("text=", "body="))]
                headers = dict(w.split(":", 1) for w in rest)
                response = client.request(method, path, body=body, headers=headers)
                where = f"{block.name} {mode} {method} {path}"
                assert response.status == int(status), f"{where}: {response.status} {response.text}"
                for expected in text:
                    assert expected in response.text, f"{where}: {response.text!r}"
        finally:
            client.close()


def test_getting_started_app_under_gunicorn() -> None:
    """docs/examples/app.py and wsgi.py are the page's snippets; gunicorn serves them."""
    pytest.importorskip("gunicorn")
    from tests.harness import ServerProcess, free_port

    page = [b.code for b in BLOCKS if b.page.name == "getting-started.md"]
    assert (EXAMPLES / "app.py").read_text(encoding="utf-8") == page[0]
    assert (EXAMPLES / "wsgi.py").read_text(encoding="utf-8") == page[1]
    port = free_port()
    served = ServerProcess(
        ["-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "wsgi:wsgi"],
        port, cwd=EXAMPLES,  # gunicorn puts its working directory on sys.path
    )
    try:
        status, headers, body = served.request("GET", "/")
        assert (status, body) == (200, b"Hello, world")
        assert headers["Content-Type"] == "text/html; charset=UTF-8"
    finally:
        served.stop()
