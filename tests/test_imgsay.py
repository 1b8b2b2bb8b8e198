"""/imgsay end to end: through the real Discord function (the picture from the fake CDN) and the Telegram
webhook (a photo from the fake Bot API), the job drawing the caption; refusals answered, never a 5xx."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from functions_framework import create_app
from PIL import Image, ImageChops

from devtools import fake_telegram_files
from devtools.simulate import discord_payload, photo_sizes, telegram_update
from tests.conftest import APP_ID, TG_SECRET, encode, interaction, run_schedule, sign
from tests.test_vpn_store import cdn as cdn
from ttfd.features.imgsay import draw
from ttfd.features.profiles import rank_card

HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
USER = 43


@pytest.fixture
def drawn(monkeypatch) -> list[bytes]:
    """Every PNG the job drew (the fakes keep only an upload's name and size)."""
    out: list[bytes] = []
    real = draw.render

    def spy(text: str, picture: Image.Image | None = None) -> bytes:
        png = real(text, picture)
        out.append(png)
        return png

    monkeypatch.setattr(draw, "render", spy)
    return out


@pytest.fixture
def discord(app_env, cdn) -> Any:
    return create_app("discord_interactions", "main.py").test_client()


def _jobs() -> None:
    for _ in range(3):
        assert run_schedule("run_jobs").status_code == 200


def photo(size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A picture with detail everywhere (a caption region can then be told from the source)."""
    return Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
            Image.new("L", size, 90),
        ),
    )


def encoded(img: Image.Image, fmt: str = "PNG", **kw: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def _payload(cdn: Any, text: str, data: bytes | None, content_type: str = "image/png", **extra: Any) -> dict:
    options: list[dict[str, Any]] = [{"name": "text", "type": 3, "value": text}]
    body: dict[str, Any] = {"name": "imgsay", "type": 1, "options": options}
    if data is not None:
        name = extra.pop("name", "pic.png")
        url = extra.pop("url", None) or cdn.put(name, data, content_type)
        att = {
            "id": "1180000000000000077",
            "filename": name,
            "size": extra.pop("size", len(data)),
            "content_type": content_type,
            "url": url,
            "proxy_url": url,
        }
        options.append({"name": "image", "type": 11, "value": att["id"]})
        body["resolved"] = {"attachments": {att["id"]: att}}
    return discord_payload(app_id=APP_ID, user=USER, guild=1, data=body, **extra)


def _run(client: Any, fakes: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The command sent; the deferred answer as the job left it."""
    body = encode(payload)
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    said = resp.get_json()
    if said["type"] != 5:
        return dict(said["data"])
    _jobs()
    return dict(fakes.discord.originals[payload["token"]])


def _png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    img.load()
    return img.convert("RGB")


def _differs(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
    """The share of pixels in `box` that differ clearly between a and b."""
    diff = ImageChops.difference(a.crop(box), b.crop(box)).convert("L").point(lambda v: 255 if v > 40 else 0)
    return sum(diff.histogram()[255:]) / (diff.width * diff.height)


def test_a_caption_on_an_attached_picture(app_env, discord, cdn, drawn) -> None:
    src = photo()
    said = _run(discord, app_env, _payload(cdn, "hello world", encoded(src)))
    assert [a["filename"] for a in said["attachments"]] == ["imgsay.png"], said
    out = _png(drawn[-1])
    assert out.size == (800, 600) and said["attachments"][0]["size"] == len(drawn[-1])
    assert _differs(out, src, (0, 0, 800, 300)) == 0  # the top half is the picture untouched
    assert _differs(out, src, (0, 450, 800, 600)) > 0.05  # the caption is at the bottom
    colours = set(out.crop((0, 450, 800, 600)).get_flattened_data())
    assert (255, 255, 255) in colours and (0, 0, 0) in colours  # white letters, dark outline


def test_top_and_bottom_and_the_size_bounds(app_env, discord, cdn, drawn) -> None:
    src = photo((3000, 2000))
    _run(
        discord,
        app_env,
        _payload(cdn, "top text | bottom text", encoded(src, "JPEG", quality=85), "image/jpeg", name="pic.jpg"),
    )
    out = _png(drawn[-1])
    assert max(out.size) == draw.MAX_SIDE and out.size == (1280, 853)
    small = src.resize(out.size)
    assert _differs(out, small, (0, 0, 1280, 200)) > 0.05 and _differs(out, small, (0, 653, 1280, 853)) > 0.05
    _run(discord, app_env, _payload(cdn, "tiny", encoded(photo((64, 48)))))
    assert _png(drawn[-1]).size == (640, 480)  # enlarged: the words stay legible


def test_the_template_with_cyrillic_and_long_text(app_env, discord, cdn, drawn) -> None:
    text = "Привет, мир! Когда тесты прошли с первого раза 🎉"
    said = _run(discord, app_env, _payload(None, text, None))
    assert said["attachments"][0]["filename"] == "imgsay.png"
    out = _png(drawn[-1])
    assert out.size == draw.TEMPLATE
    shown = draw.caption_text(text)
    assert "Привет" in shown and "🎉" not in shown
    assert all(rank_card._has_glyph(ch) for ch in shown)  # no tofu: every character drawn is in the font
    assert _differs(out, draw.template(), (0, 0, *draw.TEMPLATE)) > 0.05
    long = "Очень длинный текст " * 15
    _run(discord, app_env, _payload(None, long[:300], None))
    assert _png(drawn[-1]).size == draw.TEMPLATE


def _bomb() -> bytes:
    return encoded(Image.new("1", (20000, 20000)))


def _animation() -> bytes:
    frames = [Image.new("RGB", (100, 100), c) for c in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:])
    return out.getvalue()


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("not_an_image", "pdf files are not accepted"),
        ("huge", "too large"),
        ("bomb", "too large"),
        ("animation", "animation"),
        ("too_long", "longer than 300"),
        ("nul", ""),
    ],
)
def test_refusals_are_answered_not_raised(app_env, discord, cdn, drawn, case, said) -> None:
    if case == "not_an_image":
        payload = _payload(cdn, "hi", b"%PDF-1.4 not a picture", "image/png", name="pic.png")
    elif case == "huge":
        payload = _payload(cdn, "hi", b"", url=cdn.put_huge("pic.png", 40 * 1024 * 1024), size=1000)
    elif case == "bomb":
        payload = _payload(cdn, "hi", _bomb())
    elif case == "animation":
        payload = _payload(cdn, "hi", _animation())
    elif case == "too_long":
        payload = _payload(cdn, "x" * 301, None)
    else:
        payload = _payload(cdn, "hi\x00there", None)
    body = encode(payload)
    resp = discord.post("/", data=body, headers=sign(body))
    assert resp.status_code < 500
    if resp.status_code == 200 and resp.get_json()["type"] == 5:
        _jobs()
        told = app_env.discord.originals[payload["token"]]
    else:
        told = (resp.get_json() or {}).get("data", {}) if resp.status_code == 200 else {"content": "refused"}
    assert not told.get("attachments") and not drawn, told
    assert said in str(told.get("content", "")).lower(), told


def test_a_person_is_limited(app_env, discord, cdn, drawn) -> None:
    for _ in range(5):
        _run(discord, app_env, interaction("/imgsay text:again", user=USER))
    said = _run(discord, app_env, interaction("/imgsay text:again", user=USER))
    assert "Too many pictures" in said["content"] and len(drawn) == 5


@pytest.fixture
def telegram(app_env) -> Iterator[Any]:
    yield create_app("telegram_webhook", "main.py").test_client()


def _send(client: Any, update: dict[str, Any]) -> None:
    resp = client.post("/", data=json.dumps(update), headers=HEADERS)
    assert resp.status_code == 200, resp.get_data(as_text=True)


def _photos_to(fakes: Any, chat: int) -> list[dict[str, Any]]:
    return [m for (c, _), m in sorted(fakes.telegram.messages.items()) if c == chat and "photo" in m]


def test_telegram_a_photo_caption_and_a_plain_text(app_env, telegram, drawn) -> None:
    fakes, user = app_env, 7301
    data = encoded(photo(), "JPEG", quality=87)
    held = fake_telegram_files.add_file(fakes.telegram, data)
    _send(telegram, telegram_update("/imgsay привет мир", user=user, photo=photo_sizes(data, file_id=held)))
    _jobs()
    assert len(_photos_to(fakes, user)) == 1 and _png(drawn[-1]).size == (800, 600)
    _send(telegram, telegram_update("/imgsay just a card", user=user, language="ru"))
    _jobs()
    assert len(_photos_to(fakes, user)) == 2 and _png(drawn[-1]).size == draw.TEMPLATE


def test_telegram_refuses_a_broken_photo_in_russian(app_env, telegram, drawn) -> None:
    fakes, user = app_env, 7302
    data = encoded(photo(), "JPEG", quality=87)
    held = fake_telegram_files.add_file(fakes.telegram, data[:3000])  # cut off: it does not decode
    _send(telegram, telegram_update("/imgsay привет", user=user, photo=photo_sizes(data, file_id=held), language="ru"))
    _jobs()
    texts = [m.get("text", "") for (c, _), m in sorted(fakes.telegram.messages.items()) if c == user]
    assert not drawn and any("повреждена" in t for t in texts), texts
