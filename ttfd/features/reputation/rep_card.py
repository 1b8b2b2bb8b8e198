"""The reputation card (934×282 PNG, the rank card's size and look) for /repcard, in the reader's language.

Drawn with the rank card's own helpers (ttfd.features.profiles.rank_card: the bundled DejaVu Sans, themes,
the avatar, fitting and cleaning text, 2× supersampling, the rounded corners), so Latin, Cyrillic and Greek
names draw the same on every host and characters the font lacks are left out, never drawn as boxes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw

from ttfd.core.i18n import C_, N_, _
from ttfd.features.profiles.rank_card import (
    _COIN_COLOR,
    _LEFT,
    _LEFT_BASE,
    _MIDDLE,
    _PAD,
    _RADIUS,
    _RIGHT,
    _THEMES,
    HEIGHT,
    NAMELESS,
    PRIVATE,
    SCALE,
    WIDTH,
    _clean_text,
    _contrast,
    _corner_mask,
    _draw_avatar,
    _draw_lock,
    _fit,
    _fmt,
    _font,
    _on,
    _parse_color,
    _s,
    _say,
    _visible,
)

REP_LABEL = C_("rep card", "REP")
UNRANKED = C_("rep card", "Not on the board yet")
NOBODY_YET = _("Nobody has given reputation yet")


@dataclass(frozen=True)
class RepCardData:
    name: str  # display name, any unicode (what the font lacks is left out)
    primary_color: str  # "#rrggbb"
    theme: Literal["dark", "light"]
    hidden: bool  # the owner hides their stats from this viewer: name + "Stats are private" only
    rep: int = 0
    position: int | None = None  # on the reputation board; None: no reputation yet
    given: int = 0
    latest_reason: str | None = None  # the newest reason received, if it had one
    latest_from: str | None = None  # who gave the newest +1 (as the viewer may see them)
    locale: str = "en"


def _draw_badge(draw: ImageDraw.ImageDraw, rep: int, locale: str) -> int:
    """The reputation badge in the top right (gold, like the S tier); returns its left edge (2×)."""
    fg = _on(_COIN_COLOR)
    value = f"+{_fmt(rep, locale)}" if rep else "0"
    label = _say(REP_LABEL, locale)
    size = next((z for z in (46, 38, 30) if _font(z, bold=True).getlength(value) <= _s(220)), 24)
    value_font, label_font = _font(size, bold=True), _font(14)
    w = max(_s(112), int(value_font.getlength(value)) + _s(40), int(label_font.getlength(label)) + _s(28))
    x1, y0 = _s(_RIGHT), _s(30)
    x0, y1 = x1 - w, y0 + _s(88)
    draw.rounded_rectangle((x0, y0, x1, y1), radius=_s(16), fill=_COIN_COLOR)
    cx = (x0 + x1) / 2
    draw.text((cx, y0 + _s(17)), label, font=label_font, fill=fg, anchor=_MIDDLE)
    draw.text((cx, y0 + _s(56)), value, font=value_font, fill=fg, anchor=_MIDDLE)
    return x0


def _render(data: RepCardData) -> Image.Image:
    theme = _THEMES.get(data.theme, _THEMES["dark"])
    locale = data.locale
    primary = _visible(_parse_color(data.primary_color), theme)
    accent = primary if _contrast(primary, theme.card) >= 3 else theme.text
    name = _clean_text(data.name) or _say(NAMELESS, locale)

    img = Image.new("RGB", (_s(WIDTH), _s(HEIGHT)), theme.border)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(
        (0, 0, img.width - 1, img.height - 1), radius=_s(_RADIUS), fill=theme.card, outline=theme.border, width=_s(2)
    )
    _draw_avatar(draw, name, primary, theme)
    name_font = _font(38, bold=True)
    width = _s(_RIGHT - _LEFT)
    if data.hidden:
        draw.text(
            (_s(_LEFT), _s(118)), _fit(name, name_font, width), font=name_font, fill=theme.text, anchor=_LEFT_BASE
        )
        _draw_lock(draw, _s(_LEFT), _s(142), theme.muted, theme.card)
        private = _fit(_say(PRIVATE, locale), _font(24), width - _s(28))
        draw.text((_s(_LEFT + 28), _s(162)), private, font=_font(24), fill=theme.muted, anchor=_LEFT_BASE)
        return img

    badge_left = _draw_badge(draw, data.rep, locale)
    fitted = _fit(name, name_font, badge_left - _s(_LEFT) - _s(24))
    draw.text((_s(_LEFT), _s(80)), fitted, font=name_font, fill=theme.text, anchor=_LEFT_BASE)

    # "★ 20 reputation points   #3" on one baseline, then how many they gave.
    points = "★ " + _say(N_("{n} reputation point", "{n} reputation points", data.rep), locale)
    ranked = data.position is not None and data.position > 0
    where = f"#{_fmt(data.position or 0, locale)}" if ranked else _say(UNRANKED, locale)
    big, small = _font(30, bold=True), _font(30 if ranked else 20, bold=ranked)
    base = _s(138)
    points = _fit(points, big, width - _s(160))
    draw.text((_s(_LEFT), base), points, font=big, fill=accent, anchor=_LEFT_BASE)
    x = _s(_LEFT) + int(big.getlength(points)) + _s(24)
    draw.text((x, base), _fit(where, small, _s(_RIGHT) - x), font=small, fill=theme.text, anchor=_LEFT_BASE)
    gave = _say(N_("Gave {n} point", "Gave {n} points", data.given), locale)
    draw.text((_s(_LEFT), _s(176)), _fit(gave, _font(20), width), font=_font(20), fill=theme.muted, anchor=_LEFT_BASE)

    # The newest reason, quoted, with who gave it: the card's "latest review".
    reason = _clean_text(data.latest_reason or "")
    giver = _clean_text(data.latest_from or "") or _say(NAMELESS, locale)
    if reason:
        latest = _say(_("“{reason}” — {name}", reason=reason, name=giver), locale)
    elif data.latest_from:
        latest = _say(_("Latest from {name}", name=giver), locale)
    else:
        latest = _say(NOBODY_YET, locale)
    quote_font = _font(22)
    y = _s(HEIGHT - _PAD - 12)
    draw.rounded_rectangle((_s(_LEFT), y - _s(30), _s(_LEFT) + _s(6), y + _s(4)), radius=_s(3), fill=primary)
    draw.text(
        (_s(_LEFT + 18), y),
        _fit(latest, quote_font, width - _s(18)),
        font=quote_font,
        fill=theme.muted,
        anchor=_LEFT_BASE,
    )
    return img


def render_rep_card(data: RepCardData) -> bytes:
    """The reputation card as PNG bytes (934×282), drawn at 2× and box-downsampled like the rank card."""
    img = _render(data).reduce(SCALE)
    img.putalpha(_corner_mask())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()
