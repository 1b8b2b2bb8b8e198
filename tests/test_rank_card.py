"""The rank card: a valid 934×282 PNG whose pixels say what the data says, and never a crash on odd input; names
and its own words in Russian and English drawn with the bundled font, never as its missing-glyph box."""

from __future__ import annotations

import dataclasses
import functools
import io
from pathlib import Path
from typing import Any, cast

import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from ttfd.features.profiles import rank_card
from ttfd.features.profiles.rank_card import CardData, render_card

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "site"
BAR_Y = rank_card._BAR_TOP + rank_card._BAR_H // 2
BAR_X0, BAR_X1 = rank_card._LEFT, rank_card._RIGHT

RGB = tuple[int, int, int]


def card(**over: Any) -> CardData:
    base = CardData(
        name="Aurora Lindqvist",
        primary_color="#5865f2",
        theme="dark",
        hidden=False,
        rank_code="A+",
        level=42,
        xp_into_level=7_340,
        xp_for_next=11_020,
        xp=283_112,
        position=17,
        coins=12_450,
        week_xp=3_210,
        next_rank="S-",
        xp_to_next_rank=16_888,
    )
    return dataclasses.replace(base, **over)


def decode(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.load()
    return img.convert("RGBA")


def rgb(img: Image.Image, x: int, y: int) -> RGB:
    r, g, b, _ = img.getpixel((x, y))  # type: ignore[misc]
    return (r, g, b)


def near(a: RGB, b: RGB, tol: int = 12) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a, b, strict=True))


def luminance(c: RGB) -> float:
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def test_png_signature_and_size() -> None:
    png = render_card(card())
    assert png.startswith(PNG_SIGNATURE)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    assert img.size == (934, 282)
    assert img.mode == "RGBA"


def test_rounded_corners_are_transparent_inside_opaque() -> None:
    img = decode(render_card(card()))
    assert img.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert img.getpixel((933, 281))[3] == 0  # type: ignore[index]
    assert img.getpixel((467, 5))[3] == 255  # type: ignore[index]


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_progress_bar_is_filled_in_proportion(theme: str, fraction: float) -> None:
    primary = (255, 136, 0)
    need = 1_000
    img = decode(
        render_card(card(primary_color="#ff8800", theme=theme, xp_into_level=round(need * fraction), xp_for_next=need))
    )
    # Skip the pill's rounded ends, where anti-aliasing blends the colors.
    inset = rank_card._BAR_H // 2 + 2
    xs = range(BAR_X0 + inset, BAR_X1 - inset)
    filled = [near(rgb(img, x, BAR_Y), primary) for x in xs]
    boundary = BAR_X0 + fraction * (BAR_X1 - BAR_X0)
    for x, is_filled in zip(xs, filled, strict=True):
        if abs(x - boundary) > 2:  # the cut itself is anti-aliased
            assert is_filled == (x < boundary), (x, boundary, rgb(img, x, BAR_Y))


def test_progress_is_clamped_and_zero_divisor_is_safe() -> None:
    mid = (BAR_X0 + BAR_X1) // 2
    over = decode(render_card(card(primary_color="#ff8800", xp_into_level=5_000, xp_for_next=100)))
    assert near(rgb(over, BAR_X1 - 20, BAR_Y), (255, 136, 0))
    under = decode(render_card(card(primary_color="#ff8800", xp_into_level=-50)))
    assert not near(rgb(under, BAR_X0 + 20, BAR_Y), (255, 136, 0))
    for need in (0, -10):
        img = decode(render_card(card(primary_color="#ff8800", xp_into_level=1, xp_for_next=need)))
        assert near(rgb(img, mid, BAR_Y), (255, 136, 0))  # 1 / max(1, need) = full


def test_dark_and_light_backgrounds_differ_with_readable_text() -> None:
    dark = decode(render_card(card(theme="dark")))
    light = decode(render_card(card(theme="light")))
    inside = (24, 141)  # left of the avatar: plain card background
    assert luminance(rgb(dark, *inside)) < 60
    assert luminance(rgb(light, *inside)) > 230
    # The name's strokes: the most contrasting pixel in its box is near-white on dark, near-black on light.
    box = (BAR_X0, 40, BAR_X0 + 200, 85)
    _, dark_max = cast(tuple[int, int], dark.convert("L").crop(box).getextrema())
    light_min, _ = cast(tuple[int, int], light.convert("L").crop(box).getextrema())
    assert dark_max > 220
    assert light_min < 40


def test_hidden_card_shows_no_stats() -> None:
    hidden_a = render_card(card(hidden=True))
    hidden_b = render_card(
        card(
            hidden=True,
            rank_code="S",
            level=999,
            xp_into_level=1,
            xp_for_next=2,
            xp=9_999_999,
            position=1,
            coins=123_456_789,
            week_xp=77,
            next_rank=None,
            xp_to_next_rank=None,
        )
    )
    assert hidden_a == hidden_b  # nothing that depends on the numbers is drawn
    shown = decode(render_card(card()))
    hidden = decode(hidden_a)
    assert shown.tobytes() != hidden.tobytes()
    # No badge, no bar: those areas are plain card background.
    background = rgb(hidden, 24, 141)
    assert near(rgb(hidden, 840, 70), background, 2)
    assert all(near(rgb(hidden, x, BAR_Y + 40), background, 2) for x in range(BAR_X0, BAR_X1, 7))


def test_hidden_card_still_follows_name_color_and_theme() -> None:
    base = render_card(card(hidden=True))
    assert render_card(card(hidden=True, name="Someone Else")) != base
    assert render_card(card(hidden=True, theme="light")) != base
    assert render_card(card(hidden=True, primary_color="#00ff00")) != base


@pytest.mark.parametrize("bad", ["", "nope", "#12345", "#1234567", "5865f2", "#gggggg", "rgb(1,2,3)", " #zzzzzz "])
def test_bad_primary_color_falls_back(bad: str) -> None:
    assert render_card(card(primary_color=bad)) == render_card(card(primary_color=rank_card.FALLBACK_COLOR))


def test_color_is_case_and_whitespace_tolerant() -> None:
    assert render_card(card(primary_color=" #FF8800 ")) == render_card(card(primary_color="#ff8800"))


@pytest.mark.parametrize(
    "name",
    [
        "x" * 500,
        "W" * 80,
        "🔥🔥🔥 Fire 🔥🔥🔥" * 10,
        "👨‍👩‍👧‍👦",
        "",
        "   ",
        "line\nbreak\ttab\x00nul",
        "\u202eevil rtl override",
        "مرحبا بالعالم",
        "日本語の名前",
        "Zalgo z̷̢̛̯̳̈́a̶̧̗͂l̵̰̓g̸̤̈́o̴̙͊",
    ],
)
def test_odd_names_do_not_crash(name: str) -> None:
    img = decode(render_card(card(name=name)))
    assert img.size == (934, 282)
    assert decode(render_card(card(name=name, hidden=True))).size == (934, 282)


def test_long_name_is_truncated_with_ellipsis_to_fit() -> None:
    font = rank_card._font(40)
    fitted = rank_card._fit("W" * 200, font, 600)
    assert fitted.endswith("…")
    assert font.getlength(fitted) <= 600
    assert font.getlength(fitted[:-1] + "W…") > 600  # as long as it can be
    assert rank_card._fit("Short", font, 600) == "Short"


@pytest.mark.parametrize(
    "over",
    [
        {"level": 10**12, "xp_into_level": 10**15, "xp_for_next": 10**16, "position": 10**9, "coins": 10**18},
        {"level": -5, "coins": -100, "week_xp": -1, "position": -3, "xp_to_next_rank": -9},
        {"rank_code": "", "next_rank": ""},
        {"rank_code": "SSSSSSSSSS", "next_rank": "🔥"},
        {"rank_code": "?", "next_rank": "Z"},
        {"next_rank": "A", "xp_to_next_rank": None},
        {"position": None, "next_rank": None, "xp_to_next_rank": None},
        {"theme": "neon"},
    ],
)
def test_odd_numbers_do_not_crash(over: dict[str, Any]) -> None:
    assert decode(render_card(card(**over))).size == (934, 282)


@pytest.mark.parametrize("code", ["S", "A+", "B-", "C", "D+", "E-", "F-"])
def test_badge_is_colored_by_tier(code: str) -> None:
    img = decode(render_card(card(rank_code=code)))
    # Just inside the badge's top edge, away from the "RANK" label.
    assert near(rgb(img, rank_card._RIGHT - 8, rank_card._BADGE_TOP + 6), rank_card._TIER_COLORS[code[0]], 3)


def test_numbers_use_thousands_separators_of_the_language() -> None:
    assert rank_card._fmt(1_234_567, "en") == "1,234,567"
    assert rank_card._fmt(1_234_567, "ru") == "1\xa0234\xa0567"  # a no-break space: the number never wraps
    assert rank_card._fmt(999, "ru") == "999"


def test_fonts_are_cached_scalable_and_the_bundled_ones() -> None:
    assert rank_card._font(20) is rank_card._font(20)
    assert isinstance(rank_card._font(20), ImageFont.FreeTypeFont)
    assert rank_card._font(20).getname() == ("DejaVu Sans", "Book")
    assert rank_card._font(20, bold=True).getname() == ("DejaVu Sans", "Bold")
    assert (rank_card.FONTS / "LICENSE").read_text().count("Permission is hereby granted") >= 2  # Vera and Arev


def test_write_examples() -> None:
    """The example cards for eyeballing (artifacts/ is git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for theme, color in (("dark", "#5865f2"), ("light", "#e91e63")):
        png = render_card(card(theme=theme, primary_color=color))
        (ARTIFACTS / f"rank_card_{theme}.png").write_bytes(png)
        assert decode(png).size == (934, 282)
        russian = render_card(card(theme=theme, primary_color=color, name="Дмитрий Ёжиков", locale="ru"))
        (ARTIFACTS / f"rank_card_{theme}_ru.png").write_bytes(russian)
    (ARTIFACTS / "rank_card_hidden_ru.png").write_bytes(render_card(card(name="Ёжик", hidden=True, locale="ru")))


def test_accented_names_are_drawn_as_written_with_at_most_one_accent_a_letter() -> None:
    assert rank_card._clean_text("Zoë  Straße\nŁukasz") == "Zoë Straße Łukasz"
    assert render_card(card(name="Zoë")) != render_card(card(name="Zoe"))
    assert rank_card._clean_text("Zoe\u0308") == "Zoë"  # a decomposed accent is composed (NFC)
    zalgo = rank_card._clean_text("z̷̢̛̯̳̈́a̶̧̗͂")
    assert len(zalgo) <= 4 and zalgo[0] == "z" and "a" in zalgo  # Zalgo text keeps one mark a letter


@pytest.mark.parametrize(("theme", "color"), [("dark", "#1e1f24"), ("dark", "#000000"), ("light", "#ffffff")])
def test_accent_invisible_on_the_card_is_nudged_into_view(theme: str, color: str) -> None:
    img = decode(render_card(card(theme=theme, primary_color=color, xp_into_level=900, xp_for_next=1000)))
    fill = rgb(img, (BAR_X0 + BAR_X1) // 2, BAR_Y)
    background = rgb(img, 24, 141)
    assert abs(luminance(fill) - luminance(background)) > 40


# --- names and words in Russian and English: the bundled font draws them, never its missing-glyph box ----------


@functools.cache
def cmap(bold: bool) -> frozenset[int]:
    """The code points the bundled face maps to a glyph of its own (read with fontTools, not Pillow)."""
    with TTFont(rank_card.BOLD if bold else rank_card.REGULAR, lazy=True) as font:
        return frozenset(font.getBestCmap())


def drawn(monkeypatch: pytest.MonkeyPatch, data: CardData) -> list[tuple[str, ImageFont.FreeTypeFont]]:
    """Every text the card draws, with the font it is drawn in."""
    calls: list[tuple[str, ImageFont.FreeTypeFont]] = []
    real = ImageDraw.ImageDraw.text

    def spy(self: ImageDraw.ImageDraw, xy: Any, text: Any, *args: Any, **kw: Any) -> None:
        calls.append((text, kw["font"]))
        real(self, xy, text, *args, **kw)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", spy)
    render_card(data)
    monkeypatch.undo()
    return calls


def notdef(font: ImageFont.FreeTypeFont) -> tuple[tuple[int, int], bytes]:
    """How the font draws a character it has no glyph for: U+FFFF is a noncharacter (in no cmap), so it is
    drawn as glyph 0, .notdef, the box."""
    assert 0xFFFF not in cmap(False) and 0xFFFF not in cmap(True)
    return mask(font, "\uffff")


def mask(font: ImageFont.FreeTypeFont, ch: str) -> tuple[tuple[int, int], bytes]:
    m = font.getmask(ch)
    return m.size, bytes(m)


def assert_no_boxes(calls: list[tuple[str, ImageFont.FreeTypeFont]]) -> None:
    """Every character drawn is in the cmap of the face it is drawn in and does not look like its .notdef."""
    for text, font in calls:
        bold = font.getname()[1] == "Bold"
        box = notdef(font)
        for ch in text:
            assert ord(ch) in cmap(bold), (text, ch, hex(ord(ch)), font.getname())
            if not ch.isspace():
                assert mask(font, ch) != box, (text, ch, font.getname())


@pytest.mark.parametrize(("name", "initial"), [("Дмитрий", "Д"), ("Ёжик", "Ё"), ("Aurora Lindqvist", "A")])
@pytest.mark.parametrize("locale", ["ru", "en"])
@pytest.mark.parametrize("hidden", [False, True])
def test_cyrillic_names_initials_and_labels_are_drawn_not_boxes(
    monkeypatch: pytest.MonkeyPatch, name: str, initial: str, locale: str, hidden: bool
) -> None:
    calls = drawn(monkeypatch, card(name=name, locale=locale, hidden=hidden))
    texts = [t for t, _ in calls]
    assert name in texts and initial in texts  # the whole name, nothing left out or cut, and its letter
    assert_no_boxes(calls)


def test_the_glyph_check_agrees_with_the_fonts_cmap() -> None:
    sample = "AzÀÿŁżŒßДмитрийЁёЖжЪъЇїЎўΩωαβ0123456789#/·…€№ \xa0🔥😀日本語مرحباאבג♥★✈\ufffd\u0301"
    for ch in sample:
        assert rank_card._has_glyph(ch) == (ord(ch) in cmap(False) and ord(ch) in cmap(True)), (ch, hex(ord(ch)))


def test_the_card_speaks_russian_to_a_russian_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [t for t, _ in drawn(monkeypatch, card(name="Дмитрий", locale="ru"))]
    nbsp = "\xa0"
    for expected in (
        "РАНГ",
        "УРОВЕНЬ ",
        "42",
        "#17",
        f"7{nbsp}340",
        f" / 11{nbsp}020 XP",
        f"12{nbsp}450 монет",
        f"3{nbsp}210 XP за неделю",
        f"16{nbsp}888 XP до ранга S-",
    ):
        assert expected in texts, (expected, texts)
    unranked = [t for t, _ in drawn(monkeypatch, card(locale="ru", position=None, next_rank=None))]
    assert "Без места" in unranked and "Максимальный ранг" in unranked
    assert "Следующий ранг: S-" in [t for t, _ in drawn(monkeypatch, card(locale="ru", xp_to_next_rank=None))]
    hidden = [t for t, _ in drawn(monkeypatch, card(locale="ru", hidden=True))]
    assert "Статистика скрыта" in hidden and not any("XP" in t for t in hidden)


@pytest.mark.parametrize(
    ("coins", "ru", "en"),
    [(1, "1 монета", "1 coin"), (3, "3 монеты", "3 coins"), (5, "5 монет", "5 coins"), (21, "21 монета", "21 coins")],
)
def test_the_cards_coins_take_the_plural_of_the_language(
    monkeypatch: pytest.MonkeyPatch, coins: int, ru: str, en: str
) -> None:
    assert ru in [t for t, _ in drawn(monkeypatch, card(coins=coins, locale="ru"))]
    assert en in [t for t, _ in drawn(monkeypatch, card(coins=coins, locale="en"))]


def test_english_cards_keep_their_words(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [t for t, _ in drawn(monkeypatch, card())]
    for expected in ("RANK", "LEVEL ", "12,450 coins", "3,210 XP this week", "16,888 XP to S-", " / 11,020 XP"):
        assert expected in texts, (expected, texts)
    assert render_card(card()) == render_card(card(locale="en"))  # English is the default
    assert render_card(card(locale="ru")) != render_card(card())


def test_characters_outside_the_font_are_left_out_not_drawn_as_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    """What happens to what DejaVu Sans cannot draw (emoji, CJK, …): it is left out of the name (a box reads as
    broken), spaces around it collapse; a name with nothing drawable left is shown as «Игрок» / "Player",
    with its initial. Nothing crashes, and every character drawn is a real glyph."""
    assert render_card(card(name="🔥 Дима 🔥", locale="ru")) == render_card(card(name="Дима", locale="ru"))
    assert rank_card._clean_text("👨‍👩‍👧‍👦 Ann ✨") == "Ann"
    assert rank_card._clean_text("日本語の名前") == ""
    for locale, shown in (("ru", "Игрок"), ("en", "Player")):
        calls = drawn(monkeypatch, card(name="日本語の名前 🔥", locale=locale))
        texts = [t for t, _ in calls]
        assert shown in texts and shown[0] in texts
        assert_no_boxes(calls)
        assert render_card(card(name="🔥🔥", locale=locale)) == render_card(card(name="", locale=locale))
    for odd in ("Zoë 🔥 Straße", "\u202eevil", "مرحبا", "Ωμέγα", "x\u0301\u0301\u0301"):
        assert_no_boxes(drawn(monkeypatch, card(name=odd, locale="ru")))
