"""Errors as a client sees them, in both drivers: 500 pages, ``HTTPError``,
``write_error``/``send_error`` and what reaches the log.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dualweb.web import HTTPError, MissingArgumentError, RequestHandler

from .web_support import app_with

# -- errors -------------------------------------------------------------------


def test_uncaught_exception_is_logged_500(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Boom(RequestHandler):
        def get(self) -> None:
            raise ZeroDivisionError("kaboom")

    client = client_for(app_with((r"/boom", Boom)))
    with caplog.at_level(logging.ERROR, logger="dualweb.application"):
        resp = client.get("/boom?x=1")
    assert resp.status == 500
    assert resp.body == (
        b"<html><title>500: Internal Server Error</title>"
        b"<body>500: Internal Server Error</body></html>"
    )
    records = [r for r in caplog.records if r.name == "dualweb.application"]
    assert len(records) == 1
    assert records[0].getMessage().startswith("Uncaught exception GET /boom?x=1 (")
    assert "ZeroDivisionError: kaboom" in caplog.text
    assert b"kaboom" not in resp.body
    # The server keeps serving.
    assert client.get("/boom").status == 500


def test_serve_traceback_shows_traceback(client_for: Any) -> None:
    class Boom(RequestHandler):
        def get(self) -> None:
            raise ZeroDivisionError("visible in debug")

    resp = client_for(app_with((r"/", Boom), serve_traceback=True)).get("/")
    assert resp.status == 500
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert "Traceback (most recent call last)" in resp.text
    assert "ZeroDivisionError: visible in debug" in resp.text


def test_http_error_reason_and_log_message(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Teapot(RequestHandler):
        def get(self) -> None:
            raise HTTPError(418, "brewing %s", "tea", reason="I'm a teapot")

    with caplog.at_level(logging.WARNING):
        resp = client_for(app_with((r"/", Teapot))).get("/")
    assert resp.status == 418
    assert resp.reason == "I'm a teapot"
    assert b"418: I&#x27;m a teapot" in resp.body or b"418: I&#39;m a teapot" in resp.body
    warnings = [r for r in caplog.records if r.name == "dualweb.general"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith("418 GET / (")
    assert message.endswith("): brewing tea")
    assert not [r for r in caplog.records if r.name == "dualweb.application"]


def test_http_error_str() -> None:
    assert str(HTTPError(404)) == "HTTP 404: Not Found"
    assert str(HTTPError(400, "bad %s", "thing")) == "HTTP 400: Bad Request (bad thing)"
    assert str(HTTPError(400, "100% literal")) == "HTTP 400: Bad Request (100% literal)"
    assert str(HTTPError(599)) == "HTTP 599: Unknown"
    assert str(MissingArgumentError("q")) == "HTTP 400: Bad Request (Missing argument q)"
    assert MissingArgumentError("q").arg_name == "q"


def test_custom_write_error(client_for: Any) -> None:
    class Json(RequestHandler):
        def write_error(self, status_code: int, **kwargs: Any) -> None:
            self.finish({"code": status_code, "reason": self._reason})

        def get(self) -> None:
            raise HTTPError(403)

    resp = client_for(app_with((r"/", Json))).get("/")
    assert resp.status == 403
    assert resp.json() == {"code": 403, "reason": "Forbidden"}


def test_broken_write_error_still_answers(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(RequestHandler):
        def write_error(self, status_code: int, **kwargs: Any) -> None:
            raise RuntimeError("write_error is broken")

        def get(self) -> None:
            raise HTTPError(400)

    with caplog.at_level(logging.ERROR):
        resp = client_for(app_with((r"/", Broken))).get("/")
    assert resp.status == 400
    assert "Uncaught exception in write_error" in caplog.text


def test_failing_error_handling_still_answers_500(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Hopeless(RequestHandler):
        def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
            raise RuntimeError("send_error is broken too")

        def get(self) -> None:
            raise ValueError("first failure")

    client = client_for(app_with((r"/", Hopeless)))
    with caplog.at_level(logging.ERROR):
        resp = client.get("/")
    assert resp.status == 500
    assert resp.body == b""
    assert "Exception in exception handler" in caplog.text
    assert client.get("/").status == 500  # and the server keeps serving


def test_send_error_with_reason(client_for: Any) -> None:
    class E(RequestHandler):
        def get(self) -> None:
            self.set_header("X-Dropped", "1")
            self.write("dropped body")
            self.send_error(503, reason="Down for maintenance")

    resp = client_for(app_with((r"/", E))).get("/")
    assert resp.status == 503
    assert resp.reason == "Down for maintenance"
    assert "X-Dropped" not in resp.headers
    assert b"dropped body" not in resp.body


def test_require_setting_names_handler_and_setting(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class NeedsSecret(RequestHandler):
        def get(self) -> None:
            self.require_setting("cookie_secret", "secure cookies")

    with caplog.at_level(logging.ERROR):
        resp = client_for(app_with((r"/", NeedsSecret))).get("/")
    assert resp.status == 500
    assert (
        "NeedsSecret: you must define the 'cookie_secret' setting in your application "
        "to use secure cookies" in caplog.text
    )

def test_http_error_messages() -> None:
    err = HTTPError(400, "bad %s", "input")
    assert err.get_message() == "bad input"
    assert err.log_message == "bad %s"
    literal = HTTPError(400, "50% off")
    assert literal.get_message() == "50% off"
    assert literal.log_message == "50%% off"
    assert HTTPError(404).get_message() is None
