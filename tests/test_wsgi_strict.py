"""Under WSGIAdapter, what cannot work says so: loop callbacks, flush rules, streaming verbs."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from dualweb.ioloop import IOLoop
from dualweb.web import Application, RequestHandler, stream_request_body
from tests.harness import LoopThread


class Scheduler(RequestHandler):
    def get(self, how: str) -> None:
        loop = IOLoop.current()
        if how == "add_callback":
            loop.add_callback(print, "later")
        elif how == "spawn_callback":
            loop.spawn_callback(print, "later")
        elif how == "call_later":
            loop.call_later(0.01, print, "later")
        self.write(f"scheduled {how}")


@pytest.mark.parametrize("how", ["add_callback", "spawn_callback", "call_later"])
def test_loop_callbacks_raise_under_wsgi(
    client_for: Any, mode: str, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(Application([(r"/s/(\w+)", Scheduler)]))
    with caplog.at_level(logging.ERROR):
        resp = client.get(f"/s/{how}")
    if mode == "native":
        assert (resp.status, resp.text) == (200, f"scheduled {how}")
        return
    assert resp.status == 500
    assert f"IOLoop.{how}() was called during a request" in caplog.text
    assert "are disabled under WSGIAdapter" in caplog.text


def test_handing_work_to_a_running_loop_in_another_thread_still_works(client_for: Any) -> None:
    running = LoopThread()
    io_loop = running.call(IOLoop.current)
    ran = threading.Event()

    class Handoff(RequestHandler):
        def get(self) -> None:
            io_loop.add_callback(ran.set)
            self.write("handed off")

    try:
        assert client_for(Application([(r"/h", Handoff)])).get("/h").text == "handed off"
        assert ran.wait(5)
    finally:
        running.close()


class Flushing(RequestHandler):
    def get(self, what: str) -> None:
        self.set_status(201)
        self.set_header("X-Early", "yes")
        self.write("first part;")
        self.flush()
        if what == "redirect":
            self.redirect("/elsewhere")
        elif what == "raise":
            raise ValueError("after flush")
        self.write("second part")


def test_flush_commits_the_head_in_both_drivers(client_for: Any) -> None:
    client = client_for(Application([(r"/f/(\w+)", Flushing)]))
    ok = client.get("/f/ok")
    assert (ok.status, ok.headers["X-Early"], ok.text) == (201, "yes", "first part;second part")


@pytest.mark.parametrize("what", ["redirect", "raise"])
def test_after_flush_an_error_ends_the_response(
    client_for: Any, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(Application([(r"/f/(\w+)", Flushing)]))
    with caplog.at_level(logging.ERROR):
        resp = client.get(f"/f/{what}")
    # No fresh error page: the committed status and what was flushed.
    assert resp.status == 201
    assert resp.headers["X-Early"] == "yes"
    assert resp.text == "first part;"
    expected = "Cannot redirect after headers have been written" if what == "redirect" else (
        "after flush"
    )
    assert expected in caplog.text


@stream_request_body
class UploadOnly(RequestHandler):
    def data_received(self, chunk: bytes) -> None:
        pass

    def put(self) -> None:
        self.write("stored")


def test_streaming_route_without_get_answers_405_in_both_drivers(
    client_for: Any, mode: str
) -> None:
    app = Application([(r"/up", UploadOnly)])
    if mode == "wsgi":
        with pytest.warns(Warning, match="UploadOnly uses @stream_request_body"):
            client = client_for(app)
    else:
        client = client_for(app)
    resp = client.get("/up")
    assert resp.status == 405
    assert resp.headers["Allow"] == "PUT"
