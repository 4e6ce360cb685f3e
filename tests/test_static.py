"""Static files: StaticFileHandler, the static_* settings and static_url, in both modes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Generator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from dualweb.web import Application, RequestHandler, StaticFileHandler
from tests.harness import wait_until
from tests.support import Client, Response

SECRET = b"top secret, outside the root\n"
TEXT = b"hello static world\n"
CHANGED = b"changed\n"
BIG = bytes(range(256)) * 1200  # 300 KiB: streamed in chunks natively


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``tmp_path/root`` with a few files; ``tmp_path/secret.txt`` lies outside it."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    base = tmp_path / "root"
    (base / "sub" / "deeper").mkdir(parents=True)
    (base / "hello.txt").write_bytes(TEXT)
    (base / "big.bin").write_bytes(BIG)
    (base / "empty.txt").write_bytes(b"")
    (base / "app.js").write_bytes(b"console.log(1);\n")
    (base / "pic.png").write_bytes(b"\x89PNG fake")
    (base / "data.json.gz").write_bytes(b"\x1f\x8b fake")
    (base / "sub" / "index.html").write_bytes(b"<p>index</p>")
    (base / "sub" / "deeper" / "note.txt").write_bytes(b"deep\n")
    (base / "favicon.ico").write_bytes(b"icon")
    (base / "robots.txt").write_bytes(b"User-agent: *\n")
    os.symlink(tmp_path / "secret.txt", base / "escape.txt")
    os.symlink(tmp_path, base / "escape-dir")
    os.symlink(base / "hello.txt", base / "inside-link.txt")
    return base


@pytest.fixture
def client(client_for: Callable[..., Client], root: Path) -> Client:
    return client_for(Application(static_path=str(root)))


def assert_not_leaked(response: Response) -> None:
    assert response.status in (400, 403, 404), response
    assert SECRET not in response.body


# -- plain GET ------------------------------------------------------------------


def test_get_text_file(client: Client, root: Path) -> None:
    response = client.get("/static/hello.txt")
    assert response.status == 200
    assert response.body == TEXT
    headers = response.headers
    assert headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert headers["Content-Length"] == str(len(TEXT))
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Etag"] == f'"{sha512(TEXT)}"'
    mtime = int((root / "hello.txt").stat().st_mtime)
    assert headers["Last-Modified"] == formatdate(mtime, usegmt=True)
    assert "Cache-Control" not in headers  # unversioned URL: always revalidate


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("pic.png", "image/png"),
        ("app.js", ("application/javascript; charset=UTF-8", "text/javascript; charset=UTF-8")),
        ("sub/index.html", "text/html; charset=UTF-8"),
        ("data.json.gz", "application/gzip"),
        ("big.bin", "application/octet-stream"),
    ],
)
def test_content_type(client: Client, name: str, content_type: str | tuple[str, ...]) -> None:
    response = client.get("/static/" + name)
    assert response.status == 200
    expected = (content_type,) if isinstance(content_type, str) else content_type
    assert response.headers["Content-Type"] in expected


def test_large_file_complete(client: Client) -> None:
    response = client.get("/static/big.bin")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(BIG))
    assert response.body == BIG


def test_empty_file(client: Client) -> None:
    response = client.get("/static/empty.txt")
    assert (response.status, response.body) == (200, b"")
    assert response.headers["Content-Length"] == "0"


def test_nested_file_and_symlink_inside_root(client: Client) -> None:
    assert client.get("/static/sub/deeper/note.txt").body == b"deep\n"
    assert client.get("/static/inside-link.txt").body == TEXT


def test_favicon_and_robots(client: Client) -> None:
    assert client.get("/favicon.ico").body == b"icon"
    assert client.get("/robots.txt").body == b"User-agent: *\n"


@pytest.mark.parametrize("name", ["hello.txt", "big.bin", "empty.txt"])
def test_head_has_get_headers_without_body(client: Client, name: str) -> None:
    get = client.get("/static/" + name)
    head = client.head("/static/" + name)
    assert head.status == 200
    assert head.body == b""

    def comparable(response: Response) -> list[tuple[str, str]]:
        return sorted((k, v) for k, v in response.header_list if k.lower() != "date")

    assert comparable(head) == comparable(get)


def test_missing_file_404(client: Client) -> None:
    assert client.get("/static/nope.txt").status == 404
    assert client.get("/static/sub/nope/deeper.txt").status == 404
    assert client.get("/static/hello.txt/more").status == 404


def test_directory_without_default_filename_403(client: Client) -> None:
    assert client.get("/static/sub").status == 403
    assert client.get("/static/sub/").status == 403
    assert client.get("/static/").status == 403


# -- traversal ------------------------------------------------------------------

TRAVERSALS = [
    "/static/../secret.txt",
    "/static/sub/../../secret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%2Fsecret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/sub/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/static/..%5csecret.txt",
    "/static/..\\secret.txt",
    "/static/sub\\..\\..\\secret.txt",
    "/static/%00../secret.txt",
    "/static/hello.txt%00",
    "/static/hello.txt%00.png",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/escape.txt",
    "/static/escape-dir/secret.txt",
    "/static/escape-dir/root/hello.txt/../../secret.txt",
    "/static/" + "a" * 5000,
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_refused(client: Client, path: str) -> None:
    assert_not_leaked(client.get(path))
    assert_not_leaked(client.head(path))


def test_traversal_log_names_the_path(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="dualweb.general"):
        assert client.get("/static/..%2fsecret.txt").status == 403
    assert "../secret.txt is not in the static root directory" in caplog.text


def test_explicit_route_with_default_filename(
    client_for: Callable[..., Client], root: Path
) -> None:
    app = Application(
        [(r"/files/(.*)", StaticFileHandler, {"path": str(root), "default_filename": "index.html"})]
    )
    client = client_for(app)
    assert client.get("/files/sub/").body == b"<p>index</p>"
    redirect = client.get("/files/sub")
    assert redirect.status == 301
    assert redirect.headers["Location"] == "/files/sub/"
    assert client.get("/files/hello.txt").body == TEXT
    assert_not_leaked(client.get("/files/../secret.txt"))
    assert_not_leaked(client.get("/files/escape-dir/"))


def test_double_slash_directory_is_not_redirected(
    client_for: Callable[..., Client], root: Path
) -> None:
    # Redirecting "//sub" to "//sub/" would send the browser to the host "sub".
    app = Application(
        [(r"/(.*)", StaticFileHandler, {"path": str(root), "default_filename": "index.html"})]
    )
    response = client_for(app).get("//sub")
    assert response.status in (403, 404)
    assert "Location" not in response.headers


# -- conditional requests ---------------------------------------------------------


def test_if_none_match(client: Client) -> None:
    etag = client.get("/static/hello.txt").headers["Etag"]
    for value in (etag, "W/" + etag, "*", f'"other", {etag}'):
        response = client.get("/static/hello.txt", headers={"If-None-Match": value})
        assert response.status == 304, value
        assert response.body == b""
        assert response.headers["Etag"] == etag
    other = client.get("/static/hello.txt", headers={"If-None-Match": '"other"'})
    assert (other.status, other.body) == (200, TEXT)


def test_if_modified_since(client: Client, root: Path) -> None:
    mtime = int((root / "hello.txt").stat().st_mtime)
    for when, status in ((mtime, 304), (mtime + 60, 304), (mtime - 60, 200)):
        headers = {"If-Modified-Since": formatdate(when, usegmt=True)}
        assert client.get("/static/hello.txt", headers=headers).status == status, when
    garbage = client.get("/static/hello.txt", headers={"If-Modified-Since": "yesterday"})
    assert garbage.status == 200


def test_if_none_match_takes_precedence(client: Client, root: Path) -> None:
    mtime = int((root / "hello.txt").stat().st_mtime)
    headers = {"If-None-Match": '"other"', "If-Modified-Since": formatdate(mtime, usegmt=True)}
    assert client.get("/static/hello.txt", headers=headers).status == 200


def test_head_conditional(client: Client) -> None:
    etag = client.head("/static/big.bin").headers["Etag"]
    assert client.head("/static/big.bin", headers={"If-None-Match": etag}).status == 304


# -- ranges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=5-", 5, len(TEXT)),
        ("bytes=-3", len(TEXT) - 3, len(TEXT)),
        ("bytes=3-3", 3, 4),
        ("bytes=2-100000", 2, len(TEXT)),
    ],
)
def test_single_range(client: Client, header: str, start: int, end: int) -> None:
    response = client.get("/static/hello.txt", headers={"Range": header})
    assert response.status == 206
    assert response.body == TEXT[start:end]
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(TEXT)}"
    assert response.headers["Content-Length"] == str(end - start)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=70000-", 70000, len(BIG)),
        ("bytes=1-250000", 1, 250001),
        ("bytes=-100000", len(BIG) - 100000, len(BIG)),
    ],
)
def test_range_of_large_file(client: Client, header: str, start: int, end: int) -> None:
    response = client.get("/static/big.bin", headers={"Range": header})
    assert response.status == 206
    assert response.body == BIG[start:end]
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(BIG)}"


@pytest.mark.parametrize("header", ["bytes=0-", f"bytes=0-{len(TEXT) - 1}", "bytes=-99999"])
def test_range_covering_everything_is_200(client: Client, header: str) -> None:
    response = client.get("/static/hello.txt", headers={"Range": header})
    assert (response.status, response.body) == (200, TEXT)
    assert "Content-Range" not in response.headers


@pytest.mark.parametrize(
    ("name", "header", "size"),
    [
        ("hello.txt", f"bytes={len(TEXT)}-", len(TEXT)),
        ("hello.txt", "bytes=1000-2000", len(TEXT)),
        ("empty.txt", "bytes=0-", 0),
        ("empty.txt", "bytes=-5", 0),
    ],
)
def test_unsatisfiable_range_416(client: Client, name: str, header: str, size: int) -> None:
    response = client.get("/static/" + name, headers={"Range": header})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert response.body == b""


@pytest.mark.parametrize(
    "header", ["bytes=9-5", "bytes=0-1,3-4", "items=0-1", "bytes=abc", "bytes=-0", "garbage"]
)
def test_malformed_or_multiple_ranges_get_whole_file(client: Client, header: str) -> None:
    response = client.get("/static/hello.txt", headers={"Range": header})
    assert (response.status, response.body) == (200, TEXT)


def test_head_with_range(client: Client) -> None:
    response = client.head("/static/big.bin", headers={"Range": "bytes=100-199"})
    assert response.status == 206
    assert response.headers["Content-Length"] == "100"
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(BIG)}"
    assert response.body == b""


def test_range_with_matching_etag_is_304(client: Client) -> None:
    etag = client.get("/static/hello.txt").headers["Etag"]
    headers = {"Range": "bytes=0-1", "If-None-Match": etag}
    assert client.get("/static/hello.txt", headers=headers).status == 304


# -- versioned URLs and static_url --------------------------------------------------


class UrlHandler(RequestHandler):
    def get(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.get_argument("noversion", None):
            kwargs["include_version"] = False
        include_host = True if self.get_argument("host", None) else None
        self.write(self.static_url(self.get_argument("path"), include_host, **kwargs))


def test_static_url_has_content_hash(client_for: Callable[..., Client], root: Path) -> None:
    client = client_for(Application([(r"/url", UrlHandler)], static_path=str(root)))
    url = client.get("/url?path=hello.txt").text
    assert url == f"/static/hello.txt?v={sha512(TEXT)}"
    assert client.get("/url?path=hello.txt&noversion=1").text == "/static/hello.txt"
    assert client.get("/url?path=hello.txt&host=1", headers={"Host": "example.test"}).text == (
        f"http://example.test/static/hello.txt?v={sha512(TEXT)}"
    )
    versioned = client.get(url)
    assert versioned.body == TEXT
    assert versioned.headers["Cache-Control"] == f"max-age={StaticFileHandler.CACHE_MAX_AGE}"
    assert "Expires" in versioned.headers


def test_static_url_prefix_setting(client_for: Callable[..., Client], root: Path) -> None:
    app = Application([(r"/url", UrlHandler)], static_path=str(root), static_url_prefix="/assets/")
    client = client_for(app)
    url = client.get("/url?path=sub/deeper/note.txt").text
    assert url.startswith("/assets/sub/deeper/note.txt?v=")
    assert client.get(url).body == b"deep\n"
    assert client.get("/static/hello.txt").status == 404


def test_static_url_for_missing_or_outside_file(
    client_for: Callable[..., Client], root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(Application([(r"/url", UrlHandler)], static_path=str(root)))
    with caplog.at_level(logging.ERROR, logger="dualweb.general"):
        assert client.get("/url?path=nope.css").text == "/static/nope.css"
        assert client.get("/url?path=../secret.txt").text == "/static/../secret.txt"
    assert "Could not open static file" in caplog.text
    assert "not inside static_path" in caplog.text


def test_static_url_without_static_path(client_for: Callable[..., Client]) -> None:
    response = client_for(Application([(r"/url", UrlHandler)])).get("/url?path=a.css")
    assert response.status == 500


def test_static_url_without_static_path_message() -> None:
    from dualweb.httputil import HTTPServerRequest

    handler = UrlHandler(Application(), HTTPServerRequest(method="GET", uri="/"))
    with pytest.raises(Exception, match="static_path"):
        handler.static_url("a.css")


@pytest.mark.parametrize("debug", [False, True])
def test_static_hash_cache(
    client_for: Callable[..., Client], root: Path, debug: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Application, "_start_autoreload", staticmethod(lambda: None))
    StaticFileHandler.reset()
    app = Application([(r"/url", UrlHandler)], static_path=str(root), debug=debug)
    client = client_for(app)
    first = client.get("/url?path=hello.txt").text
    (root / "hello.txt").write_bytes(CHANGED)
    second = client.get("/url?path=hello.txt").text
    etag = client.get("/static/hello.txt").headers["Etag"]
    if debug:  # static_hash_cache=False: every URL and Etag reflects the file now
        assert second == f"/static/hello.txt?v={sha512(CHANGED)}"
        assert etag == f'"{sha512(CHANGED)}"'
    else:
        assert second == first
        StaticFileHandler.reset()
        assert client.get("/url?path=hello.txt").text != first
    StaticFileHandler.reset()


# -- customisation ----------------------------------------------------------------


class ExtraHeaders(StaticFileHandler):
    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Served-Path", path)

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        return 60


def test_static_handler_class_and_args(client_for: Callable[..., Client], root: Path) -> None:
    app = Application(
        static_path=str(root),
        static_handler_class=ExtraHeaders,
        static_handler_args={"default_filename": "index.html"},
    )
    client = client_for(app)
    response = client.get("/static/sub/")
    assert response.body == b"<p>index</p>"
    assert response.headers["X-Served-Path"] == "sub/"
    assert response.headers["Cache-Control"] == "max-age=60"


class Generated(StaticFileHandler):
    """Content that is not a file on disk: get_content/get_content_version overridden."""

    @classmethod
    def get_content(
        cls, abspath: str, start: int | None = None, end: int | None = None
    ) -> Generator[bytes, None, None]:
        data = Path(abspath).read_bytes().upper()
        yield data[start:end]

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        return "fixed-version"


def test_overridden_content_and_version(client_for: Callable[..., Client], root: Path) -> None:
    app = Application([(r"/gen/(.*)", Generated, {"path": str(root)})])
    response = client_for(app).get("/gen/hello.txt")
    assert response.body == TEXT.upper()
    assert response.headers["Etag"] == '"fixed-version"'
    ranged = client_for(app).get("/gen/hello.txt", headers={"Range": "bytes=0-4"})
    assert (ranged.status, ranged.body) == (206, b"HELLO")


class PlainOverride(StaticFileHandler):
    def get(self, path: str, include_body: bool = True) -> Awaitable[None] | None:
        self.set_header("X-Wrapped", "yes")
        return super().get(path, include_body)


def test_plain_get_override(client_for: Callable[..., Client], root: Path) -> None:
    client = client_for(Application([(r"/w/(.*)", PlainOverride, {"path": str(root)})]))
    response = client.get("/w/hello.txt")
    assert (response.status, response.body) == (200, TEXT)
    assert response.headers["X-Wrapped"] == "yes"
    assert client.get("/w/big.bin").body == BIG


class AsyncOverride(StaticFileHandler):
    async def get(self, path: str, include_body: bool = True) -> None:
        await asyncio.sleep(0)
        self.set_header("X-Async", "yes")
        await super().get(path, include_body)


@pytest.mark.parametrize("name", ["hello.txt", "big.bin", "nope.txt"])
def test_async_get_override_natively(
    native_client_for: Callable[..., Client], root: Path, name: str
) -> None:
    client = native_client_for(Application([(r"/a/(.*)", AsyncOverride, {"path": str(root)})]))
    response = client.get("/a/" + name)
    if name == "nope.txt":
        assert response.status == 404
    else:
        assert response.body == (root / name).read_bytes()
        assert response.headers["X-Async"] == "yes"


# -- streaming natively ---------------------------------------------------------------


def _open_fds_to(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            pass
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_file_closed_when_client_goes_away(
    native_client_for: Callable[..., Client], root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    huge = root / "huge.bin"
    huge.write_bytes(b"x" * (32 * 1024 * 1024))
    client = native_client_for(Application(static_path=str(root)))
    port = client.port  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        wait_until(lambda: _open_fds_to(huge), 5)
        assert _open_fds_to(huge) == 1  # the server is stuck on back-pressure, file open
        sock.close()
        wait_until(lambda: not _open_fds_to(huge), 5)
        assert _open_fds_to(huge) == 0
        # The server keeps serving.
        assert client.get("/static/hello.txt").body == TEXT
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- version limits -------------------------------------------------------------------


class SmallVersions(StaticFileHandler):
    MAX_VERSION_CONTENT_SIZE = 1000
    MAX_CACHED_VERSIONS = 2
    _static_hashes: dict[str, str | None] = {}


def test_large_files_get_no_version(client_for: Callable[..., Client], root: Path) -> None:
    app = Application(
        [(r"/url", UrlHandler)], static_path=str(root), static_handler_class=SmallVersions
    )
    client = client_for(app)
    assert client.get("/url?path=big.bin").text == "/static/big.bin"
    response = client.get("/static/big.bin")
    assert response.status == 200
    assert "Etag" not in response.headers
    assert "Last-Modified" in response.headers
    assert client.get("/url?path=hello.txt").text == f"/static/hello.txt?v={sha512(TEXT)}"


def test_version_cache_is_bounded(client_for: Callable[..., Client], root: Path) -> None:
    app = Application(
        [(r"/url", UrlHandler)], static_path=str(root), static_handler_class=SmallVersions
    )
    client = client_for(app)
    first = client.get("/url?path=hello.txt").text
    (root / "hello.txt").write_bytes(b"new\n")
    assert client.get("/url?path=hello.txt").text == first  # cached
    client.get("/url?path=app.js")
    client.get("/url?path=sub/index.html")  # evicts hello.txt, the least recently used
    new_url = f"/static/hello.txt?v={sha512(b'new' + bytes([10]))}"
    assert client.get("/url?path=hello.txt").text == new_url


def test_streamed_file_through_gzip(
    native_client_for: Callable[..., Client], root: Path
) -> None:
    import gzip

    text = b"".join(b"line %d\n" % i for i in range(40000))  # > 64 KiB: streamed in chunks
    (root / "log.txt").write_bytes(text)
    client = native_client_for(Application(static_path=str(root), compress_response=True))
    response = client.get("/static/log.txt", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in response.headers
    assert gzip.decompress(response.body) == text


class Vanishing(StaticFileHandler):
    """The file disappears after validation (a deploy replacing files, say)."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        validated = super().validate_absolute_path(root, absolute_path)
        if validated is not None:
            os.unlink(validated)
        return validated


class OwnValidation(StaticFileHandler):
    """A validate_absolute_path that does not stat (so the handler's stat is the first)."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        return absolute_path


@pytest.mark.parametrize("handler", [Vanishing, OwnValidation])
def test_file_gone_before_reading_is_404(
    client_for: Callable[..., Client], root: Path, handler: type[StaticFileHandler]
) -> None:
    client = client_for(Application([(r"/v/(.*)", handler, {"path": str(root)})]))
    name = "hello.txt" if handler is Vanishing else "missing.txt"
    assert client.get("/v/" + name).status == 404
