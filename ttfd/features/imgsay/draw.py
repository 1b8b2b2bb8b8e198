"""Caption pictures for /imgsay: the text in white with a dark outline over a picture (meme style: one caption
at the bottom, or `top | bottom`), or over a plain gradient card when no picture is given. Drawn with the
bundled DejaVu Sans Bold (Latin, Cyrillic, Greek); what it lacks (emoji, CJK) is left out, as on the rank card.

The text is wrapped by measured width and the font shrunk until every line fits; the result is a PNG whose
longest side is at most MAX_SIDE (a small picture is enlarged to MIN_SIDE so that the words stay legible).
Pure functions: no database, no network.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from ttfd.features.profiles.rank_card import BOLD, drawable_text

MAX_TEXT: Final = 300  # characters a caption may have
MAX_SIDE: Final = 1280  # the output's longest side
MIN_SIDE: Final = 640  # a smaller picture is enlarged to this longest side first
TEMPLATE: Final = (1024, 640)
MIN_FONT: Final = 14
_MARGIN: Final = 0.04  # × width, on each side of the text
_MIDDLE: Final = "mm"  # Pillow anchor: the line centred on the point
_TOP_COLOR, _BOTTOM_COLOR = (67, 56, 202), (17, 24, 39)  # indigo to near-black


@lru_cache(maxsize=128)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(BOLD), size)


def caption_text(text: str) -> str:
    """The caption as it will be drawn: controls and NUL gone, one line, only what the font draws."""
    return drawable_text(text.replace("\x00", ""))


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Lines of `text` no wider than `width`: by words, a word too long for a line broken by characters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}" if line else word
        if font.getlength(trial) <= width:
            line = trial
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:
            if font.getlength(line + ch) > width and line:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines


def _layout(text: str, width: float, height: float, start: int) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font (from `start` down to MIN_FONT) at which `text` wraps within width × height."""
    size = start
    while True:
        font = _font(size)
        lines = _wrap(text, font, width)
        if size <= MIN_FONT or len(lines) * size * 1.22 <= height:
            return font, lines
        size = max(MIN_FONT, int(size * 0.9))


def _block(img: Image.Image, text: str, where: str, share: float) -> None:
    """Draw `text` centred at the top, middle or bottom, within `share` of the height."""
    w, h = img.size
    margin = _MARGIN * w
    font, lines = _layout(text, w - 2 * margin, h * share, max(MIN_FONT, round(min(w, h) / 7)))
    size = font.size
    step = round(size * 1.22)
    total = step * len(lines)
    y = {"top": margin, "middle": (h - total) / 2, "bottom": h - margin - total}[where]
    draw = ImageDraw.Draw(img)
    stroke = max(2, round(size / 12))
    for i, line in enumerate(lines):
        draw.text(
            (w / 2, y + i * step + step / 2),
            line,
            font=font,
            fill=(255, 255, 255),
            anchor=_MIDDLE,
            stroke_width=stroke,
            stroke_fill=(0, 0, 0),
        )


def _sized(img: Image.Image) -> Image.Image:
    longest = max(img.size)
    if MIN_SIDE <= longest <= MAX_SIDE:
        return img
    f = (MAX_SIDE if longest > MAX_SIDE else MIN_SIDE) / longest
    size = (max(1, round(img.width * f)), max(1, round(img.height * f)))
    return img.resize(size, Image.Resampling.LANCZOS)


def template() -> Image.Image:
    """The plain card a caption is drawn on when no picture is given: a vertical gradient."""
    w, h = TEMPLATE
    column = Image.linear_gradient("L").resize((1, h))
    return Image.composite(
        Image.new("RGB", (1, h), _BOTTOM_COLOR), Image.new("RGB", (1, h), _TOP_COLOR), column
    ).resize((w, h))


def render(text: str, picture: Image.Image | None = None) -> bytes:
    """The caption `text` (already cleaned by `caption_text`) over `picture` (checked pixels), else over the
    template; a PNG."""
    if picture is None:
        img = template()
    else:
        if picture.mode in ("RGBA", "LA"):  # transparency shown over black: white text stays readable
            base = Image.new("RGB", picture.size, (0, 0, 0))
            base.paste(picture.convert("RGBA"), mask=picture.convert("RGBA").getchannel("A"))
            picture = base
        img = _sized(picture.convert("RGB"))
    top, sep, bottom = text.partition("|")
    if picture is None:
        _block(img, " ".join(text.replace("|", " ").split()), "middle", 0.9)
    elif sep and top.strip() and bottom.strip():
        _block(img, top.strip(), "top", 0.4)
        _block(img, bottom.strip(), "bottom", 0.4)
    else:
        _block(img, " ".join(text.replace("|", " ").split()), "bottom", 0.45)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()
