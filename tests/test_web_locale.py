"""RequestHandler.locale, get_user_locale and get_browser_locale, over both drivers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dualweb import locale
from dualweb.template import DictLoader
from dualweb.web import Application, RequestHandler
from dualweb.web.localization import accept_language_codes
from tests.support import Client
from tests.test_locale import reset_locale_state, write_csv

ClientFor = Callable[..., Client]


@pytest.fixture(autouse=True)
def translations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """es_LA, es, fr and de loaded for each test; no catalogs afterwards."""
    directory = tmp_path_factory.mktemp("translations")
    write_csv(directory, "es_LA.csv", '"Hello","Hola"\n')
    write_csv(directory, "es.csv", '"Hello","Buenas"\n')
    write_csv(directory, "fr.csv", '"Hello","Bonjour"\n')
    write_csv(directory, "de_DE.csv", '"Hello","Hallo"\n')
    locale.load_translations(str(directory))
    yield
    reset_locale_state(tmp_path_factory.mktemp("empty"))


class Greeting(RequestHandler):
    def get(self) -> None:
        self.write(f"{self.locale.code} {self.locale.translate('Hello')}")


def app_with(handler: type[RequestHandler]) -> Application:
    return Application([(r"/", handler)])


def greet(client: Client, accept_language: str | None) -> str:
    headers = {} if accept_language is None else {"Accept-Language": accept_language}
    response = client.get("/", headers=headers)
    assert response.status == 200, response
    return response.text


def test_browser_locale_ranks_by_quality(client_for: ClientFor) -> None:
    client = client_for(app_with(Greeting))
    assert greet(client, None) == "en_US Hello"
    assert greet(client, "es-LA") == "es_LA Hola"
    assert greet(client, "es-MX,es;q=0.9") == "es Buenas"
    assert greet(client, "en;q=0.1, fr;q=0.5, de-DE;q=0.7") == "de_DE Hallo"
    # Equal qualities keep the client's order; q=0 means "not this one".
    assert greet(client, "fr, de-de") == "fr Bonjour"
    assert greet(client, "fr;q=0, de-de;q=0.2") == "de_DE Hallo"
    assert greet(client, "pt-BR, *;q=0.5") == "en_US Hello"
    assert greet(client, "FR-ca ; Q=0.8") == "fr Bonjour"
    # q is found among other parameters, in any letter case.
    assert greet(client, "fr;level=1;q=0.1, de-DE;Q=0.5") == "de_DE Hallo"


@pytest.mark.parametrize(
    "header",
    [
        "fr;q=abc, de-DE",
        "fr;q=, de-DE",
        "fr;q=2, de-DE",
        "fr;q=-1, de-DE",
        "fr;q=nan, de-DE",
        "fr;q=inf, de-DE",
        "fr;q=1e400, de-DE",
        ",,;, de-DE;;",
        "fr;q, de-DE",
        "fr;q=0.5.5, de-DE",
        "de-DE; level=1; q=0.9, ;q=1",
    ],
)
def test_malformed_accept_language_is_ignored(client_for: ClientFor, header: str) -> None:
    assert greet(client_for(app_with(Greeting)), header) == "de_DE Hallo"


@pytest.mark.parametrize("header", ["", " ", ";q=0.5", "fr;q=0", "x-klingon-tlh-foo"])
def test_useless_accept_language_gives_the_default_locale(
    client_for: ClientFor, header: str
) -> None:
    assert greet(client_for(app_with(Greeting)), header) == "en_US Hello"


def test_accept_language_codes() -> None:
    assert accept_language_codes("da, en-gb;q=0.8, en;q=0.7") == ["da", "en-gb", "en"]
    assert accept_language_codes("en;q=0.5,fr;q=0.5,de;q=0.9") == ["de", "en", "fr"]
    assert accept_language_codes("fr;q=0, de;q=abc, it;q=0.001") == ["it"]
    assert accept_language_codes("") == []


def test_get_browser_locale_default(client_for: ClientFor) -> None:
    class Default(RequestHandler):
        def get(self) -> None:
            self.write(self.get_browser_locale(default="es_LA").code)

    client = client_for(app_with(Default))
    assert client.get("/").text == "es_LA"
    assert client.get("/", headers={"Accept-Language": "fr"}).text == "fr"
    # The header named no loaded locale: the application default, not `default`.
    assert client.get("/", headers={"Accept-Language": "ja"}).text == "en_US"


def test_user_locale_wins_over_the_browser(client_for: ClientFor) -> None:
    class UserChoice(Greeting):
        def get_user_locale(self) -> locale.Locale | None:
            choice = self.get_argument("lang", None)
            return locale.get(choice) if choice else None

    client = client_for(app_with(UserChoice))
    assert client.get("/?lang=fr", headers={"Accept-Language": "de"}).text == "fr Bonjour"
    assert client.get("/", headers={"Accept-Language": "de-DE"}).text == "de_DE Hallo"


def test_locale_is_computed_once_and_settable(client_for: ClientFor) -> None:
    calls: list[str] = []

    class Settable(RequestHandler):
        def get_user_locale(self) -> locale.Locale | None:
            calls.append("user")
            return None

        def prepare(self) -> None:
            if self.get_argument("force", None):
                self.locale = locale.get("es_LA")

        def get(self) -> None:
            first, second = self.locale, self.locale
            assert first is second
            self.write(first.translate("Hello"))

    client = client_for(app_with(Settable))
    assert client.get("/", headers={"Accept-Language": "fr"}).text == "Bonjour"
    assert calls == ["user"]
    assert client.get("/?force=1", headers={"Accept-Language": "fr"}).text == "Hola"
    assert calls == ["user"]


def test_locale_in_templates_namespace(client_for: ClientFor) -> None:
    class Namespace(RequestHandler):
        def get(self) -> None:
            namespace: dict[str, Any] = self.get_template_namespace()
            self.write(f"{namespace['locale'].code} {namespace['_']('Hello')}")

    client = client_for(app_with(Namespace))
    assert client.get("/", headers={"Accept-Language": "es-419, es"}).text == "es Buenas"


def test_templates_translate_with_underscore_and_pgettext(client_for: ClientFor) -> None:
    class Page(RequestHandler):
        def get(self) -> None:
            self.render("page.html")

    loader = DictLoader({"page.html": '{{ _("Hello") }}/{{ pgettext("greeting", "Hello") }}'})
    client = client_for(Application([(r"/", Page)], template_loader=loader))
    response = client.get("/", headers={"Accept-Language": "es"})
    assert (response.status, response.text) == (200, "Buenas/Buenas")
