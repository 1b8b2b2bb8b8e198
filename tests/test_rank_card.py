"""The rank card: a valid 934×282 PNG whose pixels say what the data says, and never a crash on odd input."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image, ImageFont

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


def test_numbers_use_thousands_separators() -> None:
    assert rank_card._fmt(1_234_567) == "1,234,567"
    assert rank_card._fmt(999) == "999"


def test_fonts_are_cached_and_scalable() -> None:
    assert rank_card._font(20) is rank_card._font(20)
    assert isinstance(rank_card._font(20), ImageFont.FreeTypeFont)


def test_write_examples() -> None:
    """The example cards for eyeballing (artifacts/ is git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for theme, color in (("dark", "#5865f2"), ("light", "#e91e63")):
        png = render_card(card(theme=theme, primary_color=color))
        (ARTIFACTS / f"rank_card_{theme}.png").write_bytes(png)
        assert decode(png).size == (934, 282)


def test_accented_names_fold_to_what_the_bundled_font_can_draw() -> None:
    # The bundled font is nearly ASCII-only: "ë" would be a box, "e" reads fine.
    assert rank_card._clean_text("Zoë  Straße\nŁukasz z̷̢a̶") == "Zoe Strasse Lukasz za"
    assert render_card(card(name="Zoë")) == render_card(card(name="Zoe"))
    assert rank_card._clean_text("🔥 Fire") == "🔥 Fire"  # no plain form: left for the font's box


@pytest.mark.parametrize(("theme", "color"), [("dark", "#1e1f24"), ("dark", "#000000"), ("light", "#ffffff")])
def test_accent_invisible_on_the_card_is_nudged_into_view(theme: str, color: str) -> None:
    img = decode(render_card(card(theme=theme, primary_color=color, xp_into_level=900, xp_for_next=1000)))
    fill = rgb(img, (BAR_X0 + BAR_X1) // 2, BAR_Y)
    background = rgb(img, 24, 141)
    assert abs(luminance(fill) - luminance(background)) > 40
