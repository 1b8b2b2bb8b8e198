"""Payment screenshots (ttfd/features/vpn/proof.py): what is refused and why, what is stored (no metadata), and
duplicates — the same receipt re-saved, resized, cropped or re-taken with another clock is caught, another
customer's receipt from the same bank app is not.

The receipts are drawn here: three bank-app layouts, light and dark, several phone sizes, Russian text with the
bundled font. `measure()` prints the distributions the module docstring quotes (`python -m
tests.test_vpn_proof 200 7`); the tests run a smaller sample of the same kinds and assert the same margins."""

from __future__ import annotations

import hashlib
import io
import itertools
import random
import struct
import sys
import time
import warnings
import zlib
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path

import psycopg
import pytest
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from ttfd.core.errors import BadInput
from ttfd.features.vpn import proof
from ttfd.features.vpn.proof import Proof, ProofRejected, check

FONTS = Path(__file__).resolve().parents[1] / "ttfd" / "features" / "profiles" / "fonts"


# --- synthetic receipts --------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")), size)


@dataclass(frozen=True)
class Receipt:
    template: int  # 0: a centred check mark; 1: label left, value right in cards; 2: a printed-receipt look
    dark: bool
    size: tuple[int, int]
    clock: str
    amount: str
    recipient: str
    phone: str
    bank: str
    card: str
    when: str
    operation: str
    sender: str


FIRST = ["Иван", "Мария", "Алексей", "Ольга", "Дмитрий", "Анна", "Сергей", "Елена", "Павел", "Наталья"]
LAST = ["П.", "С.", "К.", "М.", "Н.", "Р.", "Т.", "В."]
BANKS = ["Т-Банк", "Сбербанк", "Альфа-Банк", "ВТБ", "Озон Банк", "Райффайзен"]
SIZES = [(1080, 2340), (1080, 2400), (1170, 2532), (720, 1600)]


def random_receipt(rng: random.Random, template: int | None = None, dark: bool | None = None) -> Receipt:
    return Receipt(
        template=rng.randrange(3) if template is None else template,
        dark=rng.random() < 0.4 if dark is None else dark,
        size=rng.choice(SIZES),
        clock=f"{rng.randrange(24)}:{rng.randrange(60):02d}",
        amount=f"{rng.choice([1, 2, 3])} {rng.choice(['000', '500', '200', '990'])} ₽",
        recipient=f"{rng.choice(FIRST)} {rng.choice(FIRST)}ович {rng.choice(LAST)}",
        phone=f"+7 (9{rng.randrange(10, 99)}) {rng.randrange(100, 999)}-{rng.randrange(10, 99)}-{rng.randrange(99)}",
        bank=rng.choice(BANKS),
        card=f"•• {rng.randrange(1000, 9999)}",
        when=f"{rng.randrange(1, 28):02d}.{rng.randrange(1, 12):02d}.2026 в {rng.randrange(24)}:{rng.randrange(60):02}",
        operation=f"{rng.choice('ABCD')}{rng.randrange(10**15, 10**16)}",
        sender=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
    )


def same_payee(rng: random.Random, r: Receipt) -> Receipt:
    """Another customer paying the same plan to the same shop: time, operation, card and sender differ."""
    other = random_receipt(rng, r.template, r.dark)
    return replace(r, when=other.when, operation=other.operation, card=other.card, sender=other.sender)


def operation_only(rng: random.Random, r: Receipt) -> Receipt:
    """The closest two honest receipts can be: only the operation number differs."""
    return replace(r, operation=random_receipt(rng).operation)


def render(r: Receipt) -> Image.Image:
    w, h = r.size
    k = w / 1080  # the layout is in 1080-wide units
    bg, ink = ((18, 18, 20), (242, 242, 242)) if r.dark else ((255, 255, 255), (20, 20, 22))
    muted = (142, 142, 147) if r.dark else (120, 120, 128)
    card = (36, 36, 40) if r.dark else (244, 245, 247)
    accent = [(33, 160, 56), (255, 221, 45), (239, 49, 36)][r.template]
    img = Image.new("RGB", r.size, bg)
    d = ImageDraw.Draw(img)

    def s(v: float) -> int:
        return round(v * k)

    def text(
        x: float, y: float, t: str, size: int, fill: tuple[int, int, int], bold: bool = False, a: str = "la"
    ) -> None:
        d.text((s(x), s(y)), t, font=_font(s(size), bold), fill=fill, anchor=a)

    text(60, 40, r.clock, 40, ink, bold=True)  # the status bar: clock, signal, battery
    for i in range(4):
        d.rectangle((s(850 + i * 18), s(70 - i * 8), s(862 + i * 18), s(82)), fill=ink)
    d.rounded_rectangle((s(940), s(48), s(1010), s(84)), radius=s(8), outline=ink, width=s(4))
    d.rectangle((s(946), s(54), s(990), s(78)), fill=ink)
    d.line((s(80), s(210), s(60), s(190), s(80), s(170)), fill=ink, width=s(6))  # back arrow
    if r.template == 0:
        text(540, 190, "Перевод", 44, ink, bold=True, a="mm")
        d.ellipse((s(430), s(330), s(650), s(550)), fill=accent)
        d.line((s(480), s(440), s(530), s(490), s(610), s(390)), fill=(255, 255, 255), width=s(18))
        text(540, 640, "Перевод выполнен", 56, ink, bold=True, a="mm")
        text(540, 790, r.amount, 110, ink, bold=True, a="mm")
        rows = [
            ("Получатель", r.recipient),
            ("Телефон получателя", r.phone),
            ("Банк получателя", r.bank),
            ("Счёт списания", "Дебетовая карта " + r.card),
            ("Дата и время", r.when),
            ("Номер операции", r.operation),
            ("Комиссия", "0 ₽"),
        ]
        for i, (label, value) in enumerate(rows):
            text(80, 960 + 150 * i, label, 34, muted)
            text(80, 1010 + 150 * i, value, 42, ink)
        d.rounded_rectangle((s(60), s(2080), s(1020), s(2200)), radius=s(24), fill=accent)
        text(540, 2140, "Сохранить чек", 44, (255, 255, 255), bold=True, a="mm")
    elif r.template == 1:
        text(80, 190, "Платёж", 44, ink, bold=True, a="lm")
        d.rounded_rectangle((s(60), s(290), s(1020), s(700)), radius=s(36), fill=card)
        d.rounded_rectangle((s(100), s(330), s(220), s(450)), radius=s(30), fill=accent)
        text(160, 390, "₽", 64, (0, 0, 0), bold=True, a="mm")
        text(260, 360, "Успешно", 40, (33, 160, 56), bold=True)
        text(100, 500, r.amount, 100, ink, bold=True)
        text(100, 630, "Перевод по номеру телефона", 34, muted)
        d.rounded_rectangle((s(60), s(760), s(1020), s(1900)), radius=s(36), fill=card)
        rows = [
            ("Отправитель", r.sender),
            ("Получатель", r.recipient),
            ("Телефон", r.phone),
            ("Банк", r.bank),
            ("Карта", r.card),
            ("Дата", r.when),
            ("Квитанция №", r.operation),
            ("Комиссия", "0 ₽"),
        ]
        for i, (label, value) in enumerate(rows):
            text(100, 820 + 130 * i, label, 36, muted)
            text(980, 820 + 130 * i, value, 38, ink, a="ra")
        d.rounded_rectangle((s(60), s(2040), s(530), s(2170)), radius=s(30), fill=card)
        d.rounded_rectangle((s(550), s(2040), s(1020), s(2170)), radius=s(30), fill=accent)
        text(295, 2105, "Поделиться", 40, ink, a="mm")
        text(785, 2105, "Готово", 40, (0, 0, 0), bold=True, a="mm")
    else:
        text(540, 190, "Квитанция", 44, ink, bold=True, a="mm")
        d.rectangle((s(60), s(270), s(1020), s(2000)), outline=muted, width=s(3))
        text(540, 360, r.bank, 52, accent, bold=True, a="mm")
        text(540, 450, "Чек по операции", 40, ink, a="mm")
        text(540, 520, r.when, 36, muted, a="mm")
        d.line((s(100), s(590), s(980), s(590)), fill=muted, width=s(2))
        rows = [
            ("Операция", "Перевод клиенту"),
            ("ФИО получателя", r.recipient),
            ("Телефон получателя", r.phone),
            ("ФИО отправителя", r.sender),
            ("Карта отправителя", r.card),
            ("Сумма перевода", r.amount),
            ("Комиссия", "0,00 ₽"),
            ("Номер документа", r.operation),
            ("Код авторизации", r.operation[-6:]),
        ]
        for i, (label, value) in enumerate(rows):
            text(100, 640 + 110 * i, label, 32, muted)
            text(980, 640 + 110 * i, value, 34, ink, a="ra")
        d.ellipse((s(700), s(1680), s(960), s(1940)), outline=(40, 90, 200), width=s(8))
        text(830, 1810, "ИСПОЛНЕНО", 30, (40, 90, 200), bold=True, a="mm")
        text(540, 2120, "Служба поддержки 900", 32, muted, a="mm")
    d.rounded_rectangle((s(390), h - s(40), s(690), h - s(28)), radius=s(6), fill=muted)  # gesture bar
    return img


def encode(img: Image.Image, fmt: str, quality: int = 85) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(out, "JPEG", quality=quality)
    elif fmt == "WEBP":
        img.save(out, "WEBP", quality=quality)
    else:
        img.save(out, "PNG")
    return out.getvalue()


def crop(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))


def upload(rng: random.Random, img: Image.Image) -> bytes:
    """A first submission: the PNG screenshot, or what Telegram makes of a photo (JPEG q87 within 1280 px)."""
    if rng.random() < 0.5:
        return encode(img, "PNG")
    f = min(1.0, 1280 / max(img.size))
    return encode(img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS), "JPEG", 87)


def reshot(rng: random.Random, r: Receipt) -> bytes:
    """The same payment sent again: maybe another clock, cropped ≤ 5 % an edge, resized 50–100 %, re-encoded."""
    if rng.random() < 0.5:
        r = replace(r, clock=f"{(int(r.clock.split(':')[0]) + 1) % 24}:{rng.randrange(60):02d}")
    img = render(r)
    if rng.random() < 0.7:
        edges = [rng.uniform(0, 0.05) for _ in range(4)]
        if rng.random() < 0.3:
            edges[1] = 0.045  # the status bar cut off
        img = crop(img, *edges)
    f = rng.uniform(0.5, 1.0)
    if f < 0.97:
        img = img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS)
    return encode(img, rng.choice(["JPEG", "JPEG", "WEBP", "PNG"]), rng.randrange(60, 91))


def hardest(r: Receipt) -> bytes:
    """Every allowed change at its limit: another clock, 5 % off every edge, halved, JPEG q60."""
    img = crop(render(replace(r, clock="23:59")), 0.05, 0.05, 0.05, 0.05)
    return encode(img.resize((img.width // 2, img.height // 2), Image.Resampling.BILINEAR), "JPEG", 60)


KINDS = ("same", "hardest", "other", "same_payee", "operation_only")


def pairs(n: int, seed: int) -> dict[str, list[tuple[bytes, bytes]]]:
    rng = random.Random(seed)
    out: dict[str, list[tuple[bytes, bytes]]] = {kind: [] for kind in KINDS}
    for _ in range(n):
        r = random_receipt(rng)
        first = upload(rng, render(r))
        out["same"].append((first, reshot(rng, r)))
        out["hardest"].append((first, hardest(r)))
        out["other"].append((first, upload(rng, render(random_receipt(rng, r.template, r.dark)))))
        out["same_payee"].append((first, upload(rng, render(same_payee(rng, r)))))
        out["operation_only"].append((first, upload(rng, render(operation_only(rng, r)))))
    return out


@cache
def _checked(raw: bytes) -> Proof:
    return check(raw, None, None)


def scores(kind_pairs: list[tuple[bytes, bytes]]) -> tuple[list[float], list[int]]:
    """The fine check's full score of each pair (every line, every shift: not stopping at "good enough" or at
    the first line that differs) and the pair's dHash distance."""
    fine, bits = [], []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(proof, "SAME_SCORE", 2.0)
        for a, b in kind_pairs:
            pa, pb = _checked(a), _checked(b)
            score = proof.match_score(pa.detail, pb.detail, stop_below=-2.0)
            fine.append(-9.0 if score is None else score)
            bits.append(proof.distance(pa.phash, pb.phash))
    return fine, bits


def measure(n: int, seed: int) -> None:
    """Print the distributions of both stages for each kind of pair."""
    for kind, kind_pairs in pairs(n, seed).items():
        fine, bits = (sorted(values) for values in scores(kind_pairs))
        print(f"{kind:15} fine {fine[0]:.3f}…{fine[-1]:.3f}  dHash {bits[0]}–{bits[-1]} (p95 {bits[int(0.95 * n)]})")


# --- duplicates ----------------------------------------------------------------------------------------------


Sample = dict[str, tuple[list[float], list[int]]]


@pytest.fixture(scope="module")
def sample() -> Sample:
    """12 pairs of each kind (a seed of their own), checked and scored once for the module."""
    return {kind: scores(kind_pairs) for kind, kind_pairs in pairs(12, seed=2026).items()}


def test_the_same_screenshot_resaved_resized_cropped_or_retaken_is_a_duplicate(sample: Sample) -> None:
    for kind in ("same", "hardest"):
        fine, bits = sample[kind]
        assert min(fine) >= proof.SAME_SCORE + 0.03, kind  # measured ≥ 0.828; the threshold 0.78
        assert max(bits) <= proof.CANDIDATE_DISTANCE, kind


def test_another_receipt_from_the_same_app_is_not(sample: Sample) -> None:
    for kind in ("other", "same_payee", "operation_only"):
        fine, _bits = sample[kind]
        assert max(fine) <= proof.SAME_SCORE - 0.04, kind  # measured ≤ 0.73


def test_one_global_hash_cannot_tell_them_apart(sample: Sample) -> None:
    """Why the fine check exists: at 64 bits two customers' receipts are closer than a receipt and its copy."""
    assert max(sample["operation_only"][1]) < max(sample["hardest"][1])
    assert min(sample["hardest"][1]) > 0


def test_find_duplicate_runs_both_stages_over_the_rows() -> None:
    rng = random.Random(5)
    r = random_receipt(rng, template=1)
    first = check(encode(render(r), "PNG"), "image/png", "receipt.png")
    again = check(hardest(r), "image/jpeg", "receipt.jpg")
    other = check(encode(render(same_payee(rng, r)), "PNG"), "image/png", "receipt.png")
    rows = [(11, first.sha256, first.phash, first.detail)]
    assert proof.find_duplicate(again, rows) == (11, "same")
    assert proof.find_duplicate(other, rows) is None
    assert proof.find_duplicate(first, rows) == (11, "exact")  # byte for byte
    assert proof.is_duplicate(again, first.phash, first.detail)
    assert not proof.is_duplicate(other, first.phash, first.detail)
    assert proof.same_screenshot(proof.Signature(again.detail), first.detail)
    unaligned = (12, "0" * 64, again.phash, b"TTP0 from another version")
    assert proof.find_duplicate(again, [unaligned]) is None  # an unreadable detail: only its sha256 counts
    assert proof.find_duplicate(again, [(13, "0" * 64, again.phash, None), (14, "0" * 64, again.phash, b"")]) is None


def _sparse(amount: int) -> bytes:
    """A receipt with one line of text under a coloured header: nothing for the fine check to align."""
    img = Image.new("RGB", (540, 1170), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 540, 200), fill=(30, 160, 90))
    d.text((40, 400), f"Paid {amount} RUB", fill="black")
    return encode(img, "PNG")


def test_a_picture_without_text_is_flagged_alike_never_refused() -> None:
    """The hash alone cannot tell two sparse receipts apart (0 bits for two amounts), so a picture with too
    little text is never "the same": within PHOTO_DISTANCE it is "alike", which staff see flagged."""
    img = Image.new("RGB", (800, 1200), (200, 220, 240))
    ImageDraw.Draw(img).ellipse((100, 200, 700, 800), fill=(30, 90, 160))
    first = check(encode(img, "PNG"), None, None)
    again = check(encode(img.resize((600, 900)), "JPEG", 80), None, None)
    assert proof.match_score(first.detail, again.detail) is None  # nothing to align on
    assert not proof.is_duplicate(again, first.phash, first.detail)
    assert proof.find_duplicate(again, [(1, first.sha256, first.phash, first.detail)]) == (1, "alike")
    assert proof.find_duplicate(first, [(1, first.sha256, first.phash, first.detail)]) == (1, "exact")
    cheap, dear = check(_sparse(299), None, None), check(_sparse(1500), None, None)
    assert proof.distance(cheap.phash, dear.phash) <= proof.PHOTO_DISTANCE  # indistinguishable by the hash
    assert proof.find_duplicate(dear, [(2, cheap.sha256, cheap.phash, cheap.detail)]) == (2, "alike")
    # a real match later in the candidates still wins over an earlier "alike"
    text_rows = [(3, cheap.sha256, cheap.phash, cheap.detail), (4, first.sha256, first.phash, first.detail)]
    assert proof.find_duplicate(again, text_rows) == (4, "alike")


def _small_print(n: int) -> Image.Image:
    """A sparse receipt in Pillow's small default font on a 540-px picture: lines ~8 px tall at 360 wide."""
    img = Image.new("RGB", (540, 1170), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 540, 60), fill=(30, 160, 80))
    for i, line in enumerate((f"Transfer done {n}", f"{299 + n * 7} RUB", f"Operation {n * 7919:08d}", f"12:2{n % 6}")):
        d.text((40, 260 + i * 60), line, fill=(20, 20, 20))
    return img


def test_small_print_is_kept_wider_and_still_told_apart() -> None:
    first = {n: check(encode(_small_print(n), "PNG"), None, None) for n in (19, 20, 21)}
    assert proof.Signature(first[19].detail).width == 540  # its own width: lines ~12 px there
    for a, b in ((19, 20), (20, 21), (19, 21)):  # consecutive orders' receipts: a digit or two apart
        assert not proof.is_duplicate(first[b], first[a].phash, first[a].detail)
    # a re-encoded copy is the same; at half size its small print is too small to align: flagged as alike
    for scale, quality, kind in ((1.0, 70, "same"), (0.5, 90, "alike")):
        img = _small_print(20)
        copy = check(encode(img.resize((round(540 * scale), round(1170 * scale))), "JPEG", quality), None, None)
        earlier = [(20, first[20].sha256, first[20].phash, first[20].detail)]
        assert proof.find_duplicate(copy, earlier) == (20, kind)


def test_the_sql_hamming_distance_is_the_python_one(pg_admin: str) -> None:
    rng = random.Random(3)
    values = [proof.to_bigint(rng.getrandbits(64)) for _ in range(200)] + [-(2**63), 2**63 - 1, -1, 0, 1]
    expected = [proof.distance(a, b) for a, b in itertools.pairwise(values)]
    with psycopg.connect(pg_admin) as conn:
        got = conn.execute(
            f"SELECT {proof.hamming_sql('a', 'b')} FROM unnest(%s::bigint[], %s::bigint[]) AS t(a, b)",  # noqa: S608
            (values[:-1], values[1:]),
        ).fetchall()
        assert [row[0] for row in got] == expected
        near = conn.execute(
            f"SELECT count(*) FROM unnest(%(all)s::bigint[]) AS p(phash) WHERE {proof.CANDIDATE_SQL}",  # noqa: S608
            {"all": values, "phash": values[0]},
        ).fetchone()
        assert near is not None and near[0] == sum(proof.similar(values[0], v) for v in values)


def test_hash_values_fit_a_bigint() -> None:
    assert proof.to_bigint(2**64 - 1) == -1
    assert proof.to_bigint(2**63) == -(2**63)
    assert proof.to_bigint(5) == 5
    assert proof.distance(-1, 0) == 64
    assert proof.similar(0, 2**26 - 1) and not proof.similar(0, 2**27 - 1)


# --- what is accepted, and what is stored ------------------------------------------------------------------


@pytest.fixture(scope="module")
def receipt_png() -> bytes:
    return encode(render(random_receipt(random.Random(1), template=0)), "PNG")


def test_a_png_jpeg_or_webp_screenshot_is_accepted(receipt_png: bytes) -> None:
    img = Image.open(io.BytesIO(receipt_png))
    for fmt, mime, name in (
        ("PNG", "image/png", "a.png"),
        ("JPEG", "image/jpeg", "a.JPG"),
        ("WEBP", "image/webp", "a.webp"),
    ):
        raw = encode(img, fmt)
        got = check(raw, mime, name)
        assert got.content_type == mime
        assert (got.width, got.height) == img.size
        assert Image.open(io.BytesIO(got.data)).format == fmt
        assert got.sha256 == hashlib.sha256(raw).hexdigest()  # of the bytes as sent
        assert -(2**63) <= got.phash < 2**63
    # Nothing said, or only "some bytes", is not a mismatch.
    assert check(receipt_png, "application/octet-stream", None).content_type == "image/png"
    assert check(receipt_png, "image/png; charset=binary", "receipt").content_type == "image/png"


def test_metadata_is_stripped_and_orientation_applied() -> None:
    img = render(random_receipt(random.Random(2), template=2)).resize((540, 1170))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (55.0, 45.0, 21.0), "E", (37.0, 37.0, 4.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>SECRET-XMP</rdf:RDF></x:xmpmeta>'
    icc = b"\0" * 128 + b"SECRET-ICC"
    out = io.BytesIO()
    img.rotate(90, expand=True).save(out, "JPEG", exif=exif, xmp=xmp, icc_profile=icc, comment=b"SECRET-COMMENT")
    raw = out.getvalue()
    assert b"SECRET-XMP" in raw and b"PhoneMaker" in raw
    got = check(raw, "image/jpeg", "photo.jpeg")
    assert (got.width, got.height) == (540, 1170)  # turned upright before the tag went
    stored = Image.open(io.BytesIO(got.data))
    assert not stored.getexif() and not {"exif", "icc_profile", "xmp", "comment"} & stored.info.keys()
    for secret in (b"SECRET", b"PhoneMaker", b"Exif", b"http://ns.adobe.com/xap"):
        assert secret not in got.data

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "SECRET-TEXT")
    info.add_itxt("Comment", "SECRET-ITXT", zip=True)
    out = io.BytesIO()
    img.save(out, "PNG", pnginfo=info, exif=exif, icc_profile=icc)
    got = check(out.getvalue(), "image/png", "shot.png")
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP", b"SECRET"):
        assert chunk not in got.data
    assert Image.open(io.BytesIO(got.data)).size == (1170, 540)  # a PNG's eXIf orientation is applied too


# --- refusals --------------------------------------------------------------------------------------------------


def _refused(raw: bytes, declared: str | None = None, name: str | None = None) -> str:
    with pytest.raises(ProofRejected) as caught:
        check(raw, declared, name)
    assert isinstance(caught.value, BadInput) and caught.value.status == 400  # a 4xx, never a 5xx
    return str(caught.value.message)


def _png_header(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_not_an_image_is_refused() -> None:
    assert "not a picture" in _refused(b"hello, this is text" * 50, "image/png", "receipt.png")
    html = b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"
    assert "not a picture" in _refused(html, "image/png", "receipt.png")
    assert "empty" in _refused(b"", "image/png", "receipt.png")
    assert "PDF" in _refused(b"%PDF-1.7\n" + b"0" * 400, "application/pdf", "receipt.pdf")
    assert "HEIC" in _refused(b"\0\0\0\x18ftypheic\0\0\0\0" + b"0" * 400, "image/heic", "IMG_0001.HEIC")


def test_other_picture_formats_are_refused_by_name(receipt_png: bytes) -> None:
    img = Image.open(io.BytesIO(receipt_png))
    for fmt in ("GIF", "BMP", "TIFF"):
        out = io.BytesIO()
        img.save(out, fmt)
        assert fmt in _refused(out.getvalue(), None, None)
    frames = [Image.new("RGB", (400, 400), c) for c in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:])
    assert "animation" in _refused(out.getvalue(), "image/webp", "a.webp")


def test_a_declared_type_or_extension_must_match_the_bytes(receipt_png: bytes) -> None:
    assert "JPEG but it is PNG" in _refused(receipt_png, "image/jpeg", None)
    assert "JPEG" in _refused(receipt_png, None, "receipt.jpg")
    assert ".exe" in _refused(receipt_png, None, "receipt.png.exe")
    assert "text/html" in _refused(receipt_png, "text/html", "receipt.png")


def test_too_large_in_bytes_is_refused_before_decoding() -> None:
    forty_mb = b"\x89PNG\r\n\x1a\n" + bytes(40 * 1024 * 1024)
    started = time.monotonic()
    assert "too large" in _refused(forty_mb, "image/png", "big.png")
    assert time.monotonic() - started < 0.5


def test_too_large_or_too_small_in_pixels_is_refused() -> None:
    # A header of 100000×100000 with a tiny IDAT: refused on the header (Pillow's own guard fires first here).
    started = time.monotonic()
    assert "too large" in _refused(_png_header(100_000, 100_000, zlib.compress(b"\0" * 64)))
    # A highly compressible picture: 6000×6000 white is 36 Mpx from a ~100 KB file; never decoded.
    white = io.BytesIO()
    Image.new("L", (6000, 6000), 255).save(white, "PNG", optimize=True)
    assert len(white.getvalue()) < 200_000
    assert "too large" in _refused(white.getvalue(), "image/png", "white.png")
    assert "too large" in _refused(_png_header(20_000, 200, zlib.compress(b"\0" * 64)))  # one side too long
    assert time.monotonic() - started < 2
    small = io.BytesIO()
    Image.new("RGB", (150, 300), "white").save(small, "PNG")
    assert "too small" in _refused(small.getvalue())


def test_a_bomb_is_refused_when_warnings_are_errors() -> None:
    """Between Pillow's two bomb limits it only warns; a process that turned warnings into errors gets the
    warning raised, and that is a refusal too (the check itself never touches warning filters)."""
    header = _png_header(10_000, 10_000, zlib.compress(b"\0" * 64))  # 100 Mpx: past MAX_IMAGE_PIXELS (89 Mpx)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        assert "too large" in _refused(header)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert "too large" in _refused(header)


def test_a_truncated_or_corrupt_picture_is_refused(receipt_png: bytes) -> None:
    assert "damaged" in _refused(receipt_png[: len(receipt_png) // 2], "image/png", "cut.png")
    jpeg = encode(Image.open(io.BytesIO(receipt_png)), "JPEG")
    assert "damaged" in _refused(jpeg[: len(jpeg) // 3], "image/jpeg", "cut.jpg")
    bad_crc = bytearray(_png_header(400, 400, zlib.compress(bytes(400 * (1 + 400 * 3)))))
    bad_crc[-20] ^= 0xFF  # inside the IDAT
    assert "damaged" in _refused(bytes(bad_crc)) or "not a picture" in _refused(bytes(bad_crc))


def test_pixel_limits_leave_pillows_global_guard_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ProofRejected):
        check(_png_header(100_000, 100_000, b""), None, None)
    assert before == Image.MAX_IMAGE_PIXELS


if __name__ == "__main__":  # python -m tests.test_vpn_proof [pairs] [seed]
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 100, int(sys.argv[2]) if len(sys.argv) > 2 else 7)
