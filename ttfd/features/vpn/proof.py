"""Payment screenshots: checked, cleaned, and fingerprinted so that one receipt pays for one order only.

`check(raw, declared_type, filename)` refuses what is not a still PNG, JPEG or WebP picture of sensible size
(`ProofRejected`, a BadInput whose message is safe to show) and returns a `Proof`: the picture re-encoded with
every piece of metadata dropped (EXIF with GPS, XMP, ICC, text chunks, comments; orientation applied first),
its SHA-256 (of the bytes as sent: the exact-duplicate key), a 64-bit perceptual hash for the database and a
small signature for the fine check below. Pure functions: no database, no network. Pillow only — see
"Why not imagehash" at the end.

Duplicates, in two stages (an SQL query does the first, `same_screenshot` the second; `find_duplicate` both):

1. **Candidates** — `phash`, a 64-bit dHash (9×8 gradient signs of the whole picture, as imagehash's
   `dhash`) stored as a signed `bigint`; Postgres finds earlier proofs within `CANDIDATE_DISTANCE` bits with
   `CANDIDATE_SQL` in one statement. It cannot decide alone: receipts from one bank app share their layout, and at
   8×8 two customers' receipts look *closer* than a receipt and its own cropped copy (measured below).
2. **Fine check** — `detail`: the picture in grey at 360 px wide (PNG, ~25 KB) plus the boxes of its text
   lines. `same_screenshot(a, b)` aligns two of them on their matching text lines (scale and offset: crops
   and resizes move and scale everything alike), then compares every text line of each inside the other's
   frame, piece by piece (normalised cross-correlation of ~3 characters at a time, best of ±½ px). The same
   picture agrees everywhere; two receipts differ at least where the operation number is. Lines within the
   top status band (0.14 × width: the clock and icons, which a re-taken screenshot changes) and lines cut by
   either picture's edge are not compared. `find_duplicate` runs both stages over the query's rows.

Measured on synthetic receipts (tests/test_vpn_proof.py draws them: three bank-app layouts, light and dark,
1080×2340 and three other phone sizes; `python -m tests.test_vpn_proof 200 7` prints these): two independent
sets of 200 and 150 pairs of each kind (seeds 7 and 11). "Same" = the receipt re-taken with another status-bar
clock half the time, cropped up to 5 % off each edge (or exactly the status bar) in 70 %, resized to 50–100 %,
saved as JPEG q60–90, WebP or PNG; "hardest" = another clock, 5 % off every edge, halved, JPEG q60. "Other" =
another receipt of the same layout and theme; "same payee" = same amount, payee and bank (what every customer
of one plan pays) with another time, operation number, card and sender; "op only" = nothing differs but the
operation number. The first side is sent as a PNG or as Telegram sends a photo (JPEG q87 within 1280 px).

                         same           hardest        other          same payee     op only
    dHash bits (of 64)   0–14 (p95 12)  5–20 (p95 16)  0–9 (p95 7)    0–4 (p95 3)    0–3 (p95 2)
    fine check, lowest   ≥ 0.828        ≥ 0.835        ≤ 0.48         ≤ 0.60         ≤ 0.73

So `CANDIDATE_DISTANCE` = 26 (6 above the hardest same pair; unrelated pictures sit around 32 ± 4) and
`SAME_SCORE` = 0.78, halfway: 0.05 above the closest two different receipts and 0.05 under the worst same pair.
A false "duplicate" blocks an honest customer's payment; a missed one still goes to staff, who see the
picture. Whole-line correlations (no pieces) left 0.05 between the two; blurring the signature by 0.5 px
lifted re-encoded copies (a sharp PNG against a blurry half-size WebP) by ~0.05. Cost: `check` ~0.1 s for a
1080×2340 screenshot (≤ 0.7 s at MAX_PIXELS), a `detail` of ~25 KB; the fine check ~10 ms per candidate that
differs (it stops at the first line that does), ~20 ms for a duplicate.

Small print (lines under 12 px at 360 wide, e.g. Pillow's default font on a 540-px picture) would lose the
digits that tell receipts apart; such a picture's signature is kept wider (up to its own width, at most 720),
and two signatures are compared at the smaller of their widths.

What it does not catch: a receipt edited (another amount drawn in), a photo of a screen, heavy rotation or
crops past 5 %; pictures with too few text lines (a photo of a paper receipt, a sparse receipt) are never
refused as copies: the dHash alone cannot tell two sparse receipts of one app apart (0 bits for two amounts
in the same layout), so within `PHOTO_DISTANCE` such a payment reaches staff flagged. Staff look at every
proof.

Why not imagehash (4.3.2): it computes the same dHash — bit for bit, checked on 200 of the pictures above —
but pulls numpy, scipy and PyWavelets: ~225 MB installed (measured) in a Lambda package that today is mostly
Pillow and psycopg, and ~0.25 s of imports on a warm disk, for one 9×8 resize and 64 comparisons that Pillow
does in microseconds. The fine check needs what no hashing library offers anyway.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from statistics import median
from typing import Final, Literal, Protocol, TypeVar

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageMath

from ttfd.core import pictures
from ttfd.core.i18n import _

K = TypeVar("K")

# --- limits ------------------------------------------------------------------------------------------------

# The byte, pixel and format limits are every upload's (ttfd.core.pictures): a phone screenshot is 0.1–3 MB and
# at most ~5.6 Mpx (an iPad Pro). Only the smallest side is a screenshot's own.
MAX_BYTES: Final = pictures.MAX_BYTES
MAX_PIXELS: Final = pictures.MAX_PIXELS
MIN_SIDE: Final = 200  # smaller cannot show a readable receipt (the thumbnail of a chat preview)
FORMATS: Final = pictures.FORMATS

# --- hashing constants (measured: module docstring) --------------------------------------------------------

CANDIDATE_DISTANCE: Final = 26  # dHash bits: an earlier proof this close is a candidate for the fine check
PHOTO_DISTANCE: Final = 4  # dHash bits: "alike" (flagged to staff) when a picture has too few text lines to align
SAME_SCORE: Final = 0.78  # lowest piece correlation of the same screenshot (measured: module docstring)
MIN_LINES: Final = 6  # lines compared before "the same" is trusted (a receipt has 20–40)

WORK_WIDTH: Final = 360  # the signature's width: a phone app's text lines are 11–16 px there
MAX_WORK_WIDTH: Final = 720  # for small print (see _signature)
_TEXT_PX: Final = 12  # the line height (px) below which a picture's signature is kept wider
MAX_WORK_HEIGHT: Final = 3600  # a ten-screen capture; the rest of a longer one is left out of the signature
_STATUS: Final = 0.14  # × width: the status bar (Android ~0.07, iPhone ~0.12), where the clock changes
_INK: Final = 56  # local contrast (max − min in 3×3) that counts as ink, above JPEG ringing and card edges
_EDGE: Final = 2  # px: a line this close to an edge may be cut and is not compared
_DESC: Final = (32, 8)  # a line's coarse descriptor for alignment (correlated, never shown or stored)
_BLUR: Final = 0.5  # px of the signature: a sharp and a blurry copy of one line then correlate alike
_FLAT: Final = 16.0  # grey variance below which a patch is blank
_MAGIC: Final = b"TTP1"

# Hamming distance of two bigints (columns or parameters), PostgreSQL 14+: bit_count(bit) counts the ones of the
# XOR's 64 two's-complement bits. length(replace(…::text, '0', '')) gives the same numbers ~10× slower (PG 15,
# 200k rows: 21 ms against 198 ms).
HAMMING_SQL: Final = "bit_count(({a} # {b})::bit(64))"
# The candidates of a new proof among earlier ones `p` (its hash as the parameter %(phash)s): literal SQL, no
# input in it. A candidate is not a duplicate: `find_duplicate` decides on each (module docstring).
CANDIDATE_SQL: Final = HAMMING_SQL.format(a="p.phash", b="%(phash)s::bigint") + f" <= {CANDIDATE_DISTANCE}"


def hamming_sql(a: str, b: str) -> str:
    """`hamming_sql("p.phash", "%(phash)s::bigint")`: an SQL expression, the bits in which they differ."""
    return HAMMING_SQL.format(a=a, b=b)


class Fingerprints(Protocol):
    """What the duplicate checks read of a proof: a `Proof`, or the row the store keeps of one."""

    @property
    def sha256(self) -> str: ...
    @property
    def phash(self) -> int: ...
    @property
    def detail(self) -> bytes: ...


class ProofRejected(pictures.PictureRejected):
    """A screenshot that cannot be used; `message` says why, in words safe to show the member."""


@dataclass(frozen=True)
class Proof:
    """A checked screenshot: `data` is what to store (metadata stripped), the rest its fingerprints."""

    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str  # hex, of the bytes as sent: equal for a re-sent identical file
    phash: int  # dHash as a signed 64-bit int (Postgres bigint)
    detail: bytes = field(repr=False)  # the fine check's signature (same_screenshot): store beside phash


# --- checks ------------------------------------------------------------------------------------------------

# ttfd.core.pictures' refusals, in words about the payment's screenshot.
WORDS: Final = pictures.Words(
    too_many_bytes=lambda mb: _("That file is too large: at most {max} MB.", max=mb),
    empty=lambda: _("That file is empty: send the screenshot again."),
    wrong_kind=lambda kind: _("{kind} files are not accepted: send the screenshot as PNG, JPEG or WebP.", kind=kind),
    not_picture=lambda: _("That file is not a picture: send a screenshot of the payment (PNG, JPEG or WebP)."),
    mismatch=lambda said, found: _(
        "That file says it is {said} but it is {found}: send the original screenshot.", said=said, found=found
    ),
    too_many_pixels=lambda mp: _(
        "That picture is too large: at most {max} megapixels. Send a plain screenshot of the payment.", max=mp
    ),
    too_small=lambda: _("That picture is too small to read: send a full-size screenshot."),
    animation=lambda: _("That is an animation: send a still screenshot of the payment."),
    damaged=lambda: _("That picture is damaged or incomplete: send the screenshot again."),
)


def check(raw: bytes, declared_type: str | None, filename: str | None) -> Proof:
    """Refuse or accept a payment screenshot (ttfd.core.pictures' checks, then the fingerprints: see the module
    docstring); the declared content type and file name, when given, must agree with what the bytes are."""
    picture = pictures.intake(raw, declared_type, filename, words=WORDS, min_side=MIN_SIDE, error=ProofRejected)
    clean = picture.image
    data = _encode(clean, picture.format)
    gray = clean.convert("L") if clean.mode != "L" else clean
    return Proof(
        data=data,
        content_type=picture.content_type,
        width=clean.width,
        height=clean.height,
        sha256=hashlib.sha256(raw).hexdigest(),
        phash=dhash(gray),
        detail=_signature(gray),
    )


def _encode(img: Image.Image, fmt: str) -> bytes:
    """Re-encoded in its own format, nothing but pixels (no exif/icc/xmp/text passed, none left in `info`)."""
    out = io.BytesIO()
    if fmt == "PNG":
        img.save(out, "PNG", compress_level=6)
    elif fmt == "JPEG":
        img.convert("RGB").save(out, "JPEG", quality=92, optimize=True)
    else:
        img.save(out, "WEBP", quality=90, method=4)
    return out.getvalue()


# --- the 64-bit hash ---------------------------------------------------------------------------------------


def to_bigint(value: int) -> int:
    """An unsigned 64-bit value as Postgres' signed bigint (two's complement)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def dhash(img: Image.Image) -> int:
    """imagehash's dhash: grey 9×8 (Lanczos), bit = right neighbour brighter, row-major; as a signed bigint."""
    px = _pixels(img.convert("L").resize((9, 8), Image.Resampling.LANCZOS))
    value = 0
    for r in range(8):
        for c in range(8):
            value = (value << 1) | (px[r * 9 + c + 1] > px[r * 9 + c])
    return to_bigint(value)


def distance(a: int, b: int) -> int:
    """Bits in which two 64-bit hashes differ (signed or not: the same bits)."""
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()


def similar(a: int, b: int) -> bool:
    """Close enough to be worth the fine check (`same_screenshot`): the stage-1 candidate test."""
    return distance(a, b) <= CANDIDATE_DISTANCE


def _pixels(img: Image.Image) -> bytes:
    return img.tobytes()  # mode L: one byte per pixel, row-major


# --- the signature: text lines and a grey picture -----------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0


def _runs(values: bytes, above: float) -> list[tuple[int, int]]:
    """[start, end) of each run of values above `above`."""
    out: list[tuple[int, int]] = []
    start = -1
    for i, v in enumerate(values):
        if v > above and start < 0:
            start = i
        elif v <= above and start >= 0:
            out.append((start, i))
            start = -1
    if start >= 0:
        out.append((start, len(values)))
    return out


def _merge(runs: list[tuple[int, int]], gap: float) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in runs:
        if out and a - out[-1][1] <= gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _work(gray: Image.Image, width: int) -> Image.Image:
    """Grey at `width` (box-averaged down, bicubic up), at most MAX_WORK_HEIGHT × width / WORK_WIDTH tall."""
    h = max(1, round(gray.height * width / gray.width))
    if gray.width > width:
        # reduce() by an integer first: the same result as one BOX resize, several times faster on 4K pictures
        factor = gray.width // (2 * width)
        if factor > 1:
            gray = gray.reduce(factor)
        small = gray.resize((width, h), Image.Resampling.BOX)
    else:
        small = gray.resize((width, h), Image.Resampling.BICUBIC)
    limit = MAX_WORK_HEIGHT * width // WORK_WIDTH
    return small.crop((0, 0, width, limit)) if h > limit else small


def _lines(work: Image.Image) -> list[_Line]:
    """Boxes of text (a label, a value, an icon): rows with ink, split where the gap is wider than 1.2 lines."""
    contrast = ImageChops.subtract(work.filter(ImageFilter.MaxFilter(3)), work.filter(ImageFilter.MinFilter(3)))
    ink = contrast.point(lambda v: 255 if v > _INK else 0)
    # A frame's long vertical rules would join every row they cross into one block: blank their columns.
    columns = ink.resize((work.width, 1), Image.Resampling.BOX).tobytes()
    draw = ImageDraw.Draw(ink)
    for x, v in enumerate(columns):
        if v > 0.3 * 255:
            draw.line((x, 0, x, ink.height), fill=0)
    rows = ink.resize((1, ink.height), Image.Resampling.BOX).tobytes()
    out: list[_Line] = []
    for y0, y1 in _merge(_runs(rows, 255 * 4 / work.width), 1):
        if y1 - y0 < 4:
            continue  # a divider, a speck of noise
        cols = ink.crop((0, y0, work.width, y1)).resize((work.width, 1), Image.Resampling.BOX).tobytes()
        for x0, x1 in _merge(_runs(cols, 0), 1.2 * (y1 - y0)):
            if x1 - x0 >= 4:
                out.append(_Line(x0, y0, x1, y1))
    return out


def _signature(gray: Image.Image) -> bytes:
    work = _work(gray, WORK_WIDTH)
    lines = _lines(work)
    # Small print (under ~12 px a line here) loses the digits that tell two receipts apart: such a picture is
    # kept wider, up to its own width, so its lines are ~12 px (match_score compares two at the smaller width).
    heights = sorted(ln.h for ln in lines if ln.w >= ln.h)
    if heights and heights[len(heights) // 2] < _TEXT_PX:
        width = min(MAX_WORK_WIDTH, gray.width, round(WORK_WIDTH * _TEXT_PX / heights[len(heights) // 2]))
        if width >= WORK_WIDTH * 1.15:
            work = _work(gray, width)
            lines = _lines(work)
    lines = lines[:0xFFFF]
    head = struct.pack(">4sHHH", _MAGIC, work.width, work.height, len(lines))
    boxes = b"".join(struct.pack(">HHHH", ln.x0, ln.y0, ln.x1, ln.y1) for ln in lines)
    png = io.BytesIO()
    work.filter(ImageFilter.GaussianBlur(_BLUR)).save(png, "PNG", compress_level=9)
    return head + boxes + png.getvalue()


class Signature:
    """A parsed `Proof.detail` (parse each stored one once when comparing it with several)."""

    def __init__(self, data: bytes) -> None:
        try:
            magic, width, height, n = struct.unpack_from(">4sHHH", data)
            if magic != _MAGIC or not WORK_WIDTH <= width <= MAX_WORK_WIDTH:
                raise ValueError("not a proof signature of this version")
            boxes = struct.iter_unpack(">HHHH", data[10 : 10 + 8 * n])
            self.lines = [_Line(*box) for box in boxes]
            self.work: Image.Image = Image.open(io.BytesIO(data[10 + 8 * n :]), formats=["PNG"])
            self.work.load()
        except (struct.error, OSError, SyntaxError) as exc:
            raise ValueError("not a proof signature") from exc
        if self.work.size != (width, height) or self.work.mode != "L":
            raise ValueError("a proof signature with a mismatched picture")
        self.width, self.height = width, height
        self._desc: list[tuple[float, ...]] | None = None

    def at(self, width: int) -> Signature:
        """The same signature at a smaller width (to compare with one kept narrower)."""
        if width >= self.width:
            return self
        f = width / self.width
        out = Signature.__new__(Signature)
        out.work = self.work.resize((width, max(1, round(self.height * f))), Image.Resampling.BOX)
        out.width, out.height = out.work.size
        out.lines = [
            _Line(round(ln.x0 * f), round(ln.y0 * f), max(round(ln.x1 * f), round(ln.x0 * f) + 1), round(ln.y1 * f))
            for ln in self.lines
        ]
        out.lines = [ln for ln in out.lines if ln.h >= 2]
        out._desc = None
        return out

    @property
    def descriptors(self) -> list[tuple[float, ...]]:
        """Each line's coarse look (32×8 grey, zero mean, unit norm; empty when flat): to pair lines up."""
        if self._desc is None:
            self._desc = [_descriptor(self.work, ln) for ln in self.lines]
        return self._desc

    def usable(self, ln: _Line) -> bool:
        """Compared at all: clear of the status band and of the edges (where a crop may have cut it)."""
        return (
            ln.x0 > _EDGE
            and ln.x1 < self.width - _EDGE
            and ln.y0 > max(_EDGE, _STATUS * self.width)
            and ln.y1 < self.height - _EDGE
        )


def _descriptor(work: Image.Image, ln: _Line) -> tuple[float, ...]:
    pad = 0.2 * ln.h
    box = (round(ln.x0 - pad), round(ln.y0 - pad), round(ln.x1 + pad), round(ln.y1 + pad))
    px = work.crop(box).resize(_DESC, Image.Resampling.BOX).tobytes()
    mean = sum(px) / len(px)
    centred = [p - mean for p in px]
    norm = math.sqrt(sum(v * v for v in centred))
    return tuple(v / norm for v in centred) if norm > 8 else ()


def _dot(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


Transform = tuple[float, float, float]  # (k, tx, ty): a point (x, y) of one is (k·x + tx, k·y + ty) of the other


def _align(a: Signature, b: Signature) -> Transform | None:
    """Scale and offset taking `a` onto `b`, from lines that look alike in both (mutual best matches)."""
    da, db = a.descriptors, b.descriptors
    best_for_b: dict[int, tuple[float, int]] = {}
    found: list[tuple[int, int, float]] = []
    limit = 0.2 * max(a.height, b.height)  # crops of ≤ 5 % and the status bar move lines by less
    for i, (s, vs) in enumerate(zip(a.lines, da, strict=True)):
        if not vs or s.w < 12:
            continue
        best: tuple[float, int] | None = None
        for j, (t, vt) in enumerate(zip(b.lines, db, strict=True)):
            if not vt or not (0.85 < t.w / s.w < 1.18 and 0.7 < t.h / s.h < 1.4) or abs(t.y0 - s.y0) > limit:
                continue
            c = _dot(vs, vt)
            if c >= 0.85 and (best is None or c > best[0]):
                best = (c, j)
        if best is not None:
            found.append((i, best[1], best[0]))
            if best[1] not in best_for_b or best_for_b[best[1]][0] < best[0]:
                best_for_b[best[1]] = (best[0], i)
    pairs = [(a.lines[i], b.lines[j]) for i, j, _c in found if best_for_b[j][1] == i]
    if len(pairs) < 3:
        return None
    k = median(t.w / s.w for s, t in pairs)
    ty = median((t.y0 + t.y1) / 2 - k * (s.y0 + s.y1) / 2 for s, t in pairs)
    tx = median((t.x0 + t.x1) / 2 - k * (s.x0 + s.x1) / 2 for s, t in pairs)
    # Refined on the pairs that agree with it: a least-squares fit along the long (vertical) axis.
    inliers = [
        (s, t)
        for s, t in pairs
        if abs((t.y0 + t.y1) / 2 - k * (s.y0 + s.y1) / 2 - ty) < 3
        and abs((t.x0 + t.x1) / 2 - k * (s.x0 + s.x1) / 2 - tx) < 4
    ]
    if len(inliers) >= 4:
        ys = [(s.y0 + s.y1) / 2 for s, _t in inliers]
        yt = [(t.y0 + t.y1) / 2 for _s, t in inliers]
        ms, mt = sum(ys) / len(ys), sum(yt) / len(yt)
        var = sum((y - ms) ** 2 for y in ys)
        if var > 100:
            k = sum((y - ms) * (z - mt) for y, z in zip(ys, yt, strict=True)) / var
            ty = mt - k * ms
            tx = median((t.x0 + t.x1) / 2 - k * (s.x0 + s.x1) / 2 for s, t in inliers)
    if not 0.8 < k < 1.25:
        return None
    return k, tx, ty


def _product(a: Image.Image, b: Image.Image) -> Image.Image:
    out = ImageMath.lambda_eval(lambda e: e["a"] * e["b"], a=a, b=b)
    assert isinstance(out, Image.Image)
    return out


def _piece_means(img: Image.Image, pieces: int) -> list[float]:
    """Mean of each of `pieces` equal vertical strips of a float image (a box resize: exact area means)."""
    row = img.resize((pieces, 1), Image.Resampling.BOX)
    return [float(row.getpixel((i, 0))) for i in range(pieces)]  # type: ignore[arg-type]


class _Patch:
    """One line of a picture in float grey with what every comparison of it needs, computed once."""

    def __init__(self, patch: Image.Image, pieces: int) -> None:
        self.f = patch.convert("F")
        self.pieces = pieces
        self.mean = _piece_means(self.f, pieces)
        self.var = [m2 - m * m for m, m2 in zip(self.mean, _piece_means(_product(self.f, self.f), pieces), strict=True)]

    def lowest(self, other: Image.Image) -> float:
        """The lowest correlation of a piece of this patch with the same piece of `other`: 0 where one has
        text and the other none, blank pieces in both skipped."""
        f = other.convert("F")
        mean = _piece_means(f, self.pieces)
        sq = _piece_means(_product(f, f), self.pieces)
        cross = _piece_means(_product(self.f, f), self.pieces)
        lowest = 1.0
        for i in range(self.pieces):
            va, vb = self.var[i], sq[i] - mean[i] ** 2
            if va < _FLAT and vb < _FLAT:
                continue  # blank in both: a gap between words
            if va < _FLAT or vb < _FLAT:
                return 0.0
            lowest = min(lowest, (cross[i] - self.mean[i] * mean[i]) / math.sqrt(va * vb))
        return lowest


_SHIFTS: Final = [(dx * 0.5, dy * 0.5) for dx in (0, -1, 1) for dy in (0, -1, 1)]  # centre first


def _lines_agree(a: Signature, b: Signature, tf: Transform) -> Iterator[float]:
    """For each of `a`'s lines that `b` also shows: how well it matches `b` there — the lowest correlation of
    its pieces (each about three characters wide) at the best of ±½ px. Pieces rather than the whole line:
    two different operation numbers share a shape (a row of digits on the same background) that lifts a
    whole-line correlation to ~0.8; a differing digit group shows in its own piece."""
    k, tx, ty = tf
    status_b = max(_EDGE, _STATUS * b.width)
    for ln in a.lines:
        if not a.usable(ln):
            continue
        pad = 0.4 * ln.h
        box = (ln.x0 - pad, ln.y0 - pad, ln.x1 + pad, ln.y1 + pad)
        there = (k * box[0] + tx, k * box[1] + ty, k * box[2] + tx, k * box[3] + ty)
        if box[0] < 0 or box[2] > a.width or box[1] < 0 or box[3] > a.height:
            continue
        if there[0] < 0 or there[2] > b.width or there[1] < status_b or there[3] > b.height:
            continue  # cut off, or under the status bar, in the other picture
        size = (max(4, round(box[2] - box[0])), max(4, round(box[3] - box[1])))
        mine = _Patch(
            a.work.transform(size, Image.Transform.EXTENT, box, Image.Resampling.BILINEAR),
            max(1, round(size[0] / max(8, size[1]))),
        )
        if max(mine.var) < _FLAT:
            continue
        best = -1.0
        for dx, dy in _SHIFTS:
            shifted = (there[0] + dx, there[1] + dy, there[2] + dx, there[3] + dy)
            theirs = b.work.transform(size, Image.Transform.EXTENT, shifted, Image.Resampling.BILINEAR)
            best = max(best, mine.lowest(theirs))
            if best >= SAME_SCORE:
                break  # agrees: no other shift can make it disagree
        yield best


def match_score(a: bytes | Signature, b: bytes | Signature, *, stop_below: float = SAME_SCORE) -> float | None:
    """The lowest agreement of any text line both pictures show (1 = identical), stopping at the first one
    below `stop_below`; None when they cannot be aligned or share fewer than MIN_LINES lines."""
    sa = a if isinstance(a, Signature) else Signature(a)
    sb = b if isinstance(b, Signature) else Signature(b)
    width = min(sa.width, sb.width)
    sa, sb = sa.at(width), sb.at(width)
    tf = _align(sa, sb)
    if tf is None:
        return None
    k, tx, ty = tf
    lowest, seen = 1.0, 0
    for mine, theirs, t in ((sa, sb, tf), (sb, sa, (1 / k, -tx / k, -ty / k))):
        for score in _lines_agree(mine, theirs, t):
            seen += 1
            lowest = min(lowest, score)
            if lowest < stop_below:
                return lowest
    return lowest if seen >= MIN_LINES else None


def same_screenshot(a: bytes | Signature, b: bytes | Signature) -> bool:
    """The fine check: the same screenshot (re-saved, resized, cropped ≤ 5 %, another clock), not merely
    another receipt from the same app."""
    score = match_score(a, b)
    return score is not None and score >= SAME_SCORE


def is_duplicate(new: Fingerprints, old_phash: int, old_detail: bytes | Signature) -> bool:
    """Both stages for one earlier proof: the candidate test on the hashes, then the fine check. A picture with
    too few text lines to align is never "the same" (see `find_duplicate`)."""
    if not similar(new.phash, old_phash):
        return False
    score = match_score(new.detail, old_detail)
    return score is not None and score >= SAME_SCORE


Kind = Literal["exact", "same", "alike"]


def find_duplicate(new: Fingerprints, earlier: Iterable[tuple[K, str, int, bytes | None]]) -> tuple[K, Kind] | None:
    """The first earlier proof that is the same screenshot — "exact" (byte for byte) or "same" (the fine check)
    — else the first that merely looks "alike": within PHOTO_DISTANCE bits while one of the two has too few
    text lines to align. Sparse receipts from one app sit that close (0–4 bits) however different, so "alike"
    is never a refusal: the payment goes to staff flagged. `earlier` yields (key, sha256, phash, detail) —
    e.g. rows of `SELECT order_id, sha256, phash, detail FROM vpn_proofs p WHERE p.order_id <> %(order)s AND
    (p.sha256 = %(sha)s OR {CANDIDATE_SQL}) ORDER BY p.sha256 = %(sha)s DESC, p.payment_id`. Each candidate costs
    ~10–20 ms (the new proof's detail is parsed once). A detail purged (NULL, empty) or unreadable leaves that
    proof to its exact hash."""
    mine: Signature | None = None
    alike: K | None = None
    for key, sha, phash, detail in earlier:
        if sha == new.sha256:
            return key, "exact"
        if not detail or not similar(new.phash, phash):
            continue
        mine = mine or Signature(new.detail)
        try:
            theirs = Signature(detail)
        except ValueError:
            continue  # a detail from another version of this module: only its exact hash still counts
        score = match_score(mine, theirs)
        if score is not None and score >= SAME_SCORE:
            return key, "same"
        if score is None and alike is None and distance(new.phash, phash) <= PHOTO_DISTANCE:
            alike = key
    return (alike, "alike") if alike is not None else None
