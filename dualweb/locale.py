"""Translations and locale-aware formatting (Tornado's ``tornado.locale``).

Load the translations once at start-up, then pick a :class:`Locale` per
request (``RequestHandler.locale`` does it from the user's settings or the
``Accept-Language`` header)::

    dualweb.locale.load_translations("translations")   # es_LA.csv, fr_FR.csv, ...
    user_locale = dualweb.locale.get("es_LA", "fr_FR")
    user_locale.translate("Sign out")
    user_locale.translate("%(n)d new message", "%(n)d new messages", n) % {"n": n}
    user_locale.format_date(message_time)               # "2 minutes ago"

Two catalog formats are supported, as in Tornado:

* CSV (:func:`load_translations`): one file per locale named after its code
  (``es_LA.csv``), rows ``"message","translation"`` with an optional third
  column ``plural``, ``singular`` or ``unknown`` telling which form of a
  plural message the row translates.
* gettext (:func:`load_gettext_translations`): compiled ``.mo`` catalogs in
  ``{directory}/{code}/LC_MESSAGES/{domain}.mo``, with the catalog's own plural
  rules and message contexts (:meth:`Locale.pgettext`).

Malformed catalogs. A file that cannot be read at all (bytes that do not
decode in its encoding, a broken CSV record) raises :class:`ValueError` naming
the file and the line, so the mistake stops the application at start-up. A
bad entry in an otherwise readable file (a row without a translation, an
unknown plural indicator, a file name that is not a locale code, a ``.mo``
file gettext rejects) is logged at ERROR on ``dualweb.general`` with the file
and line and skipped, as Tornado skips them, so applications that loaded under
Tornado still load.

The loaded catalogs, the default locale and the :class:`Locale` objects are
process-wide, like Tornado's; each load replaces the previous catalogs.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import gettext
import io
import os
import re
import struct
from collections.abc import Sequence

from dualweb.log import gen_log

__all__ = [
    "CONTEXT_SEPARATOR",
    "LOCALE_NAMES",
    "CSVLocale",
    "GettextLocale",
    "Locale",
    "get",
    "get_supported_locales",
    "load_gettext_translations",
    "load_translations",
    "set_default_locale",
]

#: Joins a message context and a message in gettext catalogs (``msgctxt``).
CONTEXT_SEPARATOR = "\x04"

# A CSV catalog: plural indicator -> message -> translation.
_CSVTranslations = dict[str, dict[str, str]]

_PLURAL_INDICATORS = ("plural", "singular", "unknown")
_CSV_FILE_CODE = re.compile(r"[a-z]+(?:_[A-Z]+)?\Z")
_RTL_LANGUAGES = ("fa", "ar", "he")
# Locales whose times read "3:07 pm"; every other locale gets a 24-hour clock.
_TWELVE_HOUR_LOCALES = frozenset(("en", "en_US"))
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Past dates read as a weekday up to 5 days back, as "March 3" up to 334 days
# back (11 months, so that the same day a year earlier is never ambiguous).
_WEEKDAY_SPAN_DAYS = 5
_NO_YEAR_SPAN_DAYS = 334


class _Catalogs:
    """The process-wide translation state behind the module functions."""

    __slots__ = ("default", "locales", "supported", "translations")

    def __init__(self) -> None:
        self.default = "en_US"
        self.translations: dict[str, _CSVTranslations | gettext.NullTranslations] = {}
        self.supported = frozenset((self.default,))
        self.locales: dict[str, Locale] = {}

    def install(self, translations: dict[str, _CSVTranslations | gettext.NullTranslations]) -> None:
        """Replace the loaded catalogs (and forget the Locale objects built from the old ones)."""
        self.translations = translations
        self._refresh()
        gen_log.debug("Supported locales: %s", sorted(self.supported))

    def set_default(self, code: str) -> None:
        self.default = code
        self._refresh()

    def _refresh(self) -> None:
        self.supported = frozenset((*self.translations, self.default))
        self.locales = {}


_catalogs = _Catalogs()


def get(*locale_codes: str) -> Locale:
    """Return the supported :class:`Locale` closest to ``locale_codes`` (best first).

    ``get("es_LA", "fr")`` returns ``es_LA`` if it is loaded, else ``es``,
    else ``fr``, else the default locale. Codes may use ``-`` (``"pt-br"``)
    and any letter case.
    """
    return Locale.get_closest(*locale_codes)


def set_default_locale(code: str) -> None:
    """Make ``code`` the locale used when no requested locale is supported.

    The default is ``en_US``. The default locale is always supported, even
    without a translation file: messages then stay untranslated.
    """
    _catalogs.set_default(code)


def get_supported_locales() -> frozenset[str]:
    """Return the codes of the loaded locales plus the default locale."""
    return _catalogs.supported


def load_translations(directory: str, encoding: str | None = None) -> None:
    """Load the CSV translation files of ``directory`` (one ``<code>.csv`` per locale).

    Each row is ``"message","translation"`` with an optional third column
    saying which form of a plural message the row translates: ``plural``
    (used when ``count != 1``), ``singular`` (``count == 1``) or ``unknown``
    (messages without a plural; the default)::

        "I love you","Te amo"
        "%(name)s liked this","A %(name)s les gustó esto","plural"
        "%(name)s liked this","A %(name)s le gustó esto","singular"

    Messages may use ``%(name)s`` placeholders, filled in by the caller after
    translation. Without ``encoding`` each file is read as UTF-16 if it starts
    with a UTF-16 byte order mark, else as UTF-8 (a UTF-8 BOM is skipped).
    Replaces any previously loaded translations.

    Raises:
        ValueError: a file does not decode in its encoding or holds a broken
            CSV record; the message names the file and line. Bad rows and
            file names that are not locale codes are logged at ERROR (with
            file and line) and skipped.
    """
    translations: dict[str, _CSVTranslations | gettext.NullTranslations] = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".csv"):
            continue
        path = os.path.join(directory, name)
        code = name[: -len(".csv")]
        if not _CSV_FILE_CODE.match(code):
            gen_log.error(
                "%s: file name is not a locale code like es_LA.csv or fr.csv; file skipped", path
            )
            continue
        translations[code] = _read_csv_catalog(path, encoding)
    _catalogs.install(translations)


def _decode_catalog(path: str, encoding: str | None) -> str:
    with open(path, "rb") as f:
        data = f.read()
    if encoding is None:
        has_utf16_bom = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        encoding = "utf-16" if has_utf16_bom else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(encoding, "replace").count("\n") + 1
        raise ValueError(
            f"{path}, line {line}: cannot decode the translation file as {encoding} "
            f"({exc.reason}); save it as UTF-8 or pass encoding= to load_translations()"
        ) from exc


def _read_csv_catalog(path: str, encoding: str | None) -> _CSVTranslations:
    reader = csv.reader(io.StringIO(_decode_catalog(path, encoding), newline=""))
    catalog: _CSVTranslations = {}
    end_of_previous = 0
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            raise ValueError(f"{path}, line {end_of_previous + 1}: malformed CSV: {exc}") from exc
        if row is None:
            return catalog
        line, end_of_previous = end_of_previous + 1, reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) < 2:
            gen_log.error(
                '%s, line %d: expected "message","translation"[,plural indicator], got %r; '
                "row skipped",
                path,
                line,
                row,
            )
            continue
        indicator = (cells[2] if len(cells) > 2 else "") or "unknown"
        if indicator not in _PLURAL_INDICATORS:
            gen_log.error(
                "%s, line %d: unrecognized plural indicator %r (use plural, singular or "
                "unknown); row skipped",
                path,
                line,
                indicator,
            )
            continue
        catalog.setdefault(indicator, {})[cells[0]] = cells[1]


def load_gettext_translations(directory: str, domain: str) -> None:
    """Load compiled gettext catalogs: ``{directory}/{code}/LC_MESSAGES/{domain}.mo``.

    Build them with the usual gettext tools, e.g.
    ``xgettext --language=Python --keyword=_:1,2 --keyword=pgettext:1c,2 *.py *.html``,
    translate the ``.po`` files and compile each with ``msgfmt``. The plural
    rules come from each catalog's ``Plural-Forms`` header. A catalog for a
    language-only code (``es``) backs up the regional ones (``es_LA``).
    Replaces any previously loaded translations.

    A catalog gettext cannot read is logged at ERROR with its path and the
    reason, and that locale is skipped.
    """
    translations: dict[str, _CSVTranslations | gettext.NullTranslations] = {}
    for code in sorted(os.listdir(directory)):
        if not os.path.isfile(os.path.join(directory, code, "LC_MESSAGES", domain + ".mo")):
            continue
        catalog = _read_gettext_catalogs(directory, domain, code)
        if catalog is not None:
            translations[code] = catalog
    _catalogs.install(translations)


def _read_gettext_catalogs(
    directory: str, domain: str, code: str
) -> gettext.NullTranslations | None:
    """Chain ``code``'s catalog with its language-only fallback, read afresh from disk.

    ``gettext.translation()`` would cache catalogs by path for the life of
    the process, so reloading edited files would keep the old messages.
    """
    chain: gettext.NullTranslations | None = None
    for path in gettext.find(domain, directory, languages=[code], all=True):
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)
        except (OSError, ValueError, LookupError, struct.error) as exc:
            gen_log.error(
                "%s: cannot load the gettext catalog (%s); locale %s skipped", path, exc, code
            )
            return None
        if chain is None:
            chain = catalog
        else:
            chain.add_fallback(catalog)
    if chain is None:
        gen_log.error(
            "%s: %r is not a language code gettext accepts; locale skipped",
            os.path.join(directory, code),
            code,
        )
    return chain


class Locale:
    """A language: translates messages and formats dates, lists and numbers for it.

    Get instances with :func:`get` or :meth:`get_closest` after loading
    translations; :class:`CSVLocale` and :class:`GettextLocale` implement
    :meth:`translate` and :meth:`pgettext` for the two catalog formats.

    Attributes:
        code: the locale code, e.g. ``"es_LA"``.
        name: the language's own name from :data:`LOCALE_NAMES`
            (``"Español"``), or ``"Unknown"``.
        rtl: whether the language is written right to left (Arabic, Hebrew, Persian).
    """

    @classmethod
    def get_closest(cls, *locale_codes: str) -> Locale:
        """Return the first supported locale among ``locale_codes``, else the default one.

        Each code is tried as given (normalized to ``ll_CC``), then as its
        language alone: ``("es-la", "fr")`` tries ``es_LA``, ``es``, ``fr``.
        Empty codes and codes with more than two parts are skipped.
        """
        supported = _catalogs.supported
        for code in locale_codes:
            parts = code.replace("-", "_").split("_") if code else []
            if not parts or len(parts) > 2:
                continue
            language = parts[0].lower()
            if len(parts) == 2 and f"{language}_{parts[1].upper()}" in supported:
                return cls.get(f"{language}_{parts[1].upper()}")
            if language in supported:
                return cls.get(language)
            if len(parts) == 1 and code in supported:
                return cls.get(code)
        return cls.get(_catalogs.default)

    @classmethod
    def get(cls, code: str) -> Locale:
        """Return the :class:`Locale` for the supported locale ``code`` (one object per code).

        Raises:
            ValueError: ``code`` is not supported; use :meth:`get_closest` or
                :func:`get` to fall back to the default locale instead.
        """
        cached = _catalogs.locales.get(code)
        if cached is not None:
            return cached
        if code not in _catalogs.supported:
            raise ValueError(
                f"locale {code!r} is not supported (supported: "
                f"{', '.join(sorted(_catalogs.supported))}); use dualweb.locale.get({code!r}) "
                "to fall back to the closest supported locale"
            )
        translations = _catalogs.translations.get(code)
        made: Locale
        if isinstance(translations, gettext.NullTranslations):
            made = GettextLocale(code, translations)
        else:
            made = CSVLocale(code, translations or {})
        _catalogs.locales[code] = made
        return made

    def __init__(self, code: str) -> None:
        self.code = code
        self.name = LOCALE_NAMES.get(code, {}).get("name", "Unknown")
        self.rtl = code.startswith(_RTL_LANGUAGES)
        self._months = [self.translate(month) for month in _MONTH_NAMES]
        self._weekdays = [self.translate(day) for day in _WEEKDAY_NAMES]

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        """Return the translation of ``message`` (the message itself when untranslated).

        With ``plural_message`` and ``count``, returns the singular or plural
        translation as the locale's plural rules choose for ``count``.
        Placeholders are left for the caller: ``translate(...) % values``.

        Raises:
            ValueError: ``plural_message`` is given without ``count``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement translate()")

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """Like :meth:`translate`, for ``message`` as used in ``context``.

        Contexts tell apart identical words with different meanings, e.g.
        ``pgettext("law", "right")`` and ``pgettext("direction", "right")``.

        Raises:
            ValueError: ``plural_message`` is given without ``count``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement pgettext()")

    def format_date(
        self,
        date: int | float | datetime.datetime,
        gmt_offset: int = 0,
        relative: bool = True,
        shorter: bool = False,
        full_format: bool = False,
    ) -> str:
        """Format a past UTC date for people: ``"2 minutes ago"``, ``"yesterday at 1:15 pm"``.

        Args:
            date: a UTC ``datetime`` (naive ones are taken as UTC, aware ones
                are converted to UTC) or a POSIX timestamp.
            gmt_offset: minutes the reader's clock is *behind* UTC (as
                JavaScript's ``Date.getTimezoneOffset()``: 120 for UTC-2).
            relative: under a day ago, say ``"3 hours ago"`` rather than
                the time, and say ``"yesterday"``.
            shorter: leave the time of day out of dates older than a day.
            full_format: always ``"March 3, 2024 at 1:15 pm"``.

        Dates up to a week ago read as a weekday, up to about 11 months as
        ``"March 3 at 1:15 pm"``, older ones with the year. Dates in the
        future get the full format, except those under a minute ahead
        (clock skew) which read as now when ``relative``.
        """
        when = _as_utc(date)
        now = _utcnow()
        if when > now:
            if relative and (when - now).total_seconds() < 60:
                when = now
            else:
                full_format = True
        age = now - when
        local = when - datetime.timedelta(minutes=gmt_offset)
        if not full_format and relative and age.days == 0:
            return self._ago(age.seconds)
        pattern = None
        if not full_format:
            local_yesterday = now - datetime.timedelta(minutes=gmt_offset, hours=24)
            pattern = self._recent_pattern(
                age.days, relative and local.day == local_yesterday.day, shorter
            )
        if pattern is None:
            pattern = self.translate(
                "%(month_name)s %(day)s, %(year)s"
                if shorter
                else "%(month_name)s %(day)s, %(year)s at %(time)s"
            )
        return pattern % {
            "month_name": self._months[local.month - 1],
            "weekday": self._weekdays[local.weekday()],
            "day": str(local.day),
            "year": str(local.year),
            "time": self._clock(local),
        }

    def _ago(self, seconds: int) -> str:
        """``"N seconds/minutes/hours ago"`` for an age under a day."""
        if seconds < 50:
            return self.translate("1 second ago", "%(seconds)d seconds ago", seconds) % {
                "seconds": seconds
            }
        if seconds < 50 * 60:
            minutes = round(seconds / 60)
            return self.translate("1 minute ago", "%(minutes)d minutes ago", minutes) % {
                "minutes": minutes
            }
        hours = round(seconds / 3600)
        return self.translate("1 hour ago", "%(hours)d hours ago", hours) % {"hours": hours}

    def _recent_pattern(self, days: int, yesterday: bool, shorter: bool) -> str | None:
        """The pattern for a date ``days`` ago without its year, or None when it needs one."""
        if days == 0:
            return self.translate("%(time)s")
        if days == 1 and yesterday:
            return self.translate("yesterday" if shorter else "yesterday at %(time)s")
        if days < _WEEKDAY_SPAN_DAYS:
            return self.translate("%(weekday)s" if shorter else "%(weekday)s at %(time)s")
        if days < _NO_YEAR_SPAN_DAYS:
            return self.translate(
                "%(month_name)s %(day)s" if shorter else "%(month_name)s %(day)s at %(time)s"
            )
        return None

    def _clock(self, moment: datetime.datetime) -> str:
        """The time of day as this locale writes it."""
        hour12 = moment.hour % 12 or 12
        if self.code == "zh_CN":
            half = "\u4e0b\u5348" if moment.hour >= 12 else "\u4e0a\u5348"
            return f"{half}{hour12}:{moment.minute:02d}"
        if self.code in _TWELVE_HOUR_LOCALES:
            return f"{hour12}:{moment.minute:02d} {'pm' if moment.hour >= 12 else 'am'}"
        return f"{moment.hour}:{moment.minute:02d}"

    def format_day(
        self, date: datetime.datetime, gmt_offset: int = 0, dow: bool = True
    ) -> str:
        """Format a UTC date as a day: ``"Monday, January 22"`` (``"January 22"`` without ``dow``).

        ``gmt_offset`` is in minutes behind UTC, as for :meth:`format_date`.
        """
        local = _as_utc(date) - datetime.timedelta(minutes=gmt_offset)
        pattern = "%(weekday)s, %(month_name)s %(day)s" if dow else "%(month_name)s %(day)s"
        return self.translate(pattern) % {
            "month_name": self._months[local.month - 1],
            "weekday": self._weekdays[local.weekday()],
            "day": str(local.day),
        }

    def list(self, parts: Sequence[str]) -> str:
        """Join ``parts`` as a sentence: ``["A", "B", "C"]`` -> ``"A, B and C"``.

        Returns ``""`` for no parts and the part itself for one.
        """
        if not parts:
            return ""
        if len(parts) == 1:
            return parts[0]
        comma = " \u0648 " if self.code.startswith("fa") else ", "
        return self.translate("%(commas)s and %(last)s") % {
            "commas": comma.join(parts[:-1]),
            "last": parts[-1],
        }

    def friendly_number(self, value: int) -> str:
        """Return ``value`` with thousands separators in English (``"1,234,567"``).

        Other locales get the plain number.
        """
        if self.code in ("en", "en_US"):
            return f"{value:,}"
        return str(value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.code}>"


def _utcnow() -> datetime.datetime:
    # A function of its own so tests can stop the clock.
    return datetime.datetime.now(datetime.timezone.utc)


def _as_utc(date: int | float | datetime.datetime) -> datetime.datetime:
    if isinstance(date, (int, float)):
        return datetime.datetime.fromtimestamp(date, datetime.timezone.utc)
    if date.tzinfo is None:
        return date.replace(tzinfo=datetime.timezone.utc)
    return date.astimezone(datetime.timezone.utc)


def _require_count(plural_message: str | None, count: int | None) -> None:
    if plural_message is not None and count is None:
        raise ValueError("translate()/pgettext() need count= together with plural_message")


class CSVLocale(Locale):
    """A locale translated by a CSV catalog (see :func:`load_translations`).

    Plural rule: ``count == 1`` is singular, anything else plural. CSV
    catalogs have no message contexts: :meth:`pgettext` translates the
    message without its context (and logs a warning once per locale).

    Args:
        code: the locale code.
        translations: plural indicator (``"plural"``, ``"singular"``,
            ``"unknown"``) -> message -> translation.
    """

    def __init__(self, code: str, translations: dict[str, dict[str, str]]) -> None:
        self.translations = translations
        self._warned_pgettext = False
        super().__init__(code)

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        """Return the translation of ``message`` (see :meth:`Locale.translate`)."""
        _require_count(plural_message, count)
        if plural_message is None:
            kind = "unknown"
        elif count == 1:
            kind = "singular"
        else:
            kind, message = "plural", plural_message
        return self.translations.get(kind, {}).get(message, message)

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """Translate ``message`` ignoring ``context``: CSV catalogs cannot hold contexts."""
        if self.translations and not self._warned_pgettext:
            self._warned_pgettext = True
            gen_log.warning(
                "pgettext(%r, ...) on CSV locale %s: CSV translations have no contexts, "
                "the context is ignored (use gettext catalogs for contexts)",
                context,
                self.code,
            )
        return self.translate(message, plural_message, count)


class GettextLocale(Locale):
    """A locale translated by a gettext catalog (see :func:`load_gettext_translations`).

    Plural forms follow the catalog's ``Plural-Forms`` header.

    Args:
        code: the locale code.
        translations: the catalog (``gettext.GNUTranslations`` or any
            ``gettext.NullTranslations``).

    Attributes:
        gettext: the catalog's ``gettext`` (one message).
        ngettext: the catalog's ``ngettext`` (message, plural, count).
    """

    def __init__(self, code: str, translations: gettext.NullTranslations) -> None:
        self.gettext = translations.gettext
        self.ngettext = translations.ngettext
        self._pgettext = translations.pgettext
        self._npgettext = translations.npgettext
        super().__init__(code)

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        """Return the translation of ``message`` (see :meth:`Locale.translate`)."""
        _require_count(plural_message, count)
        if plural_message is None or count is None:
            return self.gettext(message)
        return self.ngettext(message, plural_message, count)

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """Translate ``message`` as used in ``context`` (gettext's ``msgctxt``).

        Falls back to the untranslated message when the catalog has no entry
        for this context.
        """
        _require_count(plural_message, count)
        if plural_message is None or count is None:
            return self._pgettext(context, message)
        return self._npgettext(context, message, plural_message, count)


def _locale_names(rows: tuple[tuple[str, str, str], ...]) -> dict[str, dict[str, str]]:
    return {code: {"name_en": name_en, "name": name} for code, name_en, name in rows}


#: Locale code -> ``{"name_en": English name, "name": the language's own name}``.
LOCALE_NAMES: dict[str, dict[str, str]] = _locale_names(
    (
        ("af_ZA", "Afrikaans", "Afrikaans"),
        ("am_ET", "Amharic", "አማርኛ"),
        ("ar_AR", "Arabic", "العربية"),
        ("bg_BG", "Bulgarian", "Български"),
        ("bn_IN", "Bengali", "বাংলা"),
        ("bs_BA", "Bosnian", "Bosanski"),
        ("ca_ES", "Catalan", "Català"),
        ("cs_CZ", "Czech", "Čeština"),
        ("cy_GB", "Welsh", "Cymraeg"),
        ("da_DK", "Danish", "Dansk"),
        ("de_DE", "German", "Deutsch"),
        ("el_GR", "Greek", "Ελληνικά"),
        ("en_GB", "English (UK)", "English (UK)"),
        ("en_US", "English (US)", "English (US)"),
        ("es_ES", "Spanish (Spain)", "Español (España)"),
        ("es_LA", "Spanish", "Español"),
        ("et_EE", "Estonian", "Eesti"),
        ("eu_ES", "Basque", "Euskara"),
        ("fa_IR", "Persian", "فارسی"),
        ("fi_FI", "Finnish", "Suomi"),
        ("fr_CA", "French (Canada)", "Français (Canada)"),
        ("fr_FR", "French", "Français"),
        ("ga_IE", "Irish", "Gaeilge"),
        ("gl_ES", "Galician", "Galego"),
        ("he_IL", "Hebrew", "עברית"),
        ("hi_IN", "Hindi", "हिन्दी"),
        ("hr_HR", "Croatian", "Hrvatski"),
        ("hu_HU", "Hungarian", "Magyar"),
        ("id_ID", "Indonesian", "Bahasa Indonesia"),
        ("is_IS", "Icelandic", "Íslenska"),
        ("it_IT", "Italian", "Italiano"),
        ("ja_JP", "Japanese", "日本語"),
        ("ko_KR", "Korean", "한국어"),
        ("lt_LT", "Lithuanian", "Lietuvių"),
        ("lv_LV", "Latvian", "Latviešu"),
        ("mk_MK", "Macedonian", "Македонски"),
        ("ml_IN", "Malayalam", "മലയാളം"),
        ("ms_MY", "Malay", "Bahasa Melayu"),
        ("nb_NO", "Norwegian (bokmal)", "Norsk (bokmål)"),
        ("nl_NL", "Dutch", "Nederlands"),
        ("nn_NO", "Norwegian (nynorsk)", "Norsk (nynorsk)"),
        ("pa_IN", "Punjabi", "ਪੰਜਾਬੀ"),
        ("pl_PL", "Polish", "Polski"),
        ("pt_BR", "Portuguese (Brazil)", "Português (Brasil)"),
        ("pt_PT", "Portuguese (Portugal)", "Português (Portugal)"),
        ("ro_RO", "Romanian", "Română"),
        ("ru_RU", "Russian", "Русский"),
        ("sk_SK", "Slovak", "Slovenčina"),
        ("sl_SI", "Slovenian", "Slovenščina"),
        ("sq_AL", "Albanian", "Shqip"),
        ("sr_RS", "Serbian", "Српски"),
        ("sv_SE", "Swedish", "Svenska"),
        ("sw_KE", "Swahili", "Kiswahili"),
        ("ta_IN", "Tamil", "தமிழ்"),
        ("te_IN", "Telugu", "తెలుగు"),
        ("th_TH", "Thai", "ภาษาไทย"),
        ("tl_PH", "Filipino", "Filipino"),
        ("tr_TR", "Turkish", "Türkçe"),
        ("uk_UA", "Ukrainian", "Українська"),
        ("vi_VN", "Vietnamese", "Tiếng Việt"),
        ("zh_CN", "Chinese (Simplified)", "中文(简体)"),
        ("zh_TW", "Chinese (Traditional)", "中文(繁體)"),
    )
)
