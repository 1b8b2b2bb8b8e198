"""Every catalog message, said in both languages with sample values: nothing missing in either language, the
same values in a translation as in its English source, every plural form there (Russian has three: 1, 3, 5 —
and 21, 0), and the result within the platforms' limits (Discord 2,000 characters of content and 80 of a
button's label, Telegram 4,096); a text written inline where a person reads it fails `make lint`
(devtools/lint_texts.py), checked here too."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from devtools import catalogs, lint_texts
from ttfd.core import i18n
from ttfd.core.errors import Cooldown, InsufficientFunds
from ttfd.ui.text import bold

COUNTS = (1, 3, 5, 21, 0)
LIMITS = {None: 2000, "button": 80, "permission": 100, "command": 32, "option": 32, "title": 256}


def _entries() -> list[tuple[str, object]]:
    found = []
    for owner in catalogs.owners():
        for language in catalogs.LANGUAGES:
            path = catalogs.po_path(owner, language)
            if path.exists():
                for message in catalogs.load(path, language):
                    if message.id:
                        found.append((str(path.relative_to(catalogs.ROOT)), message))
    return found


ENTRIES = _entries()


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_nothing_is_missing_fuzzy_or_stale_in_any_catalog() -> None:
    found = [p for owner in catalogs.owners() for p in catalogs.problems(owner)]
    assert found == []


def test_no_text_is_written_outside_the_catalogs() -> None:
    found = [
        p
        for source in lint_texts.SOURCES
        for path in sorted((catalogs.ROOT / source).rglob("*.py"))
        if str(path.relative_to(catalogs.ROOT)) not in lint_texts.SKIP
        for p in lint_texts.problems(path)
    ]
    assert found == [], "\n".join(found[:50])


@pytest.mark.parametrize(("po", "message"), ENTRIES, ids=lambda v: v if isinstance(v, str) else "")
def test_each_message_says_itself_in_both_languages_within_the_limits(po: str, message: object) -> None:
    ids = message.id if isinstance(message.id, tuple) else (message.id,)  # type: ignore[attr-defined]
    strings = message.string if isinstance(message.string, tuple) else (message.string,)  # type: ignore[attr-defined]
    wanted = set().union(*(_fields(i) for i in ids))
    # A translator comment "values: a, b" names what the code also offers (a 24-hour clock takes {hour}).
    offered = {
        v.strip()
        for c in message.auto_comments  # type: ignore[attr-defined]
        if "values:" in c
        for v in c.split("values:", 1)[1].split("(")[0].split(",")
    }
    if isinstance(message.id, tuple):  # type: ignore[attr-defined]
        assert len(strings) == 3, f"{po}: Russian needs three plural forms: {ids[0]!r}"
    for said in strings:
        assert said.strip(), f"{po}: untranslated {ids[0]!r}"
        have = _fields(said)
        # A translation may leave {n} out of a form that names the number in words, never anything else.
        assert have - wanted - offered == set(), f"{po}: {ids[0]!r} says values its source has not: {have - wanted}"
        # … nor drop one, unless the translator was told it may (a 24-hour clock has no AM/PM).
        assert wanted - have - offered <= {"n"}, f"{po}: {ids[0]!r} loses {wanted - have}"
    limit = LIMITS.get(message.context, LIMITS[None])  # type: ignore[attr-defined]
    for n in COUNTS:
        values = {name: ("Дмитрий Ёжиков" if name != "n" else n) for name in wanted | offered}
        msg = i18n.Msg(ids[0], ids[1] if len(ids) > 1 else None, n if len(ids) > 1 else None, values)
        msg = i18n.Msg(msg.msgid, msg.plural, msg.n, values, message.context)  # type: ignore[attr-defined]
        for locale in i18n.LOCALES:
            shown = msg.in_(locale)
            assert 0 < len(shown) <= limit, f"{po}: {ids[0]!r} in {locale} is {len(shown)} characters"


def test_russian_plural_forms_follow_russian_rules() -> None:
    said = {n: Cooldown(n).message.in_("ru") for n in (1, 2, 5, 11, 21, 22, 25, 101)}  # type: ignore[attr-defined]
    assert said[1].endswith("1 секунду.") and said[21].endswith("21 секунду.") and said[101].endswith("101 секунду.")
    assert said[2].endswith("2 секунды.") and said[22].endswith("22 секунды.")
    assert said[5].endswith("5 секунд.") and said[11].endswith("11 секунд.") and said[25].endswith("25 секунд.")


def test_numbers_are_written_the_way_each_language_writes_them() -> None:
    refusal = InsufficientFunds("coins", 12_345, 10).message
    assert "12,345" in refusal and "/daily" in refusal  # a new player is told how to get coins
    assert "12\xa0345" in refusal.in_("ru") and "/daily" in refusal.in_("ru")  # type: ignore[attr-defined]


def test_a_message_keeps_its_marks_in_every_language() -> None:
    msg = i18n._("{refusal}\nUsage: {usage}", refusal=i18n._("Not enough XP."), usage=bold("/daily"))
    ru = msg.say("ru")
    assert ru[0] == "Не хватает опыта." and bold("/daily") in ru
    assert str(msg) == "Not enough XP.\nUsage: /daily"


def test_the_default_language_is_russian_and_unknown_ones_fall_back_to_it() -> None:
    from ttfd.core.settings import Settings

    assert Settings.from_env({}).default_locale == "ru"
    assert i18n.negotiate("de", None, default="ru") == "ru"
    assert i18n.negotiate("en-GB", default="ru") == "en" and i18n.negotiate("ru-RU", default="en") == "ru"


def test_a_catalog_without_its_compiled_file_is_compiled_on_first_use(tmp_path: Path, monkeypatch) -> None:
    po = catalogs.ROOT / "ttfd" / "locale" / "ru.po"
    copy = tmp_path / "ttfd" / "locale"
    copy.mkdir(parents=True)
    (copy / "ru.po").write_bytes(po.read_bytes())
    monkeypatch.setattr(i18n, "ROOT", tmp_path / "ttfd")
    i18n.translations.cache_clear()
    try:
        assert i18n._("Not enough XP.").in_("ru") == "Не хватает опыта."
        assert not (copy / "ru.mo").exists()
    finally:
        i18n.translations.cache_clear()


def test_whole_numbers_are_written_exactly_as_babel_writes_them() -> None:
    """number() writes integers itself (the language's group separator and minus sign, read from Babel once):
    byte for byte what Babel's format_decimal gives, in every language, large and negative ones too."""
    import random

    from babel.numbers import format_decimal

    rng = random.Random(20)
    values = [0, 1, -1, 7, 999, -999, 1000, -1000, 10**18, -(10**18), 2**63, -(2**63), 10**24]
    values += [rng.randint(-(10**k), 10**k) for k in range(1, 22) for _ in range(50)]
    for locale in i18n.LOCALES:
        for v in values:
            assert i18n.number(v, locale) == str(format_decimal(v, locale=locale)), (v, locale)
    assert i18n.number(1234567, "ru") == "1\xa0234\xa0567" and i18n.number(-1234567, "en") == "-1,234,567"
    assert i18n.number(1234.5, "ru") == "1\xa0234,5"  # not whole: Babel itself


def test_one_lookup_per_text_answers_as_the_chain_of_catalogs_would() -> None:
    """The catalogs of a language are merged into one dictionary: every text, plural form and context it
    holds is answered as the fallback chain of the separate catalogs (a later catalog first) answers it."""
    import gettext
    import io

    merged = i18n.translations("ru")
    parts = [gettext.GNUTranslations(io.BytesIO(i18n._compiled(po))) for po in sorted(i18n.ROOT.rglob("locale/ru.po"))]
    assert len(parts) > 1
    chain = gettext.NullTranslations()
    for part in parts:
        part.add_fallback(chain)
        chain = part
    keys = {key for part in parts for key in vars(part)["_catalog"]} | {"No such text.", ("No such text.", 0)}
    for key in keys:
        msgid = key[0] if isinstance(key, tuple) else key
        context, _sep, text = msgid.rpartition("\x04")
        for n in (0, 1, 2, 3, 5, 11, 21, 22, 25, 101, 1000) if isinstance(key, tuple) else (None,):
            if n is None:
                assert merged.gettext(msgid) == chain.gettext(msgid)
                if context:
                    assert merged.pgettext(context, text) == chain.pgettext(context, text)
            elif context:
                assert merged.npgettext(context, text, "many", n) == chain.npgettext(context, text, "many", n)
            else:
                assert merged.ngettext(msgid, "many", n) == chain.ngettext(msgid, "many", n)
