"""examples/dualweb_app.py under a real gunicorn (one sync worker), over real sockets.

The server is started once for the module with ``python -m gunicorn
dualweb_app:wsgi`` from examples/, bound to 127.0.0.1 on a free port; every
wait is bounded and the server is always terminated.
"""

from __future__ import annotations

import datetime
import http.client
import json
import signal
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

pytest.importorskip("gunicorn")

from tests.harness import ROOT, ServerProcess, free_port


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    port = free_port()
    command = ["-m", "gunicorn", "--workers", "1", "--worker-class", "sync"]
    command += ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2", "dualweb_app:wsgi"]
    running = ServerProcess(command, port)
    yield running
    running.stop()


def test_startup_warns_about_the_async_route(server: ServerProcess) -> None:
    stderr = server.wait_for_stderr("AsyncRoutesWarning")
    assert "AsyncRoutesWarning" in stderr
    assert "/async -> AsyncHandler: AsyncHandler.get is a coroutine" in stderr


def test_one_server_and_date_header_on_repeated_requests(server: ServerProcess) -> None:
    # The adapter leaves Server and Date to gunicorn: the client sees each once,
    # and repeated requests (headers differing each time) get their own answers.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for name in ("a", "b", "c"):
            conn.request("GET", f"/api?name={name}", headers={"X-Extra": name})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200
            assert json.loads(body)["hello"] == name
            assert len(resp.headers.get_all("Server") or []) == 1
            assert len(resp.headers.get_all("Date") or []) == 1
            assert resp.headers.get_all("Content-Length") == [str(len(body))]
    finally:
        conn.close()


def test_json_route(server: ServerProcess) -> None:
    status, headers, body = server.request("GET", "/api?name=gunicorn")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    assert json.loads(body) == {"hello": "gunicorn", "path": "/api", "method": "GET"}
    assert headers["Content-Length"] == str(len(body))


def test_form_get_and_post(server: ServerProcess) -> None:
    status, _, body = server.request("GET", "/form")
    assert status == 200
    assert b'<form method="post"' in body
    form = urlencode({"name": "Ada", "color": "gr\u00fcn"}).encode()
    status, _, body = server.request(
        "POST", "/form", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200
    assert json.loads(body) == {"received": {"name": "Ada", "color": "gr\u00fcn"}}


def test_login_flow_with_signed_cookie(server: ServerProcess) -> None:
    status, headers, _ = server.request("GET", "/private")
    assert status == 302
    assert headers["Location"].startswith("/login?next=")

    form = urlencode({"name": "grace"}).encode()
    status, headers, _ = server.request(
        "POST", "/login?next=/private", form,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 302
    assert headers["Location"] == "/private"
    jar: SimpleCookie = SimpleCookie()
    for value in headers.get_all("Set-Cookie") or []:
        jar.load(value)
    signed = jar["user"].value
    assert "grace" not in signed or "|" in signed  # signed, not the bare name

    status, _, body = server.request("GET", "/private", headers={"Cookie": f"user={signed}"})
    assert status == 200
    assert b"Hello, grace!" in body

    tampered = signed[:-1] + ("0" if signed[-1] != "0" else "1")
    status, _, _ = server.request("GET", "/private", headers={"Cookie": f"user={tampered}"})
    assert status == 302

    status, headers, _ = server.request("GET", "/logout", headers={"Cookie": f"user={signed}"})
    assert status == 302
    # clear_cookie sends an empty value that expires now both ways: Max-Age=0 and
    # an Expires date in the past (browsers that ignore Max-Age use Expires).
    cleared = [v for v in headers.get_all("Set-Cookie") or [] if v.startswith("user=")]
    assert len(cleared) == 1, cleared
    jar = SimpleCookie()
    jar.load(cleared[0])
    morsel = jar["user"]
    assert (morsel.value, morsel["max-age"], morsel["path"]) == ("", "0", "/")
    assert morsel["expires"], cleared[0]
    expires = parsedate_to_datetime(morsel["expires"])
    assert expires < datetime.datetime.now(datetime.timezone.utc)


def test_async_route_is_500_logged_and_worker_keeps_serving(server: ServerProcess) -> None:
    status, _, body = server.request("GET", "/async")
    assert status == 500
    assert b"AsyncHandler" not in body  # no details without debug/serve_traceback
    stderr = server.wait_for_stderr("AsyncHandler.get is a coroutine")
    assert "AsyncHandler.get is a coroutine" in stderr
    assert "Use a plain def, or run natively." in stderr
    for _ in range(3):
        status, _, body = server.request("GET", "/api")
        assert status == 200
    assert server.proc.poll() is None


@pytest.mark.skipif(
    not (ROOT / "dualweb" / "httpserver.py").exists(), reason="native server not present"
)
def test_same_example_natively_runs_the_async_route() -> None:
    port = free_port()
    native = ServerProcess(["dualweb_app.py", str(port)], port)
    try:
        status, _, body = native.request("GET", "/async")
        assert (status, body) == (200, b"this ran on dualweb's native server")
        status, _, body = native.request("GET", "/api")
        assert json.loads(body)["hello"] == "world"
    finally:
        stderr = native.stop(signal.SIGINT)
    # Serving natively builds no WSGI adapter, so no warning about /async.
    assert "AsyncRoutesWarning" not in stderr
