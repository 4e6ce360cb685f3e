"""One client interface over both drivers, so a handler test proves they agree.

``make_client(app, mode)`` returns a :class:`Client`:

* ``"wsgi"`` sends requests through ``webtest.TestApp`` wrapped around
  ``wsgiref.validate.validator(WSGIAdapter(app))`` (PEP 3333 checked on every request);
* ``"native"`` starts dualweb's own ``HTTPServer`` on 127.0.0.1, port 0, in a
  background thread with its own event loop (asyncio's or uvloop:
  :class:`tests.harness.ServerThread`), and talks to it over a real socket.

Cookies are not remembered between requests: tests pass ``Cookie`` headers
explicitly, so what each request carries is visible in the test.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import wsgiref.validate
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

from tests.harness import ServerThread

MODES = ["wsgi"] + (["native"] if importlib.util.find_spec("dualweb.httpserver") else [])


class Response:
    """What a client received: status, headers (case-insensitive, repeatable), body."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.reason = reason
        self.header_list = headers
        self.body = body

    @property
    def headers(self) -> _Headers:
        return _Headers(self.header_list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)

    def cookies(self) -> dict[str, str]:
        """Cookie name → value from every ``Set-Cookie`` header."""
        jar: SimpleCookie = SimpleCookie()
        for value in self.headers.get_all("Set-Cookie"):
            jar.load(value)
        return {name: morsel.value for name, morsel in jar.items()}

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:200]!r}>"


class _Headers:
    def __init__(self, items: list[tuple[str, str]]):
        self._items = items

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.get_all(name)
        return values[0] if values else default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self._items if k.lower() == lname]


class Client:
    """Base class: ``request()`` plus verb shortcuts."""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        raise NotImplementedError

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def head(self, path: str, headers: Mapping[str, str] | None = None) -> Response:
        return self.request("HEAD", path, headers=headers)

    def post(
        self,
        path: str,
        body: bytes | str | Mapping[str, str] = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        hdrs = dict(headers or {})
        if isinstance(body, Mapping):
            from urllib.parse import urlencode

            body = urlencode(body)
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return self.request("POST", path, body=body, headers=hdrs)

    def close(self) -> None:
        pass


class WSGIClient(Client):
    """Drives the app through webtest and the PEP 3333 validator."""

    def __init__(self, app: Any, **adapter_kwargs: Any):
        import webtest

        from dualweb.wsgi import WSGIAdapter

        self.adapter = WSGIAdapter(app, **adapter_kwargs)
        self.sent = _SentResponse(self.adapter)
        self.testapp = webtest.TestApp(wsgiref.validate.validator(self.sent))

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        self.testapp.cookiejar.clear()
        if isinstance(body, str):
            body = body.encode("utf-8")
        kwargs: dict[str, Any] = {"method": method, "headers": dict(headers or {})}
        if body is not None:
            kwargs["body"] = body
        self.testapp.request(path, expect_errors=True, **kwargs)
        # What the adapter sent, not webtest's view of it: webtest gunzips
        # Content-Encoding: gzip bodies and drops the header.
        code, _, reason = self.sent.status.partition(" ")
        return Response(int(code), reason, self.sent.headers, self.sent.body)


class _SentResponse:
    """WSGI middleware that records the status, headers and body the application sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.body = b""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        def record(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            self.status, self.headers = status, list(headers)
            return start_response(status, headers, exc_info) if exc_info else start_response(
                status, headers
            )

        chunks = self.app(environ, record)
        try:
            self.body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return [self.body]


class NativeClient(Client):
    """Serves the app with dualweb's HTTPServer on a loop of ``loop_kind`` in a thread
    (:class:`tests.harness.ServerThread`); requests go over a real socket."""

    def __init__(self, app: Any, loop_kind: str = "asyncio", **server_kwargs: Any):
        self.running = ServerThread(app, loop_kind, **server_kwargs)
        self.port = self.running.port

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, resp.reason, list(resp.getheaders()), data)
        finally:
            conn.close()

    def close(self) -> None:
        self.running.close()


def shout_after_upgrade(port: int, head: bytes) -> None:
    """Send ``head`` (a request asking to upgrade to the tests' "shout" protocol) and
    ``early`` bytes with it on one connection to 127.0.0.1:``port``; assert the server
    answers 101 and then echoes in upper case what came with and after the request."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + b"early")
        raw = b""
        while not raw.endswith(b"EARLY"):
            data = sock.recv(1024)
            assert data
            raw += data
        assert raw.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        sock.sendall(b"later")
        assert sock.recv(1024) == b"LATER"


def make_client(app: Any, mode: str, loop_kind: str = "asyncio", **kwargs: Any) -> Client:
    """Return a client for ``app`` in ``mode`` ("wsgi" or "native", natively on a loop
    of ``loop_kind``: "asyncio" or "uvloop")."""
    if mode == "wsgi":
        return WSGIClient(app, **kwargs)
    if mode == "native":
        return NativeClient(app, loop_kind, **kwargs)
    raise ValueError(mode)
