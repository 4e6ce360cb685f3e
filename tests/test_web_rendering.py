"""RequestHandler.render / render_string, UI modules and methods, Jinja2Loader, in both modes."""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dualweb.web
from dualweb.template import DictLoader, Jinja2Loader
from dualweb.web import Application, RequestHandler, TemplateModule, UIModule
from tests.support import Client

ClientFor = Callable[..., Client]

PAGE = """<html><head><title>{{ title }}</title></head>
<body>{% block body %}{% end %}</body></html>"""


def write_templates(root: Path, templates: dict[str, str]) -> str:
    for name, text in templates.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


class Render(RequestHandler):
    def initialize(self, name: str = "page.html", **kwargs: Any) -> None:
        self.name = name
        self.kwargs = kwargs

    def get(self) -> None:
        self.render(self.name, **self.kwargs)


def app_with(templates: dict[str, str], tmp_path: Path, **settings: Any) -> Application:
    settings.setdefault("template_path", write_templates(tmp_path, templates))
    return Application(
        [
            ("/", Render),
            (r"/t/(?P<which>[\w.]+)", Named),
            ("/user", UserPage),
        ],
        **settings,
    )


class Named(RequestHandler):
    def get(self, which: str) -> None:
        self.render(which, title="<T>")


class UserPage(RequestHandler):
    def get_current_user(self) -> str:
        return "ann & bob"

    def get(self) -> None:
        self.render("user.html")


def test_render_with_layout_and_escaping(client_for: ClientFor, tmp_path: Path) -> None:
    app = app_with(
        {
            "base.html": PAGE,
            "list.html": (
                "{% extends 'base.html' %}{% block body %}"
                "{% for item in items %}<li>{{ item }}</li>{% end %}{% end %}"
            ),
        },
        tmp_path,
    )
    app.wildcard_router.add_rules([("/list", Render, {"name": "list.html", "title": "a<b",
                                                      "items": ["<x>", "y&"]})])
    response = client_for(app).get("/list")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.text == (
        "<html><head><title>a&lt;b</title></head>\n"
        "<body><li>&lt;x&gt;</li><li>y&amp;</li></body></html>"
    )


NAMESPACE_TEMPLATE = """\
handler={{ type(handler).__name__ }}
request={{ request.path }}
user={{ current_user }}
url={{ reverse_url('named', 'x.html') }}
escape={{ escape('<') }} {{ xhtml_escape('>') }} {{ url_escape('a b') }}
json={{ json_encode([1]) }} squeeze={{ squeeze('a   b') }}
linkify={% raw linkify('http://a.b') %}
date={{ datetime.date(2020, 1, 2) }}
locale={{ locale.code }} {{ _('hello') }}
"""


def test_template_namespace(client_for: ClientFor, tmp_path: Path) -> None:
    root = write_templates(tmp_path, {"user.html": NAMESPACE_TEMPLATE})
    app = Application(
        [("/user", UserPage), dualweb.web.url(r"/t/(.*)", Named, name="named")],
        template_path=root,
    )
    response = client_for(app).get("/user")
    assert response.status == 200, response.body
    assert response.text.splitlines() == [
        "handler=UserPage",
        "request=/user",
        "user=ann &amp; bob",
        "url=/t/x.html",
        "escape=&amp;lt; &amp;gt; a+b",
        "json=[1] squeeze=a b",
        'linkify=<a href="http://a.b">http://a.b</a>',
        "date=2020-01-02",
        "locale=en_US hello",
    ]


def test_xsrf_form_html_in_templates(client_for: ClientFor, tmp_path: Path) -> None:
    app = app_with(
        {"form.html": "<form>{% module xsrf_form_html() %}|{% raw xsrf_form_html() %}</form>"},
        tmp_path,
        xsrf_cookies=True,
    )
    response = client_for(app).get("/t/form.html")
    assert response.status == 200
    inputs = re.findall(r'<input type="hidden" name="_xsrf" value="[^"]+"/>', response.text)
    assert len(inputs) == 2
    assert "_xsrf" in response.cookies()


class Entry(UIModule):
    def render(self, entry: str, show: bool = True) -> str:
        return f"<article>{entry}</article>" if show else ""

    def embedded_javascript(self) -> str:
        return "var entries = 1;"

    def javascript_files(self) -> list[str]:
        return ["/js/entry.js", "https://cdn.example/lib.js", "/js/entry.js"]

    def embedded_css(self) -> str:
        return ".entry { color: red }"

    def css_files(self) -> str:
        return "/css/entry.css"

    def html_head(self) -> str:
        return "<meta name=entry>"

    def html_body(self) -> str:
        return "<div id=entry-footer></div>"


def shout(handler: RequestHandler, text: str) -> str:
    return f"{text.upper()} from {type(handler).__name__}"


def test_ui_modules_and_their_resources(client_for: ClientFor, tmp_path: Path) -> None:
    app = app_with(
        {
            "page.html": (
                "<html><head><title>t</title></head><body>"
                "{% module Entry('one') %}{% module Entry('two') %}{{ shout('hi') }}"
                "</body></html>"
            )
        },
        tmp_path,
        ui_modules={"Entry": Entry},
        ui_methods={"shout": shout},
    )
    response = client_for(app).get("/")
    assert response.status == 200, response.body
    assert response.text == (
        "<html><head><title>t</title>"
        '<link href="/css/entry.css" type="text/css" rel="stylesheet"/>\n'
        '<style type="text/css">\n.entry { color: red }\n</style>\n'
        "<meta name=entry>\n"
        "</head><body><article>one</article><article>two</article>HI from Render"
        '<script src="/js/entry.js" type="text/javascript"></script>'
        '<script src="https://cdn.example/lib.js" type="text/javascript"></script>\n'
        '<script type="text/javascript">\n//<![CDATA[\nvar entries = 1;\n//]]>\n</script>\n'
        "<div id=entry-footer></div>\n"
        "</body></html>"
    )


def test_ui_modules_from_a_python_module_and_a_list(tmp_path: Path) -> None:
    import types

    namespace = types.ModuleType("my_modules")
    namespace.Entry = Entry  # type: ignore[attr-defined]
    namespace.helper = shout  # type: ignore[attr-defined]
    namespace._private = shout  # type: ignore[attr-defined]
    app = Application([], ui_modules=[namespace], ui_methods=namespace)
    assert app.ui_modules["Entry"] is Entry
    assert app.ui_modules["Template"] is TemplateModule
    assert set(app.ui_methods) == {"helper"}


def test_template_module_and_set_resources(client_for: ClientFor, tmp_path: Path) -> None:
    app = app_with(
        {
            "page.html": (
                "<html><head></head><body>"
                "{% for e in ['a', 'b'] %}{% module Template('entry.html', entry=e) %}{% end %}"
                "</body></html>"
            ),
            "entry.html": (
                "{{ set_resources(embedded_css='.e{}', javascript_files='/e.js') }}"
                "<p>{{ entry }} {{ request.path }}</p>"
            ),
        },
        tmp_path,
    )
    response = client_for(app).get("/")
    assert response.status == 200, response.body
    assert response.text == (
        '<html><head><style type="text/css">\n.e{}\n</style>\n</head><body>'
        "<p>a /</p><p>b /</p>"
        '<script src="/e.js" type="text/javascript"></script>\n'
        "</body></html>"
    )


def test_render_string_and_render_after_finish(client_for: ClientFor, tmp_path: Path) -> None:
    class Twice(RequestHandler):
        def get(self) -> None:
            fragment = self.render_string("frag.html", x="<1>")
            self.finish(b"[" + fragment + b"]")
            try:
                self.render("frag.html", x=2)
            except RuntimeError as e:
                assert "after finish()" in str(e)
                self.application.settings["seen"] = True

    root = write_templates(tmp_path, {"frag.html": "x={{ x }}"})
    app = Application([("/", Twice)], template_path=root)
    response = client_for(app).get("/")
    assert response.text == "[x=&lt;1&gt;]"
    assert app.settings["seen"] is True


class Relative(UIModule):
    def render(self) -> str:
        return ""

    def javascript_files(self) -> str:
        return "js/app.js"


# (page.html source, settings, what the error log must contain; {root} is the template path)
ERROR_PAGES = [
    ("{% module Entry('x') %}", {"ui_modules": {"Entry": Entry}},
     ["Render.render(): the page uses UI modules", "has no </body> to insert them before"]),
    ("{% module Nope() %}", {}, ["no UI module named 'Nope'"]),
    ("<html><head></head><body>{% module Relative() %}</body></html>",
     {"ui_modules": {"Relative": Relative}},
     ["Render: you must define the 'static_path' setting in your application to use static_url"]),
    ("ok\n{% if x y %}{% end %}", {}, ["ParseError: invalid Python", "at page.html:2"]),
    ("one\ntwo\n{{ missing_variable }}", {},
     ['File "{root}/page.html", line 3', "NameError: name 'missing_variable' is not defined"]),
]


@pytest.mark.parametrize("source, settings, logged", ERROR_PAGES)
def test_template_errors_are_500_and_logged_precisely(
    client_for: ClientFor,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    source: str,
    settings: dict[str, Any],
    logged: list[str],
) -> None:
    app = app_with({"page.html": source}, tmp_path, **settings)
    with caplog.at_level(logging.ERROR):
        response = client_for(app).get("/")
    assert response.status == 500
    for fragment in logged:
        assert fragment.format(root=tmp_path) in caplog.text


@pytest.mark.parametrize(
    "settings, cached",
    [({}, True), ({"compiled_template_cache": False}, False), ({"debug": True}, False),
     ({"debug": True, "compiled_template_cache": True}, True)],
)
def test_compiled_template_cache(
    client_for: ClientFor, tmp_path: Path, settings: dict[str, Any], cached: bool
) -> None:
    settings.setdefault("autoreload", False)
    app = app_with({"page.html": "v1"}, tmp_path, **settings)
    client = client_for(app)
    assert client.get("/").text == "v1"
    (tmp_path / "page.html").write_text("v2")
    assert client.get("/").text == ("v1" if cached else "v2")


def test_autoescape_and_whitespace_settings(client_for: ClientFor, tmp_path: Path) -> None:
    app = app_with(
        {"page.html": "{{ title }}   \n\n  x"},
        tmp_path,
        autoescape=None,
        template_whitespace="oneline",
    )
    app.wildcard_router.add_rules([("/p", Render, {"title": "<b>"})])
    assert client_for(app).get("/p").text == "<b> x"


def test_template_loader_setting(client_for: ClientFor) -> None:
    loader = DictLoader({"page.html": "from dict: {{ title }}"})
    app = Application([("/", Render, {"title": "&"})], template_loader=loader)
    assert client_for(app).get("/").text == "from dict: &amp;"


def test_template_path_defaults_to_the_handler_module_directory(
    client_for: ClientFor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "handlers_here.py").write_text(
        "from dualweb.web import RequestHandler\n"
        "class Here(RequestHandler):\n"
        "    def get(self):\n"
        "        self.render('here.html', where='next to the module')\n"
    )
    (tmp_path / "here.html").write_text("{{ where }}")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("handlers_here")
    response = client_for(Application([("/", module.Here)])).get("/")
    assert response.text == "next to the module"


def test_get_template_path_and_create_template_loader_overrides(
    client_for: ClientFor, tmp_path: Path
) -> None:
    created: list[str] = []

    class Custom(RequestHandler):
        def get_template_path(self) -> str:
            return str(tmp_path / "custom")

        def create_template_loader(self, template_path: str) -> Any:
            created.append(template_path)
            return DictLoader({"page.html": "custom loader"})

        def get(self) -> None:
            self.render("page.html")

    client = client_for(Application([("/", Custom)]))
    assert client.get("/").text == "custom loader"
    assert client.get("/").text == "custom loader"
    assert created == [str(tmp_path / "custom")]  # one loader per application and path


JINJA_PAGE = """<html><head><title>{{ title }}</title></head><body>
{{ xsrf_form_html() }}
{{ modules.Entry('<one>') }}
{{ shout('hi') }} {{ current_user }} {{ request.path }} {{ json_encode([1]) }}
</body></html>"""


def test_jinja2_loader(client_for: ClientFor, tmp_path: Path) -> None:
    root = write_templates(tmp_path, {"page.html": JINJA_PAGE, "bad.html": "{% if %}"})
    app = Application(
        [("/", Render, {"title": "<T>"}), ("/bad", Render, {"name": "bad.html"})],
        template_loader=Jinja2Loader(root),
        ui_modules={"Entry": Entry},
        ui_methods={"shout": shout},
        xsrf_cookies=True,
    )
    client = client_for(app)
    response = client.get("/")
    assert response.status == 200, response.body
    text = response.text
    assert text.startswith("<html><head><title>&lt;T&gt;</title>")
    assert re.search(r'\n<input type="hidden" name="_xsrf" value="[^"]+"/>\n', text)
    assert "\n<article><one></article>\n" in text  # module HTML is not escaped again
    assert "\nHI from Render None / [1]\n" in text
    # The module's resources are injected as for Tornado-syntax templates.
    assert "<meta name=entry>\n</head>" in text
    assert "<div id=entry-footer></div>\n</body></html>" in text


def test_jinja2_loader_syntax_error_names_the_file(
    client_for: ClientFor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_templates(tmp_path, {"bad.html": "ok\n{% if %}"})
    app = Application([("/", Render, {"name": "bad.html"})], template_loader=Jinja2Loader(root))
    with caplog.at_level(logging.ERROR):
        assert client_for(app).get("/").status == 500
    assert "bad.html" in caplog.text and "line 2" in caplog.text


def test_exports() -> None:
    assert dualweb.web.UIModule is UIModule
    assert dualweb.web.TemplateModule is TemplateModule


class Profile(UIModule):
    def render(self, label: str) -> bytes:
        assert self.handler.ui is self.ui
        return self.render_string(
            "profile.html",
            label=label,
            who=self.current_user,
            where=self.request.path,
            code=self.locale.code,
            shouted=self.ui.shout("x"),
        )


def test_ui_module_attributes_and_builtin_modules(client_for: ClientFor, tmp_path: Path) -> None:
    root = write_templates(
        tmp_path,
        {
            "user.html": (
                "{% module Profile('<me>') %}|{% module linkify('see http://a.b') %}|"
                "{{ modules.Profile('again') }}"
            ),
            "profile.html": "{{ label }} {{ who }} {{ where }} {{ code }} {{ shouted }}",
        },
    )
    app = Application(
        [("/user", UserPage)],
        template_path=root,
        ui_modules={"Profile": Profile},
        ui_methods={"shout": shout},
    )
    response = client_for(app).get("/user")
    assert response.status == 200, response.body
    assert response.text == (
        "&lt;me&gt; ann &amp; bob /user en_US X from UserPage|"
        'see <a href="http://a.b">http://a.b</a>|'
        # modules.X(...) in {{ }} is escaped like any expression (use {% module %}).
        "again ann &amp;amp; bob /user en_US X from UserPage"
    )


def test_render_from_a_coroutine_natively(native_client_for: ClientFor, tmp_path: Path) -> None:
    class AsyncPage(RequestHandler):
        async def get(self) -> None:
            await self.render("page.html", title="async <ok>")

    root = write_templates(tmp_path, {"page.html": "{{ title }}"})
    client = native_client_for(Application([("/", AsyncPage)], template_path=root))
    assert client.get("/").text == "async &lt;ok&gt;"


def test_without_cache_templates_are_reloaded_once_per_request(
    client_for: ClientFor, tmp_path: Path
) -> None:
    resets: list[int] = []

    class CountingLoader(DictLoader):
        def reset(self) -> None:
            resets.append(1)
            super().reset()

    loader = CountingLoader(
        {"page.html": "{% for i in range(3) %}{% module Template('row.html', i=i) %}{% end %}",
         "row.html": "[{{ i }}]"}
    )
    app = Application([("/", Render)], template_loader=loader, compiled_template_cache=False)
    client = client_for(app)
    assert client.get("/").text == "[0][1][2]"
    assert client.get("/").text == "[0][1][2]"
    assert len(resets) == 2


def test_static_url_in_templates_and_module_files(client_for: ClientFor, tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    (static / "js" / "app.js").write_text("alert(1)")
    (static / "site.css").write_text("body {}")
    page = (
        '<html><head></head><body>{{ static_url("site.css") }}'
        "{% module Relative() %}</body></html>"
    )
    app = app_with(
        {"page.html": page}, tmp_path / "templates",
        static_path=str(static), ui_modules={"Relative": Relative},
    )
    response = client_for(app).get("/")
    assert response.status == 200
    assert re.search(r"</head><body>/static/site\.css\?v=[0-9a-f]{128}", response.text)
    assert re.search(r'<script src="/static/js/app\.js\?v=[0-9a-f]{128}"', response.text)
