"""dualweb.httputil: headers, the request object, form bodies, URL/date/cookie helpers."""

from __future__ import annotations

import copy
import datetime
import email.utils
import logging
import pickle
import time
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualweb import _formdata, connection, httputil
from dualweb import headers as headers_module
from dualweb.connection import ConnectionContext, HTTPConnection
from dualweb.httputil import (
    HTTPFile,
    HTTPHeaders,
    HTTPInputError,
    HTTPServerRequest,
    ParseBodyConfig,
    ParseMultipartConfig,
    ParseUrlEncodedConfig,
    RequestStartLine,
    ResponseStartLine,
    encode_username_password,
    format_timestamp,
    http_date_now,
    parse_body_arguments,
    parse_cookie,
    parse_multipart_form_data,
    parse_request_start_line,
    parse_response_start_line,
    qs_to_qsl,
    responses,
    split_host_and_port,
    url_concat,
)

# --------------------------------------------------------------------------- HTTPHeaders


def test_headers_are_case_insensitive_and_normalized() -> None:
    h = HTTPHeaders()
    h["content-TYPE"] = "text/html"
    assert h["Content-Type"] == "text/html"
    assert h["CONTENT-type"] == "text/html"
    assert "content-type" in h
    assert list(h) == ["Content-Type"]
    assert h.get("x-missing") is None
    assert h.get("x-missing", "d") == "d"
    with pytest.raises(KeyError):
        h["X-Missing"]


def test_headers_multiple_values() -> None:
    h = HTTPHeaders()
    h.add("Set-Cookie", "a=1")
    h.add("set-cookie", "b=2")
    h.add("Vary", "Accept")
    assert h["Set-Cookie"] == "a=1,b=2"
    assert h.get_list("SET-COOKIE") == ["a=1", "b=2"]
    assert list(h.get_all()) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Vary", "Accept")]
    assert len(h) == 2
    assert h.get_list("nope") == []
    # Assignment replaces every value.
    h["Set-Cookie"] = "c=3"
    assert h.get_list("Set-Cookie") == ["c=3"]
    assert list(h.get_all()) == [("Set-Cookie", "c=3"), ("Vary", "Accept")]
    del h["set-cookie"]
    assert "Set-Cookie" not in h
    assert h.get_list("Set-Cookie") == []
    h.add("Set-Cookie", "d=4")
    assert h.get_list("Set-Cookie") == ["d=4"]


def test_get_list_returns_a_copy() -> None:
    h = HTTPHeaders()
    h.add("A", "1")
    h.add("A", "2")
    h.get_list("A").append("3")
    assert h.get_list("A") == ["1", "2"]


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (({"content-type": "x", "X-Y": "z"},), {}, [("Content-Type", "x"), ("X-Y", "z")]),
        (([("a", "1"), ("b", "2")],), {}, [("A", "1"), ("B", "2")]),
        ((), {"host": "h", "accept": "*/*"}, [("Host", "h"), ("Accept", "*/*")]),
        (({"a": "1"},), {"b": "2"}, [("A", "1"), ("B", "2")]),
        ((), {}, []),
    ],
)
def test_headers_construction(
    args: tuple[Any, ...], kwargs: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    assert list(HTTPHeaders(*args, **kwargs).get_all()) == expected


def test_copy_is_independent_and_keeps_repeated_values() -> None:
    h = HTTPHeaders({"A": "1"})
    h.add("B", "x")
    h.add("B", "y")
    for dup in (
        h.copy(),
        HTTPHeaders(h),
        copy.copy(h),
        copy.deepcopy(h),
        pickle.loads(pickle.dumps(h)),
    ):
        assert isinstance(dup, HTTPHeaders)
        assert dup == h
        assert dup.get_list("B") == ["x", "y"]
        dup.add("B", "z")
        dup["A"] = "2"
        assert h.get_list("B") == ["x", "y"]
        assert h["A"] == "1"


def test_headers_equality() -> None:
    assert HTTPHeaders({"a": "1"}) == HTTPHeaders({"A": "1"})
    assert HTTPHeaders({"a": "1"}) == {"A": "1"}
    assert HTTPHeaders({"a": "1"}) != HTTPHeaders({"A": "2"})
    assert HTTPHeaders({"a": "1"}) != "A: 1"


def test_headers_str_and_repr() -> None:
    h = HTTPHeaders()
    h.add("A", "1")
    h.add("A", "2")
    h["B"] = "3"
    assert str(h) == "A: 1\r\nA: 2\r\nB: 3\r\n"
    assert repr(h) == "HTTPHeaders([('A', '1'), ('A', '2'), ('B', '3')])"


def test_headers_store_values_as_given() -> None:
    # Response-header validation (CR/LF) is RequestHandler's job; parsed
    # headers must be able to hold anything the codec accepted.
    h = HTTPHeaders()
    h["X"] = "a\r\nb"
    h.add("X-Y", "\x00")
    assert h["X"] == "a\r\nb"
    assert h["X-Y"] == "\x00"


PARSE_CASES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Content-Type: text/html\r\n", [("Content-Type", "text/html")]),
    ("A: b\r\nB: c\r\n\r\n", [("A", "b"), ("B", "c")]),
    ("A: b\nB: c\n", [("A", "b"), ("B", "c")]),  # bare LF line endings
    ("a: 1\r\nA: 2\r\n", [("A", "1"), ("A", "2")]),
    ("A:  b  \t\r\n", [("A", "b")]),
    ("A:\r\n", [("A", "")]),
    ("A: b:c: d\r\n", [("A", "b:c: d")]),
    ("A: b\r\n c\r\n\td\r\n", [("A", "b c d")]),  # obsolete line folding
    ("A: 1\r\nA: 2\r\n  more\r\n", [("A", "1"), ("A", "2 more")]),
    ("A: \xe9\u20ac\r\n", [("A", "\xe9\u20ac")]),
    ("", []),
]


@pytest.mark.parametrize(("text", "pairs"), PARSE_CASES)
def test_headers_parse(text: str, pairs: list[tuple[str, str]]) -> None:
    h = HTTPHeaders.parse(text)
    assert list(h.get_all()) == pairs


def test_folded_value_joined_in_getitem() -> None:
    h = HTTPHeaders.parse("A: 1\r\nA: 2\r\n  more\r\n")
    assert h["A"] == "1,2 more"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (" starts with space\r\n", "cannot start with whitespace"),
        ("no colon here\r\n", "no colon"),
        ("Bad Name: x\r\n", "invalid header name"),
        (": empty name\r\n", "invalid header name"),
        ("A: b\x00c\r\n", "invalid character"),
        ("A: b\rc\r\n", "invalid character"),
        ("A: b\r\n \x01\r\n", "invalid character"),
        ("A(: b\r\n", "invalid header name"),
    ],
)
def test_headers_parse_rejects_malformed(text: str, message: str) -> None:
    with pytest.raises(HTTPInputError, match=message):
        HTTPHeaders.parse(text)


def test_parse_line_accepts_trailing_crlf() -> None:
    h = HTTPHeaders()
    h.parse_line("Content-Type: text/html\r\n")
    h.parse_line("Content-Length: 42\n")
    h.parse_line("\r\n")
    assert dict(h) == {"Content-Type": "text/html", "Content-Length": "42"}


def test_parse_line_continuation_after_add() -> None:
    h = HTTPHeaders()
    h.add("X", "a")
    h.parse_line(" b")
    assert h["X"] == "a b"


_TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-!#$%&'*+.^_`|~", min_size=1
)
_VALUE = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\x00\r\n\x7f"
    ).filter(lambda c: c == "\t" or ord(c) >= 0x20)
).map(lambda v: v.strip(" \t"))


@given(st.lists(st.tuples(_TOKEN, _VALUE), max_size=8))
def test_headers_str_parse_round_trip(pairs: list[tuple[str, str]]) -> None:
    h = HTTPHeaders()
    for name, value in pairs:
        h.add(name, value)
    parsed = HTTPHeaders.parse(str(h))
    assert list(parsed.get_all()) == list(h.get_all())
    assert parsed == h


@given(st.lists(st.tuples(_TOKEN, st.text()), max_size=8), st.randoms())
def test_headers_lookup_ignores_case(pairs: list[tuple[str, str]], rnd: Any) -> None:
    h = HTTPHeaders()
    for name, value in pairs:
        h.add(name, value)
    for name, _ in pairs:
        scrambled = "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in name)
        assert scrambled in h
        assert h[scrambled] == h[name]
        assert h.get_list(scrambled) == h.get_list(name)
    assert len(list(h.get_all())) == len(pairs)


def test_header_name_cache_is_bounded() -> None:
    h = HTTPHeaders()
    for i in range(3000):
        h[f"x-custom-{i}"] = "v"
    assert len(headers_module._NORMALIZED_NAMES) <= headers_module._NORMALIZED_NAMES_LIMIT
    assert h["X-Custom-2999"] == "v"


# --------------------------------------------------------------------------- requests


def _request(
    uri: str = "/", headers: dict[str, str] | None = None, **kwargs: Any
) -> HTTPServerRequest:
    return HTTPServerRequest(uri=uri, headers=HTTPHeaders(headers or {}), **kwargs)


def test_request_defaults() -> None:
    r = HTTPServerRequest()
    assert (r.method, r.uri, r.path, r.query, r.version) == ("GET", "/", "/", "", "HTTP/1.0")
    assert r.body == b""
    assert r.host == "127.0.0.1"
    assert r.host_name == "127.0.0.1"
    assert r.remote_ip is None
    assert r.protocol == "http"
    assert r.arguments == r.query_arguments == r.body_arguments == {}
    assert r.files == {}
    assert r.cookies == {}
    assert isinstance(r.headers, HTTPHeaders)


def test_request_from_start_line_and_connection_context() -> None:
    conn = SimpleNamespace(context=SimpleNamespace(remote_ip="10.0.0.7", protocol="https"))
    r = HTTPServerRequest(
        start_line=RequestStartLine("POST", "/a/b?x=1&x=2&y=", "HTTP/1.1"),
        headers=HTTPHeaders({"Host": "Example.COM:8443"}),
        connection=conn,  # type: ignore[arg-type]
        server_connection="srv",
    )
    assert (r.method, r.path, r.query, r.version) == ("POST", "/a/b", "x=1&x=2&y=", "HTTP/1.1")
    assert r.remote_ip == "10.0.0.7"
    assert r.protocol == "https"
    assert r.host == "Example.COM:8443"
    assert r.host_name == "example.com"
    assert r.full_url() == "https://Example.COM:8443/a/b?x=1&x=2&y="
    assert r.query_arguments == {"x": [b"1", b"2"], "y": [b""]}
    assert r.arguments == r.query_arguments
    assert r.connection is conn
    assert r.server_connection == "srv"
    assert repr(r) == (
        "HTTPServerRequest(protocol='https', host='Example.COM:8443', method='POST', "
        "uri='/a/b?x=1&x=2&y=', version='HTTP/1.1', remote_ip='10.0.0.7')"
    )


def test_request_host_argument_wins() -> None:
    r = _request(headers={"Host": "a.com"}, host="b.com:80")
    assert (r.host, r.host_name) == ("b.com:80", "b.com")


def test_request_host_name_is_assignable_and_ipv6_aware() -> None:
    r = _request(headers={"Host": "[::1]:8080"})
    assert (r.host, r.host_name) == ("[::1]:8080", "[::1]")
    r.host_name = "override.example"  # as Tornado code may do (a plain attribute there)
    assert r.host_name == "override.example"
    r2 = _request(headers={"Host": "Plain.Example"})
    assert r2.host_name == "plain.example"


def test_request_host_from_headers_of_any_mapping_type() -> None:
    class Headers(HTTPHeaders):
        pass

    r = HTTPServerRequest(uri="/", headers=Headers({"host": "sub.example:81"}))
    assert (r.host, r.host_name) == ("sub.example:81", "sub.example")


def test_arguments_are_a_separate_copy_of_query_arguments() -> None:
    r = _request("/?a=1")
    r.arguments["a"].append(b"2")
    assert r.query_arguments == {"a": [b"1"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=%zz&b=%", {"a": [b"%zz"], "b": [b"%"]}),
        ("&&=&==", {"": [b"", b"="]}),
        ("a=%E9%00", {"a": [b"\xe9\x00"]}),
        ("a=1;b=2", {"a": [b"1;b=2"]}),
        ("\udcff=\u20ac", {"\xff": ["\u20ac".encode()]}),
        ("\ud800=1", {}),
    ],
)
def test_malformed_query_never_raises(query: str, expected: dict[str, list[bytes]]) -> None:
    r = _request("/p?" + query)
    assert r.query_arguments == expected


def test_request_time() -> None:
    r = _request()
    assert 0 <= r.request_time() < 5
    r._finish_time = r._start_time + 2.5
    assert r.request_time() == 2.5


def test_request_allows_extra_attributes() -> None:
    r = _request()
    r.custom_value = 1  # type: ignore[attr-defined]
    assert r.custom_value == 1  # type: ignore[attr-defined]


def test_get_ssl_certificate() -> None:
    assert _request().get_ssl_certificate() is None

    class SSLObject:
        def getpeercert(self, binary_form: bool = False) -> Any:
            return b"DER" if binary_form else {"subject": ()}

    class Conn(HTTPConnection):
        context = ConnectionContext("192.0.2.1", "https", ssl_object=SSLObject())

    r = HTTPServerRequest(connection=Conn())
    assert r.get_ssl_certificate(binary_form=True) == b"DER"
    assert r.get_ssl_certificate() == {"subject": ()}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ('a="quoted \\"x\\""', {"a": 'quoted "x"'}),
        ("a=1; garbage; b=2", {"a": "1", "b": "2"}),
        ("a=1;;;; ; =; b", {"a": "1"}),
        ("expires=1; path=/; a=1", {"a": "1"}),  # reserved Morsel names are skipped
        ("bad name=1; ok=2", {"ok": "2"}),
        ("\x00\x01=\x02; ok=\u00e9", {"ok": "\u00e9"}),
        ("a=1; a=2", {"a": "2"}),
        ("", {}),
    ],
)
def test_request_cookies_are_lenient(header: str, expected: dict[str, str]) -> None:
    r = _request(headers={"Cookie": header})
    cookies = r.cookies
    assert {name: morsel.value for name, morsel in cookies.items()} == expected
    assert r.cookies is cookies  # parsed once


def test_parse_body_merges_into_arguments() -> None:
    r = _request(
        "/?a=q",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"a=b1&c=d&e=",
    )
    r._parse_body()
    assert r.body_arguments == {"a": [b"b1"], "c": [b"d"], "e": [b""]}
    assert r.query_arguments == {"a": [b"q"]}
    assert r.arguments == {"a": [b"q", b"b1"], "c": [b"d"], "e": [b""]}


# --------------------------------------------------------------------------- form bodies


def _multipart(*parts: bytes, boundary: bytes = b"1234") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary + b"--\r\n"


def _part(disposition: str, body: bytes = b"v", extra: bytes = b"") -> bytes:
    return b"Content-Disposition: " + disposition.encode() + b"\r\n" + extra + b"\r\n" + body


def _parse(content_type: str, body: bytes, headers: HTTPHeaders | None = None) -> tuple[Any, Any]:
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    parse_body_arguments(content_type, body, args, files, headers)
    return args, {k: [(f.filename, f.body, f.content_type) for f in v] for k, v in files.items()}


MULTIPART_OK: list[tuple[str, str, bytes, tuple[Any, Any]]] = [
    (
        "field",
        "multipart/form-data; boundary=1234",
        _multipart(_part('form-data; name="a"', b"hello")),
        ({"a": [b"hello"]}, {}),
    ),
    (
        "quoted boundary",
        'multipart/form-data; boundary="1234"',
        _multipart(_part('form-data; name="a"')),
        ({"a": [b"v"]}, {}),
    ),
    (
        "boundary with special characters",
        'multipart/form-data; boundary="a:b=c d"',
        _multipart(_part('form-data; name="a"'), boundary=b"a:b=c d"),
        ({"a": [b"v"]}, {}),
    ),
    (
        "file",
        "multipart/form-data; boundary=1234",
        _multipart(
            _part(
                'form-data; name="f"; filename="ab.txt"', b"data", b"Content-Type: text/plain\r\n"
            )
        ),
        ({}, {"f": [("ab.txt", b"data", "text/plain")]}),
    ),
    (
        "non-ASCII filename",
        "multipart/form-data; boundary=1234",
        _multipart(_part('form-data; name="f"; filename="\u00e1b\u20ac.txt"')),
        ({}, {"f": [("\u00e1b\u20ac.txt", b"v", "application/unknown")]}),
    ),
    (
        "RFC 2231 filename",
        "multipart/form-data; boundary=1234",
        _multipart(_part("form-data; name=\"f\"; filename*=UTF-8''%C3%A1b.txt")),
        ({}, {"f": [("\u00e1b.txt", b"v", "application/unknown")]}),
    ),
    (
        "filename with ; and quote",
        "multipart/form-data; boundary=1234",
        _multipart(_part('form-data; name="f"; filename="a;b\\"c.txt"')),
        ({}, {"f": [('a;b"c.txt', b"v", "application/unknown")]}),
    ),
    (
        "empty filename is a plain field",
        "multipart/form-data; boundary=1234",
        _multipart(_part('form-data; name="f"; filename=""', b"")),
        ({"f": [b""]}, {}),
    ),
    (
        "repeated and empty fields, binary data",
        "multipart/form-data; boundary=1234",
        _multipart(
            _part('form-data; name="a"', b"1"),
            _part('form-data; name="a"', b"\x00\xff\r\n--123"),
            _part('form-data; name="b"', b""),
        ),
        ({"a": [b"1", b"\x00\xff\r\n--123"], "b": [b""]}, {}),
    ),
    (
        "per-part charset converted to UTF-8",
        "multipart/form-data; boundary=1234",
        _multipart(
            _part(
                'form-data; name="a"',
                b"\xe9t\xe9",
                b"Content-Type: text/plain; charset=latin-1\r\n",
            ),
            _part(
                'form-data; name="b"', b"\xc3\xa9", b"Content-Type: text/plain; charset=utf-8\r\n"
            ),
        ),
        ({"a": ["\u00e9t\u00e9".encode()], "b": [b"\xc3\xa9"]}, {}),
    ),
    (
        "preamble and epilogue",
        "multipart/form-data; boundary=1234",
        b"preamble\r\n" + _multipart(_part('form-data; name="a"')) + b"epilogue",
        ({"a": [b"v"]}, {}),
    ),
]


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [case[1:] for case in MULTIPART_OK],
    ids=[case[0] for case in MULTIPART_OK],
)
def test_multipart(content_type: str, body: bytes, expected: tuple[Any, Any]) -> None:
    assert _parse(content_type, body) == expected


def test_multipart_agrees_with_tornado_on_valid_bodies() -> None:
    tornado_httputil = pytest.importorskip("tornado.httputil")
    for name, content_type, body, _ in MULTIPART_OK:
        if "charset" in name or "preamble" in name:
            continue  # deliberate differences: see the table above
        args: dict[str, list[bytes]] = {}
        files: dict[str, list[Any]] = {}
        tornado_httputil.parse_body_arguments(content_type, body, args, files)
        tornado_files = {
            k: [(f.filename, f.body, f.content_type) for f in v] for k, v in files.items()
        }
        assert _parse(content_type, body) == (args, tornado_files), name


def _charset_part(charset: bytes, body: bytes = b"v") -> bytes:
    content_type = b"Content-Type: text/plain; charset=" + charset + b"\r\n"
    return _part('form-data; name="c"', body, content_type)


MULTIPART_BAD: list[tuple[str, str, bytes, str]] = [
    (
        "missing boundary",
        "multipart/form-data",
        _multipart(_part('form-data; name="a"')),
        "boundary",
    ),
    ("empty boundary", 'multipart/form-data; boundary=""', b"----\r\n", "boundary"),
    (
        "truncated body",
        "multipart/form-data; boundary=1234",
        _multipart(_part('form-data; name="a"', b"x" * 100))[:60],
        "no final boundary",
    ),
    (
        "wrong boundary",
        "multipart/form-data; boundary=abcd",
        _multipart(_part('form-data; name="a"')),
        "no final boundary",
    ),
    (
        "no Content-Disposition",
        "multipart/form-data; boundary=1234",
        _multipart(b"X-Other: y\r\n\r\nv"),
        "Content-Disposition",
    ),
    (
        "headers never end",
        "multipart/form-data; boundary=1234",
        b"--1234\r\nContent-Disposition: form-data; name=a\r\n--1234--\r\n",
        "Invalid multipart/form-data",
    ),
    (
        "undecodable part header",
        "multipart/form-data; boundary=1234",
        _multipart(b'Content-Disposition: form-data; name="\xff"\r\n\r\nv'),
        "Invalid multipart/form-data",
    ),
    ("empty body", "multipart/form-data; boundary=1234", b"", "no final boundary"),
    (
        "not multipart/form-data",
        "multipart/form-dataxyz; boundary=1234",
        _multipart(_part('form-data; name="a"')),
        "Content-Type 'multipart/form-dataxyz",
    ),
    (
        "part that is not form-data",
        "multipart/form-data; boundary=1234",
        _multipart(_part('form-data; name="a"'), _part('attachment; name="x"')),
        "part without a form-data name",
    ),
    (
        "part without a name",
        "multipart/form-data; boundary=1234",
        _multipart(_part("form-data")),
        "part without a form-data name",
    ),
    (
        "unknown charset",
        "multipart/form-data; boundary=1234",
        _multipart(_charset_part(b"bogus")),
        "field 'c' in charset 'bogus'",
    ),
    (
        "charset that is not a text encoding",
        "multipart/form-data; boundary=1234",
        _multipart(_charset_part(b"rot13")),
        "charset 'rot13'",
    ),
    (
        "charset name with NUL",
        "multipart/form-data; boundary=1234",
        _multipart(_charset_part(b'"a\x00"')),
        "field 'c' in charset",
    ),
    (
        "bytes invalid in the declared charset",
        "multipart/form-data; boundary=1234",
        _multipart(_charset_part(b"utf-16", b"\xe9")),
        "field 'c' in charset 'utf-16'",
    ),
]


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [case[1:] for case in MULTIPART_BAD],
    ids=[case[0] for case in MULTIPART_BAD],
)
def test_bad_multipart_raises_http_input_error(
    content_type: str, body: bytes, message: str
) -> None:
    # Tornado 6.5+ refuses such bodies too (a handler answers 400).
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    with pytest.raises(HTTPInputError) as caught:
        parse_body_arguments(content_type, body, args, files)
    assert message in str(caught.value)
    assert (args, files) == ({}, {})


def test_multipart_limits() -> None:
    body = _multipart(*[_part(f'form-data; name="a{i}"') for i in range(5)])
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    with pytest.raises(HTTPInputError, match="Invalid multipart/form-data"):
        parse_multipart_form_data(
            b"1234", body, args, files, config=ParseMultipartConfig(max_parts=4)
        )
    assert args == {}
    parse_multipart_form_data(b"1234", body, args, files, config=ParseMultipartConfig(max_parts=5))
    assert len(args) == 5
    big = _multipart(_part('form-data; name="a"', extra=b"X-Big: " + b"x" * 200 + b"\r\n"))
    with pytest.raises(HTTPInputError, match="over 100 bytes"):
        parse_multipart_form_data(
            b"1234", big, args, files, config=ParseMultipartConfig(max_part_header_size=100)
        )
    with pytest.raises(HTTPInputError, match="disabled"):
        parse_multipart_form_data(
            b"1234", big, args, files, config=ParseMultipartConfig(enabled=False)
        )
    assert "a" not in args


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"a=1&b=2&a=3", {"a": [b"1", b"3"], "b": [b"2"]}),
        (b"a=&b", {"a": [b""], "b": [b""]}),
        (b"x=%E9&y=%zz&z=a+b", {"x": [b"\xe9"], "y": [b"%zz"], "z": [b"a b"]}),
        (b"", {}),
        (b"\xff\xfe=\x00", {"\xff\xfe": [b"\x00"]}),
    ],
)
def test_urlencoded_body(body: bytes, expected: dict[str, list[bytes]]) -> None:
    for content_type in (
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
    ):
        assert _parse(content_type, body) == (expected, {})


def test_other_content_types_are_left_alone() -> None:
    assert _parse("application/json", b'{"a": 1}') == ({}, {})
    assert _parse("", b"a=1") == ({}, {})
    assert _parse("text/plain", b"a=1") == ({}, {})


def test_content_encoded_form_body_raises() -> None:
    gzip_header = HTTPHeaders({"Content-Encoding": "gzip"})
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=1"):
        with pytest.raises(HTTPInputError, match="Unsupported Content-Encoding: gzip"):
            _parse(content_type, b"a=1", gzip_header)
    assert _parse(
        "application/x-www-form-urlencoded",
        b"a=1",
        HTTPHeaders({"Content-Encoding": "identity"}),
    ) == ({"a": [b"1"]}, {})
    # Other bodies are the handler's business.
    assert _parse("application/json", b"\x1f\x8b", gzip_header) == ({}, {})


def test_urlencoded_field_limit() -> None:
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    config = ParseBodyConfig(urlencoded=ParseUrlEncodedConfig(max_arguments=2))
    with pytest.raises(HTTPInputError, match="Invalid x-www-form-urlencoded body"):
        parse_body_arguments(
            "application/x-www-form-urlencoded", b"a=1&b=2&c=3", args, files, config=config
        )
    assert args == {}


def test_set_parse_body_config_changes_the_default() -> None:
    saved = _formdata._default_body_config
    try:
        httputil.set_parse_body_config(ParseBodyConfig(urlencoded=ParseUrlEncodedConfig(1)))
        with pytest.raises(HTTPInputError):
            _parse("application/x-www-form-urlencoded", b"a=1&b=2")
    finally:
        httputil.set_parse_body_config(saved)
    assert _parse("application/x-www-form-urlencoded", b"a=1&b=2") == (
        {"a": [b"1"], "b": [b"2"]},
        {},
    )


def test_parse_config_equality_and_repr() -> None:
    assert ParseBodyConfig() == ParseBodyConfig(ParseMultipartConfig(), ParseUrlEncodedConfig())
    assert ParseMultipartConfig(max_parts=3) != ParseMultipartConfig()
    assert repr(ParseUrlEncodedConfig(5)) == "ParseUrlEncodedConfig(max_arguments=5)"


@given(st.binary(max_size=300), st.sampled_from([b"1234", b'"1234"', b"x"]))
def test_multipart_raises_nothing_but_http_input_error(body: bytes, boundary: bytes) -> None:
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    for data in (body, b"--1234\r\n" + body + b"\r\n--1234--\r\n"):
        try:
            parse_multipart_form_data(boundary, data, args, files)
        except HTTPInputError:
            pass


def test_http_file_is_a_dict_with_attributes() -> None:
    f = HTTPFile(filename="a.txt", body=b"x", content_type="text/plain")
    assert f.filename == f["filename"] == "a.txt"
    assert f.body == b"x"
    assert f.content_type == "text/plain"


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "args", "expected"),
    [
        ("http://a.com/b", {"c": "d"}, "http://a.com/b?c=d"),
        ("http://a.com/b?", {"c": "d"}, "http://a.com/b?c=d"),
        ("http://a.com/b?x", {"c": "d"}, "http://a.com/b?x=&c=d"),
        ("http://a.com/b?x=1#frag", [("c", "d"), ("c", "e")], "http://a.com/b?x=1&c=d&c=e#frag"),
        ("/p", (), "/p"),
        ("/p?a=1", None, "/p?a=1"),
        ("/p?a=1", {}, "/p?a=1"),
        ("http://a.com/b;p?q", {"z": "\u00e9 &"}, "http://a.com/b;p?q=&z=%C3%A9+%26"),
        ("//a.com/b", {"c": "d"}, "//a.com/b?c=d"),
    ],
)
def test_url_concat(url: str, args: Any, expected: str) -> None:
    assert url_concat(url, args) == expected


@pytest.mark.parametrize("bad", ["c=d", 5, {"c", "d"}])
def test_url_concat_rejects_other_types(bad: Any) -> None:
    with pytest.raises(TypeError, match="url_concat"):
        url_concat("http://a.com/", bad)


def test_qs_to_qsl() -> None:
    assert list(qs_to_qsl({"a": [1, 2], "b": [3], "c": []})) == [("a", 1), ("a", 2), ("b", 3)]


@pytest.mark.parametrize(
    ("netloc", "expected"),
    [
        ("a.com:80", ("a.com", 80)),
        ("a.com", ("a.com", None)),
        ("[::1]:8080", ("[::1]", 8080)),
        ("[::1]", ("[::1]", None)),
        ("a:b", ("a:b", None)),
        ("a:", ("a:", None)),
        ("a:80:90", ("a:80", 90)),
    ],
)
def test_split_host_and_port(netloc: str, expected: tuple[str, int | None]) -> None:
    assert split_host_and_port(netloc) == expected


def test_encode_username_password() -> None:
    assert encode_username_password("u", "p:\u00e9") == b"u:p:\xc3\xa9"
    assert encode_username_password(b"u", b"p") == b"u:p"


# --------------------------------------------------------------------------- start lines


def test_parse_request_start_line() -> None:
    assert parse_request_start_line("GET /a?b HTTP/1.1") == RequestStartLine(
        "GET", "/a?b", "HTTP/1.1"
    )


@pytest.mark.parametrize(
    "line", ["GET /  HTTP/1.1", "GET / HTTP/2.0", "G(T / HTTP/1.1", "GET /", "", "GET / http/1.1"]
)
def test_parse_request_start_line_rejects(line: str) -> None:
    with pytest.raises(HTTPInputError, match="Malformed"):
        parse_request_start_line(line)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("HTTP/1.1 200 OK", ("HTTP/1.1", 200, "OK")),
        ("HTTP/1.0 404 Not Found\r\n", ("HTTP/1.0", 404, "Not Found")),
        ("HTTP/1.1 599 ", ("HTTP/1.1", 599, "")),
        ("HTTP/1.1 204", ("HTTP/1.1", 204, "")),
    ],
)
def test_parse_response_start_line(line: str, expected: tuple[str, int, str]) -> None:
    assert parse_response_start_line(line) == ResponseStartLine(*expected)


@pytest.mark.parametrize("line", ["HTTP/2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 200 OK\x00", "junk"])
def test_parse_response_start_line_rejects(line: str) -> None:
    with pytest.raises(HTTPInputError):
        parse_response_start_line(line)


# --------------------------------------------------------------------------- dates


_EPOCH_PLUS = "Thu, 01 Jan 1970 00:01:40 GMT"


@pytest.mark.parametrize(
    "ts",
    [
        100,
        100.0,
        100.9,
        time.gmtime(100),
        tuple(time.gmtime(100)),
        datetime.datetime(1970, 1, 1, 0, 1, 40),
        datetime.datetime(
            1970, 1, 1, 2, 1, 40, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        ),
        datetime.datetime(1970, 1, 1, 0, 1, 40, tzinfo=datetime.timezone.utc),
    ],
)
def test_format_timestamp(ts: Any) -> None:
    assert format_timestamp(ts) == _EPOCH_PLUS


@pytest.mark.parametrize("bad", ["100", None, True, datetime.date(1970, 1, 1)])
def test_format_timestamp_rejects(bad: Any) -> None:
    with pytest.raises(TypeError, match="format_timestamp"):
        format_timestamp(bad)


def test_http_date_now() -> None:
    before = int(time.time())
    text = http_date_now()
    after = int(time.time())
    parsed = email.utils.parsedate_to_datetime(text).timestamp()
    assert before <= parsed <= after
    assert text.endswith(" GMT")
    assert http_date_now() is http_date_now() or int(time.time()) != after


# --------------------------------------------------------------------------- cookies


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ('a="x\\"y"', {"a": 'x"y'}),
        ('a="\\012"', {"a": "\n"}),
        (
            'keebler="E=mc2; L=\\"Loves\\"; fudge=\\012;"',
            {"keebler": '"E=mc2', "L": '\\"Loves\\"', "fudge": "\\012", "": '"'},
        ),
        ("novalue", {"": "novalue"}),
        ("a=; =b; ;;", {"a": "", "": "b"}),
        ("a=1; a=2", {"a": "2"}),
        ('x="unterminated', {"x": '"unterminated'}),
        ('"', {"": '"'}),
        ("a b=c", {"a b": "c"}),
        ("foo=bar=baz", {"foo": "bar=baz"}),
        (" sp = v ", {"sp": "v"}),
        ("", {}),
    ],
)
def test_parse_cookie(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie(header) == expected


def test_parse_cookie_agrees_with_tornado() -> None:
    tornado_httputil = pytest.importorskip("tornado.httputil")
    for header in ['a="x\\"y"', 'a="\\012\\\\"', 'a=1; garbage; =; ;b="2"', '"', "x"]:
        assert parse_cookie(header) == tornado_httputil.parse_cookie(header)


@given(st.text())
def test_parse_cookie_and_request_cookies_never_raise(header: str) -> None:
    parsed = parse_cookie(header)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())
    r = HTTPServerRequest(headers=HTTPHeaders({"Cookie": header}))
    assert set(r.cookies) <= set(parsed)


# --------------------------------------------------------------------------- module surface


def test_responses_and_seam_reexports() -> None:
    assert responses[404] == "Not Found"
    reexported = [name for name in httputil.__all__ if name in connection.__all__]
    assert "HTTPConnection" in reexported and "RequestStartLine" in reexported
    for name in reexported:
        assert getattr(httputil, name) is getattr(connection, name)
    for name in httputil.__all__:
        assert hasattr(httputil, name), name


def test_errors_are_distinct_exceptions() -> None:
    assert issubclass(httputil.HTTPInputError, Exception)
    assert issubclass(httputil.HTTPOutputError, Exception)
    assert not issubclass(httputil.HTTPInputError, httputil.HTTPOutputError)


# --------------------------------------------------------------------------- through both drivers


def _echo_app() -> Any:
    # Imported here so the unit tests above do not depend on dualweb.web.
    from dualweb.web import Application, RequestHandler

    class EchoForm(RequestHandler):
        def post(self) -> None:
            request = self.request
            self.write(
                {
                    "arguments": {
                        k: [v.decode("utf-8", "replace") for v in vs]
                        for k, vs in request.arguments.items()
                    },
                    "query": sorted(request.query_arguments),
                    "files": {
                        k: [[f.filename, f.body.decode("latin-1"), f.content_type] for f in fs]
                        for k, fs in request.files.items()
                    },
                    "cookies": {k: m.value for k, m in request.cookies.items()},
                    "host_name": request.host_name,
                }
            )

    return Application([(r"/echo", EchoForm)])


def test_multipart_upload_through_the_driver(client_for: Any) -> None:
    body = _multipart(
        _part('form-data; name="title"', "d\u00e9j\u00e0 vu".encode()),
        _part(
            'form-data; name="doc"; filename="r\u00e9sum\u00e9.txt"',
            b"\x00\xff bytes",
            b"Content-Type: application/octet-stream\r\n",
        ),
        boundary=b"----xyz",
    )
    response = client_for(_echo_app()).post(
        "/echo?q=1",
        body=body,
        headers={"Content-Type": 'multipart/form-data; boundary="----xyz"', "Host": "Ex.com:81"},
    )
    assert response.status == 200, response
    data = response.json()
    assert data["arguments"] == {"q": ["1"], "title": ["d\u00e9j\u00e0 vu"]}
    assert data["query"] == ["q"]
    assert data["files"] == {
        "doc": [["r\u00e9sum\u00e9.txt", "\x00\xff bytes", "application/octet-stream"]]
    }
    assert data["host_name"] == "ex.com"


def test_truncated_multipart_through_the_driver_is_400(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body = _multipart(_part('form-data; name="a"', b"x" * 50))[:40]
    with caplog.at_level(logging.INFO, logger="dualweb.general"):
        response = client_for(_echo_app()).post(
            "/echo", body=body, headers={"Content-Type": "multipart/form-data; boundary=1234"}
        )
    assert (response.status, response.reason) == (400, "Bad Request")
    assert any("no final boundary" in r.getMessage() for r in caplog.records)


def test_garbage_cookies_through_the_driver(client_for: Any) -> None:
    response = client_for(_echo_app()).post(
        "/echo",
        body=b"a=1",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": 'sid=abc; junk; =; expires=x; q="a\\"b"; bad name=1; ok\t=2',
        },
    )
    assert response.status == 200, response
    data = response.json()
    assert data["cookies"] == {"sid": "abc", "q": 'a"b', "ok": "2"}
    assert data["arguments"] == {"a": ["1"]}


def test_parse_body_runs_once(caplog: pytest.LogCaptureFixture) -> None:
    r = _request(
        headers={"Content-Type": "multipart/form-data; boundary=1234"}, body=b"--1234\r\ntruncated"
    )
    with pytest.raises(HTTPInputError, match="no final boundary"):
        r._parse_body()
    r._parse_body()  # the body was already judged: no second error
    ok = _request(headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"a=1")
    ok._parse_body()
    ok._parse_body()
    assert ok.arguments == {"a": [b"1"]}
