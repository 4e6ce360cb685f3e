"""dualweb.escape: str/bytes conversion, HTML, URL and JSON escaping, linkify."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualweb import escape
from dualweb.escape import (
    json_decode,
    json_encode,
    linkify,
    native_str,
    parse_qs_bytes,
    recursive_unicode,
    squeeze,
    to_basestring,
    to_unicode,
    url_escape,
    url_unescape,
    utf8,
    xhtml_escape,
    xhtml_unescape,
)

# --------------------------------------------------------------------------- str / bytes


@pytest.mark.parametrize(
    ("value", "expected"),
    [("abc", b"abc"), ("é€", b"\xc3\xa9\xe2\x82\xac"), (b"\xff", b"\xff"), (None, None), ("", b"")],
)
def test_utf8(value: Any, expected: Any) -> None:
    assert utf8(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"abc", "abc"), (b"\xc3\xa9", "é"), ("é", "é"), (None, None), (b"", "")],
)
def test_to_unicode(value: Any, expected: Any) -> None:
    assert to_unicode(value) == expected
    assert native_str(value) == expected
    assert to_basestring(value) == expected


@pytest.mark.parametrize("func", [utf8, to_unicode])
@pytest.mark.parametrize("bad", [1, 1.5, ["a"], object()])
def test_conversion_rejects_other_types_naming_the_type(func: Any, bad: Any) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        func(bad)


def test_to_unicode_invalid_utf8_raises() -> None:
    with pytest.raises(UnicodeDecodeError):
        to_unicode(b"\xff")


def test_recursive_unicode_walks_containers() -> None:
    value = {b"k": [b"a", (b"b", 1)], "s": {b"x": None}}
    assert recursive_unicode(value) == {"k": ["a", ("b", 1)], "s": {"x": None}}


# --------------------------------------------------------------------------- HTML

XHTML_CASES = [
    ("<foo>", "&lt;foo&gt;"),
    (b"<foo>", "&lt;foo&gt;"),
    ("<>&\"'", "&lt;&gt;&amp;&quot;&#x27;"),
    ("&amp;", "&amp;amp;"),
    ("\u00e9", "\u00e9"),
    ("plain", "plain"),
]


@pytest.mark.parametrize(("raw", "escaped"), XHTML_CASES)
def test_xhtml_escape(raw: str | bytes, escaped: str) -> None:
    assert xhtml_escape(raw) == escaped
    assert xhtml_unescape(escaped) == to_unicode(raw)


@pytest.mark.parametrize(
    ("escaped", "raw"),
    [
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&#X27;", "'"),
        ("&quot;&lt;&gt;", '"<>'),
        ("&foo;", "&foo;"),  # unknown entities are kept
        ("&#65;&#x42;", "AB"),
        (b"&amp;", "&"),
    ],
)
def test_xhtml_unescape(escaped: str | bytes, raw: str) -> None:
    assert xhtml_unescape(escaped) == raw


@given(st.text())
def test_xhtml_round_trip(text: str) -> None:
    escaped = xhtml_escape(text)
    assert not set("<>\"'") & set(escaped)
    assert xhtml_unescape(escaped) == text


# --------------------------------------------------------------------------- JSON


def test_json_encode_escapes_script_end() -> None:
    assert json_encode("</script>") == '"<\\/script>"'
    assert json_decode(json_encode("</script>")) == "</script>"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_json_encode_never_contains_close_tag_and_round_trips(value: Any) -> None:
    encoded = json_encode(value)
    assert "</" not in encoded
    assert json_decode(encoded) == value
    assert json_decode(encoded.encode("utf-8")) == value


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda children: st.lists(children)
        | st.dictionaries(st.text() | st.integers() | st.booleans(), children),
        max_leaves=20,
    )
)
def test_json_encode_is_json_dumps_with_script_escape(value: Any) -> None:
    # Same text as Tornado's json.dumps(value).replace("</", "<\\/"): floats,
    # NaN, non-ASCII text and non-str keys included.
    assert json_encode(value) == json.dumps(value).replace("</", "<\\/")


def test_json_encode_unserializable_raises() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_encode(object())
    with pytest.raises(TypeError, match="keys must be"):
        json_encode({(1, 2): 3})


def test_json_encode_circular_reference_raises_every_time() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    for _ in range(2):  # a failed call must leave nothing behind for the next one
        with pytest.raises(ValueError, match="Circular reference"):
            json_encode(loop)
    assert json_encode({"a": [1, {"b": None}]}) == '{"a": [1, {"b": null}]}'


def test_json_decode_invalid_raises_value_error() -> None:
    with pytest.raises(ValueError):
        json_decode("{not json")
    assert isinstance(json.JSONDecodeError("x", "y", 0), ValueError)


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("raw", "squeezed"),
    [("  a  b\t\n c ", "a b c"), ("", ""), ("x", "x"), ("a\x00\x01b", "a b")],
)
def test_squeeze(raw: str, squeezed: str) -> None:
    assert squeeze(raw) == squeezed


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("raw", "plus", "escaped"),
    [
        ("a b/c", True, "a+b%2Fc"),
        ("a b/c", False, "a%20b/c"),
        ("é", True, "%C3%A9"),
        (b"\xe9", True, "%E9"),
        ("a+b&c=d", True, "a%2Bb%26c%3Dd"),
        ("safe-._~", True, "safe-._~"),
    ],
)
def test_url_escape(raw: str | bytes, plus: bool, escaped: str) -> None:
    assert url_escape(raw, plus=plus) == escaped


@pytest.mark.parametrize(
    ("escaped", "encoding", "plus", "raw"),
    [
        ("a+b%20c", "utf-8", True, "a b c"),
        ("a+b%20c", "utf-8", False, "a+b c"),
        ("a+b%20c", None, True, b"a b c"),
        ("a+b%20c", None, False, b"a+b c"),
        ("%C3%A9", "utf-8", True, "é"),
        ("%E9", "latin-1", True, "é"),
        ("%E9", None, True, b"\xe9"),
        (b"%C3%A9", "utf-8", True, "é"),
    ],
)
def test_url_unescape(escaped: str | bytes, encoding: str | None, plus: bool, raw: Any) -> None:
    assert url_unescape(escaped, encoding=encoding, plus=plus) == raw


@given(st.text(), st.booleans())
def test_url_round_trip(text: str, plus: bool) -> None:
    escaped = url_escape(text, plus=plus)
    assert " " not in escaped
    if plus:
        assert "/" not in escaped
    assert url_unescape(escaped, plus=plus) == text
    assert url_unescape(escaped, encoding=None, plus=plus) == text.encode("utf-8")


@given(st.binary())
def test_url_round_trip_bytes(data: bytes) -> None:
    assert url_unescape(url_escape(data), encoding=None) == data


@pytest.mark.parametrize(
    ("qs", "keep_blank", "expected"),
    [
        ("a=1&b=2&a=3", False, {"a": [b"1", b"3"], "b": [b"2"]}),
        ("a=1&b=&c", True, {"a": [b"1"], "b": [b""], "c": [b""]}),
        ("a=1&b=&c", False, {"a": [b"1"]}),
        ("x=%C3%A9", False, {"x": [b"\xc3\xa9"]}),
        ("x=%E9", False, {"x": [b"\xe9"]}),  # not UTF-8: raw octets are kept
        (b"x=%E9&y=+", True, {"x": [b"\xe9"], "y": [b" "]}),
        ("", True, {}),
        ("&&==&%zz=%", True, {"": [b"="], "%zz": [b"%"]}),
    ],
)
def test_parse_qs_bytes(
    qs: str | bytes, keep_blank: bool, expected: dict[str, list[bytes]]
) -> None:
    assert parse_qs_bytes(qs, keep_blank_values=keep_blank) == expected


def test_parse_qs_bytes_strict_and_limits_raise() -> None:
    with pytest.raises(ValueError):
        parse_qs_bytes("a", strict_parsing=True)
    with pytest.raises(ValueError):
        parse_qs_bytes("a=1&b=2&c=3", max_num_fields=2)


@given(st.dictionaries(st.text(min_size=1), st.binary(), max_size=5))
def test_parse_qs_bytes_inverts_url_escape(fields: dict[str, bytes]) -> None:
    qs = "&".join(f"{url_escape(k)}={url_escape(v)}" for k, v in fields.items())
    parsed = parse_qs_bytes(qs, keep_blank_values=True)
    # Names come back as latin-1 text of their UTF-8 octets (like Tornado).
    assert parsed == {k.encode().decode("latin-1"): [v] for k, v in fields.items()}


# --------------------------------------------------------------------------- linkify

LINKIFY_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "hello http://world.com/!",
        {},
        'hello <a href="http://world.com/">http://world.com/</a>!',
    ),
    (
        "hello http://world.com/with?param=true&stuff=yes",
        {},
        'hello <a href="http://world.com/with?param=true&amp;stuff=yes">'
        "http://world.com/with?param=true&amp;stuff=yes</a>",
    ),
    (
        "(Something like http://foo.com/blah_blah_(wikipedia))",
        {},
        '(Something like <a href="http://foo.com/blah_blah_(wikipedia)">'
        "http://foo.com/blah_blah_(wikipedia)</a>)",
    ),
    (
        "<tag>http://example.com</tag>",
        {},
        '&lt;tag&gt;<a href="http://example.com">http://example.com</a>&lt;/tag&gt;',
    ),
    (
        "Just a www.example.com link.",
        {},
        'Just a <a href="http://www.example.com">www.example.com</a> link.',
    ),
    ("Just a www.example.com link.", {"require_protocol": True}, "Just a www.example.com link."),
    (
        "A http://reallylong.com/link/that/exceedsthelenglimit.html",
        {"require_protocol": True, "shorten": True},
        'A <a href="http://reallylong.com/link/that/exceedsthelenglimit.html"'
        ' title="http://reallylong.com/link/that/exceedsthelenglimit.html">'
        "http://reallylong.com/link...</a>",
    ),
    (
        "A http://reallylongdomainnamethatwillbetoolong.com/hi!",
        {"shorten": True},
        'A <a href="http://reallylongdomainnamethatwillbetoolong.com/hi"'
        ' title="http://reallylongdomainnamethatwillbetoolong.com/hi">'
        "http://reallylongdomainnametha...</a>!",
    ),
    ("javascript:alert(1) and ftp://x.com/", {}, "javascript:alert(1) and ftp://x.com/"),
    (
        "A file:///passwords.txt and http://web.com link",
        {"permitted_protocols": ["file"]},
        'A <a href="file:///passwords.txt">file:///passwords.txt</a> and http://web.com link',
    ),
    (
        "www.external.com",
        {"extra_params": ' rel="nofollow" '},
        '<a href="http://www.external.com" rel="nofollow">www.external.com</a>',
    ),
    (
        "www.internal.com and www.external.com",
        {
            "extra_params": lambda href: (
                'class="internal"' if "internal" in href else 'class="external"'
            )
        },
        '<a href="http://www.internal.com" class="internal">www.internal.com</a> and '
        '<a href="http://www.external.com" class="external">www.external.com</a>',
    ),
    (
        "no links <b>here</b> & 'there'",
        {},
        "no links &lt;b&gt;here&lt;/b&gt; &amp; &#x27;there&#x27;",
    ),
]


@pytest.mark.parametrize(("text", "kwargs", "expected"), LINKIFY_CASES)
def test_linkify(text: str, kwargs: dict[str, Any], expected: str) -> None:
    assert linkify(text, **kwargs) == expected


def test_linkify_agrees_with_tornado() -> None:
    tornado_escape = pytest.importorskip("tornado.escape")
    texts = [case[0] for case in LINKIFY_CASES if "extra_params" not in case[1]] + [
        "http://url.com/withmany.......................................",
        "http://url.com/withmany((((((((((((((((((((((((((((((((((a)",
        "http://foo.com/blah_blah/.",
        "rdar://1234 rdar:/1234 http://userid:password@example.com:8080",
        "message://%3c330e7f8409726r6a4ba78dkf1fd71420c1bf6ff@mail.gmail.com%3e",
        'http://\u27a1.ws/\u4a39 www1.foo.bar/x? http://a.com/"quote"',
    ]
    options: list[dict[str, Any]] = [
        {},
        {"shorten": True},
        {"require_protocol": True},
        {"permitted_protocols": ["http", "https", "rdar", "message", "file"]},
    ]
    for text in texts:
        for opts in options:
            assert linkify(text, **opts) == tornado_escape.linkify(text, **opts), (text, opts)


@pytest.mark.parametrize(
    "hostile",
    [
        "http://" + "a(" * 5000,
        "http://" + "," * 50000,
        "http://x/" + "&amp;" * 10000 + "!",
        "www.a " * 10000,
        "http://a.com/" + "(" * 3000 + "x" * 3000,
        "a://b," * 5000,
    ],
)
def test_linkify_is_fast_on_hostile_input(hostile: str) -> None:
    start = time.perf_counter()
    linkify(hostile)
    assert time.perf_counter() - start < 1.0


@settings(max_examples=200)
@given(st.text(alphabet="htp:/w.a(&)<>\"' x"))
def test_linkify_output_never_contains_raw_markup_from_input(text: str) -> None:
    out = linkify(text)
    # Every "<" in the output starts one of the generated tags.
    stripped = out.replace("</a>", "")
    assert stripped.count("<") == stripped.count("<a href=")


def test_module_exports() -> None:
    for name in escape.__all__:
        assert callable(getattr(escape, name))


def _reference_parse_qs_bytes(qs: bytes, keep_blank: bool) -> dict[str, list[bytes]]:
    import urllib.parse

    result: dict[str, list[bytes]] = {}
    pairs = urllib.parse.parse_qsl(
        qs.decode("latin-1"), keep_blank_values=keep_blank, encoding="latin-1"
    )
    for name, value in pairs:
        result.setdefault(name, []).append(value.encode("latin-1"))
    return result


@given(
    st.lists(st.sampled_from([b"a", b"=", b"&", b"+", b"%", b"%4", b"%41", b"\xe9", b" "])),
    st.booleans(),
)
def test_parse_qs_bytes_matches_urllib(pieces: list[bytes], keep_blank: bool) -> None:
    qs = b"".join(pieces)
    expected = _reference_parse_qs_bytes(qs, keep_blank)
    assert parse_qs_bytes(qs, keep_blank_values=keep_blank) == expected
    assert parse_qs_bytes(qs.decode("latin-1"), keep_blank_values=keep_blank) == expected
