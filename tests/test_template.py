"""dualweb.template: Tornado's template language, feature by feature.

Outputs are compared with literal expected bytes; a parity table also
renders each case with tornado.template (a test-only dependency) and checks
that both engines agree byte for byte.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pytest
import tornado.template

from dualweb.template import (
    DictLoader,
    Loader,
    ParseError,
    Template,
    filter_whitespace,
)


def render(source: str, template_name: str = "<string>", **kwargs: Any) -> bytes:
    return Template(source, name=template_name).generate(**kwargs)


# (template, variables, expected output) -- rendered as "<string>" (whitespace "all")
CASES: list[tuple[str, dict[str, Any], bytes]] = [
    ("Hello {{ name }}!", {"name": "<b>&'\""}, b"Hello &lt;b&gt;&amp;&#x27;&quot;!"),
    ("{{ n }} {{ b }} {{ none }} {{ f }}", {"n": 3, "b": b"<x>", "none": None, "f": 1.5},
     b"3 &lt;x&gt; None 1.5"),
    ("{{ '\u00e9' }}{{ b'\\xc3\\xa9' }}", {}, "\u00e9\u00e9".encode()),
    ("{% if x %}a{% elif y %}b{% else %}c{% end %}", {"x": 0, "y": 1}, b"b"),
    ("{% if x %}a{% elif y %}b{% else %}c{% end %}", {"x": 0, "y": 0}, b"c"),
    ("{% for i in range(4) %}{% if i == 1 %}{% continue %}{% end %}"
     "{% if i == 3 %}{% break %}{% end %}{{ i }}{% end %}", {}, b"02"),
    ("{% for i in [] %}x{% else %}empty{% end %}", {}, b"empty"),
    ("{% set items = [1, 2] %}{% while items %}{{ items.pop() }}{% end %}", {}, b"21"),
    ("{% try %}{{ 1 / 0 }}{% except ZeroDivisionError %}err{% else %}ok"
     "{% finally %}!{% end %}", {}, b"err!"),
    ("{% try %}ok{% except %}err{% else %}+else{% end %}", {}, b"ok+else"),
    ("{% set x = 5 %}{{ x * 2 }}", {}, b"10"),
    ("{% import math %}{{ math.floor(2.5) }}{% from os import path %}{{ path.sep }}", {},
     b"2/"),
    ("{% raw '<b>' %}{{ '<b>' }}", {}, b"<b>&lt;b&gt;"),
    ("{% autoescape None %}{{ '<i>' }}", {}, b"<i>"),
    ("{% apply linkify %}see http://x.com{% end %}", {},
     b'see <a href="http://x.com">http://x.com</a>'),
    ("{% apply upper %}a{{ 'b' }}{% end %}", {"upper": lambda b: b.upper()}, b"AB"),
    ("{{! x }} {%! y %} {#! z #}", {}, b"{{ x }} {% y %} {# z #}"),
    ("a{# gone #}b{% comment also gone %}c", {}, b"abc"),
    ("{{{x}}}", {"x": 1}, b"{1}"),
    ("{{ x # a comment }}", {"x": 3}, b"3"),
    ("{{ [1,\n 2] }}", {}, b"[1, 2]"),
    ("{{ json_encode({'a': '</'}) }} {{ url_escape('a b') }} {{ squeeze(' a   b ') }}", {},
     b'{&quot;a&quot;: &quot;&lt;\\/&quot;} a+b a b'),
    ("{{ datetime.date(2020, 1, 2).isoformat() }} {{ escape('<') }} {{ xhtml_escape('>') }}",
     {}, b"2020-01-02 &amp;lt; &amp;gt;"),
    ("{% autoescape url_escape %}{{ 'a b&' }}{% raw 'a b' %}", {}, b"a+b%26a b"),
]


@pytest.mark.parametrize("source, variables, expected", CASES)
def test_language_features(source: str, variables: dict[str, Any], expected: bytes) -> None:
    assert render(source, **variables) == expected


@pytest.mark.parametrize("name", ["<string>", "page.html", "code.js", "notes.txt"])
@pytest.mark.parametrize("source, variables, expected", CASES)
def test_parity_with_tornado(
    source: str, variables: dict[str, Any], expected: bytes, name: str
) -> None:
    ours = Template(source, name=name).generate(**variables)
    theirs = tornado.template.Template(source, name=name).generate(**variables)
    assert ours == theirs


# -- whitespace -----------------------------------------------------------------

TEXT = "a   b\n\n   c\t d\n"


def test_filter_whitespace_modes() -> None:
    assert filter_whitespace("all", TEXT) == TEXT
    assert filter_whitespace("single", TEXT) == "a b\nc d\n"
    assert filter_whitespace("oneline", TEXT) == "a b c d "
    with pytest.raises(Exception, match="invalid whitespace mode"):
        filter_whitespace("bogus", TEXT)


def test_default_whitespace_depends_on_the_name() -> None:
    assert render(TEXT, template_name="page.html") == b"a b\nc d\n"
    assert render(TEXT, template_name="app.js") == b"a b\nc d\n"
    assert render(TEXT, template_name="notes.txt") == TEXT.encode()
    assert render(TEXT) == TEXT.encode()


def test_whitespace_argument_directive_and_pre() -> None:
    assert Template(TEXT, whitespace="oneline").generate() == b"a b c d "
    assert Template(TEXT, compress_whitespace=True).generate() == b"a b\nc d\n"
    assert Template("x  y{% whitespace oneline %}\n\n z", name="p.html").generate() == b"x y z"
    # Text containing <pre> is left alone, as in Tornado.
    assert render("<pre>a   b</pre>", template_name="p.html") == b"<pre>a   b</pre>"
    with pytest.raises(Exception, match="cannot set both"):
        Template("x", whitespace="all", compress_whitespace=False)
    with pytest.raises(Exception, match="invalid whitespace mode"):
        Template("{% whitespace nope %}")


def test_loader_whitespace_default() -> None:
    loader = DictLoader({"a.txt": TEXT, "b.html": TEXT}, whitespace="oneline")
    assert loader.load("a.txt").generate() == b"a b c d "
    assert loader.load("b.html").generate() == b"a b c d "


# -- autoescape ---------------------------------------------------------------------


def test_autoescape_settings() -> None:
    assert Template("{{ x }}", autoescape=None).generate(x="<") == b"<"
    assert DictLoader({"t": "{{ x }}"}, autoescape=None).load("t").generate(x="<") == b"<"
    loader = DictLoader({"t": "{{ x }}"}, autoescape="shout", namespace={"shout": bytes.upper})
    assert loader.load("t").generate(x="hi") == b"HI"
    # The escaping function is looked up in the namespace: variables may replace it.
    assert Template("{{ x }}").generate(x="<", xhtml_escape=lambda b: b"[" + b + b"]") == b"[<]"


def test_autoescape_applies_per_file() -> None:
    loader = DictLoader(
        {
            "outer.html": "{{ x }}|{% include 'inner.html' %}",
            "inner.html": "{% autoescape None %}{{ x }}",
        }
    )
    assert loader.load("outer.html").generate(x="<") == b"&lt;|<"


def test_undefined_escaping_function_is_a_name_error() -> None:
    with pytest.raises(NameError, match="my_escape"):
        Template("{{ x }}", autoescape="my_escape").generate(x=1)


# -- inheritance, blocks and includes ---------------------------------------------------

LAYOUTS = {
    "base.html": (
        "<title>{% block title %}Default{% end %}</title>"
        "<body>{% block body %}base body{% end %}</body>"
    ),
    "middle.html": (
        "{% extends 'base.html' %}ignored text"
        "{% block body %}<main>{% block main %}middle main{% end %}</main>{% end %}"
    ),
    "page.html": (
        "{% extends \"middle.html\" %}"
        "{% block title %}{{ title }}{% end %}{% block main %}{% include 'part.html' %}{% end %}"
    ),
    "part.html": "<p>{{ title }} in {{ where }}</p>",
    "dir/child.html": "{% extends '../base.html' %}{% block title %}child{% end %}",
    "dir/sub/inc.html": "{% include '../../part.html' %}",
}


def test_extends_chain_with_blocks_and_include() -> None:
    loader = DictLoader(LAYOUTS)
    out = loader.load("page.html").generate(title="<T>", where="page")
    assert out == b"<title>&lt;T&gt;</title><body><main><p>&lt;T&gt; in page</p></main></body>"
    assert loader.load("middle.html").generate() == (
        b"<title>Default</title><body><main>middle main</main></body>"
    )
    assert loader.load("base.html").generate() == (
        b"<title>Default</title><body>base body</body>"
    )


def test_relative_paths_resolve_from_the_template_directory() -> None:
    loader = DictLoader(LAYOUTS)
    assert loader.load("dir/child.html").generate() == (
        b"<title>child</title><body>base body</body>"
    )
    assert loader.load("dir/sub/inc.html").generate(title="t", where="w") == b"<p>t in w</p>"


def test_include_shares_the_including_templates_variables() -> None:
    loader = DictLoader(
        {"a.html": "{% for x in [1, 2] %}{% include 'b.html' %}{% end %}", "b.html": "[{{ x }}]"}
    )
    assert loader.load("a.html").generate() == b"[1][2]"


def test_extends_and_include_need_a_loader() -> None:
    with pytest.raises(ParseError, match="needs a template loader"):
        Template("{% extends 'base.html' %}")
    with pytest.raises(ParseError, match="needs a template loader"):
        Template("{% include 'x.html' %}")


def test_include_cycles_are_reported() -> None:
    loader = DictLoader({"a.html": "{% include 'b.html' %}", "b.html": "{% include 'a.html' %}"})
    with pytest.raises(ParseError, match="include or extend each other"):
        loader.load("a.html")
    loader = DictLoader({"x.html": "{% extends 'x.html' %}"})
    with pytest.raises(ParseError, match="include or extend each other"):
        loader.load("x.html")


def test_missing_include_names_the_including_template() -> None:
    loader = DictLoader({"a.html": "line1\n{% include 'nope.html' %}"})
    with pytest.raises(ParseError) as info:
        loader.load("a.html")
    assert "nope.html" in str(info.value)
    assert str(info.value).endswith("at a.html:2")


def test_module_directive_calls_the_modules_namespace() -> None:
    class Modules:
        @staticmethod
        def Badge(label: str) -> str:
            return f"<b>{label}</b>"

    assert render("{% module Badge('x') %}", _tt_modules=Modules()) == b"<b>x</b>"


# -- parse errors --------------------------------------------------------------------

PARSE_ERRORS = [
    ("a\n{% if x %}", "Missing {% end %} block for if", 2),
    ("{% end %}", "Extra {% end %} block", 1),
    ("\n{% else %}", "else outside if or for or while or try block", 2),
    ("{% for x in y %}{% elif z %}{% end %}", "elif block cannot be attached to for block", 1),
    ("{% break %}", "break outside for or while block", 1),
    ("{% for x in y %}{% apply f %}{% continue %}{% end %}{% end %}",
     "continue outside for or while block", 1),
    ("{{ }}", "Empty expression", 1),
    ("{% %}", "Empty block tag ({% %})", 1),
    ("a\nb {{ x", "Missing end expression }}", 2),
    ("{% if x", "Missing end block %}", 1),
    ("{# c", "Missing end comment #}", 1),
    ("\n\n{% bogus %}", "unknown operator: 'bogus'", 3),
    ("{% set %}", "set missing statement", 1),
    ("{% block %}{% end %}", "block missing name", 1),
    ("{% apply %}{% end %}", "apply missing method name", 1),
    ("{% extends %}", "extends missing file path", 1),
    ("a\n\n{{ 1 + }}", "invalid Python in template", 3),
    ("{% if x y %}{% end %}", "invalid Python in template", 1),
]


@pytest.mark.parametrize("source, message, line", PARSE_ERRORS)
def test_parse_errors_name_the_file_and_line(source: str, message: str, line: int) -> None:
    with pytest.raises(ParseError) as info:
        Template(source, name="t.html")
    error = info.value
    assert message in error.message
    assert (error.filename, error.lineno) == ("t.html", line)
    assert str(error) == f"{error.message} at t.html:{line}"


def test_syntax_error_in_an_included_template_names_that_template() -> None:
    loader = DictLoader({"a.html": "{% include 'b.html' %}", "b.html": "ok\n{{ 1 + }}"})
    with pytest.raises(ParseError) as info:
        loader.load("a.html")
    assert (info.value.filename, info.value.lineno) == ("b.html", 2)


# -- runtime errors -------------------------------------------------------------------


def _last_template_frame(error: BaseException) -> tuple[str, int, str | None]:
    frames = traceback.extract_tb(error.__traceback__)
    frame = frames[-1]
    return frame.filename, frame.lineno or 0, frame.line


def test_runtime_error_traceback_points_at_the_template_line() -> None:
    loader = DictLoader(
        {
            "base.html": "<html>\n{% block body %}{% end %}\n</html>",
            "page.html": (
                "{% extends 'base.html' %}\n{% block body %}\n  fine\n  {{ 1 / 0 }}\n{% end %}"
            ),
            "outer.html": "x\n{% include 'inner.html' %}",
            "inner.html": "p\np\n{{ undefined_name }}",
        }
    )
    with pytest.raises(ZeroDivisionError) as info:
        loader.load("page.html").generate()
    assert _last_template_frame(info.value) == ("page.html", 4, "{{ 1 / 0 }}")
    with pytest.raises(NameError) as name_info:
        loader.load("outer.html").generate()
    assert _last_template_frame(name_info.value) == ("inner.html", 3, "{{ undefined_name }}")


def test_runtime_error_in_a_file_template_shows_its_path(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>\n{% for x in xs %}\n{{ x.missing }}\n{% end %}")
    loader = Loader(str(tmp_path))
    with pytest.raises(AttributeError) as info:
        loader.load("page.html").generate(xs=[1])
    assert _last_template_frame(info.value) == (str(tmp_path / "page.html"), 3, "{{ x.missing }}")


def test_runtime_error_in_a_called_function_keeps_its_frames() -> None:
    def explode() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError) as info:
        Template("a\n{{ explode() }}").generate(explode=explode)
    names = [(f.filename, f.name) for f in traceback.extract_tb(info.value.__traceback__)]
    assert ("<string>", "template") in names
    assert names[-1] == (__file__, "explode")


# -- loaders and caching ------------------------------------------------------------------


def test_loader_reads_files_and_caches(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("v1 {{ x }}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.html").write_text("{% extends '../t.html' %}")
    loader = Loader(str(tmp_path))
    first = loader.load("t.html")
    assert first.generate(x=1) == b"v1 1"
    assert loader.load("sub/child.html").generate(x=2) == b"v1 2"
    (tmp_path / "t.html").write_text("v2 {{ x }}")
    assert loader.load("t.html") is first  # compiled once, cached
    loader.reset()
    assert loader.load("t.html").generate(x=1) == b"v2 1"


def test_loader_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Loader(str(tmp_path)).load("missing.html")


def test_dict_loader_missing_template_raises() -> None:
    with pytest.raises(KeyError):
        DictLoader({}).load("missing.html")


def test_loader_namespace_is_available_and_kwargs_override_it() -> None:
    loader = DictLoader({"t": "{{ greet }} {{ who }}"}, namespace={"greet": "hi", "who": "all"})
    assert loader.load("t").generate(who="you") == b"hi you"


def test_template_is_compiled_once_and_exposes_its_code() -> None:
    template = Template("{% for i in range(2) %}{{ i }}{% end %}")
    assert "def _tt_execute" in template.code
    assert template.generate() == template.generate() == b"01"


def test_generate_accepts_bytes_source_and_returns_bytes() -> None:
    template = Template("caf\u00e9 {{ x }}".encode())
    assert template.generate(x="\u00e9") == "caf\u00e9 \u00e9".encode()


# -- parity with tornado.template through loaders --------------------------------------

LOADER_CORPUS = {
    "base.html": (
        "<!DOCTYPE html>\n<html>\n  <head>\n    <title>{% block title %}Site{% end %}</title>\n"
        "  </head>\n  <body>\n    {% block body %}\n      default body\n    {% end %}\n"
        "    {% include 'footer.html' %}\n  </body>\n</html>\n"
    ),
    "footer.html": "<footer>\n  {% block footer %}(c) {{ year }}{% end %}\n</footer>\n",
    "page.html": (
        "{% extends 'base.html' %}\n  text outside blocks is dropped\n"
        "{% block title %}{{ title }}{% end %}\n"
        "{% block body %}\n  <ul>\n  {% for i, row in enumerate(rows) %}\n"
        "    <li class=\"{{ 'odd' if i % 2 else 'even' }}\">{{ row }}</li>\n"
        "    {% if i == 1 %}{% continue %}{% end %}\n"
        "  {% else %}\n    <li>end</li>\n  {% end %}\n  </ul>\n"
        "  {% apply linkify %}   see   http://a.b   {% end %}\n"
        "  {% set total = len(rows) %}{{ total }} rows\n"
        "{% end %}\n{% block footer %}custom footer {{ year }}{% end %}\n"
    ),
    "raw.txt": "{% autoescape None %}{{ '<raw>' }}\n   spaced   \n",
    "js/app.js": "var x = {{ json_encode(data) }};\n\n\n   var y;\n",
    "js/inc.js": "{% include 'app.js' %}{% include '../raw.txt' %}",
    "pre.html": "<pre>\n  keep   this\n</pre>\n   squeeze   this\n",
}


@pytest.mark.parametrize("name", sorted(LOADER_CORPUS))
def test_loader_parity_with_tornado(name: str) -> None:
    variables = {"title": "<T>", "year": 2026, "rows": ["a&b", "<c>", "d"], "data": {"k": "</"}}
    ours = DictLoader(LOADER_CORPUS).load(name).generate(**variables)
    theirs = tornado.template.DictLoader(LOADER_CORPUS).load(name).generate(**variables)
    assert ours == theirs


def test_loader_errors_name_the_referring_line() -> None:
    with pytest.raises(ParseError) as info:
        Template("a\n\n{% include 'x.html' %}", name="t.html")
    assert str(info.value).endswith("at t.html:3")
    loader = DictLoader({"a.html": "a\n{% include 'b.html' %}", "b.html": "{% include 'a.html' %}"})
    with pytest.raises(ParseError) as cycle:
        loader.load("a.html")
    assert "a.html -> b.html -> a.html" in str(cycle.value)
    assert cycle.value.lineno == 1 and cycle.value.filename == "b.html"
