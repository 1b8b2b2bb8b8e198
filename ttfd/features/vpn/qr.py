"""QR codes of a VLESS key or a subscription URL, as PNG bytes a phone camera or a VPN app scans off a screen.

segno (pure Python, no dependencies, ~0.5 MB) rather than qrcode: qrcode needs Pillow or pypng to write a PNG
and its PNG path goes through a full RGB image; segno writes a 1-bit PNG itself (a few hundred bytes to a few
KB), picks the mask deterministically, and raises a typed error when the data does not fit.

- Error correction M (15 % of the code may be lost), raised to Q or H for free when the data fits the same
  version; L only for a link too long for M (2,331 bytes at version 40), so keys of up to ~2.9 KB still encode.
- A quiet zone of 4 modules (the standard's minimum: scanners find the code by it).
- Sized for a phone screen: ~720 px whatever the length, never under 4 px a module.
- The same text gives the same bytes (no timestamp in the PNG, a fixed mask choice).
- ~30–100 ms for a usual key (200–500 bytes), ~0.5 s for a 2 KB one: pure Python, so in a job.
"""

from __future__ import annotations

import io
from typing import Final

import segno

BORDER: Final = 4  # modules of quiet zone
TARGET_PX: Final = 720  # the picture's side, about; a phone shows it at full width
MIN_MODULE_PX: Final = 4
MAX_BYTES: Final = 2953  # version 40-L in byte mode: nothing longer is a QR code


class QrTooLong(ValueError):
    """The text does not fit a QR code (even version 40 at error correction L)."""


def png(text: str) -> bytes:
    """`text` as a QR code PNG (black on white, 1-bit): error correction M (L when only L fits)."""
    if not text:
        raise ValueError("nothing to encode")
    size = len(text.encode("utf-8"))
    for level in ("m", "l"):
        try:
            # UTF-8 always: without an ECI, scanners read bytes as UTF-8, and segno would pick Latin-1 for a
            # remark like "café".
            code = segno.make(text, error=level, micro=False, encoding="utf-8", boost_error=True)
        except segno.DataOverflowError:
            continue
        break
    else:
        raise QrTooLong(f"{size} bytes do not fit a QR code (at most {MAX_BYTES})")
    modules = code.symbol_size(scale=1, border=BORDER)[0]
    scale = max(MIN_MODULE_PX, round(TARGET_PX / modules))
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=BORDER, dark="#000", light="#fff")
    return out.getvalue()


def vless_png(link: str) -> bytes:
    """A `vless://` key as a QR code (v2rayNG, Hiddify, Streisand, V2Box import it by scanning)."""
    if not link.startswith("vless://"):
        raise ValueError("not a vless:// link")
    return png(link)


def subscription_png(url: str) -> bytes:
    """A subscription URL (3x-ui's /sub/<id>) as a QR code: apps that scan it keep the key up to date."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("not an http(s) URL")
    return png(url)
