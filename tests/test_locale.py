"""dualweb.locale: CSV and gettext catalogs, locale choice, dates, lists and numbers."""

from __future__ import annotations

import codecs
import datetime
import logging
import struct
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import tornado.locale

import dualweb.locale
from dualweb.locale import (
    LOCALE_NAMES,
    CSVLocale,
    GettextLocale,
    Locale,
    get,
    get_supported_locales,
    load_gettext_translations,
    load_translations,
    set_default_locale,
)

UTC = datetime.timezone.utc
EN_PLURALS = "nplurals=2; plural=(n != 1);"
FR_PLURALS = "nplurals=2; plural=(n > 1);"

ES_LA = """\
"Sign out","Cerrar sesión"
"%(name)s liked this","A %(name)s les gustó esto","plural"
"%(name)s liked this","A %(name)s le gustó esto","singular"
"January","enero"
"Monday","lunes"
"%(commas)s and %(last)s","%(commas)s y %(last)s"
"yesterday at %(time)s","ayer a las %(time)s"
"%(month_name)s %(day)s, %(year)s at %(time)s","%(day)s de %(month_name)s de %(year)s, %(time)s"
"""


def reset_locale_state(empty_dir: Path) -> None:
    """Back to Tornado's initial state: no catalogs, default en_US."""
    set_default_locale("en_US")
    load_translations(str(empty_dir))


@pytest.fixture(autouse=True)
def fresh_locales(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    empty = tmp_path_factory.mktemp("no-translations")
    reset_locale_state(empty)
    yield
    reset_locale_state(empty)


def write_csv(directory: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = directory / name
    path.write_bytes(text.encode(encoding))
    return path


def write_mo(path: Path, messages: dict[str, str | list[str]], plural_forms: str) -> Path:
    """Compile a gettext catalog (the GNU .mo layout) without msgfmt.

    Keys are msgids; ``"ctx\\x04msgid"`` adds a context and ``"one\\x00many"``
    a plural, whose value is then the list of translated forms.
    """
    entries = {"": f"Content-Type: text/plain; charset=UTF-8\nPlural-Forms: {plural_forms}\n"}
    for key, value in messages.items():
        entries[key] = "\x00".join(value) if isinstance(value, list) else value
    ids = sorted(entries)
    count = len(ids)
    originals_at = 28
    translations_at = originals_at + 8 * count
    data_at = translations_at + 8 * count
    blob = b""
    tables: list[bytes] = [b"", b""]
    columns = ([k.encode() for k in ids], [entries[k].encode() for k in ids])
    for table, strings in enumerate(columns):
        for raw in strings:
            tables[table] += struct.pack("<2I", len(raw), data_at + len(blob))
            blob += raw + b"\x00"
    header = struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + tables[0] + tables[1] + blob)
    return path


def mo_path(directory: Path, code: str, domain: str = "app") -> Path:
    return directory / code / "LC_MESSAGES" / f"{domain}.mo"


# ---------------------------------------------------------------- CSV catalogs


def test_csv_translate_and_plural_rows(tmp_path: Path) -> None:
    write_csv(tmp_path, "es_LA.csv", ES_LA)
    load_translations(str(tmp_path))
    es = get("es_LA")
    assert isinstance(es, CSVLocale)
    assert es.translate("Sign out") == "Cerrar sesión"
    assert es.translate("Not in the file") == "Not in the file"
    liked, liked_plural = "%(name)s liked this", "%(name)s liked this"
    assert es.translate(liked, liked_plural, 1) % {"name": "Ana"} == "A Ana le gustó esto"
    for count in (0, 2, 5):
        assert es.translate(liked, liked_plural, count) == "A %(name)s les gustó esto"
    # An untranslated plural message falls back to the English form for the count.
    assert es.translate("1 apple", "%(n)d apples", 1) == "1 apple"
    assert es.translate("1 apple", "%(n)d apples", 3) == "%(n)d apples"
    assert get_supported_locales() == frozenset({"es_LA", "en_US"})
    assert (es.code, es.name, es.rtl) == ("es_LA", "Español", False)


def test_plural_message_without_count_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="count"):
        get("en_US").translate("1 apple", "%(n)d apples")
    with pytest.raises(ValueError, match="count"):
        get("en_US").pgettext("fruit", "1 apple", "%(n)d apples")


def test_csv_utf16_and_utf8_bom_and_explicit_encoding(tmp_path: Path) -> None:
    write_csv(tmp_path, "fr_FR.csv", '"Sign out","Se déconnecter"\n', "utf-16")
    write_csv(tmp_path, "de_DE.csv", '"Sign out","Abmelden"\n', "utf-8-sig")
    load_translations(str(tmp_path))
    assert get("fr_FR").translate("Sign out") == "Se déconnecter"
    assert get("de_DE").translate("Sign out") == "Abmelden"

    latin = tmp_path / "latin"
    latin.mkdir()
    write_csv(latin, "pt_BR.csv", '"Sign out","Saída rápida"\n', "latin-1")
    load_translations(str(latin), encoding="latin-1")
    assert get("pt_BR").translate("Sign out") == "Saída rápida"
    # Each load replaces the previous catalogs.
    assert get_supported_locales() == frozenset({"pt_BR", "en_US"})


def test_csv_quoted_fields_spanning_lines(tmp_path: Path) -> None:
    write_csv(tmp_path, "es.csv", '"Line one\nline two","Línea uno\nlínea dos"\n\n"a","b"\n')
    load_translations(str(tmp_path))
    assert get("es").translate("Line one\nline two") == "Línea uno\nlínea dos"
    assert get("es").translate("a") == "b"


def test_malformed_rows_are_logged_with_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_csv(
        tmp_path,
        "es_LA.csv",
        '"multi\nline","varias líneas"\n'  # lines 1-2
        '"Sign out","Cerrar sesión"\n'  # line 3
        '"%(n)d apples","%(n)d manzanas","plurals"\n'  # line 4: bad indicator
        '"lonely"\n'  # line 5: no translation
        '"Monday","lunes"\n',  # line 6
    )
    with caplog.at_level(logging.ERROR, logger="dualweb.general"):
        load_translations(str(tmp_path))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert errors[0].startswith(f"{path}, line 4: unrecognized plural indicator 'plurals'")
    assert errors[1].startswith(f"{path}, line 5: expected")
    es = get("es_LA")
    assert es.translate("Sign out") == "Cerrar sesión"
    assert es.translate("Monday") == "lunes"
    assert es.translate("%(n)d apples", "%(n)d apples", 3) == "%(n)d apples"


def test_file_name_that_is_not_a_locale_code_is_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path, "Spanish.csv", '"a","b"\n')
    write_csv(tmp_path, "notes.txt", "not a catalog")
    write_csv(tmp_path, "fr.csv", '"a","c"\n')
    with caplog.at_level(logging.ERROR, logger="dualweb.general"):
        load_translations(str(tmp_path))
    assert f"{tmp_path / 'Spanish.csv'}: file name is not a locale code" in caplog.text
    assert get_supported_locales() == frozenset({"fr", "en_US"})


def test_undecodable_file_raises_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "es_LA.csv"
    path.write_bytes('"a","b"\n"Sign out","Cerrar sesión"\n'.encode("latin-1"))
    with pytest.raises(ValueError) as info:
        load_translations(str(tmp_path))
    message = str(info.value)
    assert message.startswith(f"{path}, line 2: cannot decode the translation file as utf-8-sig")
    assert "encoding=" in message


def test_undecodable_utf16_file_raises_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "fr.csv"
    # A lone high surrogate on line 3.
    text = '"a","b"\n"c","d"\n"e","'.encode("utf-16-le")
    path.write_bytes(codecs.BOM_UTF16_LE + text + b"\x00\xd8")
    with pytest.raises(ValueError, match=r"fr\.csv, line 3: cannot decode .* as utf-16"):
        load_translations(str(tmp_path))


def test_broken_csv_record_raises_naming_file_and_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "de.csv", '"a","b"\n"c","' + "x" * 200_000 + '"\n')
    with pytest.raises(ValueError, match=rf"^{path}, line 2: malformed CSV: field larger"):
        load_translations(str(tmp_path))


def test_csv_pgettext_ignores_the_context_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path, "es_LA.csv", ES_LA)
    load_translations(str(tmp_path))
    es = get("es_LA")
    with caplog.at_level(logging.WARNING, logger="dualweb.general"):
        assert es.pgettext("button", "Sign out") == "Cerrar sesión"
        assert es.pgettext("link", "Sign out") == "Cerrar sesión"
        liked = "%(name)s liked this"
        assert es.pgettext("feed", liked, liked, 2) == "A %(name)s les gustó esto"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "CSV translations have no contexts" in warnings[0].getMessage()
    # The default locale has no catalog: nothing to warn about.
    caplog.clear()
    assert get("en_US").pgettext("button", "Sign out") == "Sign out"
    assert caplog.records == []


# ---------------------------------------------------------------- gettext catalogs


def test_gettext_translate_plural_rules_and_contexts(tmp_path: Path) -> None:
    write_mo(
        mo_path(tmp_path, "fr_FR"),
        {
            "Sign out": "Se déconnecter",
            "%(n)d file\x00%(n)d files": ["%(n)d fichier", "%(n)d fichiers"],
            "direction\x04right": "droite",
            "law\x04right": "droit",
            "law\x04%(n)d right\x00%(n)d rights": ["%(n)d droit", "%(n)d droits"],
        },
        FR_PLURALS,
    )
    write_mo(
        mo_path(tmp_path, "ru_RU"),
        {"%(n)d file\x00%(n)d files": ["%(n)d файл", "%(n)d файла", "%(n)d файлов"]},
        "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : "
        "n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
    )
    load_gettext_translations(str(tmp_path), "app")
    assert get_supported_locales() == frozenset({"fr_FR", "ru_RU", "en_US"})
    fr = get("fr_FR")
    assert isinstance(fr, GettextLocale)
    assert fr.translate("Sign out") == "Se déconnecter"
    assert fr.translate("Untranslated") == "Untranslated"
    files = ("%(n)d file", "%(n)d files")
    # French: 0 and 1 are singular.
    assert [fr.translate(*files, n) for n in (0, 1, 2)] == [
        "%(n)d fichier",
        "%(n)d fichier",
        "%(n)d fichiers",
    ]
    ru = get("ru_RU")
    assert [ru.translate(*files, n) % {"n": n} for n in (1, 3, 5, 11, 21, 22)] == [
        "1 файл",
        "3 файла",
        "5 файлов",
        "11 файлов",
        "21 файл",
        "22 файла",
    ]
    assert fr.pgettext("direction", "right") == "droite"
    assert fr.pgettext("law", "right") == "droit"
    assert fr.pgettext("politics", "right") == "right"
    assert fr.pgettext("law", "%(n)d right", "%(n)d rights", 2) == "%(n)d droits"
    assert fr.pgettext("sport", "%(n)d right", "%(n)d rights", 2) == "%(n)d rights"
    assert fr.gettext("Sign out") == "Se déconnecter"
    assert fr.ngettext(*files, 5) == "%(n)d fichiers"


def test_gettext_regional_catalog_falls_back_to_the_language_catalog(tmp_path: Path) -> None:
    write_mo(mo_path(tmp_path, "es"), {"Sign out": "Salir", "Help": "Ayuda"}, EN_PLURALS)
    write_mo(mo_path(tmp_path, "es_LA"), {"Sign out": "Cerrar sesión"}, EN_PLURALS)
    load_gettext_translations(str(tmp_path), "app")
    assert get("es_LA").translate("Sign out") == "Cerrar sesión"
    assert get("es_LA").translate("Help") == "Ayuda"
    assert get("es_MX").translate("Sign out") == "Salir"


def test_gettext_reload_reads_edited_catalogs(tmp_path: Path) -> None:
    write_mo(mo_path(tmp_path, "de"), {"Sign out": "Abmelden"}, EN_PLURALS)
    load_gettext_translations(str(tmp_path), "app")
    assert get("de").translate("Sign out") == "Abmelden"
    write_mo(mo_path(tmp_path, "de"), {"Sign out": "Ausloggen"}, EN_PLURALS)
    load_gettext_translations(str(tmp_path), "app")
    assert get("de").translate("Sign out") == "Ausloggen"


def test_unreadable_gettext_catalog_is_logged_with_its_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_mo(mo_path(tmp_path, "fr"), {"Sign out": "Se déconnecter"}, FR_PLURALS)
    broken = mo_path(tmp_path, "de")
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not a catalog")
    other_domain = mo_path(tmp_path, "it", domain="other")
    write_mo(other_domain, {"Sign out": "Esci"}, EN_PLURALS)
    (tmp_path / "README").write_text("not a locale directory")
    write_mo(mo_path(tmp_path, "C"), {"Sign out": "?"}, EN_PLURALS)
    with caplog.at_level(logging.ERROR, logger="dualweb.general"):
        load_gettext_translations(str(tmp_path), "app")
    assert f"{broken}: cannot load the gettext catalog" in caplog.text
    assert "locale de skipped" in caplog.text
    assert f"{tmp_path / 'C'}: 'C' is not a language code gettext accepts" in caplog.text
    assert get_supported_locales() == frozenset({"fr", "en_US"})
    assert get("fr").translate("Sign out") == "Se déconnecter"


# ---------------------------------------------------------------- choosing a locale


def test_get_closest_fallbacks(tmp_path: Path) -> None:
    write_csv(tmp_path, "es.csv", '"Sign out","Salir"\n')
    write_csv(tmp_path, "pt_BR.csv", '"Sign out","Sair"\n')
    load_translations(str(tmp_path))
    assert get("es_LA").code == "es"
    assert get("ES-la").code == "es"
    assert get("pt-br").code == "pt_BR"
    assert get("pt").code == "en_US"  # pt_BR does not back up pt
    assert get("xx_YY").code == "en_US"
    assert get("xx", "", "zh-Hant-TW", "es").code == "es"
    assert get().code == "en_US"
    assert Locale.get_closest("fr", "pt_BR").code == "pt_BR"
    assert get("es") is get("es_AR")  # one object per locale


def test_default_locale(tmp_path: Path) -> None:
    write_csv(tmp_path, "es.csv", '"Sign out","Salir"\n')
    load_translations(str(tmp_path))
    set_default_locale("es")
    assert get("xx").code == "es"
    assert get_supported_locales() == frozenset({"es"})
    set_default_locale("fr_FR")
    assert get_supported_locales() == frozenset({"es", "fr_FR"})
    fr = get("de")
    assert (fr.code, fr.name, fr.translate("Sign out")) == ("fr_FR", "Français", "Sign out")


def test_locale_get_of_an_unsupported_code_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"locale 'de_DE' is not supported \(supported: en_US\)"):
        Locale.get("de_DE")
    assert Locale.get("en_US").code == "en_US"


def test_name_rtl_and_locale_names() -> None:
    for code in ("fa_IR", "ar_AR", "he_IL", "de_DE", "unknown"):
        set_default_locale(code)
        locale = get(code)
        assert locale.rtl is (code[:2] in ("fa", "ar", "he"))
    assert get("unknown").name == "Unknown"
    assert repr(get("unknown")) == "<CSVLocale unknown>"
    assert LOCALE_NAMES["ja_JP"] == {"name_en": "Japanese", "name": "日本語"}
    assert len(LOCALE_NAMES) == 62
    # The same table as Tornado's, but for Tornado's "Ukraini " typo.
    theirs = dict(tornado.locale.LOCALE_NAMES)  # type: ignore[attr-defined]
    theirs["uk_UA"] = {"name_en": "Ukrainian", "name": "Українська"}
    assert theirs == LOCALE_NAMES


# ---------------------------------------------------------------- dates


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime.datetime]]:
    """Stop dualweb's (and Tornado's) clock at ``clock[0]``."""
    now = [datetime.datetime(2024, 3, 1, 10, 0, tzinfo=UTC)]
    monkeypatch.setattr(dualweb.locale, "_utcnow", lambda: now[0])

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> FrozenDatetime:
            return now[0]  # type: ignore[return-value]

    frozen = types.SimpleNamespace(
        datetime=FrozenDatetime,
        timedelta=datetime.timedelta,
        timezone=datetime.timezone,
        UTC=UTC,
    )
    monkeypatch.setattr(tornado.locale, "datetime", frozen)
    yield now


def at(year: int, month: int, day: int, hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_relative_seconds_minutes_hours(clock: list[datetime.datetime]) -> None:
    en = get("en_US")
    now = clock[0]
    ago = [
        (0, "0 seconds ago"),
        (1, "1 second ago"),
        (49, "49 seconds ago"),
        (50, "1 minute ago"),
        (89, "1 minute ago"),
        (90, "2 minutes ago"),
        (49 * 60, "49 minutes ago"),
        (50 * 60, "1 hour ago"),
        (90 * 60 + 1, "2 hours ago"),
        (23 * 3600 + 59 * 60, "24 hours ago"),
    ]
    for seconds, expected in ago:
        assert en.format_date(now - datetime.timedelta(seconds=seconds)) == expected, seconds
    # Naive datetimes are UTC; timestamps work too.
    assert en.format_date((now - datetime.timedelta(minutes=5)).replace(tzinfo=None)) == (
        "5 minutes ago"
    )
    assert en.format_date(now.timestamp() - 7200) == "2 hours ago"
    assert en.format_date(int(now.timestamp()) - 3) == "3 seconds ago"


def test_absolute_forms_across_month_and_year_boundaries(clock: list[datetime.datetime]) -> None:
    en = get("en_US")
    clock[0] = at(2024, 3, 1, 10, 0)  # a Friday; February 2024 has 29 days
    assert en.format_date(at(2024, 2, 29, 9, 5)) == "yesterday at 9:05 am"
    assert en.format_date(at(2024, 2, 29, 9, 5), shorter=True) == "yesterday"
    assert en.format_date(at(2024, 2, 29, 9, 5), relative=False) == "Thursday at 9:05 am"
    assert en.format_date(at(2024, 2, 28, 23, 0)) == "Wednesday at 11:00 pm"
    assert en.format_date(at(2024, 2, 26, 12, 0)) == "Monday at 12:00 pm"
    assert en.format_date(at(2024, 2, 25, 0, 30), shorter=True) == "February 25"
    assert en.format_date(at(2024, 3, 1, 0, 0), relative=False) == "12:00 am"

    clock[0] = at(2024, 1, 2, 8, 0)  # a Tuesday, just after New Year
    assert en.format_date(at(2024, 1, 1, 9, 0)) == "23 hours ago"
    assert en.format_date(at(2024, 1, 1, 7, 0)) == "yesterday at 7:00 am"
    assert en.format_date(at(2023, 12, 31, 18, 0)) == "Sunday at 6:00 pm"
    assert en.format_date(at(2023, 12, 24, 18, 0)) == "December 24 at 6:00 pm"
    # Up to 333 days old the year is left out even across New Year...
    assert en.format_date(at(2023, 2, 2, 18, 0)) == "February 2 at 6:00 pm"
    # ...from 334 days on it is shown.
    assert en.format_date(at(2023, 2, 1, 18, 0)) == "February 1, 2023 at 6:00 pm"
    assert en.format_date(at(2020, 7, 4, 13, 1), shorter=True) == "July 4, 2020"
    assert en.format_date(at(2023, 12, 31, 18, 0), full_format=True) == (
        "December 31, 2023 at 6:00 pm"
    )


def test_gmt_offset_moves_the_clock_and_the_day(clock: list[datetime.datetime]) -> None:
    en = get("en_US")
    clock[0] = at(2024, 3, 1, 3, 0)
    # 28 hours ago: in UTC that is Wednesday, for a reader at UTC-4 it was yesterday.
    assert en.format_date(at(2024, 2, 28, 23, 0)) == "Wednesday at 11:00 pm"
    assert en.format_date(at(2024, 2, 28, 23, 0), gmt_offset=240) == "yesterday at 7:00 pm"
    # Reader at UTC+5:30 (offset -330).
    assert en.format_date(at(2024, 3, 1, 1, 0), gmt_offset=-330, relative=False) == "6:30 am"
    assert en.format_date(at(2023, 12, 31, 22, 0), gmt_offset=-180, full_format=True) == (
        "January 1, 2024 at 1:00 am"
    )
    # An aware datetime in another zone is converted to UTC first.
    paris = datetime.timezone(datetime.timedelta(hours=1))
    noon_paris = datetime.datetime(2024, 2, 20, 12, 0, tzinfo=paris)
    assert en.format_date(noon_paris) == "February 20 at 11:00 am"
    assert en.format_date(noon_paris, gmt_offset=-60) == "February 20 at 12:00 pm"


def test_future_dates(clock: list[datetime.datetime]) -> None:
    en = get("en_US")
    now = clock[0]
    # Less than a minute ahead is clock skew: it reads as now.
    assert en.format_date(now + datetime.timedelta(seconds=30)) == "0 seconds ago"
    assert en.format_date(now + datetime.timedelta(seconds=30), relative=False) == (
        "March 1, 2024 at 10:00 am"
    )
    assert en.format_date(now + datetime.timedelta(minutes=2)) == "March 1, 2024 at 10:02 am"
    assert en.format_date(now + datetime.timedelta(days=1, seconds=10)) == (
        "March 2, 2024 at 10:00 am"
    )


def test_clock_styles_and_translated_dates(
    clock: list[datetime.datetime], tmp_path: Path
) -> None:
    write_csv(tmp_path, "es_LA.csv", ES_LA)
    load_translations(str(tmp_path))
    clock[0] = at(2024, 3, 1, 10, 0)
    es = get("es_LA")
    assert es.format_date(at(2024, 2, 29, 9, 5)) == "ayer a las 9:05"
    assert es.format_date(at(2024, 2, 28, 21, 5)) == "Wednesday at 21:05"
    assert es.format_date(at(2021, 1, 4, 7, 5)) == "4 de enero de 2021, 7:05"
    set_default_locale("zh_CN")
    zh = get("zh_CN")
    assert zh.format_date(at(2024, 2, 29, 9, 5)) == "yesterday at 上午9:05"
    assert zh.format_date(at(2024, 2, 28, 21, 5)) == "Wednesday at 下午9:05"
    assert zh.format_date(at(2024, 2, 28, 0, 5)) == "Wednesday at 上午12:05"
    set_default_locale("en")
    assert get("en").format_date(at(2024, 2, 28, 12, 5)) == "Wednesday at 12:05 pm"


def _matches_tornado(locale_code: str, now: datetime.datetime, date: datetime.datetime) -> None:
    ours, theirs = get(locale_code), tornado.locale.get(locale_code)
    for offset in (0, 240, -330, 720, -720):
        for relative in (True, False):
            for shorter in (True, False):
                for full in (True, False):
                    args = (date, offset, relative, shorter, full)
                    assert ours.format_date(*args) == theirs.format_date(*args), (now, args)


def test_format_date_matches_tornado(clock: list[datetime.datetime]) -> None:
    nows = [at(2024, 3, 1, 10, 0), at(2024, 1, 1, 0, 30), at(2023, 12, 31, 23, 59)]
    steps = [0, 1, 49, 50, 3000, 3600 * 5, 86_399, 86_400, 86_400 * 2 + 7, 86_400 * 4 + 3]
    steps += [86_400 * 6, 86_400 * 40, 86_400 * 333, 86_400 * 334, 86_400 * 900, -20, -120]
    for now in nows:
        clock[0] = now
        for step in steps:
            _matches_tornado("en_US", now, now - datetime.timedelta(seconds=step))


def test_format_day(clock: list[datetime.datetime]) -> None:
    en = get("en_US")
    day = datetime.datetime(2024, 3, 1, 2, 0)
    assert en.format_day(day) == "Friday, March 1"
    assert en.format_day(day, dow=False) == "March 1"
    assert en.format_day(day, gmt_offset=180) == "Thursday, February 29"
    assert en.format_day(at(2023, 12, 31, 23, 0), gmt_offset=-120) == "Monday, January 1"


# ---------------------------------------------------------------- lists and numbers


def test_list(tmp_path: Path) -> None:
    en = get("en_US")
    assert en.list([]) == ""
    assert en.list(["Ana"]) == "Ana"
    assert en.list(["Ana", "Bo"]) == "Ana and Bo"
    assert en.list(("Ana", "Bo", "Cy")) == "Ana, Bo and Cy"
    write_csv(tmp_path, "es_LA.csv", ES_LA)
    load_translations(str(tmp_path))
    assert get("es_LA").list(["Ana", "Bo", "Cy"]) == "Ana, Bo y Cy"
    set_default_locale("fa_IR")
    assert get("fa_IR").list(["A", "B", "C"]) == "A \u0648 B and C"


def test_friendly_number(tmp_path: Path) -> None:
    en = get("en_US")
    assert [en.friendly_number(n) for n in (0, 999, 1000, 1234567, -1234567)] == [
        "0",
        "999",
        "1,000",
        "1,234,567",
        "-1,234,567",
    ]
    set_default_locale("en")
    assert get("en").friendly_number(10**6) == "1,000,000"
    write_csv(tmp_path, "de_DE.csv", '"a","b"\n')
    load_translations(str(tmp_path))
    assert get("de_DE").friendly_number(1234567) == "1234567"
