"""Application loose ends: a static_url_prefix with regex metacharacters, and autoreload started
by ``listen()`` when the application was built before ``asyncio.run()``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from dualweb.web import Application, RequestHandler
from tests.support import Client

ROOT = Path(__file__).resolve().parent.parent


class Link(RequestHandler):
    def get(self) -> None:
        self.write(self.static_url("hello.txt", include_version=False))


@pytest.mark.parametrize(
    ("prefix", "near_miss"),
    [
        ("/st+atic/", "/sttatic/hello.txt"),  # "+" read as a quantifier
        ("/(st)atic*/", "/stati/hello.txt"),  # a group and a "*"
        ("/files?/", "/file/hello.txt"),  # "?" read as optional
    ],
)
def test_static_url_prefix_is_literal_not_a_regex(
    client_for: Callable[..., Client], tmp_path: Path, prefix: str, near_miss: str
) -> None:
    (tmp_path / "hello.txt").write_bytes(b"hello\n")
    app = Application(
        [("/link", Link)], static_path=str(tmp_path), static_url_prefix=prefix
    )
    client = client_for(app)
    link = client.get("/link")
    assert link.status == 200
    assert link.text == prefix + "hello.txt"
    # static_url's own link is served (webtest would read "?" as the query).
    if "?" not in prefix:
        response = client.get(link.text)
        assert (response.status, response.body) == (200, b"hello\n")
    # A path the prefix would match if read as a regular expression is no static file.
    assert client.get(near_miss).status == 404


AUTORELOAD_APP = """\
import asyncio, logging
from dualweb.web import Application, RequestHandler

logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")

class Main(RequestHandler):
    def get(self):
        self.write("ok")

# Built at import time, outside any running loop, as many programs do.
app = Application([("/", Main)], debug=True)

async def main():
    server = app.listen(0, "127.0.0.1")
    for _ in range(200):  # the watcher starts on the next loop iterations
        await asyncio.sleep(0.01)
    server.stop()

asyncio.run(main())
"""


def test_listen_inside_asyncio_run_starts_autoreload_for_an_app_built_before(
    tmp_path: Path,
) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(AUTORELOAD_APP))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    watching = [line for line in result.stderr.splitlines() if "autoreload: watching" in line]
    assert len(watching) == 1, result.stderr
    assert watching[0].startswith("dualweb.general autoreload: watching ")
