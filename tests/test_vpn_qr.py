"""QR codes of VPN keys (ttfd/features/vpn/qr.py): the PNG holds exactly the code segno computed — read back
module by module, with its quiet zone and finder patterns — and a QR decoder reads the link back when one is
installed (zxing-cpp, a wheel; no system library). Same text, same bytes; too long, a clear error."""

from __future__ import annotations

import io

import pytest
import segno
from PIL import Image

from ttfd.features.vpn import qr

LINK = (
    "vless://6f1c2f1e-6a8c-4f39-9d8e-2b7a0f3c9e11@vpn.example.org:443?type=tcp&security=reality"
    "&pbk=Zl8o0bK1uQ8xk3f9pYpA2eXbq7lR5v4sT6wUoN1mC0E&fp=chrome&sni=www.microsoft.com&sid=6ba85179e30d4fc2"
    "&spx=%2F&flow=xtls-rprx-vision#TTFD%20%D0%9C%D0%B5%D1%81%D1%8F%D1%86"
)


def _modules(png: bytes, text: str) -> tuple[list[list[bool]], int]:
    """The PNG sampled at each module's centre (True = dark), quiet zone included, and the module size."""
    img = Image.open(io.BytesIO(png)).convert("L")
    code = segno.make(text, error="m", micro=False, encoding="utf-8", boost_error=True)
    side = int(code.symbol_size(scale=1, border=qr.BORDER)[0])
    assert img.width == img.height and img.width % side == 0
    scale = img.width // side
    px = img.tobytes()  # mode L: one byte a pixel, row-major
    centre = scale // 2
    grid = [[px[(y * scale + centre) * img.width + x * scale + centre] < 128 for x in range(side)] for y in range(side)]
    return grid, scale


def _decoder() -> object | None:
    try:
        import zxingcpp  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return zxingcpp


def test_the_png_is_the_code_with_its_quiet_zone_and_finders() -> None:
    png = qr.vless_png(LINK)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    grid, scale = _modules(png, LINK)
    img = Image.open(io.BytesIO(png))
    assert 600 <= img.width <= 900 and scale >= qr.MIN_MODULE_PX  # a phone screen's width, modules ≥ 4 px
    code = segno.make(LINK, error="m", micro=False, encoding="utf-8", boost_error=True)
    assert code.error in ("M", "Q", "H")  # at least M
    expected = [[bool(v) for v in row] for row in code.matrix_iter(scale=1, border=qr.BORDER)]
    assert grid == expected  # every module drawn where segno put it
    b, n = qr.BORDER, len(grid) - 2 * qr.BORDER
    quiet = [grid[y][x] for y in range(len(grid)) for x in range(len(grid)) if not (b <= x < b + n and b <= y < b + n)]
    assert not any(quiet)  # 4 light modules all round
    finder = [[max(abs(x - 3), abs(y - 3)) != 2 for x in range(7)] for y in range(7)]
    for ox, oy in ((b, b), (b + n - 7, b), (b, b + n - 7)):  # top left, top right, bottom left
        assert [row[ox : ox + 7] for row in grid[oy : oy + 7]] == finder


def test_a_decoder_reads_the_link_back() -> None:
    zxing = _decoder()
    if zxing is None:
        pytest.skip("no QR decoder installed (pip install zxing-cpp); the module-by-module test stands in")
    for text, make in ((LINK, qr.vless_png), ("https://vpn.example.org/sub/Ab12Cd34Ef56", qr.subscription_png)):
        found = zxing.read_barcodes(Image.open(io.BytesIO(make(text))).convert("L"))  # type: ignore[attr-defined]
        assert [r.text for r in found] == [text]


def test_the_same_link_gives_the_same_bytes() -> None:
    assert qr.vless_png(LINK) == qr.vless_png(LINK)
    assert qr.vless_png(LINK) != qr.vless_png(LINK.replace("443", "8443"))


def test_a_two_kilobyte_link_still_encodes_and_longer_says_why_not() -> None:
    long_link = "vless://" + "a1b2c3d4-" * 226  # 2,042 bytes
    png = qr.vless_png(long_link)
    grid, scale = _modules(png, long_link)
    assert scale >= qr.MIN_MODULE_PX and len(grid) <= 177 + 2 * qr.BORDER
    zxing = _decoder()
    if zxing is not None:
        found = zxing.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))  # type: ignore[attr-defined]
        assert [r.text for r in found] == [long_link]
    with pytest.raises(qr.QrTooLong) as caught:
        qr.png("vless://" + "x" * 3000)
    assert "3008 bytes" in str(caught.value) and str(qr.MAX_BYTES) in str(caught.value)


def test_only_links_of_their_kind_are_drawn() -> None:
    with pytest.raises(ValueError):
        qr.vless_png("https://example.org")
    with pytest.raises(ValueError):
        qr.subscription_png("vless://x@y:1")
    with pytest.raises(ValueError):
        qr.png("")
