"""Micro benchmark of the sans-io HTTP/1 codec alone (no sockets, no framework).

Cases (``--cases``, default all):

* ``hello``: the server codec receives a keep-alive GET as wrk sends it, the
  driver's steps run (``next_event``, ``take_end_of_message``,
  ``send_response`` with a 12-byte body, ``send_end``);
* ``upload``: a POST with a 100 KB ``Content-Length`` body arriving in 64 KB
  reads, every event taken;
* ``chunked``: a POST with a 100 KB body in 4 KB chunks;
* ``pipeline``: ten pipelined GETs in one read;
* ``client``: the client codec sends a GET and parses a 12-byte response.

Times are CPU time (``time.process_time``) per request, the minimum over
``--repeat`` runs of ``--n`` requests (the minimum is the least disturbed by
other load).  Run from the repository root:
``python benchmarks/bench_codec.py [--n 20000] [--repeat 5]``; to compare two
trees, run it with ``PYTHONPATH`` pointing at each.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from dualweb.connection import RequestStartLine, ResponseStartLine
from dualweb.http1codec import (
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    HTTP1ClientCodec,
    HTTP1ServerCodec,
    Request,
)
from dualweb.httputil import HTTPHeaders

HELLO = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n\r\n"
OK = ResponseStartLine("HTTP/1.1", 200, "OK")
BODY = b"Hello, world"
UPLOAD = 100 * 1024
UPLOAD_HEAD = (
    b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % UPLOAD
)
FIRST = 65536 - len(UPLOAD_HEAD)
UPLOAD_READS = [UPLOAD_HEAD + b"a" * FIRST, b"a" * (UPLOAD - FIRST)]
CHUNKED = (
    b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    + (b"1000\r\n" + b"a" * 4096 + b"\r\n") * 25
    + b"0\r\n\r\n"
)
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nHello, world"


def response_headers() -> HTTPHeaders:
    headers = HTTPHeaders()
    headers["Content-Type"] = "text/html; charset=UTF-8"
    headers["Server"] = "dualweb"
    headers["Etag"] = '"abc"'
    headers["Content-Length"] = "12"
    return headers


def serve(codec: HTTP1ServerCodec, headers: HTTPHeaders) -> int:
    """Take every event and answer each request; the number of requests answered."""
    answered = 0
    while True:
        event = codec.next_event()
        if event is NEED_DATA:
            return answered
        if event is PAUSED or (type(event) is Request and codec.take_end_of_message()):
            codec.send_response(OK, headers, BODY)
            codec.send_end()
            answered += 1
        elif event is END_OF_MESSAGE:
            codec.send_response(OK, headers, BODY)
            codec.send_end()
            answered += 1


def case_hello(n: int) -> None:
    codec = HTTP1ServerCodec()
    headers = response_headers()
    for _ in range(n):
        codec.receive_data(HELLO)
        serve(codec, headers)


def case_upload(n: int) -> None:
    codec = HTTP1ServerCodec()
    headers = response_headers()
    for _ in range(n):
        for piece in UPLOAD_READS:
            codec.receive_data(piece)
            serve(codec, headers)


def case_chunked(n: int) -> None:
    codec = HTTP1ServerCodec()
    headers = response_headers()
    for _ in range(n):
        codec.receive_data(CHUNKED)
        serve(codec, headers)


def case_pipeline(n: int) -> None:
    codec = HTTP1ServerCodec()
    headers = response_headers()
    data = HELLO * 10
    for _ in range(n // 10):
        codec.receive_data(data)
        serve(codec, headers)


def case_client(n: int) -> None:
    codec = HTTP1ClientCodec()
    start = RequestStartLine("GET", "/", "HTTP/1.1")
    headers = HTTPHeaders({"Host": "127.0.0.1"})
    for _ in range(n):
        codec.send_request(start, headers)
        codec.send_end()
        codec.receive_data(RESPONSE)
        while codec.next_event() is not NEED_DATA:
            pass


CASES: dict[str, Callable[[int], None]] = {
    "hello": case_hello,
    "upload": case_upload,
    "chunked": case_chunked,
    "pipeline": case_pipeline,
    "client": case_client,
}


def main() -> None:
    """Run the cases and print µs of CPU per request."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    for name in args.cases.split(","):
        func = CASES[name]
        n = args.n // 20 if name in ("upload", "chunked") else args.n
        func(min(n, 1000))  # warm-up
        best = float("inf")
        for _ in range(args.repeat):
            start = time.process_time()
            func(n)
            best = min(best, time.process_time() - start)
        print(f"{name:10} {best / n * 1e6:8.2f} µs/request")


if __name__ == "__main__":
    main()
