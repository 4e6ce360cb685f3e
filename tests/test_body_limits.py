"""Request body limits, in the core and in both drivers: max_body_size, gzip bombs, WSGI reads."""

from __future__ import annotations

import gzip
import io
import logging
import resource
import socket
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from dualweb.connection import RequestBodyError
from dualweb.intake import GzipBodyDecoder
from dualweb.web import Application, RequestHandler
from dualweb.wsgi import WSGIAdapter
from tests.wsgi_calls import call_wsgi, wsgi_environ

BOMB_SIZE = 500 * 1024 * 1024  # decompressed


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """About 500 KB of gzip holding 500 MB of zeros (built without holding the 500 MB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(BOMB_SIZE // len(block))]
    parts.append(compressor.flush())
    data = b"".join(parts)
    assert len(data) < 1024 * 1024
    return data


class Sink(RequestHandler):
    def post(self) -> None:
        self.write(f"got {len(self.request.body)}")


def _app() -> Application:
    return Application([(r"/sink", Sink)])


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_gzip_bomb_is_refused_with_memory_flat(client_for: Any, bomb: bytes) -> None:
    client = client_for(_app(), decompress_request=True, max_body_size=1_000_000)
    before = _max_rss_mb()
    resp = client.post("/sink", body=bomb, headers={"Content-Encoding": "gzip"})
    assert resp.status == 413
    # Decoding stopped at the limit: the process never came near the 500 MB.
    assert _max_rss_mb() - before < 100


def test_gzip_within_the_limit_is_decoded(client_for: Any) -> None:
    client = client_for(_app(), decompress_request=True, max_body_size=1_000_000)
    body = gzip.compress(b"a" * 999_000)
    resp = client.post("/sink", body=body, headers={"Content-Encoding": "gzip"})
    assert (resp.status, resp.text) == (200, "got 999000")
    bad = client.post("/sink", body=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert bad.status == 400


def test_decoder_limits_each_step() -> None:
    decoder = GzipBodyDecoder(limit=100_000, piece_size=4096)
    data = gzip.compress(bytes(10_000_000))
    with pytest.raises(RequestBodyError) as info:
        for i in range(0, len(data), 1000):
            for piece in decoder.decode(data[i : i + 1000]):
                assert len(piece) <= 4096
    assert info.value.status_code == 413
    truncated = GzipBodyDecoder(limit=1000)
    truncated.decode(gzip.compress(b"abc")[:-4])
    with pytest.raises(RequestBodyError) as info:
        truncated.finish()
    assert info.value.status_code == 400


def test_max_body_size_in_both_drivers(client_for: Any) -> None:
    client = client_for(_app(), max_body_size=1000)
    assert client.post("/sink", body=b"x" * 1000).text == "got 1000"
    assert client.post("/sink", body=b"x" * 1001).status == 413


# -- the WSGI adapter's own reading -------------------------------------------------------


class NeverRead(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the adapter read a body it should have refused")


class Endless(io.RawIOBase):
    """A body without a length that never ends: counts what was read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else size
        self.read_bytes += size
        return b"x" * size


def _environ(**extra: Any) -> dict[str, Any]:
    return wsgi_environ("POST", "/sink", **extra)


def test_wsgi_refuses_from_content_length_without_reading() -> None:
    adapter = WSGIAdapter(_app())  # default limit: 100 MiB, as natively
    environ = _environ(CONTENT_LENGTH=str(300 * 1024 * 1024), **{"wsgi.input": NeverRead()})
    status, _, _ = call_wsgi(adapter, environ)
    assert status.startswith("413")
    small = WSGIAdapter(_app(), max_body_size=10)
    status, _, _ = call_wsgi(small, _environ(CONTENT_LENGTH="11", **{"wsgi.input": NeverRead()}))
    assert status.startswith("413")


def test_wsgi_bounded_read_without_a_length() -> None:
    adapter = WSGIAdapter(_app(), max_body_size=200_000)
    stream = Endless()
    environ = _environ(**{"wsgi.input": stream, "wsgi.input_terminated": True})
    status, _, _ = call_wsgi(adapter, environ)
    assert status.startswith("413")
    assert stream.read_bytes <= 200_000 + 65536


def test_wsgi_reads_a_terminated_body_without_length() -> None:
    adapter = WSGIAdapter(_app())
    environ = _environ(**{"wsgi.input": io.BytesIO(b"y" * 70_000), "wsgi.input_terminated": True})
    assert call_wsgi(adapter, environ)[2] == b"got 70000"


# -- a handler's own Content-Length must match its body -------------------------------------


class WrongLength(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Length", "100")
        self.write("short")


def test_mismatched_content_length_under_wsgi_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    adapter = WSGIAdapter(Application([(r"/wrong", WrongLength)]))
    environ = _environ(REQUEST_METHOD="GET", PATH_INFO="/wrong", **{"wsgi.input": io.BytesIO()})
    with caplog.at_level(logging.ERROR):
        status, headers, body = call_wsgi(adapter, environ)
    assert status.startswith("500")
    assert headers["Content-Length"] == str(len(body))
    assert "Content-Length 100 does not match the 5-byte body of GET /wrong" in caplog.text


def test_mismatched_content_length_natively_closes(native_client_for: Any) -> None:
    client = native_client_for(Application([(r"/wrong", WrongLength)]))
    with socket.create_connection(("127.0.0.1", client.port), timeout=5) as sock:
        request = b"GET /wrong HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(request + request)
        data = b"".join(_read_all(sock))
    # One (short) response, then the connection is closed: never a second one out of step.
    assert data.count(b"HTTP/1.1 200") == 1
    assert data.endswith(b"short")


def _read_all(sock: socket.socket) -> Iterator[bytes]:
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return
        yield chunk
