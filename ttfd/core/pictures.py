"""Safe intake of a picture someone sent: the checks every feature that takes an upload needs, in one place.

`intake(raw, declared_type, filename)` refuses what is not a still PNG, JPEG or WebP picture of sensible size
(`PictureRejected`, a BadInput whose message is safe to show) and returns a `Picture`: its pixels decoded
(orientation applied) with every piece of metadata dropped (EXIF with GPS, XMP, ICC, text chunks, comments).
In order, cheapest first: the byte size (before anything is parsed), the format told by the bytes (never by the
name), the declared type and extension against it, the pixel count and sides on the header alone (before any
pixel is decoded: Pillow's own guard, MAX_IMAGE_PIXELS at 89 Mpx, is global and far higher), animations, a JPEG
of thousands of progressive scans, then the decode. The refusals' words are a `Words`: the generic ones suit
any picture; a feature passes its own (ttfd.features.vpn.proof speaks of the payment's screenshot). Pure
functions: no database, no network. Pillow only.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageOps

from ttfd.core.errors import BadInput
from ttfd.core.i18n import Msg, _

# Discord's own upload limit without Nitro is 10 MiB: nothing an ordinary member sends is bigger, and a refused
# 40 MB body is never read whole (ttfd.clients.downloads stops at the limit it is given).
MAX_BYTES: Final = 10 * 1024 * 1024
# 16.7 Mpx (4096²) covers phones, tablets and a scrolled capture of a few screens; decoded as RGBA that is at
# most 64 MiB, well within a 512 MB function.
MAX_PIXELS: Final = 4096 * 4096
MAX_SIDE: Final = 16384
MIN_SIDE: Final = 16
MAX_JPEG_SCANS: Final = 64  # start-of-scan markers; a progressive phone JPEG has ~10

# Refused, with the reason said: GIF (animated and palette files are a decoder surface for nothing) and
# HEIC/AVIF (Pillow needs a native plugin; Discord and Telegram convert most of them to JPEG anyway).
FORMATS: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_TYPES: Final = {
    "image/png": "PNG",
    "image/x-png": "PNG",
    "image/apng": "PNG",
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/pjpeg": "JPEG",
    "image/webp": "WEBP",
}
_EXTENSIONS: Final = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "jpe": "JPEG", "jfif": "JPEG", "webp": "WEBP"}
_GENERIC: Final = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
# Formats recognised only to name them in the refusal, so the person knows what to send instead. Pillow is
# asked about these few alone: no other decoder ever parses what a member sent.
_KNOWN_OTHER: Final = {"GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF", "ICO": "ICO", "AVIF": "AVIF"}
_OPENERS: Final = [*FORMATS, *_KNOWN_OTHER]
_SNIFFED: Final = {  # what Pillow cannot open, told by the first bytes
    b"%PDF-": "PDF",
    b"ftypheic": "HEIC",
    b"ftypheix": "HEIC",
    b"ftypheif": "HEIC",
    b"ftypmif1": "HEIC",
    b"ftyphevc": "HEIC",
}


class PictureRejected(BadInput):
    """A picture that cannot be used; `message` says why, in words safe to show."""


@dataclass(frozen=True)
class Words:
    """The refusals' words (each a function of the numbers or names it shows), so a feature can speak of what
    it asked for ("the screenshot of the payment") while the checks stay the same."""

    too_many_bytes: Callable[[int], Msg]  # the limit in MB
    empty: Callable[[], Msg]
    wrong_kind: Callable[[str], Msg]  # a format named (GIF, PDF, HEIC…)
    not_picture: Callable[[], Msg]
    mismatch: Callable[[str, str], Msg]  # said, found
    too_many_pixels: Callable[[int], Msg]  # the limit in megapixels
    too_small: Callable[[], Msg]
    animation: Callable[[], Msg]
    damaged: Callable[[], Msg]


GENERIC: Final = Words(
    too_many_bytes=lambda mb: _("That file is too large: at most {max} MB.", max=mb),
    empty=lambda: _("That file is empty: send the picture again."),
    wrong_kind=lambda kind: _("{kind} files are not accepted: send a PNG, JPEG or WebP picture.", kind=kind),
    not_picture=lambda: _("That file is not a picture: send a PNG, JPEG or WebP picture."),
    mismatch=lambda said, found: _(
        "That file says it is {said} but it is {found}: send the original picture.", said=said, found=found
    ),
    too_many_pixels=lambda mp: _("That picture is too large: at most {max} megapixels.", max=mp),
    too_small=lambda: _("That picture is too small: send a bigger one."),
    animation=lambda: _("That is an animation: send a still picture."),
    damaged=lambda: _("That picture is damaged or incomplete: send it again."),
)


@dataclass(frozen=True)
class Picture:
    """A checked picture: its pixels (RGB, RGBA or L, `info` empty) and the format the bytes were."""

    image: Image.Image
    format: str  # PNG, JPEG or WEBP

    @property
    def content_type(self) -> str:
        """The MIME type of the format it came in."""
        return FORMATS[self.format]


def _format_of(declared_type: str | None, filename: str | None) -> tuple[str | None, str | None]:
    """What the sender said it is, from its content type and its file name's extension (None: not said)."""
    by_type = None
    mime = (declared_type or "").split(";")[0].strip().lower()
    if mime not in _GENERIC:
        by_type = _TYPES.get(mime, mime)
    by_name = None
    if filename and "." in filename:
        ext = filename.rsplit(".", 1)[1].strip().lower()
        by_name = _EXTENSIONS.get(ext, "." + ext)
    return by_type, by_name


def _sniff(raw: bytes) -> str | None:
    head = raw[:16]
    for magic, kind in _SNIFFED.items():
        if head.startswith(magic) or head[4:].startswith(magic):
            return kind
    return None


def intake(
    raw: bytes,
    declared_type: str | None,
    filename: str | None,
    *,
    words: Words = GENERIC,
    min_side: int = MIN_SIDE,
    error: type[PictureRejected] = PictureRejected,
) -> Picture:
    """Refuse or accept a picture (see the module docstring); the declared content type and file name, when
    given, must agree with what the bytes are. Refusals are `error`s with `words`."""
    too_many_pixels = error(words.too_many_pixels(MAX_PIXELS // 1_000_000))
    if len(raw) > MAX_BYTES:
        raise error(words.too_many_bytes(MAX_BYTES // (1024 * 1024)))
    if not raw:
        raise error(words.empty())
    try:
        # A header beyond Pillow's own (global) bomb limit raises DecompressionBombError; when the process
        # turned the warning into an error, the warning arrives as an exception too. Either is a refusal here.
        img = Image.open(io.BytesIO(raw), formats=_OPENERS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels from None
    except Exception:  # what a member sent: any parser failure is "not a picture", never a 5xx
        kind = _sniff(raw)
        raise error(words.wrong_kind(kind) if kind else words.not_picture()) from None
    found = "JPEG" if img.format == "MPO" else img.format  # MPO: a camera JPEG with extra views after it
    if found not in FORMATS:
        named = _KNOWN_OTHER.get(found or "", found)
        raise error(words.wrong_kind(named) if named else words.not_picture())
    by_type, by_name = _format_of(declared_type, filename)
    for said in (by_type, by_name):
        if said is not None and said != found:
            raise error(words.mismatch(said, found))
    width, height = img.size
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise too_many_pixels
    if min(width, height) < min_side:
        raise error(words.too_small())
    if getattr(img, "n_frames", 1) > 1 and img.format != "MPO":
        raise error(words.animation())
    if found == "JPEG" and raw.count(b"\xff\xda") > MAX_JPEG_SCANS:
        # Each progressive scan walks the whole picture again: thousands of tiny scans make a 10 MB file take
        # minutes to decode. Cameras and phones write 1–12.
        raise error(words.damaged())
    try:
        # Bounded: at most MAX_PIXELS (checked on the header), and Pillow caps text/ICC chunks (1 MB each, 64 MB
        # in all).
        img.load()
        upright = ImageOps.exif_transpose(img)  # a photo's "rotate 90°" applied before the tag is dropped
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels from None
    except Exception:  # truncated, corrupt, or a decoder's odd refusal: the member's file, a 4xx
        raise error(words.damaged()) from None
    return Picture(clean(upright), found)


def clean(img: Image.Image) -> Image.Image:
    """The pixels alone: RGB(A) or grey, with no `info` left for an encoder to copy (EXIF, XMP, ICC, text)."""
    alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if img.mode.startswith("I"):  # 16-bit grey PNG: scaled to 8 bits rather than clipped
        img = img.convert("I").point(lambda v: v / 257).convert("L")
    mode = "RGBA" if alpha else ("L" if img.mode in ("1", "L") else "RGB")
    out = img.convert(mode) if img.mode != mode else img.copy()
    out.info = {}
    return out
