"""Output transforms: rewrite responses on their way out (gzip compression).

An application lists transform *classes*; one instance is created per
request (only when the list is not empty) and sees the status, headers and
first chunk, then every later chunk.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dualweb.httputil import HTTPHeaders, HTTPServerRequest

__all__ = ["GZipContentEncoding", "OutputTransform"]


class OutputTransform:
    """Base class of output transforms; the default passes everything through unchanged.

    Args:
        request: the request whose response is transformed.
    """

    __slots__ = ()

    def __init__(self, request: HTTPServerRequest) -> None:
        pass

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        """Transform the status, headers and first body chunk; ``finishing`` if it is the last."""
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        """Transform a later body chunk; ``finishing`` if it is the last."""
        return chunk


class GZipContentEncoding(OutputTransform):
    """Gzip responses for clients that accept it (the ``compress_response`` setting).

    Only text-like content types are compressed, and a complete response
    only when it is at least :attr:`MIN_LENGTH` bytes long. Adds
    ``Vary: Accept-Encoding``.
    """

    CONTENT_TYPES = frozenset(
        (
            "application/javascript",
            "application/x-javascript",
            "application/xml",
            "application/atom+xml",
            "application/json",
            "application/xhtml+xml",
            "image/svg+xml",
        )
    )
    GZIP_LEVEL = 6
    MIN_LENGTH = 1024

    __slots__ = ("_compressor", "_gzipping")

    def __init__(self, request: HTTPServerRequest) -> None:
        self._gzipping = "gzip" in request.headers.get("Accept-Encoding", "")
        self._compressor: zlib._Compress | None = None

    def _compressible_type(self, ctype: str) -> bool:
        return ctype.startswith("text/") or ctype in self.CONTENT_TYPES

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        """Decide whether to compress, set the headers and compress the first chunk."""
        if "Vary" in headers:
            headers["Vary"] += ", Accept-Encoding"
        else:
            headers["Vary"] = "Accept-Encoding"
        if self._gzipping:
            ctype = headers.get("Content-Type", "").split(";")[0].strip()
            self._gzipping = (
                self._compressible_type(ctype)
                and (not finishing or len(chunk) >= self.MIN_LENGTH)
                and "Content-Encoding" not in headers
            )
        if self._gzipping:
            headers["Content-Encoding"] = "gzip"
            # wbits 16+MAX_WBITS makes zlib write the gzip header and trailer.
            self._compressor = zlib.compressobj(self.GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            chunk = self.transform_chunk(chunk, finishing)
            if "Content-Length" in headers:
                if finishing:
                    headers["Content-Length"] = str(len(chunk))
                else:
                    del headers["Content-Length"]
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        """Compress ``chunk`` (flushing so the client can decode it as it arrives)."""
        compressor = self._compressor
        if not self._gzipping or compressor is None:
            return chunk
        data = compressor.compress(chunk)
        data += compressor.flush(zlib.Z_FINISH if finishing else zlib.Z_SYNC_FLUSH)
        return data
