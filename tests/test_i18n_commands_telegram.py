"""Commands on Telegram in both languages: /help in Telegram's own syntax for members, unknown commands named
(in a private chat, and addressed to the bot in a group after automod), /language deciding the language on
every platform, and choices typed in either language."""

from __future__ import annotations

import html
import json
import random
import re
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from devtools.simulate import telegram_update
from tests.conftest import TG_SECRET, encode, interaction, sign

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
GROUP = -1004242424242
BOT = "ttfd_test_bot"


@pytest.fixture
def telegram(app_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Telegram function of a bot that knows its username (as deployed), so `/xyz@ttfd_test_bot` is
    addressed to it and `/xyz@other_bot` is not."""
    from webhooks.telegram import runtime

    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", BOT)
    runtime._bot.cache_clear()
    runtime._dispatcher.cache_clear()
    yield create_app("telegram_webhook", "main.py").test_client()
    monkeypatch.delenv("TELEGRAM_BOT_USERNAME")
    runtime._bot.cache_clear()
    runtime._dispatcher.cache_clear()


@pytest.fixture
def discord(app_env: Any) -> Any:
    return create_app("discord_interactions", "main.py").test_client()


def _update(text: str | None, user: int, language: str, chat: int | None = None, **kw: Any) -> dict[str, Any]:
    update = telegram_update(text, user=user, chat=chat, update_id=random.randrange(1, 2**31), **kw)
    key = "callback_query" if "callback_query" in update else "message"
    update[key]["from"]["language_code"] = language
    return update


def _tg(client: Any, app_env: Any, text: str | None, user: int, language: str = "en", **kw: Any) -> dict[str, Any]:
    """The answer (the webhook's body) to a message or button press; group messages are also registered on the
    fake, so automod may delete them."""
    update = _update(text, user, language, **kw)
    if kw.get("chat") and "message" in update:
        msg = update["message"]
        app_env.telegram.add_message(kw["chat"], msg["message_id"], user, text or "")
    resp = client.post("/", data=json.dumps(update), headers=TG_HEADERS)
    assert resp.status_code == 200
    return dict(resp.get_json() or {})


def _text(answer: dict[str, Any]) -> str:
    """The message as the person reads it: without HTML tags, the blank line after a title dropped."""
    return html.unescape(re.sub(r"<[^>]+>", "", str(answer.get("text", "")))).replace("\n\n", "\n")


def _discord(client: Any, command: str, user: int, locale: str) -> dict[str, Any]:
    payload = interaction(command, user=user, guild=None)
    payload["locale"] = locale
    body = encode(payload)
    return dict(client.post("/", data=body, headers=sign(body)).get_json())


def _rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchall()


# --- /help: Telegram's syntax, members' commands --------------------------------------------------------------


def test_private_help_lists_members_commands_in_telegram_syntax(telegram, app_env) -> None:
    text = _text(_tg(telegram, app_env, "/help", 301))
    assert "/coinflip <bet> <heads|tails> — Bet coins on heads or tails" in text
    assert "/top [xp|week|season|coins]" in text and "/language [ru|en|auto]" in text
    assert "/profile — Show a TTFD profile (reply to someone's message for theirs)" in text  # no <user> typed
    for hidden in ("/ban", "/mute", "/warn", "/kick", "/setup_rank_role", "/clear", "/cases", "/start "):
        assert hidden not in text, hidden  # moderators' and Discord-only commands; /start is where one starts
    assert "<user>" not in text and "[user]" not in text
    also = next(line for line in text.split("\n") if line.startswith("In a group also: "))
    assert "/duel" in also  # group-only commands are named, not listed with their usage
    assert "Group admins find the moderation commands in the group's command menu (type / there)." in text


def test_group_help_lists_group_commands_and_points_admins_to_the_menu(telegram, app_env) -> None:
    text = _text(_tg(telegram, app_env, f"/help@{BOT}", 302, chat=GROUP))
    assert "/duel <bet> — " in text and "(reply to someone's message for theirs)" in text
    assert "/link" not in text.split("TTFD commands")[1].split("One account")[0].replace("use /link", "")
    for hidden in ("/ban", "/mute", "/unmute", "/warn ", "/setup_warn_threshold", "/cases"):
        assert hidden not in text, hidden
    assert "Group admins find the moderation commands" in text


def test_help_in_russian_follows_the_telegram_app(telegram, app_env) -> None:
    text = _text(_tg(telegram, app_env, "/help", 303, "ru"))
    assert text.startswith("Команды TTFD")
    assert "/coinflip <ставка> <орёл|решка> — " in text  # Telegram's ASCII name, Russian words to type
    assert "/help [команда] — Что умеет TTFD" in text
    assert "🛡️ Команды модерации админы группы найдут в её меню команд (набери / в группе)." in text


def test_help_explains_a_moderators_command_in_telegram_syntax(telegram, app_env) -> None:
    text = _text(_tg(telegram, app_env, "/help ban", 304, chat=GROUP))
    assert "/ban [duration] [reason] [delete_messages] — " in text and "(as a reply to their message)" in text
    assert "For the group's admins." in text
    kick = _text(_tg(telegram, app_env, "/help kick", 304))
    assert kick.split("\n")[1] == "/kick is a Discord command. Here is what I can do here:"
    top = _text(_tg(telegram, app_env, "/help leaderboard", 304, "ru"))  # its Discord name: Telegram's /top
    assert top.split("\n")[1].startswith("/top [xp|week|season|coins] — ")  # "Эта неделя" is two words


# --- unknown commands ---------------------------------------------------------------------------------------


def test_an_unknown_command_in_a_private_chat_is_named_first(telegram, app_env) -> None:
    text = _text(_tg(telegram, app_env, "/xyz", 310))
    assert text.startswith("TTFD commands\nI don't know /xyz. Here is what I can do:\n/achievements")
    russian = _text(_tg(telegram, app_env, "/xyz 1 2", 310, "ru"))
    assert "Я не знаю команду /xyz. Вот что я умею:" in russian
    plain = _text(_tg(telegram, app_env, "hello", 310))  # not a command: the help as it is
    assert "I don't know" not in plain and "/coinflip" in plain


def test_an_unknown_command_addressed_in_a_group_passes_automod_first(telegram, app_env, fresh_db) -> None:
    from ttfd.core import db
    from ttfd.features.automod import service

    with db.transaction() as conn:
        service.update(conn, "telegram", GROUP, {"bad_words": ("so bad",)}, None)
    answer = _text(_tg(telegram, app_env, f"/xyz@{BOT}", 311, chat=GROUP))
    assert "I don't know /xyz. Here is what I can do:" in answer and "/duel" in answer
    taken = _text(_tg(telegram, app_env, f"/xyz@{BOT} so bad", 311, chat=GROUP))
    assert "message removed" in taken and "I don't know" not in taken  # automod took it: no help
    assert _rows(fresh_db, "SELECT count(*) FROM mod_cases") == [(1,)]
    # Not addressed to us (or to another bot): a chat message like any other, answered by nobody.
    assert _tg(telegram, app_env, "/xyz", 312, chat=GROUP) == {}
    assert _tg(telegram, app_env, "/xyz@other_bot", 312, chat=GROUP) == {}
    assert _rows(fresh_db, "SELECT messages_sent FROM unified_users WHERE telegram_id = 312") == [(2,)]


# --- /language --------------------------------------------------------------------------------------------


def test_language_is_chosen_once_and_wins_on_every_platform(telegram, discord, app_env, fresh_db) -> None:
    panel = _tg(telegram, app_env, "/language", 320, "ru")
    assert "Я говорю на языке твоего приложения (сейчас Русский)" in _text(panel)
    buttons = [b["callback_data"] for row in panel["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["lang:ru", "lang:en", "lang:auto"]
    chosen = _text(_tg(telegram, app_env, "/language en", 320, "ru"))
    assert chosen == "✅ From now on I speak English to you everywhere: Discord, Telegram and the website."
    assert _rows(fresh_db, "SELECT language FROM unified_users WHERE telegram_id = 320") == [("en",)]
    assert _text(_tg(telegram, app_env, "/help", 320, "ru")).startswith("TTFD commands")
    # The same person on Discord (linked), whose Discord speaks Russian: English too.
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE unified_users SET discord_id = 9320 WHERE telegram_id = 320")
    help_ = _discord(discord, "/help", 9320, "ru")["data"]["embeds"][0]
    assert help_["title"] == "TTFD commands" and "`/coinflip <bet> <heads|tails>`" in help_["description"]
    # Chosen on Discord: Russian on Telegram for an English app.
    said = _discord(discord, "/language language:ru", 9320, "en-US")["data"]["content"]
    assert said == "✅ Теперь я говорю с тобой по-русски везде: в Discord, Telegram и на сайте."
    assert _text(_tg(telegram, app_env, "/help", 320, "en")).startswith("Команды TTFD")
    # Automatic again, from the panel's button: each app's own language.
    pressed = _tg(telegram, app_env, None, 320, "en", callback="lang:auto")  # said in the app's language at once
    assert pressed["method"] == "editMessageText" and "✅ From now on I speak the language of your app" in _text(
        pressed
    )
    assert _rows(fresh_db, "SELECT language FROM unified_users WHERE telegram_id = 320") == [(None,)]
    assert _text(_tg(telegram, app_env, "/help", 320, "en")).startswith("TTFD commands")
    assert _discord(discord, "/help", 9320, "ru")["data"]["embeds"][0]["title"] == "Команды TTFD"


def test_language_words_in_either_language(telegram, app_env, fresh_db) -> None:
    assert "по-русски" in _text(_tg(telegram, app_env, "/language Русский", 321, "en"))
    assert _rows(fresh_db, "SELECT language FROM unified_users WHERE telegram_id = 321") == [("ru",)]
    assert "English" in _text(_tg(telegram, app_env, "/language ENGLISH", 321, "en"))
    refused = _text(_tg(telegram, app_env, "/language klingon", 321, "ru"))
    assert "Формат: /language [ru|en|auto]" in refused


# --- choices typed in either language -------------------------------------------------------------------------


def test_russian_choice_words_are_read_on_telegram(telegram, app_env, fresh_db, monkeypatch) -> None:
    from ttfd.core.settings import get_settings

    monkeypatch.setenv("GAMES_COOLDOWN_S", "0")
    get_settings.cache_clear()
    _tg(telegram, app_env, "/daily", 330, "ru")
    played = {
        "/coinflip 10 орёл": "heads",
        "/coinflip 10 ОРЕЛ": "heads",  # any case, ё or е
        "/coinflip решка 10": "tails",  # a side and a bet in either order
        "/rps 10 Камень": "rock",
        "/coinflip 10 Tails": "tails",  # the English label, and the value, work for a Russian app too
        "/rps paper 10": "paper",
    }
    for text in played:
        answer = _text(_tg(telegram, app_env, text, 330, "ru"))
        assert "⚠️" not in answer, (text, answer)
    choices = _rows(
        fresh_db,
        "SELECT g.choice FROM games g JOIN unified_users u ON u.id = g.user_id WHERE u.telegram_id = 330 ORDER BY g.id",
    )
    assert [c for (c,) in choices] == list(played.values())


def test_the_usage_line_is_in_the_readers_language(telegram, app_env) -> None:
    russian = _text(_tg(telegram, app_env, "/coinflip lots орёл", 332, "ru"))
    assert russian.endswith("Формат: /coinflip <ставка> <орёл|решка>")
    english = _text(_tg(telegram, app_env, "/coinflip lots heads", 333, "en"))
    assert english.endswith("Usage: /coinflip <bet> <heads|tails>")
    side = _text(_tg(telegram, app_env, "/coinflip 10 ребро", 332, "ru"))
    assert "Формат: /coinflip <ставка> <орёл|решка>" in side


# --- whose language an update says -----------------------------------------------------------------------------


def _routed(update: dict[str, Any]) -> Any:
    from aiogram.types import Update

    from webhooks.telegram import runtime

    parsed = Update.model_validate(update, context={"bot": runtime.bot()})
    return runtime.run(runtime.dispatcher().feed_update(runtime.bot(), parsed))


def test_every_kind_of_update_carries_the_persons_app_language(telegram) -> None:
    from devtools.simulate import join_request_update

    command = _routed(_update("/daily", 340, "ru"))
    plain = _routed(_update("hello", 340, "uk"))
    in_group = _routed(_update("hello all", 340, "ru", chat=GROUP))
    pressed = _routed(_update(None, 340, "en", callback="menu:top"))
    joining = join_request_update(GROUP, user=341, language="ru")
    asked = _routed(joining)
    assert [e.locale for e in (command, plain, in_group, pressed, asked)] == ["ru", "uk", "ru", "en", "ru"]
    assert command.command.name == "daily" and plain.command.name == "help" and in_group.message == "hello all"
    assert pressed.action == "menu:top" and asked.chat_type == "chat_join_request"
