"""dualweb.pytest_plugin, run by pytester on small test files (native and WSGI modes)."""

from __future__ import annotations

import importlib.metadata
import textwrap

import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("webtest")


def plugin_args() -> list[str]:
    """``-p dualweb.pytest_plugin`` unless the entry point already loads it."""
    names = {ep.name for ep in importlib.metadata.entry_points(group="pytest11")}
    return [] if "dualweb" in names else ["-p", "dualweb.pytest_plugin"]


APP = textwrap.dedent(
    """
    import asyncio
    import pytest
    import dualweb.web

    class Hello(dualweb.web.RequestHandler):
        def get(self):
            self.write("Hello, " + self.get_argument("name", "world"))

        def post(self):
            self.write({"got": self.get_body_argument("x")})

    class Later(dualweb.web.RequestHandler):
        async def get(self):
            await asyncio.sleep(0.01)
            self.write("later")

    @pytest.fixture
    def app():
        return dualweb.web.Application([("/", Hello), ("/later", Later)])
    """
)


def run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(test_app=APP + textwrap.dedent(body))
    return pytester.runpytest_subprocess(*plugin_args(), "-q", "-p", "no:cacheprovider")


def test_one_handler_test_runs_in_both_modes(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        @pytest.mark.parametrize("mode", ["native", "wsgi"])
        def test_hello(mode, fetch, wsgi_app):
            if mode == "native":
                response = fetch("/?name=ada")
                status, body = response.code, response.body
                assert response.headers["Server"].startswith("Dualweb")
            else:
                response = wsgi_app.get("/?name=ada")
                status, body = response.status_int, response.body
            assert (status, body) == (200, b"Hello, ada")

        @pytest.mark.parametrize("mode", ["native", "wsgi"])
        def test_post(mode, fetch, wsgi_app):
            if mode == "native":
                body = fetch("/", method="POST", body="x=1").body
            else:
                body = wsgi_app.post("/", {"x": "1"}).body
            assert body == b'{"got": "1"}'

        def test_missing_is_returned_not_raised(fetch):
            assert fetch("/nope").code == 404

        def test_coroutine_handler_is_500_under_wsgi(wsgi_app):
            assert wsgi_app.get("/later", expect_errors=True).status_int == 500
    """)
    result.assert_outcomes(passed=6)


def test_async_tests_share_the_servers_loop(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import asyncio
        from dualweb.ioloop import IOLoop

        async def test_fetch_awaited(fetch, io_loop):
            assert asyncio.get_running_loop() is io_loop.asyncio_loop
            response = await fetch("/later")
            assert response.body == b"later"

        async def test_client_and_base_url(http_client, base_url, http_server_port, http_server):
            assert base_url == f"http://127.0.0.1:{http_server_port}"
            response = await http_client.fetch(base_url + "/")
            assert response.body == b"Hello, world"

        async def test_without_fixtures_gets_its_own_loop():
            await asyncio.sleep(0)
            assert IOLoop.current().asyncio_loop is asyncio.get_running_loop()

        async def test_failure_is_reported(fetch):
            response = await fetch("/")
            assert response.code == 418
    """)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*assert 200 == 418*"])


def test_missing_app_fixture_says_what_to_define(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_noapp="def test_it(fetch):\n    pass\n")
    result = pytester.runpytest_subprocess(*plugin_args(), "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*need an `app` fixture returning the Application to test*"])
    assert result.ret != 0


WS_APP = textwrap.dedent(
    """
    import pytest
    import dualweb.web
    import dualweb.websocket

    CLOSED = []

    class Echo(dualweb.websocket.WebSocketHandler):
        def on_message(self, message):
            self.write_message("echo: " + message)

        def on_close(self):
            CLOSED.append(self.close_code)

    @pytest.fixture
    def app():
        return dualweb.web.Application([("/echo", Echo)])
    """
)


def test_ws_connect_echoes_and_closes_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ws=WS_APP + textwrap.dedent("""
        import dualweb.websocket

        async def test_echo_async(ws_connect):
            conn = await ws_connect("/echo")
            await conn.write_message("hi")
            assert await conn.read_message() == "echo: hi"
            conn.close(1000)
            assert await conn.read_message() is None
            assert CLOSED == [1000]

        def test_echo_blocking(ws_connect, io_loop, base_url):
            conn = ws_connect("ws" + base_url[4:] + "/echo")
            async def exchange():
                await conn.write_message("there")
                return await conn.read_message()
            assert io_loop.run_sync(exchange) == "echo: there"

        def test_left_open_is_closed_at_teardown():
            # the blocking test left its connection open: the fixture closed it normally
            assert CLOSED == [1000, 1000]

        async def test_bad_path_raises(ws_connect):
            with pytest.raises(dualweb.websocket.WebSocketError, match="404"):
                await ws_connect("/nope")
    """))
    result = pytester.runpytest_subprocess(*plugin_args(), "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
