"""The Discord captcha's picture: a short code drawn as a PNG that people read easily and scripts do not.

Each character is drawn on its own at a random size, turned by up to ±30°, and set with a random offset;
the row is then bent by a random wave and crossed by lines and dots in the text's own tones, so neither
cutting the picture into characters nor reading it with off-the-shelf OCR works reliably. Drawing takes
~5 ms (~20 ms for the first one in a process), in a job only: Pillow stays off the interaction path.
The code itself comes from service.new_code and lives only in Postgres; this module only draws it."""

from __future__ import annotations

import io
import math
import secrets
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 300, 100
CELL = 80  # the square each character is drawn and turned in
_random = secrets.SystemRandom()  # distortions an attacker cannot replay from a seed


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """The bundled font (identical on every host), cached: loading it costs more than drawing a glyph."""
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow built without FreeType: only the tiny bitmap font
        raise RuntimeError("the verification captcha needs Pillow with FreeType support")
    return font


def _ink() -> tuple[int, int, int]:
    return (_random.randint(10, 110), _random.randint(10, 110), _random.randint(10, 110))


def _glyph(char: str) -> Image.Image:
    """One character as an alpha mask, at a random size and turned by a random angle."""
    cell = Image.new("L", (CELL, CELL), 0)
    font, stroke = _font(_random.randint(44, 56)), _random.randint(1, 2)  # thicker strokes: easier on people
    middle = "mm"  # Pillow's anchor: the middle of the glyph, both ways
    ImageDraw.Draw(cell).text(
        (CELL // 2, CELL // 2), char, font=font, fill=255, anchor=middle, stroke_width=stroke, stroke_fill=255
    )
    return cell.rotate(_random.uniform(-30, 30), resample=Image.Resampling.BICUBIC)


def _wave(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Shift thin columns up and down along a random sine: straight baselines are what segmenters look for."""
    out = Image.new("RGB", img.size, background)
    amplitude, period, phase = _random.uniform(3, 6), _random.uniform(90, 160), _random.uniform(0, 2 * math.pi)
    for x in range(0, img.width, 3):
        dy = round(amplitude * math.sin(2 * math.pi * x / period + phase))
        out.paste(img.crop((x, 0, x + 3, img.height)), (x, dy))
    return out


def draw(code: str) -> bytes:
    """The code as PNG bytes (300×100)."""
    shade = _random.randint(225, 245)
    background = (shade, shade, _random.randint(225, 245))
    img = Image.new("RGB", (WIDTH, HEIGHT), background)
    pen = ImageDraw.Draw(img)
    for _ in range(400):  # speckle: breaks thresholding into clean glyph outlines
        x, y, tone = _random.randrange(WIDTH), _random.randrange(HEIGHT), _random.randint(90, 200)
        pen.point((x, y), fill=(tone, tone, tone))
    step = (WIDTH - 40) / len(code)
    for i, char in enumerate(code):
        x = round(20 + i * step + step / 2 - CELL / 2 + _random.randint(-6, 6))
        y = (HEIGHT - CELL) // 2 + _random.randint(-8, 8)
        img.paste(Image.new("RGB", (CELL, CELL), _ink()), (x, y), _glyph(char))
    img = _wave(img, background)
    pen = ImageDraw.Draw(img)
    for _ in range(4):  # lines through the text in its own tones: they join characters a segmenter would split
        points = [(_random.randrange(WIDTH), _random.randrange(10, HEIGHT - 10)) for _ in range(3)]
        pen.line(points, fill=_ink(), width=_random.randint(1, 3), joint="curve")
    for _ in range(30):  # and a few heavier dots of the same ink
        x, y, r = _random.randrange(WIDTH), _random.randrange(HEIGHT), _random.randint(1, 2)
        pen.ellipse((x - r, y - r, x + r, y + r), fill=_ink())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()
