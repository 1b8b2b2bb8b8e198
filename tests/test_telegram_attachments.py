"""ATTACHMENT options on Telegram: a command in a photo's caption (or an image file's) takes the picture as a
FileRef; the other options come from the caption's words as from a text; a file is never typed as a word.

No feature declares a Telegram command with a picture yet, so the parsing is tested with a command declared
here (directly, and through the routing aiogram runs, with a registry of its own); the webhook is tested for
what photo messages already do (an unknown command in a caption, a group photo without one)."""

from __future__ import annotations

import asyncio
import io
import json
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from functions_framework import create_app

from devtools.simulate import photo_file_id, photo_sizes, telegram_update
from tests.conftest import TG_SECRET
from ttfd.core.errors import BadInput
from ttfd.features.general import FEATURE as GENERAL
from ttfd.features.general import PHOTO_NEEDED, PHOTO_OPTIONAL, short_usage
from ttfd.registry import Feature, Registry
from ttfd.ui import dispatch
from ttfd.ui.commands import Command, FileRef, Kind, Option, PlatformUser
from ttfd.ui.reply import Reply
from webhooks.telegram import routing

if TYPE_CHECKING:
    from aiogram.types import Message

HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
BOT_NAME = "ttfd_dev_bot"
TOKEN = "7000000001:AAHtestTOKENtestTOKENtestTOKENtestTO"


def _never(ctx: Any, opts: Any) -> Reply:
    raise AssertionError("only routing runs here")


PAY = Command(
    "pay",
    "Send the screenshot of your payment",
    _never,
    (
        Option("screenshot", Kind.ATTACHMENT, "The screenshot of the payment", required=True),
        Option("method", Kind.STRING, "How you paid", max_length=32),
    ),
)
# An optional picture after a USER option and a free-text one: every kind of untyped option at once.
REPORT = Command(
    "report",
    "Report someone",
    _never,
    (
        Option("member", Kind.USER, "Who", required=True),
        Option("reason", Kind.STRING, "Why", rest=True),
        Option("evidence", Kind.ATTACHMENT, "A screenshot"),
    ),
)
ONLY_FILE = Command("avatar", "Set a picture", _never, (Option("picture", Kind.ATTACHMENT, "The picture"),))

PHOTO = [
    {"file_id": "AgACsmall", "file_unique_id": "s", "width": 90, "height": 51, "file_size": 1200},
    {"file_id": "AgACmedium", "file_unique_id": "m", "width": 320, "height": 180, "file_size": 14_000},
    {"file_id": "AgAClarge", "file_unique_id": "y", "width": 1280, "height": 720, "file_size": 91_000},
]


def message(
    text: str | None = None,
    *,
    caption: str | None = None,
    chat: int = 7,
    entities: list[dict[str, Any]] | None = None,
    reply_to: int | None = None,
    **media: Any,
) -> Message:
    """A message as Telegram sends it: a text, or media with a caption (entities default to a bot_command at
    the start of whichever of the two is a command)."""
    from aiogram.types import Message

    said = text if text is not None else caption
    marks = entities
    if marks is None and said and said.startswith("/"):
        marks = [{"type": "bot_command", "offset": 0, "length": len(said.split()[0].encode("utf-16-le")) // 2}]
    raw: dict[str, Any] = {
        "message_id": 5,
        "date": 0,
        "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup", "title": "g"},
        "from": {"id": 42, "is_bot": False, "first_name": "Mira"},
        **media,
    }
    if text is not None:
        raw["text"], raw["entities"] = text, marks or []
    if caption is not None:
        raw["caption"], raw["caption_entities"] = caption, marks or []
    if reply_to is not None:
        raw["reply_to_message"] = {
            "message_id": 4,
            "date": 0,
            "chat": raw["chat"],
            "from": {"id": reply_to, "is_bot": False, "first_name": "Ёжик"},
            "text": "spam",
        }
    return Message.model_validate(raw)


def parse(command: Command, msg: Message) -> dict[str, Any]:
    """What the webhook's routing reads from a message for `command` (the words after the command name)."""
    said = msg.text or msg.caption or ""
    _name, _sep, args = said.partition(" ")
    return routing.parse_options(command, args or None, msg)


def refusal(command: Command, msg: Message, locale: str = "en") -> str:
    with pytest.raises(BadInput) as caught:
        parse(command, msg)
    return caught.value.message.in_(locale)


def files_in(values: dict[str, Any]) -> list[FileRef]:
    return [v for v in values.values() if isinstance(v, FileRef)]


# --- the picture ---------------------------------------------------------------------------------------------


def test_the_largest_photo_size_is_taken_with_the_caption_options() -> None:
    values = parse(PAY, message(caption="/pay card", photo=PHOTO))
    assert values == {
        "screenshot": FileRef("telegram", "AgAClarge", "", 91_000, "image/jpeg", "", 1280, 720),
        "method": "card",
    }
    # Sizes in another order: the largest by area still wins, not the last one.
    shuffled = [PHOTO[2], PHOTO[0], PHOTO[1]]
    assert parse(PAY, message(caption="/pay", photo=shuffled))["screenshot"].file_id == "AgAClarge"
    # The options after the picture are read as in a text: quotes group words, a missing optional one is absent.
    assert parse(PAY, message(caption='/pay "bank card"', photo=PHOTO))["method"] == "bank card"
    assert parse(PAY, message(caption="/pay", photo=PHOTO)).keys() == {"screenshot"}
    assert "Too much after the command: x" in refusal(PAY, message(caption="/pay card x", photo=PHOTO))


def test_an_image_sent_as_a_file_is_taken_and_another_file_refused() -> None:
    png = {"file_id": "BQACdoc", "file_unique_id": "d", "file_name": "paid.png", "mime_type": "image/png"}
    sent = parse(PAY, message(caption="/pay sbp", document={**png, "file_size": 52_000}))["screenshot"]
    assert sent == FileRef("telegram", "BQACdoc", "paid.png", 52_000, "image/png")
    # No mime_type said (an old client): taken, the feature checks the bytes. A type in capitals is read as one.
    bare = {"file_id": "BQACbare", "file_unique_id": "b"}
    assert parse(PAY, message(caption="/pay", document=bare))["screenshot"] == FileRef("telegram", "BQACbare")
    upper = {**png, "mime_type": "IMAGE/WEBP"}
    assert parse(PAY, message(caption="/pay", document=upper))["screenshot"].content_type == "image/webp"
    # A thumbnail of the document is not the document.
    thumb = {**png, "thumbnail": {"file_id": "AAMCthumb", "file_unique_id": "t", "width": 90, "height": 90}}
    assert parse(PAY, message(caption="/pay", document=thumb))["screenshot"].file_id == "BQACdoc"

    pdf = {**png, "file_name": "receipt.pdf", "mime_type": "application/pdf"}
    said = refusal(PAY, message(caption="/pay card", document=pdf))
    assert said == (
        "That file is not a picture. Send a photo (or an image file) with /pay as its caption.\nUsage: /pay [method]"
    )
    assert refusal(PAY, message(caption="/pay", document=pdf), "ru").startswith(
        "Этот файл — не картинка. Отправь фото (или файл с картинкой), а в подписи к нему напиши /pay."
    )
    video = {"file_id": "BAACvid", "file_unique_id": "v", "width": 1, "height": 1, "duration": 3}
    assert refusal(PAY, message(caption="/pay", video=video)).startswith("That file is not a picture.")
    # Even an optional picture refuses a file that is not one: it was meant for it.
    assert refusal(ONLY_FILE, message(caption="/avatar", document=pdf)).startswith("That file is not a picture.")


def test_without_a_file_a_required_picture_is_asked_for_and_a_word_is_never_a_file() -> None:
    said = refusal(PAY, message("/pay card"))
    assert said == "Send the picture as a photo with /pay as its caption.\nUsage: /pay [method]"
    ru = refusal(PAY, message("/pay card"), "ru")
    assert ru.startswith("Отправь картинку фотографией, а в подписи к ней напиши /pay.\n") and "/pay [" in ru
    # A file_id typed as text is a word, never a FileRef.
    file_id = PHOTO[2]["file_id"]
    assert refusal(PAY, message(f"/pay {file_id}")).startswith("Send the picture as a photo")
    assert parse(ONLY_FILE, message("/avatar")) == {}
    assert "Too much after the command" in refusal(ONLY_FILE, message(f"/avatar {file_id}"))
    typed = parse(REPORT, message(f"/report {file_id}", chat=-100, reply_to=900))
    assert typed == {"member": PlatformUser("telegram", 900, None, "Ёжик"), "reason": file_id}
    assert files_in(typed) == []
    # A photo without a caption is no command at all, and an empty list of sizes is no photo.
    assert refusal(PAY, message(caption="/pay", photo=[])).startswith("Send the picture as a photo")
    # The declaration still refuses whatever is not a FileRef (what the dispatch checks before a handler).
    with pytest.raises(BadInput):
        PAY.check({"screenshot": file_id})


def test_caption_entities_count_utf16_units() -> None:
    """A text_mention after emoji (two UTF-16 units each) picks the member; a url after them is cut right;
    hostile offsets never raise."""
    caption = "/report 💳💳 спам t.me/x"
    marks = [
        {"type": "bot_command", "offset": 0, "length": 7},
        # 💳💳 starts at unit 8 and takes 4 units; "спам" at 13; "t.me/x" at 18 (Python: 8, 11, 16)
        {"type": "text_mention", "offset": 13, "length": 4, "user": {"id": 901, "is_bot": False, "first_name": "Ли"}},
        {"type": "url", "offset": 18, "length": 6},
    ]
    msg = message(caption=caption, chat=-100, entities=marks, photo=PHOTO)
    values = parse(REPORT, msg)
    assert values["member"] == PlatformUser("telegram", 901, None, "Ли")
    assert values["reason"] == "💳💳 спам t.me/x"
    assert values["evidence"].file_id == "AgAClarge"
    assert routing.links(msg) == ("t.me/x",)
    odd = [
        {"type": "bot_command", "offset": 0, "length": 999},
        {"type": "url", "offset": 99, "length": 5},  # past the end
        {"type": "url", "offset": 5, "length": 1},  # half of a surrogate pair
    ]
    msg = message(caption="/pay 💳", entities=odd, photo=PHOTO)
    assert parse(PAY, msg)["method"] == "💳"
    assert routing.links(msg) == ("\ufffd",)


def test_odd_sizes_and_ids_are_read_safely() -> None:
    # No file_size, no width/height worth the name: sizes are 0, the later of equals (the full size) wins.
    flat = [
        {"file_id": "AgACa", "file_unique_id": "a", "width": 0, "height": 0},
        {"file_id": "AgACb", "file_unique_id": "b", "width": 0, "height": 0},
    ]
    assert parse(PAY, message(caption="/pay", photo=flat))["screenshot"] == FileRef(
        "telegram", "AgACb", "", 0, "image/jpeg"
    )
    # Impossible numbers read as unknown (0), not as a huge or negative size.
    huge = [{"file_id": "AgACh", "file_unique_id": "h", "width": -5, "height": 10**30, "file_size": 10**40}]
    assert parse(PAY, message(caption="/pay", photo=huge))["screenshot"] == FileRef(
        "telegram", "AgACh", "", 0, "image/jpeg"
    )
    # A file_id that cannot be one (too long, spaces, not ASCII, empty) is refused, not passed on.
    for bad in ("A" * 257, "Ag AC", "AgACфото", "", "AgAC\u200b"):
        photo = [{"file_id": bad, "file_unique_id": "x", "width": 10, "height": 10}]
        assert refusal(PAY, message(caption="/pay", photo=photo)).startswith("Option 'screenshot' must be a file."), bad
    longest = [{"file_id": "A" * 256, "file_unique_id": "x", "width": 10, "height": 10}]
    assert parse(PAY, message(caption="/pay", photo=longest))["screenshot"].file_id == "A" * 256
    # A file name with direction overrides (payment‮gnp.exe) is dropped; a long one is cut.
    spoof = {"file_id": "BQAC1", "file_unique_id": "1", "file_name": "payment\u202egnp.exe", "mime_type": "image/png"}
    assert parse(PAY, message(caption="/pay", document=spoof))["screenshot"].filename == ""
    long_name = {**spoof, "file_name": "я" * 1000 + ".png"}
    assert parse(PAY, message(caption="/pay", document=long_name))["screenshot"].filename == "я" * 256
    odd_type = {**spoof, "file_name": "a.png", "mime_type": "image/" + "x" * 200}
    assert refusal(PAY, message(caption="/pay", document=odd_type)).startswith("That file is not a picture.")


def test_usage_lines_leave_the_picture_to_the_caption() -> None:
    assert PAY.usage("telegram", "en") == "/pay [method]"
    assert PAY.usage("discord", "en") == "/pay <screenshot> [method]"
    assert short_usage(PAY, "telegram", "en") == "/pay [method]"
    assert REPORT.usage("telegram", "en") == "/report [reason]"
    assert PHOTO_NEEDED.in_("ru") == "(подписью к фото)" and PHOTO_OPTIONAL.in_("ru") == "(можно подписью к фото)"


def test_a_telegram_file_survives_a_deferred_job() -> None:
    sent = FileRef("telegram", "AgAClarge", "", 91_000, "image/jpeg", "", 1280, 720)
    stored = json.loads(json.dumps(dispatch.encode_options({"screenshot": sent, "method": "card"})))
    assert dispatch.decode_options(stored) == {"screenshot": sent, "method": "card"}


# --- through aiogram's routing: /pay@bot in a caption ------------------------------------------------------------


def _routed(update: dict[str, Any]) -> dispatch.Event | None:
    """The Event the webhook's router makes of an update, with PAY and REPORT registered beside /help."""
    from aiogram import Bot, Dispatcher
    from aiogram.types import Update, User

    registry = Registry((GENERAL, Feature("picture_test", "test", commands=(PAY, REPORT))))
    dp = Dispatcher()
    dp.include_router(routing.build(registry, BOT_NAME))

    async def run() -> Any:
        bot = Bot(TOKEN)
        bot._me = User(id=bot.id, is_bot=True, first_name="TTFD", username=BOT_NAME)
        return await dp.feed_update(bot, Update.model_validate(update, context={"bot": bot}))

    found = asyncio.run(run())
    return found if isinstance(found, dispatch.Event) else None


def _picture() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1080, 2340), "white").save(out, "PNG")
    return out.getvalue()


def test_a_caption_is_routed_as_a_text_command_with_or_without_the_bot_name() -> None:
    data = _picture()
    for caption in ("/pay card", f"/pay@{BOT_NAME} card", "/pay@TTFD_DEV_BOT card"):
        event = _routed(telegram_update(caption, user=42, photo=photo_sizes(data), update_id=1))
        assert event is not None and event.command is PAY and event.problem is None, caption
        full_id, _unique = photo_file_id(data, "y")
        assert event.options == {
            "screenshot": FileRef("telegram", full_id, "", len(data), "image/jpeg", "", 1080, 2340),
            "method": "card",
        }
    # Another bot's command in a group's caption is a chat message (automod and XP see it as any other).
    other = _routed(telegram_update("/pay@other_bot card", user=42, chat=-100, photo=photo_sizes(data)))
    assert other is not None and other.command is None and other.message == "/pay@other_bot card"
    # The same command as a text: refused before anything runs, saying how to send it.
    text = _routed(telegram_update("/pay card", user=42, update_id=2))
    assert text is not None and text.command is PAY and isinstance(text.problem, BadInput)
    assert text.problem.message.in_("en").startswith("Send the picture as a photo with /pay as its caption.")
    # An unknown command in a private chat's caption: the help, naming it, as for a text.
    unknown = _routed(telegram_update("/nope", user=42, photo=photo_sizes(data)))
    assert unknown is not None and unknown.command is not None and unknown.command.name == "help"
    assert unknown.options == {"command": "nope"}
    # A group photo without a caption is nothing for us (as before); with one it is a chat message.
    assert _routed(telegram_update(None, user=42, chat=-100, photo=photo_sizes(data))) is None
    chat = _routed(telegram_update("look at this", user=42, chat=-100, photo=photo_sizes(data)))
    assert chat is not None and chat.command is None and chat.message == "look at this"


def test_the_simulator_builds_a_photo_telegram_would_send() -> None:
    data = _picture()
    sizes = photo_sizes(data)
    assert [(s["width"], s["height"]) for s in sizes] == [(148, 320), (1080, 2340)]
    assert sizes == photo_sizes(data)  # the same picture, the same ids
    assert sizes[0]["file_id"] != sizes[1]["file_id"] and sizes[1]["file_size"] == len(data)
    msg = telegram_update("/pay 💳", user=7, photo=sizes)["message"]
    assert "text" not in msg and msg["caption"] == "/pay 💳"
    assert msg["caption_entities"] == [{"type": "bot_command", "offset": 0, "length": 4}]
    bare = telegram_update(None, user=7, photo=sizes)["message"]
    assert "caption" not in bare and "text" not in bare


def test_a_file_the_fake_telegram_holds_is_the_one_the_command_gets() -> None:
    """In process, the simulator's photo can carry a file_id the fake Telegram serves (its getFile)."""
    from devtools import fake_telegram_files
    from tests.fakes import TelegramState

    state, data = TelegramState(token=TOKEN), _picture()
    held = fake_telegram_files.add_file(state, data)
    event = _routed(telegram_update("/pay", user=42, photo=photo_sizes(data, file_id=held), update_id=3))
    assert event is not None and event.problem is None
    sent = event.options["screenshot"]
    assert sent.file_id == held and sent.size == len(data)
    answer = json.loads(fake_telegram_files.get_file(state, {"file_id": sent.file_id}).get_data())
    assert answer["ok"] and answer["result"]["file_size"] == len(data)


def test_simulate_photo_flag_sends_the_picture_with_the_text_as_its_caption(monkeypatch, tmp_path, capsys) -> None:
    from devtools import devkeys, simulate
    from devtools.cli import main as cli

    devkeys.load_or_create(tmp_path / "dev.env")
    monkeypatch.setattr(devkeys, "DEV_ENV", tmp_path / "dev.env")
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(simulate, "post", lambda url, body, headers: (sent.append(json.loads(body)), (200, {}))[1])
    monkeypatch.setattr(simulate.Dev, "probe", lambda self: False)
    picture = tmp_path / "paid.png"
    picture.write_bytes(_picture())
    assert cli(["simulate", "telegram", "/pay card", "--photo", str(picture), "--user", "7"]) == 0
    assert cli(["simulate", "telegram", "--photo", str(picture), "--user", "7", "--chat", "-100"]) == 0
    first, bare = (u["message"] for u in sent)
    assert first["caption"] == "/pay card" and first["photo"] == photo_sizes(picture.read_bytes())
    assert "caption" not in bare and bare["chat"]["type"] == "supergroup"
    not_a_picture = tmp_path / "notes.txt"
    not_a_picture.write_text("hello")
    for argv in (
        ["--photo", str(tmp_path / "missing.png")],
        ["--photo", str(not_a_picture)],
        ["--photo", str(picture), "--callback", "menu:top"],
    ):
        assert cli(["simulate", "telegram", "/pay", *argv]) == 2, argv
        assert capsys.readouterr().err.startswith("simulate: "), argv
    assert len(sent) == 2


# --- the webhook: photo messages do what they did --------------------------------------------------------------


@pytest.fixture
def client(app_env):
    return create_app("telegram_webhook", "main.py").test_client()


def _send(client, update: dict[str, Any]):
    return client.post("/", data=json.dumps(update), headers=HEADERS)


def _q(url: str, sql: str, *args: Any) -> list[Any]:
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchall()


def test_photo_messages_through_the_webhook(client, fresh_db) -> None:
    sizes = photo_sizes(_picture())
    # An unknown command in a private photo's caption: the help, saying it is unknown.
    resp = _send(client, telegram_update("/nope card", user=71, photo=sizes, update_id=901))
    assert resp.status_code == 200 and "/nope" in resp.get_json()["text"]
    # A known command without a picture option ignores the picture.
    resp = _send(client, telegram_update("/daily", user=72, photo=sizes, update_id=902))
    assert resp.status_code == 200 and "+100 coins" in resp.get_json()["text"]
    # In a group: without a caption nothing happens; with one it is a chat message (counted, XP).
    group = -100777
    resp = _send(client, telegram_update(None, user=73, chat=group, photo=sizes, update_id=903))
    assert resp.status_code == 200 and resp.get_json() == {}
    assert _q(fresh_db, "SELECT count(*) FROM unified_users WHERE telegram_id = 73") == [(0,)]
    resp = _send(client, telegram_update("look", user=73, chat=group, photo=sizes, update_id=904))
    assert resp.status_code == 200 and resp.get_json() == {}
    assert _q(fresh_db, "SELECT messages_sent FROM unified_users WHERE telegram_id = 73") == [(1,)]
    # An unknown command in a group photo's caption, and another bot's: chat messages too.
    for i, caption in enumerate(("/nope", "/pay@other_bot card", "/pay card")):
        resp = _send(client, telegram_update(caption, user=74, chat=group, photo=sizes, update_id=910 + i))
        assert resp.status_code == 200, caption
    # A photo Telegram would never send (a size without its width): skipped with a 200, nothing written.
    odd = telegram_update("/daily", user=75, photo=[{"file_id": "AgACx", "file_unique_id": "x", "height": 1}])
    resp = _send(client, odd)
    assert resp.status_code == 200 and resp.get_json() == {}
    assert _q(fresh_db, "SELECT count(*) FROM unified_users WHERE telegram_id = 75") == [(0,)]
