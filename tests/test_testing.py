"""dualweb.testing: the Tornado-style test cases, gen_test, ExpectLog, leak reports.

The cases under test are defined inside the test functions (so pytest does
not collect them) and run with unittest's own runner; the assertions look at
what that runner recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import unittest
import warnings
from pathlib import Path
from typing import Any

import pytest

from dualweb import gen, web
from dualweb.testing import (
    AsyncHTTPSTestCase,
    AsyncHTTPTestCase,
    AsyncTestCase,
    ExpectLog,
    LeakWarning,
    bind_unused_port,
    gen_test,
    get_async_test_timeout,
)

ROOT = Path(__file__).resolve().parent.parent


def run_case(case: type[unittest.TestCase]) -> unittest.TestResult:
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


def messages(result: unittest.TestResult) -> str:
    return "\n".join(text for _, text in result.failures + result.errors)


class Hello(web.RequestHandler):
    def get(self) -> None:
        self.write("hello " + self.request.protocol)

    def post(self) -> None:
        self.write(self.request.body)


def test_async_http_test_case_serves_the_app() -> None:
    seen: dict[str, Any] = {}

    class Case(AsyncHTTPTestCase):
        def get_app(self) -> web.Application:
            return web.Application([("/", Hello)])

        def test_fetch(self) -> None:
            self.assertEqual(self.fetch("/").body, b"hello http")
            self.assertEqual(self.fetch("/missing").code, 404)  # not raised by default
            self.assertEqual(self.fetch("/", method="POST", body="b").body, b"b")
            seen["url"] = self.get_url("/x")
            seen["port"] = self.get_http_port()

        def test_raise_error(self) -> None:
            from dualweb.httpclient import HTTPClientError

            with self.assertRaises(HTTPClientError):
                self.fetch("/missing", raise_error=True)

        @gen_test
        async def test_async(self) -> None:
            response = await self.http_client.fetch(self.get_url("/"))
            self.assertEqual(response.body, b"hello http")

    result = run_case(Case)
    assert result.wasSuccessful(), messages(result)
    assert result.testsRun == 3
    assert seen["url"] == f"http://127.0.0.1:{seen['port']}/x"


def test_https_test_case() -> None:
    class Case(AsyncHTTPSTestCase):
        def get_app(self) -> web.Application:
            return web.Application([("/", Hello)])

        def test_fetch(self) -> None:
            self.assertTrue(self.get_url("/").startswith("https://127.0.0.1:"))
            self.assertEqual(self.fetch("/").body, b"hello https")

    result = run_case(Case)
    assert result.wasSuccessful(), messages(result)


def test_stop_and_wait() -> None:
    class Case(AsyncTestCase):
        def test_positional(self) -> None:
            self.io_loop.add_callback(self.stop, 42)
            self.assertEqual(self.wait(), 42)

        def test_keywords(self) -> None:
            self.io_loop.call_later(0.01, lambda: self.stop(a=1))
            self.assertEqual(self.wait(), {"a": 1})

        def test_condition(self) -> None:
            calls: list[int] = []

            def tick() -> None:
                calls.append(1)
                self.stop()
                if len(calls) < 3:
                    self.io_loop.add_callback(tick)

            self.io_loop.add_callback(tick)
            self.wait(condition=lambda: len(calls) >= 3)
            self.assertEqual(len(calls), 3)

        def test_times_out(self) -> None:
            self.wait(timeout=0.05)

    result = run_case(Case)
    assert result.testsRun == 4
    assert len(result.failures) == 1, messages(result)
    assert "Async operation timed out after 0.05 seconds" in messages(result)


def test_exception_reaching_the_loop_fails_the_test() -> None:
    # (IOLoop.add_callback logs its callbacks' exceptions itself, as Tornado's does.)
    class Case(AsyncTestCase):
        def test_callback_raises(self) -> None:
            def boom() -> None:
                raise ZeroDivisionError("in a callback")

            self.io_loop.asyncio_loop.call_soon(boom)
            self.wait(timeout=1)

    result = run_case(Case)
    assert "ZeroDivisionError: in a callback" in messages(result)


def test_gen_test_forms_and_timeout() -> None:
    class Case(AsyncTestCase):
        @gen_test
        async def test_async_def(self) -> None:
            await asyncio.sleep(0)

        @gen_test
        def test_generator(self):  # type: ignore[no-untyped-def]
            yield gen.sleep(0)

        @gen_test(timeout=0.1)
        async def test_too_slow(self) -> None:
            await asyncio.sleep(5)

    result = run_case(Case)
    assert result.testsRun == 3
    assert len(result.errors) == 1
    assert "Operation timed out after 0.1 seconds" in messages(result)


def test_undecorated_generator_test_is_refused() -> None:
    class Case(AsyncTestCase):
        def test_forgot(self):  # type: ignore[no-untyped-def]
            yield None

    with pytest.raises(TypeError, match=r"decorate it with @dualweb\.testing\.gen_test"):
        Case("test_forgot")


def test_async_test_timeout_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNC_TEST_TIMEOUT", raising=False)
    assert get_async_test_timeout() == 5
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "12.5")
    assert get_async_test_timeout() == 12.5


def test_bind_unused_port() -> None:
    sock, port = bind_unused_port()
    try:
        assert sock.getsockname() == ("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        sock.close()


def test_expect_log() -> None:
    logger = logging.getLogger("dualweb.test.expect")
    with ExpectLog(logger, "expected .* here") as expectation:
        logger.error("expected line here")
    assert expectation.matched
    with pytest.raises(Exception, match="did not get expected log message matching 'absent'"):
        with ExpectLog("dualweb.test.expect", "absent"):
            logger.error("something else")
    with ExpectLog(logger, "absent", required=False):
        pass
    # level= restricts matches to that level and lowers the logger's level meanwhile.
    logger.setLevel(logging.WARNING)
    try:
        with ExpectLog(logger, "detail", level=logging.DEBUG):
            logger.debug("detail")
        assert logger.level == logging.WARNING
        with pytest.raises(Exception, match="did not get expected"):
            with ExpectLog(logger, "detail", level=logging.ERROR):
                logger.warning("detail")
    finally:
        logger.setLevel(logging.NOTSET)


def test_expect_log_of_a_handler_error() -> None:
    class Boom(web.RequestHandler):
        def get(self) -> None:
            raise ZeroDivisionError("boom")

    class Case(AsyncHTTPTestCase):
        def get_app(self) -> web.Application:
            return web.Application([("/", Boom)])

        def test_logged(self) -> None:
            with ExpectLog("dualweb.application", "Uncaught exception GET /"):
                self.assertEqual(self.fetch("/").code, 500)

    result = run_case(Case)
    assert result.wasSuccessful(), messages(result)


def test_leaked_task_and_socket_are_reported() -> None:
    kept: list[socket.socket] = []

    class Case(AsyncTestCase):
        def test_leaky_task(self) -> None:
            self.io_loop.asyncio_loop.create_task(asyncio.sleep(30))

        def test_leaky_socket(self) -> None:
            kept.append(socket.socket())

        def test_clean(self) -> None:
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_case(Case)
    for sock in kept:
        sock.close()
    assert result.wasSuccessful(), messages(result)
    reports = [str(w.message) for w in caught if issubclass(w.category, LeakWarning)]
    assert len(reports) == 2, reports
    assert any("test_leaky_task leaked: task still pending" in r for r in reports)
    assert any("test_leaky_socket leaked: socket still open" in r for r in reports)


def test_fail_on_leaks() -> None:
    class Case(AsyncTestCase):
        fail_on_leaks = True

        def test_leaky_task(self) -> None:
            self.io_loop.asyncio_loop.create_task(asyncio.sleep(30))

    result = run_case(Case)
    assert "leaked: task still pending" in messages(result)


def test_main_runs_a_module(tmp_path: Path) -> None:
    (tmp_path / "sample_tests.py").write_text(
        "from dualweb.testing import AsyncTestCase, gen_test, main\n"
        "class T(AsyncTestCase):\n"
        "    @gen_test\n"
        "    async def test_ok(self):\n"
        "        pass\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    direct = subprocess.run(
        [sys.executable, "sample_tests.py"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert direct.returncode == 0, direct.stderr
    assert b"Ran 1 test" in direct.stderr
    named = subprocess.run(
        [sys.executable, "-m", "dualweb.testing", "sample_tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert named.returncode == 0, named.stderr
    assert b"Ran 1 test" in named.stderr
