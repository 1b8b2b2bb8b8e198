"""Every text a person reads, in their language: gettext catalogs kept with Babel, English as the source.

A text is written once, in English, as a message with named values — `_("You bought {item} for {coins}
coins.", item=bold(name), coins=total)`, `N_("{n} try left", "{n} tries left", n)` — never glued from
pieces. That makes a `Msg`: a `str` holding the English text (so it goes anywhere a string goes, and a test
can read it), which also remembers its id and values to be said again in another language: the edge that
knows the reader's language (dispatch, a job, the site) calls `say`/`localize` before rendering.

Catalogs: each package that owns texts keeps them in `locale/<lang>.po` beside its code (a feature's texts
live in the feature); `pybabel extract` finds `_`/`N_`/`C_` calls, `make catalogs` updates and compiles them
(`.mo`, not committed), and a catalog whose `.mo` is missing or older than its `.po` is compiled in memory
on first use. Plurals follow each language's rules (Russian: 1 монета, 3 монеты, 5 монет); numbers, dates
and durations are formatted by Babel for the reader's language. Machine output (JSON, logs) stays English.
"""

from __future__ import annotations

import gettext
import io
import string
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ttfd.ui.text import Part, Span

LOCALES = ("ru", "en")
SOURCE = "en"  # the language the texts are written in (their catalog ids)
ROOT = Path(__file__).resolve().parent.parent  # the ttfd package: every locale/ directory below it is read
_FORMATTER = string.Formatter()


class Msg(str):
    """A text in English (its `str` value) that can be said in another language (see the module docstring).

    `values` are the message's named values: text (shown as given), numbers (formatted for the language),
    Spans (a bold name, a mention: kept marked), other Msgs (said in the same language), dates."""

    __slots__ = ("_source", "context", "msgid", "n", "plural", "values")
    _source: tuple[Part, ...]
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
        template = msgid if plural is None or n == 1 else plural  # what the source "catalog" answers
        source = _fill(template, values, SOURCE)
        obj = super().__new__(cls, _plain(source))
        obj.msgid, obj.plural, obj.n, obj.values, obj.context = msgid, plural, n, values, context
        obj._source = source  # said in the source language already: kept, not filled again
        return obj

    def say(self, locale: str) -> tuple[Part, ...]:
        """The text in `locale`, as parts (marked values stay marked)."""
        if locale == SOURCE:
            return self._source
        if not self.values:  # a fixed text (a title, a field's name): said once per language
            return _said_fixed(self.msgid, self.plural, self.context, locale, translations(locale))
        return _fill(_template(self, locale), self.values, locale)

    def in_(self, locale: str) -> str:
        """The text in `locale`, without marks (a title, a button's label)."""
        if locale == SOURCE:
            return str.__str__(self)  # the English text is the Msg's own value
        return _plain(self.say(locale))

    def with_values(self, values: Mapping[str, Any]) -> Msg:
        """The same message with its values replaced (e.g. made safe to show)."""
        return Msg(self.msgid, self.plural, self.n, values, self.context)

    def __reduce__(self) -> Any:  # pickling (multiprocessing, caches) keeps what it is
        return (Msg, (self.msgid, self.plural, self.n, dict(self.values), self.context))


def _(msgid: str, /, **values: Any) -> Msg:
    """A text to say in the reader's language: `_("Balance: {coins} coins.", coins=n)`."""
    return Msg(msgid, values=values)


def N_(singular: str, plural: str, n: int, /, **values: Any) -> Msg:
    """A text with a count: the plural form follows the language's rules for `n` (available as `{n}`)."""
    return Msg(singular, plural, n, values)


def C_(context: str, msgid: str, /, **values: Any) -> Msg:
    """A short text whose meaning needs a context for the translator (a command's name, a button)."""
    return Msg(msgid, values=values, context=context)


def listing(items: Iterable[str], separator: str = ", ") -> Msg:
    """Items joined, each said in the reader's language: "Ban Members, Kick Members"."""
    values = {f"item{k}": item for k, item in enumerate(items)}
    return Msg(separator.join("{" + key + "}" for key in values), values=values)


# --- catalogs ----------------------------------------------------------------------------------------------

_LOCK = threading.Lock()


def _compiled(po: Path) -> bytes:
    """A catalog's .mo: the compiled file when it is current, else compiled now from the .po (Babel)."""
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return mo.read_bytes()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, locale=po.stem)
    out = io.BytesIO()
    write_mo(out, translated_only(catalog))
    return out.getvalue()


def translated_only(catalog: Any) -> Any:
    """A Babel catalog without its untranslated messages: write_mo would fill an empty plural form with the
    English text, which would then count as a translation (and hide another catalog's real one)."""
    for message in list(catalog):
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.id and not all(forms):
            catalog.delete(message.id, context=message.context)
    return catalog


class _Merged(gettext.NullTranslations):
    """Every catalog of a language as one dictionary: one lookup per text instead of one per catalog down a
    fallback chain. Built only when the catalogs agree on the plural rule; a later catalog's entry wins, as
    at the head of the chain it replaces (the lookups are per key, so the answers are the chain's)."""

    def __init__(self, messages: dict[Any, str], plural: Callable[[int], int]) -> None:
        super().__init__()
        self._messages = messages
        self._plural = plural

    def gettext(self, message: str) -> str:
        return self._messages.get(message, message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        found = self._messages.get((msgid1, self._plural(n)))
        return found if found is not None else (msgid1 if n == 1 else msgid2)

    def pgettext(self, context: str, message: str) -> str:
        return self._messages.get(f"{context}\x04{message}", message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        found = self._messages.get((f"{context}\x04{msgid1}", self._plural(n)))
        return found if found is not None else (msgid1 if n == 1 else msgid2)


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> gettext.NullTranslations:
    """Every catalog of `locale` in the project, as one (English: the source itself)."""
    if locale == SOURCE or locale not in LOCALES:
        return gettext.NullTranslations()
    with _LOCK:
        parts = [gettext.GNUTranslations(io.BytesIO(_compiled(po))) for po in sorted(ROOT.rglob(f"locale/{locale}.po"))]
        if parts and len({p.info().get("plural-forms") for p in parts}) == 1:
            messages: dict[Any, str] = {}
            for part in parts:  # later catalogs win, as the chain below would answer
                messages.update(vars(part)["_catalog"])
            plural: Callable[[int], int] = getattr(parts[0], "plural")  # noqa: B009 (not in the stubs)
            return _Merged(messages, plural)
        merged = gettext.NullTranslations()
        for part in parts:
            part.add_fallback(merged)
            merged = part
        return merged


@lru_cache(maxsize=4096)
def _said_fixed(
    msgid: str, plural: str | None, context: str | None, locale: str, catalog: gettext.NullTranslations
) -> tuple[Part, ...]:
    """A message without values in `locale` (without values there is no `n`: the plural form for 0), kept per
    `catalog` (the language's translations as loaded now: reloading them forgets these)."""
    return _fill(_template(Msg(msgid, plural, None, None, context), locale), {}, locale)


def _template(msg: Msg, locale: str) -> str:
    t = translations(locale)
    if msg.context is not None:
        if msg.plural is not None:
            return t.npgettext(msg.context, msg.msgid, msg.plural, msg.n or 0)
        return t.pgettext(msg.context, msg.msgid)
    if msg.plural is not None:
        return t.ngettext(msg.msgid, msg.plural, msg.n or 0)
    return t.gettext(msg.msgid)


# --- values, formatted for the language ---------------------------------------------------------------------


def number(value: int | float, locale: str) -> str:
    """12,345 in English, 12 345 in Russian."""
    if locale == SOURCE:
        return f"{value:,}"
    if type(value) is int:
        symbols = _integer_symbols(locale)
        if symbols is not None:
            return _integer(value, *symbols)
    from babel.numbers import format_decimal

    return str(format_decimal(value, locale=locale))


def _integer(value: int, group: str, minus: str) -> str:
    text = f"{value:,}"
    if value < 0:
        text = minus + text[1:]
    return text if group == "," else text.replace(",", group)


@lru_cache(maxsize=len(LOCALES))
def _integer_symbols(locale: str) -> tuple[str, str] | None:
    """The language's group separator and minus sign for whole numbers, read from Babel once; None (Babel
    formats every number) unless they give exactly Babel's text for a set of probes (a pattern that groups
    otherwise, such as India's 12,34,567, or a minimum grouping, is left to Babel)."""
    from babel.numbers import format_decimal, get_group_symbol, get_minus_sign_symbol

    symbols = (str(get_group_symbol(locale)), str(get_minus_sign_symbol(locale)))
    probes = (0, 7, -7, 999, -999, 1000, -1000, 12345, 100000, 1234567, -1234567890, 10**18, -(10**18) - 1)
    if any(_integer(v, *symbols) != str(format_decimal(v, locale=locale)) for v in probes):
        return None
    return symbols


def moment(value: datetime | date, locale: str, style: str = "medium") -> str:
    """A date (or a moment, shown in UTC) as the language writes it."""
    from babel.dates import format_date, format_datetime

    if isinstance(value, datetime):
        return str(format_datetime(value, style, tzinfo=value.tzinfo, locale=locale))
    return str(format_date(value, style, locale=locale))


def duration(value: timedelta, locale: str, *, direction: bool = False) -> str:
    """ "3 hours", "через 3 часа" (with `direction`): a span of time as the language says it."""
    from babel.dates import format_timedelta

    return str(format_timedelta(value, locale=locale, add_direction=direction, threshold=1.0))


def _fill(template: str, values: Mapping[str, Any], locale: str) -> tuple[Part, ...]:
    from ttfd.ui.text import Span

    out: list[Part] = []
    for literal, name, spec in _parsed(template):
        if literal:
            out.append(literal)
        if name is None:
            continue
        if name not in values:  # a template whose values come later (Msg.with_values)
            out.append("{" + name + "}")
            continue
        value = values[name]
        kind = type(value)
        if kind is str:  # the common cases first (a Msg is a str too, a bool an int: checked below)
            out.append(value)
        elif kind is int and not spec:
            out.append(number(value, locale))
        elif isinstance(value, Msg):
            out.extend(value.say(locale))
        elif isinstance(value, Span):
            out.append(_span(value, locale))
        elif isinstance(value, bool | str):
            out.append(str(value))
        elif isinstance(value, int | float):
            out.append(number(value, locale) if not spec else format(value, spec))
        elif isinstance(value, datetime | date):
            out.append(moment(value, locale))
        elif isinstance(value, timedelta):
            out.append(duration(value, locale))
        else:
            out.append(str(value))
    return tuple(out)


@lru_cache(maxsize=4096)
def _parsed(template: str) -> tuple[tuple[str, str | None, str | None], ...]:
    """A template's pieces (literal text, value name, format spec), parsed once per template."""
    return tuple((literal, name, spec) for literal, name, spec, _conv in _FORMATTER.parse(template))


def _span(value: Span, locale: str) -> Span:
    return replace(value, text=value.text.in_(locale)) if isinstance(value.text, Msg) else value


def _plain(parts: Iterable[Part]) -> str:
    return "".join(p if isinstance(p, str) else p.text for p in parts)


# --- whose language ------------------------------------------------------------------------------------------


def negotiate(*wanted: str | None, default: str) -> str:
    """The first of `wanted` we speak ("ru-RU" and "ru" are Russian; Discord's "en-US", "en-GB" English),
    else `default`."""
    for w in wanted:
        if w:
            lang = w.replace("_", "-").split("-", 1)[0].lower()
            if lang in LOCALES:
                return lang
    return default


def localize(parts: Iterable[Part], locale: str) -> tuple[Part, ...]:
    """Text with every message said in `locale` (marks kept)."""
    from ttfd.ui.text import Span

    out: list[Part] = []
    for p in parts:
        if isinstance(p, Msg):
            out.extend(p.say(locale))
        elif isinstance(p, Span):
            out.append(_span(p, locale))
        else:
            out.append(p)
    return tuple(out)


def said_json(value: Any, locale: str) -> Any:
    """A JSON body with every message in it said in `locale` (a feature's section of the site's profile)."""
    if isinstance(value, Msg):
        return value.in_(locale)
    if isinstance(value, dict):
        return {k: said_json(v, locale) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [said_json(v, locale) for v in value]
    return value


def said(value: str, locale: str) -> str:
    """A plain text in `locale` (a Msg said; any other text as it is)."""
    return value.in_(locale) if isinstance(value, Msg) else value
