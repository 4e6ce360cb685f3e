"""Serving files from a directory: :class:`StaticFileHandler`.

Theory of operation
-------------------

``get(path)`` maps the URL path to a file with three overridable steps,
:meth:`~StaticFileHandler.parse_url_path`,
:meth:`~StaticFileHandler.get_absolute_path` and
:meth:`~StaticFileHandler.validate_absolute_path`. The last one is the
security boundary: the *resolved* path (symlinks followed) must lie inside
the resolved root, and path segments with NUL or backslashes are refused,
so no request can read a file outside the root (403), whatever its
encoding. It then sets the validators (``Etag`` from a content hash,
``Last-Modified``), answers conditional requests with ``304``, applies a
single ``Range`` (``206``, or ``416`` when unsatisfiable), and sends the
body:

* files up to one chunk (64 KiB) are read and written synchronously with
  the head, so a plain request never creates a coroutine;
* larger files are handed to the connection with
  :meth:`~dualweb.connection.HTTPConnection.send_file` after the head:
  natively over plain TCP the kernel copies them into the socket
  (``os.sendfile``), and a coroutine waits only when the socket is full;
  under TLS they are copied in 256 KiB chunks with back-pressure. Under
  WSGI the file goes back to the server through its ``wsgi.file_wrapper``
  (gunicorn then uses ``sendfile``), or is read block by block as the
  server iterates. Memory stays flat whatever the file size, and the file
  is closed when it is sent or when the client goes away;
* a subclass that overrides :meth:`~StaticFileHandler.get_content`, or an
  application with output transforms (``compress_response``), gets the
  chunks of ``get_content`` written one by one (natively waiting on each
  ``flush()``), since those bytes are not a plain file or must be
  transformed.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import mimetypes
import os
import stat
import threading
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, BinaryIO, ClassVar, TypeVar

from werkzeug.http import parse_date, parse_range_header

from dualweb.connection import COMPLETED
from dualweb.httputil import format_timestamp
from dualweb.log import gen_log
from dualweb.web.errors import HTTPError
from dualweb.web.handler import RequestHandler

__all__ = ["StaticFileHandler"]

_CHUNK_SIZE = 64 * 1024
_T = TypeVar("_T")
# Types whose charset a browser would otherwise guess.
_CHARSET_TYPES = frozenset(("application/javascript", "application/json", "image/svg+xml"))
_UNSAFE_IN_PATH = ("\x00", "\\")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class StaticFileHandler(RequestHandler):
    """Serve the files of a directory, with caching validators and byte ranges.

    Applications get one automatically for the ``static_path`` setting
    (under ``static_url_prefix``, default ``/static/``, plus
    ``/favicon.ico`` and ``/robots.txt``); map more directories yourself::

        (r"/content/(.*)", StaticFileHandler, {"path": "/var/www"})

    The route must capture one group: the file's path below ``path``.
    Override the hooks (:meth:`get_absolute_path`,
    :meth:`validate_absolute_path`, :meth:`get_content`,
    :meth:`get_content_version`, :meth:`get_cache_time`,
    :meth:`set_extra_headers`, ...) to serve from elsewhere or change the
    caching policy.

    Args (rule keyword arguments, received by :meth:`initialize`):
        path: the root directory.
        default_filename: the file served for a directory (e.g.
            ``"index.html"``); directories are refused (403) without it.
    """

    #: ``max-age`` in seconds for versioned (``?v=``) URLs: ten years.
    CACHE_MAX_AGE = 86400 * 365 * 10
    #: Larger files are not hashed (hashing blocks the loop): they get no version.
    MAX_VERSION_CONTENT_SIZE = 64 * 1024 * 1024
    #: How many content hashes are kept (least recently used dropped first).
    MAX_CACHED_VERSIONS = 10000

    _static_hashes: ClassVar[dict[str, str | None]] = {}
    _lock = threading.Lock()
    _root_forms: ClassVar[dict[str, tuple[str, str]]] = {}

    root: str
    default_filename: str | None
    path: str
    absolute_path: str | None
    modified: datetime.datetime | None
    _stat_result: os.stat_result | None

    def initialize(self, path: str, default_filename: str | None = None) -> None:
        """Remember the root directory ``path`` and the ``default_filename`` for directories."""
        self.root = path
        self.default_filename = default_filename
        self.absolute_path = None
        self._stat_result = None

    @classmethod
    def reset(cls) -> None:
        """Forget the cached content hashes (used by ``static_url`` and the ``Etag``)."""
        with cls._lock:
            cls._static_hashes = {}

    # -- the request ---------------------------------------------------------

    def head(self, path: str) -> Awaitable[None] | None:
        """Answer like :meth:`get`, without the body (same headers and ``Content-Length``)."""
        return self.get(path, include_body=False)

    def get(self, path: str, include_body: bool = True) -> Awaitable[None] | None:
        """Serve the file at ``path`` (the route's captured group).

        Returns ``None`` when the response was produced synchronously, or a
        coroutine streaming a large file (natively). A subclass overriding
        ``get`` may ``await super().get(path)`` natively or call it plainly
        under WSGI.

        Raises:
            HTTPError: 403 for paths outside the root or that are not files,
                404 for missing files.
        """
        self.path = self.parse_url_path(path)
        del path
        absolute_path = self.get_absolute_path(self.root, self.path)
        self.absolute_path = self.validate_absolute_path(self.root, absolute_path)
        if self.absolute_path is None:
            return self._done()
        self.modified = self.get_modified_time()
        self.set_headers()
        if self.should_return_304():
            self.set_status(304)
            return self._done()
        span = self._requested_span()
        if span is None:
            return self._done()
        start, end = span
        self.set_header("Content-Length", end - start)
        if not include_body or start == end:
            return self._done()
        connection = self.request.connection
        if end - start > _CHUNK_SIZE and connection is not None:
            if self._plain_file_body():
                return self._send_file(start, end)
            if connection.supports_async:
                return self._stream(self.get_content(self.absolute_path, start, end))
        content = self.get_content(self.absolute_path, start, end)
        if isinstance(content, bytes):
            self.write(content)
        else:
            for chunk in content:
                self.write(chunk)
        return self._done()

    def _done(self) -> Awaitable[None] | None:
        # Called directly by the application: None keeps the request synchronous.
        # Called through super() from an overriding get() that may await it:
        # return something awaitable (natively; under WSGI nothing may be awaited).
        if type(self).get is _BASE_GET:
            return None
        connection = self.request.connection
        if connection is None or not connection.supports_async:
            return None
        return COMPLETED

    def _requested_span(self) -> tuple[int, int] | None:
        """Return ``(start, end)`` of the bytes to send; ``None`` after answering 416."""
        size = self.get_content_size()
        header = self.request.headers.get("Range")
        if not header:
            return 0, size
        parsed = parse_range_header(header)
        if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
            # Malformed or multi-range requests get the whole file, as RFC 9110 allows.
            return 0, size
        first = parsed.ranges[0][0]
        if first < 0 and size:
            # A suffix longer than the file means all of it (RFC 9110, 14.1.2).
            span: tuple[int, int] | None = (max(size + first, 0), size)
        else:
            span = parsed.range_for_length(size)
        if span is None:
            self.set_status(416)
            self.set_header("Content-Type", "text/plain")
            self.set_header("Content-Range", f"bytes */{size}")
            return None
        start, end = span
        if end - start != size:
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        return start, end

    def _plain_file_body(self) -> bool:
        """Whether the body is the file's bytes as they are (the connection may send the file)."""
        get_content = type(self).get_content
        return (
            getattr(get_content, "__func__", None) is _BASE_GET_CONTENT
            and not self.application.transforms
        )

    def _send_file(self, start: int, end: int) -> Awaitable[None] | None:
        """Send the head, then bytes ``start`` to ``end`` of the file with ``send_file``."""
        assert self.absolute_path is not None
        connection = self.request.connection
        assert connection is not None
        file = _file_op(_open_binary, self.absolute_path)
        try:
            self.flush()
        except BaseException:
            file.close()
            raise
        sent = connection.send_file(file, start, end - start)
        if not connection.supports_async or _already_done(sent):
            return self._done()
        return self._wait_sent(sent)

    @staticmethod
    async def _wait_sent(sent: Awaitable[None]) -> None:
        from dualweb.iostream import StreamClosedError

        try:
            await sent
        except StreamClosedError:
            # The client went away; send_file closed the file. The request
            # ends through finish(), which a response cut short accepts.
            return

    @staticmethod
    def _file_chunks(abspath: str, start: int, end: int) -> Generator[bytes, None, None]:
        # A raw descriptor and pread: no buffered file object, no seek.
        fd = _file_op(_open_for_reading, abspath)
        try:
            position = start
            while position < end:
                chunk = os.pread(fd, min(_CHUNK_SIZE, end - position), position)
                if not chunk:
                    return  # the file shrank under us
                position += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def _stream(self, content: bytes | Iterable[bytes]) -> None:
        from dualweb.iostream import StreamClosedError

        if isinstance(content, bytes):
            content = [content]
        try:
            for chunk in content:
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            # The client went away: stop reading the file. The request still
            # ends through finish(), which a response cut short accepts.
            return
        finally:
            close = getattr(content, "close", None)
            if close is not None:
                close()

    # -- headers and validators ---------------------------------------------

    def set_headers(self) -> None:
        """Set ``Accept-Ranges``, ``Etag``, ``Last-Modified``, ``Content-Type``, cache headers."""
        self.set_header("Accept-Ranges", "bytes")
        self.set_etag_header()
        if self.modified is not None:
            self.set_header("Last-Modified", _http_date(self.modified))
        content_type = self.get_content_type()
        if content_type:
            self.set_header("Content-Type", content_type)
        cache_time = self.get_cache_time(self.path, self.modified, content_type)
        if cache_time > 0:
            expires = datetime.datetime.now(datetime.timezone.utc)
            self.set_header("Expires", expires + datetime.timedelta(seconds=cache_time))
            self.set_header("Cache-Control", f"max-age={cache_time}")
        self.set_extra_headers(self.path)

    def should_return_304(self) -> bool:
        """Whether the client's copy is current (``If-None-Match``, else ``If-Modified-Since``)."""
        headers = self.request.headers
        if headers.get("If-None-Match"):
            return self.check_etag_header()
        since = headers.get("If-Modified-Since")
        if since is None or self.modified is None:
            return False
        when = parse_date(since)
        return when is not None and when >= self.modified

    def compute_etag(self) -> str | None:
        """The ``Etag``: the content hash of the file (see :meth:`get_content_version`)."""
        if self.absolute_path is None:
            return None
        version = self._version_of(self.absolute_path, self.settings.get("static_hash_cache", True))
        return f'"{version}"' if version else None

    def get_content_type(self) -> str:
        """The ``Content-Type`` guessed from the file name (``charset=UTF-8`` for text)."""
        assert self.absolute_path is not None
        return _content_type(os.path.basename(self.absolute_path))

    def set_extra_headers(self, path: str) -> None:
        """Override to add headers to every file response (``path`` as in the URL)."""

    def get_cache_time(
        self, path: str, modified: datetime.datetime | None, mime_type: str
    ) -> int:
        """Seconds the client may cache the file without asking: :attr:`CACHE_MAX_AGE`
        for versioned URLs (with a ``v`` argument), else 0 (always revalidate).
        """
        return self.CACHE_MAX_AGE if "v" in self.request.arguments else 0

    # -- files --------------------------------------------------------------

    def parse_url_path(self, url_path: str) -> str:
        """Turn the URL's path into a relative file path (``/`` → ``os.sep``)."""
        if os.sep != "/":
            url_path = url_path.replace("/", os.sep)
        return url_path

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        """Return the absolute path of ``path`` below ``root`` (not yet validated)."""
        return os.path.abspath(os.path.join(root, path))

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        """Check that ``absolute_path`` may be served; return the file to serve, or ``None``.

        The path, with symlinks resolved, must be inside the resolved
        ``root``. A directory is served through ``default_filename``; a
        directory URL without its trailing slash is redirected (301) to the
        URL with one, and ``None`` is returned.

        Raises:
            HTTPError: 403 outside the root, for NUL or backslash in the
                path, or for something that is not a regular file; 404 when
                it does not exist.
        """
        if any(bad in absolute_path for bad in _UNSAFE_IN_PATH):
            raise HTTPError(403, "%r contains a forbidden character", self.path)
        info = self._stat_inside(root, absolute_path)
        if stat.S_ISDIR(info.st_mode) and self.default_filename is not None:
            request_path = self.request.path
            if not request_path.endswith("/"):
                if request_path.startswith("//"):
                    raise HTTPError(403, "cannot redirect a path starting with //")
                self.redirect(request_path + "/", permanent=True)
                return None
            absolute_path = os.path.join(absolute_path, self.default_filename)
            info = self._stat_inside(root, absolute_path)
        if not stat.S_ISREG(info.st_mode):
            raise HTTPError(403, "%s is not a file", self.path)
        self._stat_result = info
        return absolute_path

    def _stat_inside(self, root: str, absolute_path: str) -> os.stat_result:
        """``os.stat`` of ``absolute_path``; HTTPError unless it resolves to a path inside root.

        Walks the components below the root with ``lstat`` (for a file
        directly in the root: one system call, whose result is the file's
        stat); only when a component is a symlink is the full resolved path
        computed and checked.
        """
        lexical_root, real_root = self._roots(root)
        if absolute_path.startswith(lexical_root + os.sep):
            relative = absolute_path[len(lexical_root) + 1 :]
        elif absolute_path == lexical_root:
            relative = ""
        else:
            raise HTTPError(403, "%s is not in the static root directory", self.path)
        current = real_root
        info = None
        for part in relative.split(os.sep):
            if not part:
                continue
            current = current + os.sep + part
            info = _file_op(os.lstat, current)
            if stat.S_ISLNK(info.st_mode):
                real = os.path.realpath(absolute_path)
                if not real.startswith(real_root + os.sep):
                    raise HTTPError(403, "%s is not in the static root directory", self.path)
                return _file_op(os.stat, real)
        return info if info is not None else _file_op(os.stat, real_root)

    @classmethod
    def _roots(cls, root: str) -> tuple[str, str]:
        """``(absolute, resolved)`` forms of ``root``, cached."""
        roots = cls._root_forms.get(root)
        if roots is None:
            roots = cls._root_forms[root] = (os.path.abspath(root), os.path.realpath(root))
        return roots

    def _stat(self) -> os.stat_result:
        if self._stat_result is None:
            assert self.absolute_path is not None
            self._stat_result = _file_op(os.stat, self.absolute_path)
        return self._stat_result

    def get_content_size(self) -> int:
        """The size in bytes of the file being served."""
        return self._stat().st_size

    def get_modified_time(self) -> datetime.datetime | None:
        """When the file was last modified (UTC, whole seconds), for ``Last-Modified``."""
        return datetime.datetime.fromtimestamp(int(self._stat().st_mtime), datetime.timezone.utc)

    @classmethod
    def get_content(
        cls, abspath: str, start: int | None = None, end: int | None = None
    ) -> Generator[bytes, None, None]:
        """Yield the bytes of ``abspath`` from ``start`` to ``end`` (exclusive), in 64 KiB chunks.

        Override to serve content that is not a plain file; returning one
        ``bytes`` object is also accepted. The file is open only while the
        generator runs, and closed when it is closed.
        """
        if end is None:
            end = os.stat(abspath).st_size
        return cls._file_chunks(abspath, start or 0, end)

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        """The version string of a file: the SHA-512 hex digest of its content.

        The hash is computed synchronously (on the event loop, natively), so
        content over :attr:`MAX_VERSION_CONTENT_SIZE` is not hashed: such
        files get no version (no ``?v=``, no ``Etag``; ``Last-Modified``
        still validates them).

        Raises:
            ValueError: the content is larger than ``MAX_VERSION_CONTENT_SIZE``.
            OSError: the file cannot be read.
        """
        data = cls.get_content(abspath)
        chunks: Iterable[bytes] = [data] if isinstance(data, bytes) else data
        hasher = hashlib.sha512()
        size = 0
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > cls.MAX_VERSION_CONTENT_SIZE:
                    raise ValueError(
                        f"{abspath} is larger than MAX_VERSION_CONTENT_SIZE "
                        f"({cls.MAX_VERSION_CONTENT_SIZE} bytes)"
                    )
                hasher.update(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # closes the file now when the hash stopped early
        return hasher.hexdigest()

    @classmethod
    def _version_of(cls, abspath: str, use_cache: bool = True) -> str | None:
        if use_cache:
            with cls._lock:
                hashes = cls._static_hashes
                if abspath in hashes:
                    # Move it to the most recently used end.
                    version = hashes[abspath] = hashes.pop(abspath)
                    return version
        try:
            version = cls.get_content_version(abspath)
        except ValueError as exc:
            gen_log.debug("No version for static file: %s", exc)
            version = None
        except Exception as exc:
            gen_log.error("Could not open static file %r: %s", abspath, exc)
            version = None
        if use_cache:
            with cls._lock:
                hashes = cls._static_hashes
                hashes[abspath] = version
                while len(hashes) > cls.MAX_CACHED_VERSIONS:
                    del hashes[next(iter(hashes))]  # the least recently used
        return version

    # -- URLs ---------------------------------------------------------------

    @classmethod
    def make_static_url(
        cls, settings: dict[str, Any], path: str, include_version: bool = True
    ) -> str:
        """Return the URL of ``path`` under ``static_url_prefix``, with ``?v=<hash>`` by default.

        The version is omitted when ``include_version`` is false or the file
        cannot be read (an error is logged).
        """
        url: str = settings.get("static_url_prefix", "/static/") + path
        if not include_version:
            return url
        version = cls.get_version(settings, path)
        return f"{url}?v={version}" if version else url

    @classmethod
    def get_version(cls, settings: dict[str, Any], path: str) -> str | None:
        """Return the version hash of the static file ``path``, or ``None`` if unreadable.

        Files outside ``static_path`` have no version (and an error is logged).
        """
        root = settings["static_path"]
        abspath = cls.get_absolute_path(root, path)
        real_root = cls._roots(root)[1]
        if not os.path.realpath(abspath).startswith(real_root + os.sep):
            gen_log.error("static_url: %r is not inside static_path %r", path, root)
            return None
        return cls._version_of(abspath, settings.get("static_hash_cache", True))


_BASE_GET = StaticFileHandler.get
_BASE_GET_CONTENT = StaticFileHandler.get_content.__func__  # type: ignore[attr-defined]


def _already_done(sent: Awaitable[None]) -> bool:
    """Whether a future from ``send_file`` has completed (a failure is marked retrieved)."""
    done = getattr(sent, "done", None)
    if done is None or not done():
        return False
    exception = getattr(sent, "exception", None)
    if exception is not None:
        try:
            exception()  # the client is gone: finish() copes, nothing to report
        except BaseException:  # a cancelled future raises here
            pass
    return True


def _file_op(operation: Callable[[str], _T], path: str) -> _T:
    """Run a file system call, turning its failures into 404 (missing) or 403 (anything else)."""
    try:
        return operation(path)
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404) from None
    except (OSError, ValueError):
        # Unreadable, or a name the OS rejects (too long, NUL, ...).
        raise HTTPError(403) from None


def _open_for_reading(path: str) -> int:
    return os.open(path, _OPEN_FLAGS)


def _open_binary(path: str) -> BinaryIO:
    # Unbuffered: the connection reads with pread or sendfile, never through a buffer.
    return open(path, "rb", buffering=0)


@functools.lru_cache(maxsize=1024)
def _content_type(file_name: str) -> str:
    # Cached by name: mimetypes' lookup costs more than the rest of the headers.
    mime_type, encoding = mimetypes.guess_type(file_name)
    if encoding == "gzip":
        return "application/gzip"
    if encoding is not None or mime_type is None:
        # A compressed file is served as it is, not as what it decompresses to.
        return "application/octet-stream"
    if mime_type.startswith("text/") or mime_type in _CHARSET_TYPES:
        return mime_type + "; charset=UTF-8"
    return mime_type


@functools.lru_cache(maxsize=512)
def _http_date(when: datetime.datetime) -> str:
    # Files keep their modification time: format each one once, not per request.
    return format_timestamp(when)

