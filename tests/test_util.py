"""dualweb.util: ObjectDict, import_object, Configurable, GzipDecompressor and small helpers."""

from __future__ import annotations

import datetime
import errno
import gzip
import os.path
import re
import sys
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualweb import util
from dualweb.util import (
    Configurable,
    GzipDecompressor,
    ObjectDict,
    errno_from_exception,
    exec_in,
    import_object,
    raise_exc_info,
    re_unescape,
    timedelta_to_seconds,
)


def test_object_dict() -> None:
    d = ObjectDict(a=1)
    d.b = 2
    assert d == {"a": 1, "b": 2}
    assert d.a == 1
    assert d["b"] == 2
    with pytest.raises(AttributeError, match="missing"):
        d.missing  # noqa: B018
    assert getattr(d, "missing", "default") == "default"
    assert not hasattr(d, "other")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("os", os),
        ("os.path", os.path),
        ("os.path.join", os.path.join),
        ("dualweb.escape.utf8", util.import_object("dualweb.escape").utf8),
        ("xml.dom.minidom", sys.modules.get("xml.dom.minidom") or import_object("xml.dom.minidom")),
    ],
)
def test_import_object(name: str, expected: Any) -> None:
    assert import_object(name) is expected


@pytest.mark.parametrize("name", ["os.no_such_thing", "no_such_module_xyz", "os.path.nope"])
def test_import_object_missing_raises_import_error(name: str) -> None:
    with pytest.raises(ImportError):
        import_object(name)


def test_timeout_error_is_the_builtin() -> None:
    assert util.TimeoutError is TimeoutError


def test_errno_from_exception() -> None:
    assert errno_from_exception(OSError(errno.EPIPE, "broken")) == errno.EPIPE
    assert errno_from_exception(Exception(errno.EAGAIN)) == errno.EAGAIN
    assert errno_from_exception(Exception()) is None
    assert errno_from_exception(Exception("text")) is None


@given(st.text())
def test_re_unescape_inverts_re_escape(text: str) -> None:
    assert re_unescape(re.escape(text)) == text


@pytest.mark.parametrize("bad", [r"\d", r"\w", r"a\sb", r"\1"])
def test_re_unescape_rejects_special_sequences(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot unescape"):
        re_unescape(bad)


def test_timedelta_to_seconds() -> None:
    assert timedelta_to_seconds(datetime.timedelta(minutes=1, microseconds=500000)) == 60.5


def test_raise_exc_info_keeps_traceback() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        info = sys.exc_info()
    with pytest.raises(KeyError) as caught:
        raise_exc_info(info)
    assert caught.value is info[1]
    assert caught.value.__traceback__ is not None
    with pytest.raises(TypeError):
        raise_exc_info((None, None, None))


def test_exec_in() -> None:
    namespace: dict[str, Any] = {"x": 2}
    exec_in("y = x * 21", namespace)
    assert namespace["y"] == 42


# --------------------------------------------------------------------------- gzip


def test_gzip_decompressor_streams_with_limit() -> None:
    payload = b"hello world " * 1000
    compressed = gzip.compress(payload)
    dec = GzipDecompressor()
    out = b""
    for i in range(0, len(compressed), 7):
        chunk = compressed[i : i + 7]
        while chunk:
            piece = dec.decompress(chunk, 100)
            assert len(piece) <= 100
            out += piece
            chunk = dec.unconsumed_tail
    out += dec.flush()
    assert out == payload


def test_gzip_decompressor_rejects_garbage() -> None:
    with pytest.raises(zlib.error):
        GzipDecompressor().decompress(b"not gzip at all")


# --------------------------------------------------------------------------- Configurable


class Base(Configurable):
    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return Base

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return DefaultImpl

    def initialize(self, a: int = 0, b: int = 0) -> None:
        self.a = a
        self.b = b


class DefaultImpl(Base):
    pass


class OtherImpl(Base):
    def initialize(self, a: int = 0, b: int = 0, c: int = 0) -> None:
        super().initialize(a, b)
        self.c = c


class Unrelated(Configurable):
    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return Unrelated

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return Unrelated


@pytest.fixture(autouse=True)
def restore_configuration() -> Iterator[None]:
    saved = Base._save_configuration()
    yield
    Base._restore_configuration(saved)


def test_configurable_default() -> None:
    obj = Base(1, b=2)
    assert type(obj) is DefaultImpl
    assert (obj.a, obj.b) == (1, 2)
    assert Base.configured_class() is DefaultImpl


def test_configure_class_and_kwargs() -> None:
    Base.configure(OtherImpl, b=5, c=7)
    obj = Base(1)
    assert type(obj) is OtherImpl
    assert (obj.a, obj.b, obj.c) == (1, 5, 7)
    # Explicit arguments win over configured ones.
    assert Base(c=9).c == 9  # type: ignore[attr-defined]
    # Instantiating an implementation directly ignores the configuration.
    direct = DefaultImpl(3)
    assert type(direct) is DefaultImpl
    assert direct.b == 0
    Base.configure(None)
    assert type(Base()) is DefaultImpl


def test_configure_by_dotted_name() -> None:
    Base.configure(f"{__name__}.OtherImpl")
    assert Base.configured_class() is OtherImpl


def test_configure_rejects_unrelated_class() -> None:
    with pytest.raises(ValueError, match="subclass of Base"):
        Base.configure(Unrelated)


def test_configurable_without_base_names_the_fix() -> None:
    class Broken(Configurable):
        pass

    with pytest.raises(NotImplementedError, match=r"Broken.*configurable_base"):
        Broken()


def _target(a: int, callback: Any = None, *rest: Any, key: int = 0) -> None:
    pass


def test_arg_replacer_positional_and_keyword() -> None:
    replacer = util.ArgReplacer(_target, "callback")
    assert replacer.arg_pos == 1
    assert replacer.get_old_value((1, "cb"), {}) == "cb"
    assert replacer.get_old_value((1,), {"callback": "kw"}) == "kw"
    assert replacer.get_old_value((1,), {}, default="d") == "d"
    assert replacer.replace("new", (1, "cb", 3), {"key": 2}) == ("cb", (1, "new", 3), {"key": 2})
    kwargs: dict[str, Any] = {}
    assert replacer.replace("new", (1,), kwargs) == (None, (1,), {"callback": "new"})
    assert kwargs == {"callback": "new"}


def test_arg_replacer_keyword_only() -> None:
    replacer = util.ArgReplacer(_target, "key")
    assert replacer.arg_pos is None
    assert replacer.get_old_value((1, 2, 3), {"key": 5}) == 5
    assert replacer.replace(9, (1,), {"key": 5}) == (5, (1,), {"key": 9})
