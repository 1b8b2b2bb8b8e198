"""Every text a person reads, in Russian or English: gettext catalogs, English as the source.

The conventions are the main app's (ttfd/core/i18n.py), in a module of the Cleaner's own (the Cleaner never
imports ttfd). A text is written once, in English, as a whole sentence with named values:
`_("Freed {size}", size=Size(n))`, `N_("{n} file", "{n} files", n)`, `C_("button", "Clean…")`.

* The engine (scan, apply, categories, startup, …) makes a `Msg`: a `str` holding the English text (so JSON
  output and the saved reports are English whatever the language, and tests can read it) that remembers its
  id and values, so the edge can say it again in the person's language: `say(msg)`.
* The edges, `cli.py` and `gui.py`, speak at once: they import `text`/`ntext`/`ctext` as `_`/`N_`/`C_`,
  which return the text in the language chosen for this run (`use`). With `--json` that language is English.
* A text saved earlier as plain English (a report's skip reason, read back from disk) is said again by
  `say` too: it is looked up in the catalog, by its exact text or as a filled-in template.

Values are formatted for the language when the text is said: numbers (12,345 / 12 345), sizes (`Size`:
1.5 MiB / 1,5 МБ), dates (`datetime`). Plurals follow the language's rules (1 файл, 3 файла, 5 файлов,
21 файл), from the catalog's Plural-Forms.

Catalogs: `cleaner/locale/<lang>.po`, kept with `python -m devtools catalogs update|check|compile`. A
`.mo` beside it is read as it is; when it is missing or older than the `.po` (a checkout), the `.po` is
compiled in memory with Babel. The one-file executable carries compiled `.mo` files only (cleaner.spec
compiles them at build time), so it needs no Babel at run time.
"""

from __future__ import annotations

import os
import re
import sys
from _thread import allocate_lock
from collections.abc import Callable, Mapping
from functools import lru_cache

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up time counts)
if TYPE_CHECKING:  # only when needed: a command's start-up time counts
    import gettext
    from datetime import datetime
    from typing import Any

LOCALES = ("en", "ru")
SOURCE = "en"  # the language the texts are written in (their catalog ids)
LOCALE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # gettext's order: the first one set decides

# How each language writes numbers: (thousands separator, decimal point, space between a number and its unit).
_NUMBERS = {"en": (",", ".", " "), "ru": ("\u00a0", ",", "\u00a0")}
_current = SOURCE


class Msg(str):
    """A text in English (its `str` value) that can be said in another language (see the module docstring)."""

    __slots__ = ("context", "msgid", "n", "plural", "values")
    msgid: str
    plural: str | None
    n: int | None
    values: Mapping[str, Any]
    context: str | None

    def __new__(
        cls,
        msgid: str,
        plural: str | None = None,
        n: int | None = None,
        values: Mapping[str, Any] | None = None,
        context: str | None = None,
    ) -> Msg:
        values = dict(values or {})
        if n is not None:
            values.setdefault("n", n)
        template = msgid if plural is None or n == 1 else plural
        obj = super().__new__(cls, _fill(template, values, SOURCE) if values else template)
        obj.msgid, obj.plural, obj.n, obj.values, obj.context = msgid, plural, n, values, context
        return obj

    def in_(self, lang: str) -> str:
        """The text in `lang` (English: the text itself)."""
        if lang == SOURCE or lang not in LOCALES:
            return str.__str__(self)
        template = _template(self, lang)
        if not self.values:
            return template
        try:
            return _fill(template, self.values, lang)
        except (KeyError, IndexError, ValueError):  # a translation naming a value the text does not have
            return str.__str__(self)

    def __reduce__(self) -> Any:  # pickling (multiprocessing, copies) keeps what it is
        return (Msg, (self.msgid, self.plural, self.n, dict(self.values), self.context))


def _(msgid: str, /, **values: Any) -> Msg:
    """A text to say in the reader's language: `_("Freed {size}", size=Size(n))`."""
    return Msg(msgid, values=values)


def N_(singular: str, plural: str, n: int, /, **values: Any) -> Msg:
    """A text with a count: the plural form follows the language's rules for `n` (available as `{n}`)."""
    return Msg(singular, plural, n, values)


def C_(context: str, msgid: str, /, **values: Any) -> Msg:
    """A short text whose meaning needs a hint for the translator (a button, a unit)."""
    return Msg(msgid, values=values, context=context)


# --- the language of this run -------------------------------------------------------------------------------


def use(lang: str) -> None:
    """Speak `lang` from now on (the CLI and the window call it once, before saying anything)."""
    global _current
    _current = lang if lang in LOCALES else SOURCE


def language() -> str:
    """The language texts are said in now."""
    return _current


def choose(wanted: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The language of this run: `wanted` (`--lang`) if we speak it, else the environment as gettext reads it
    (the first of LANGUAGE, LC_ALL, LC_MESSAGES, LANG that is set; `LANGUAGE` may list several, `ru:en`),
    else the desktop's language where it is not in the environment (Windows, macOS), else English."""
    if wanted and (lang := normalize(wanted)) in LOCALES:
        return lang
    env = os.environ if environ is None else environ
    for var in ENV_VARS:
        value = env.get(var)
        if not value:
            continue
        for item in value.split(":"):
            lang = normalize(item)
            if lang in ("c", "posix"):  # the C locale speaks English
                return SOURCE
            if lang in LOCALES:
                return lang
        return SOURCE
    found = system_language()
    return found if found in LOCALES else SOURCE


def normalize(name: str) -> str:
    """'ru_RU.UTF-8' -> 'ru', 'en-GB' -> 'en', 'C.UTF-8' -> 'c'."""
    base = name.strip().split(".", 1)[0].split("@", 1)[0]
    return base.replace("-", "_").split("_", 1)[0].lower()


def system_language(platform: str | None = None) -> str | None:
    """The desktop's language where it is not in the environment: Windows' UI language, macOS's first
    preferred language. None elsewhere (Linux says it in LANG) or when it cannot be read."""
    platform = platform or sys.platform
    try:
        if platform == "win32":
            import ctypes
            import locale

            langid = ctypes.windll.kernel32.GetUserDefaultUILanguage()  # type: ignore[attr-defined]
            name = locale.windows_locale.get(int(langid), "")
            return normalize(name) if name else None
        if platform == "darwin":
            import plistlib

            path = os.path.expanduser("~/Library/Preferences/.GlobalPreferences.plist")
            with open(path, "rb") as fh:
                langs = plistlib.load(fh).get("AppleLanguages") or []
            return normalize(str(langs[0])) if langs else None
    except Exception:  # no such API or file, or an unexpected value: the caller falls back to English
        return None
    return None


# --- catalogs ------------------------------------------------------------------------------------------------

_LOCK = allocate_lock()  # threading.Lock, without importing threading
_CATALOGS: dict[str, gettext.GNUTranslations | None] = {}
_PATTERNS: dict[str, list[tuple[Callable[[str], re.Match[str] | None], str]]] = {}


def compiled(po: str) -> bytes | None:
    """A catalog as .mo bytes: the .mo beside the .po when it is current (or there is no .po, as in the
    executable), else the .po compiled now with Babel (a stale .mo when Babel is missing)."""
    mo = os.path.splitext(po)[0] + ".mo"
    has_po, has_mo = os.path.exists(po), os.path.exists(mo)
    if has_mo and (not has_po or os.stat(mo).st_mtime >= os.stat(po).st_mtime):
        with open(mo, "rb") as fh:
            return fh.read()
    if not has_po:
        return None
    try:
        from io import BytesIO

        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po
    except ImportError:
        if has_mo:
            with open(mo, "rb") as fh:
                return fh.read()
        return None
    with open(po, "rb") as fh:
        catalog = read_po(fh, locale=os.path.basename(os.path.splitext(po)[0]))
    out = BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def translations(lang: str) -> gettext.GNUTranslations | None:
    """The catalog of `lang` (None for English, the source, or when there is no catalog)."""
    if lang == SOURCE or lang not in LOCALES:
        return None
    with _LOCK:
        if lang not in _CATALOGS:
            data = compiled(os.path.join(LOCALE_DIR, f"{lang}.po"))
            found = None
            if data is not None:
                import gettext
                from io import BytesIO

                found = gettext.GNUTranslations(BytesIO(data))
            _CATALOGS[lang] = found
        return _CATALOGS[lang]


def _template(msg: Msg, lang: str) -> str:
    t = translations(lang)
    if t is None:
        return msg.msgid if msg.plural is None or msg.n == 1 else msg.plural
    n = msg.n or 0
    if msg.context is not None:
        if msg.plural is not None:
            return t.npgettext(msg.context, msg.msgid, msg.plural, n)
        return t.pgettext(msg.context, msg.msgid)
    if msg.plural is not None:
        return t.ngettext(msg.msgid, msg.plural, n)
    return t.gettext(msg.msgid)


# --- saying things -------------------------------------------------------------------------------------------


def say(value: object, lang: str | None = None) -> str:
    """Something to show a person, in `lang` (default: this run's): a `Msg` said; a plain text said as the
    catalog knows it (an English text saved earlier, e.g. a report's reason); anything else as `str()`."""
    lang = lang or _current
    if isinstance(value, Msg):
        return value.in_(lang)
    if isinstance(value, str):
        return value if lang == SOURCE else recall(value, lang)
    return str(value)


def text(msgid: str, /, **values: Any) -> str:
    """`_()` said at once in this run's language (the CLI and the window: see the module docstring)."""
    return Msg(msgid, values=values).in_(_current)


def ntext(singular: str, plural: str, n: int, /, **values: Any) -> str:
    """`N_()` said at once."""
    return Msg(singular, plural, n, values).in_(_current)


def ctext(context: str, msgid: str, /, **values: Any) -> str:
    """`C_()` said at once."""
    return Msg(msgid, values=values, context=context).in_(_current)


def reason(exc: BaseException) -> str:
    """An exception's message, keeping the `Msg` it was raised with (str(exc) would be plain English)."""
    first = exc.args[0] if len(exc.args) == 1 else None
    return first if isinstance(first, Msg) else str(exc)


@lru_cache(maxsize=4096)  # the same reasons come back many times (a report's skipped files)
def recall(value: str, lang: str) -> str:
    """A plain English text said in `lang`: the catalog's translation of exactly this text, or of the
    template it was filled in from ("{path} is a mount point"); the text itself when the catalog has neither."""
    t = translations(lang)
    if t is None:
        return value
    catalog: dict[Any, str] = getattr(t, "_catalog", {})
    found = catalog.get(value)
    if isinstance(found, str) and found:
        return found
    for match, msgid in _patterns(lang, catalog):
        m = match(value)
        if m is not None:
            try:
                return _fill(catalog[msgid], m.groupdict(), lang)
            except (KeyError, IndexError, ValueError):
                return value
    return value


def _patterns(lang: str, catalog: Mapping[Any, str]) -> list[tuple[Callable[[str], re.Match[str] | None], str]]:
    """Every catalog template with named values, as a full-match regex (the most specific first)."""
    with _LOCK:
        if lang in _PATTERNS:
            return _PATTERNS[lang]
        found: list[tuple[int, Callable[[str], re.Match[str] | None], str]] = []
        fields, words = re.compile(r"\{(\w+)\}"), re.compile(r"[^\W\d_]{2,}")  # compiled here: start-up time
        for key in catalog:
            if not isinstance(key, str) or "\x04" in key or "{" not in key:
                continue
            parts = fields.split(key)
            literal = "".join(parts[0::2])
            if not words.search(literal):
                continue  # "{a}: {b}" would match anything
            seen: set[str] = set()
            rx = []
            for i, part in enumerate(parts):
                if i % 2 == 0:
                    rx.append(re.escape(part))
                elif part in seen:
                    rx.append(f"(?P={part})")
                else:
                    seen.add(part)
                    rx.append(f"(?P<{part}>.+?)")
            found.append((len(literal), re.compile("".join(rx), re.S).fullmatch, key))
        found.sort(key=lambda f: -f[0])
        _PATTERNS[lang] = [(m, k) for _n, m, k in found]
        return _PATTERNS[lang]


class _Said(Mapping[str, str]):
    """A message's values, each said in one language (what `str.format_map` reads)."""

    def __init__(self, values: Mapping[str, Any], lang: str) -> None:
        self._source = values
        self._lang = lang

    def __getitem__(self, key: str) -> str:
        return _value(self._source[key], self._lang)

    def __iter__(self) -> Any:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)


def _fill(template: str, values: Mapping[str, Any], lang: str) -> str:
    return template.format_map(_Said(values, lang))


def _value(value: Any, lang: str) -> str:
    if isinstance(value, Msg):
        return value.in_(lang)
    if isinstance(value, str):
        return value  # names, paths, ids: shown as they are
    if isinstance(value, Size):
        return size(value, lang)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return number(value, lang)
    from datetime import date, datetime

    if isinstance(value, datetime):
        return moment(value, lang)
    if isinstance(value, date):
        return moment(datetime(value.year, value.month, value.day), lang, with_time=False)
    return str(value)


# --- values, written the language's way ----------------------------------------------------------------------


class Size(int):
    """A number of bytes, said as a size: 1.5 MiB in English, 1,5 МБ in Russian (binary units in both)."""

    __slots__ = ()


def number(value: float, lang: str | None = None, decimals: int | None = None) -> str:
    """12,345.5 in English, 12 345,5 in Russian. Floats get `decimals` places (default: up to 2, trailing
    zeros dropped)."""
    lang = lang or _current
    if isinstance(value, int) and decimals is None:
        s = f"{value:,}"
    else:
        s = f"{value:,.{2 if decimals is None else decimals}f}"
        if decimals is None and "." in s:
            s = s.rstrip("0").rstrip(".")
    group, point, _space = _NUMBERS.get(lang, _NUMBERS[SOURCE])
    return s.translate({ord(","): group, ord("."): point})


def size(n: float, lang: str | None = None) -> str:
    """Bytes as a short size in binary units: '512 B', '1.5 MiB' / '512 Б', '1,5 МБ'."""
    lang = lang or _current
    units = (C_("size", "B"), C_("size", "KiB"), C_("size", "MiB"), C_("size", "GiB"), C_("size", "TiB"))
    value = float(n)
    i = 0
    while abs(value) >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    shown = number(int(n), lang) if i == 0 else number(value, lang, decimals=1)
    return shown + _NUMBERS.get(lang, _NUMBERS[SOURCE])[2] + units[i].in_(lang)


def seconds(value: float, lang: str | None = None) -> str:
    """A duration in seconds, two decimals: '0.12 s' / '0,12 с'."""
    lang = lang or _current
    return C_("duration", "{seconds} s", seconds=number(value, lang, decimals=2)).in_(lang)


def moment(value: datetime, lang: str | None = None, *, with_time: bool = True) -> str:
    """A moment in the computer's time zone, as the language writes it: 'Jan 5, 2026, 2:03 PM' /
    '5 янв. 2026 г., 14:03'. A naive datetime is taken as local time already."""
    lang = lang or _current
    local = value.astimezone() if value.tzinfo is not None else value
    months = (
        C_("month", "Jan"),
        C_("month", "Feb"),
        C_("month", "Mar"),
        C_("month", "Apr"),
        C_("month", "May"),
        C_("month", "Jun"),
        C_("month", "Jul"),
        C_("month", "Aug"),
        C_("month", "Sep"),
        C_("month", "Oct"),
        C_("month", "Nov"),
        C_("month", "Dec"),
    )
    day = C_(
        "date",
        "{month} {day}, {year}",
        month=months[local.month - 1],
        day=str(local.day),
        year=str(local.year),
    )
    if not with_time:
        return day.in_(lang)
    hour, minute = str(local.hour).zfill(2), str(local.minute).zfill(2)
    # TRANSLATORS: values: hour, hour12, minute, am_pm (a 24-hour clock needs only {hour}:{minute})
    clock = C_(
        "time",
        "{hour12}:{minute} {am_pm}",
        hour12=str(local.hour % 12 or 12),
        hour=hour,
        minute=minute,
        am_pm="AM" if local.hour < 12 else "PM",
    )
    return C_("date and time", "{date}, {time}", date=day, time=clock).in_(lang)


def parse_moment(value: object) -> datetime | None:
    """An ISO-8601 moment as saved in a report (None when it is not one)."""
    if not isinstance(value, str) or not value:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
