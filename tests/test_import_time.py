"""``import dualweb.web`` stays light: what only some applications need loads when first used.

Each check runs in a fresh interpreter, so the modules the test session already
imported do not hide a regression. ``benchmarks/bench_import.py`` measures the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Modules an application that never uses the feature should not pay for.
DEFERRED = (
    "asyncio",  # and with it ssl, subprocess, concurrent.futures: only natively
    "ssl",
    "subprocess",
    "uvloop",
    "werkzeug",  # cookies (dump_cookie), multipart bodies, static files
    "dualweb.template",  # the first render()
    "dualweb.locale",  # the first use of .locale
    "dualweb.web.static",  # StaticFileHandler, the static_path setting
    "dualweb.web.signing",  # signed cookies
    "dualweb.wsgi.container",  # WSGIContainer (native only)
    "dualweb.httpclient",
    "dualweb.ioloop",
    "dualweb.netutil",  # xheaders
    "logging.handlers",  # --log_file_prefix
    "inspect",
    "email.utils",
    "http.client",
    "gzip",
    "html.entities",  # xhtml_unescape
    "http.cookies",  # the first request that reads cookies
    "dualweb._formdata",  # the first request with a form body
    "hashlib",  # the first Etag (OpenSSL initialisation)
    "hmac",  # the first XSRF check or signed value
)


def _loaded_after(script: str) -> list[str]:
    """The names of DEFERRED that are in sys.modules after ``script`` ran in a new interpreter."""
    check = f"print(json.dumps([m for m in {DEFERRED!r} if m in sys.modules]))"
    code = f"{script}\nimport json, sys\n{check}"
    environ = {k: v for k, v in os.environ.items() if k != "DUALWEB_UVLOOP"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_import_dualweb_web_loads_none_of_the_optional_modules() -> None:
    assert _loaded_after("import dualweb.web") == []


def test_a_wsgi_application_serving_a_request_still_needs_none_of_them() -> None:
    script = (
        "import io, dualweb.web, dualweb.wsgi\n"
        "class Hello(dualweb.web.RequestHandler):\n"
        "    def get(self):\n"
        "        self.write({'hello': self.get_argument('name')})\n"
        "app = dualweb.wsgi.WSGIAdapter(dualweb.web.Application([('/', Hello)]))\n"
        "environ = {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/', 'QUERY_STRING': 'name=x',\n"
        "           'SERVER_NAME': 'h', 'SERVER_PORT': '80', 'wsgi.url_scheme': 'http',\n"
        "           'wsgi.input': io.BytesIO(), 'SERVER_PROTOCOL': 'HTTP/1.1'}\n"
        "seen = []\n"
        "body = b''.join(app(environ, lambda status, headers: seen.append(status)))\n"
        "assert seen == ['200 OK'] and body == b'{\"hello\": \"x\"}', (seen, body)\n"
    )
    # The response got an Etag (hashlib); the WSGI adapter uses inspect.
    assert set(_loaded_after(script)) <= {"hashlib", "inspect"}


@pytest.mark.parametrize(
    ("script", "module"),
    [
        ("from dualweb.web import StaticFileHandler", "dualweb.web.static"),
        ("import dualweb.web; dualweb.web.StaticFileHandler", "werkzeug"),
        ("import dualweb.web, dualweb.template", "dualweb.template"),
        ("import dualweb.web; import asyncio", "uvloop"),
        ("from dualweb.wsgi import WSGIContainer", "asyncio"),
        ("from dualweb.web import create_signed_value", "dualweb.web.signing"),
    ],
    ids=[
        "static-handler",
        "static-needs-werkzeug",
        "template",
        "asyncio-then-uvloop",
        "wsgi-container",
        "signing",
    ],
)
def test_each_deferred_module_loads_when_first_used(script: str, module: str) -> None:
    if module == "uvloop":
        pytest.importorskip("uvloop")
        if sys.version_info >= (3, 14):  # pragma: no cover - no loop policies there
            pytest.skip("dualweb does not install uvloop's policy on Python 3.14+")
    assert module in _loaded_after(script)


def test_the_lazy_static_file_handler_is_the_class_itself() -> None:
    import dualweb.web
    from dualweb.web.static import StaticFileHandler

    assert dualweb.web.StaticFileHandler is StaticFileHandler
    assert "StaticFileHandler" in dir(dualweb.web)
    with pytest.raises(AttributeError, match="no_such_name"):
        dualweb.web.no_such_name  # noqa: B018
