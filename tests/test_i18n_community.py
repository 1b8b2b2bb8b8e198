"""The community features in Russian, through the real functions: the shop, moderation, automod and
verification answer in the reader's language (Discord's `locale`, Telegram's `language_code`); what everyone
sees — the mod log, the Verify panel, the messages of Discord's AutoMod rules — is said in the server's
(`guild_locale`) whatever the language of the admin who caused it; moderation reads Russian durations. The
rest of the suite reads the same answers in English (its payloads say en-US / en)."""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from devtools import fake_discord_automod as fake_automod
from devtools import fake_telegram_joins
from devtools.fake_discord_guilds import add_guild
from devtools.simulate import discord_payload, telegram_update
from tests.conftest import APP_ID, TG_SECRET, encode, interaction, run_schedule, sign
from ttfd.core import db, ledger, users
from ttfd.features.automod import service as automod
from ttfd.features.moderation import for_span, parse_duration, span
from ttfd.features.shop import service as shop
from ttfd.features.shop.service import coins
from ttfd.features.verification import service as verification

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
BAN, KICK, MODERATE, MANAGE_MESSAGES, MANAGE_GUILD = 1 << 2, 1 << 1, 1 << 40, 1 << 13, 1 << 5
MOD_PERMS = BAN | KICK | MODERATE | MANAGE_MESSAGES
MANAGE_ROLES = 1 << 28
GUILD, OWNER, MOD, MEMBER, OTHER, THIRD = 1, 900, 42, 43, 46, 47
BOT = int(APP_ID)
GROUP = -1001234567899
VERIFIED = 555
NBSP = "\xa0"  # how Russian groups digits (5 000)


def _text(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False)


def _rows(url: str, query: str, *args: Any) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _discord(client: Any, command: str, *, locale: str = "ru", guild_locale: str | None = None, **kw: Any) -> tuple:
    """A slash command from someone whose Discord speaks `locale`, in a server that speaks `guild_locale` (by
    default the same); (its immediate answer, the token whose @original a deferred job edits)."""
    payload = interaction(command, **kw)
    payload["locale"] = locale
    payload["guild_locale"] = guild_locale or locale
    body = encode(payload)
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json()), payload["token"]


def _component(client: Any, custom_id: str, user: int, *, locale: str = "ru", **kw: Any) -> dict:
    payload = discord_payload(
        app_id=APP_ID,
        user=user,
        guild=GUILD,
        data={"custom_id": custom_id, **kw},
        interaction_type=5 if "components" in kw else 3,
        message={"id": "1", "content": ""},
    )
    payload["locale"] = locale
    body = encode(payload)
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json()) | {"token": payload["token"]}


def _telegram(client: Any, update: dict[str, Any], language: str = "ru") -> dict:
    """An update from someone whose Telegram speaks `language`."""
    for key in ("message", "callback_query", "chat_join_request"):
        if key in update:
            update[key]["from"]["language_code"] = language
    resp = client.post("/", data=json.dumps(update), headers=TG_HEADERS)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json() or {})


def _fund(discord_id: int, amount: int) -> int:
    with db.transaction() as conn:
        u = users.ensure_user(conn, "discord", discord_id, f"p{discord_id}", "Player")
        ledger.grant(conn, u.id, "coins", amount, reason="t", platform="discord", source_key=f"fund:{u.id}")
        return u.id


# --- plural forms and durations ------------------------------------------------------------------------------


def test_amounts_and_durations_take_the_russian_plural_forms() -> None:
    assert [coins(n).in_("ru") for n in (1, 3, 5, 21)] == ["1 монета", "3 монеты", "5 монет", "21 монета"]
    assert [coins(n).in_("en") for n in (1, 3)] == ["1 coin", "3 coins"]
    assert coins(5000).in_("ru") == f"5{NBSP}000 монет" and coins(5000).in_("en") == "5,000 coins"
    minutes = [span(n * 60).in_("ru") for n in (1, 3, 5, 21)]
    assert minutes == ["1 минута", "3 минуты", "5 минут", "21 минута"]
    lasting = [for_span(n * 604800).in_("ru") for n in (1, 3, 5, 21)]
    assert lasting == ["на 1 неделю", "на 3 недели", "на 5 недель", "на 21 неделю"]
    assert for_span(7200).in_("en") == "for 2 hours"


def test_durations_typed_in_russian_units() -> None:
    assert [parse_duration(d) for d in ("10м", "2ч", "1д", "1н", "30с")] == [600, 7200, 86400, 604800, 30]
    assert [parse_duration(d) for d in ("10мин", "2час", "3дн", "1нед", "1ч30мин", "2 ч", "5минут", "3дня")] == [
        600,
        7200,
        259200,
        604800,
        5400,
        7200,
        300,
        259200,
    ]
    assert parse_duration("10m") == 600 and parse_duration("1h30m") == 5400  # English as before
    assert [parse_duration(d) for d in ("1мес", "10лет", "м", "5", "٣м")] == [None] * 5


# --- the shop ----------------------------------------------------------------------------------------------


@pytest.fixture
def discord(app_env: Any) -> Any:
    return create_app("discord_interactions", "main.py").test_client()


@pytest.fixture
def telegram(app_env: Any) -> Any:
    return create_app("telegram_webhook", "main.py").test_client()


def test_the_shop_a_purchase_and_a_refusal_in_russian(discord, fresh_db) -> None:
    _fund(MOD, 21)
    with db.transaction() as conn:
        shop.create(conn, name="Top hat", price=5, stock=3)
        shop.create(conn, name="Crown", price=5000)
    page = _discord(discord, "/shop")[0]["data"]
    embed = page["embeds"][0]
    assert embed["title"] == "🛒 Магазин"
    assert embed["footer"]["text"] == "Страница 1/1 · Твой баланс: 21 монета"
    assert "**Top hat** — 5 монет · в наличии: 3" in embed["description"]
    assert f"**Crown** — 5{NBSP}000 монет · без ограничений" in embed["description"]
    labels = [c.get("label") or c.get("placeholder") for row in page["components"] for c in row["components"]]
    assert sorted(labels) == sorted(["Выбери товар…", "◀ Назад", "Дальше ▶"])

    bought = _discord(discord, '/buy "item:Top hat"')[0]["data"]["content"]
    assert "🛍️ Куплено: **Top hat**, стоимость — 5 монет. Баланс: 41 монета. Всего у тебя: 1." in bought  # + 25
    assert "Теперь это видно в твоём профиле." in bought

    refused = _discord(discord, "/buy item:Crown")[0]["data"]
    assert refused["flags"] == 64 and "Не хватает монет" in refused["content"] and "/daily" in refused["content"]
    assert f"5{NBSP}000" in refused["content"]
    assert _rows(fresh_db, "SELECT count(*) FROM purchases") == [(1,)]

    english = _discord(discord, "/shop", locale="en-US")[0]["data"]["embeds"][0]
    assert english["title"] == "🛒 Shop" and english["footer"]["text"] == "Page 1/1 · Your balance: 41 coins"


# --- moderation --------------------------------------------------------------------------------------------


@pytest.fixture
def server(app_env: Any) -> Any:
    """A server: the owner, a moderator (Mod, 5), members, the bot (Bot, 10)."""
    add_guild(
        app_env.discord,
        GUILD,
        OWNER,
        roles=[(501, "Mod", 5, MOD_PERMS), (502, "Member", 1, 0), (503, "Bot", 10, 1 << 3)],
        members={OWNER: [], MOD: [501], MEMBER: [502], OTHER: [502], THIRD: [502], BOT: [503]},
    )
    yield create_app("discord_interactions", "main.py").test_client()
    app_env.discord.guilds.pop(str(GUILD), None)


def _mod(client: Any, app_env: Any, command: str, **kw: Any) -> dict:
    """A moderator's deferred command, its job run: the answer it left in @original."""
    first, token = _discord(client, command, user=MOD, permissions=MOD_PERMS, **kw)
    if first["type"] == 4:  # refused at once
        return dict(first["data"])
    run_schedule("run_jobs")
    return dict(app_env.discord.originals[token])


def _field(embed: dict, name: str) -> str:
    return str(next(f["value"] for f in embed["fields"] if f["name"] == name))


def test_moderation_answers_in_russian_and_reads_russian_durations(server, app_env, fresh_db) -> None:
    refused = _mod(server, app_env, f"/ban user:{MOD}")
    assert "Нельзя забанить самого себя." in refused["content"]
    bad = _mod(server, app_env, f"/timeout user:{MEMBER} duration:10лет")
    assert "Длительность пишется так: 10м, 2ч или 1д — от 1 минуты до 4 недель." in bad["content"]

    muted = _mod(server, app_env, f"/timeout user:{MEMBER} duration:2ч")["embeds"][0]
    assert muted["title"].endswith(": мут на 2 часа — кейс #1")
    assert _field(muted, "Длительность") == "2 часа" and _field(muted, "Причина") == "не указана"
    until = app_env.discord.guilds[str(GUILD)]["members"][str(MEMBER)]["communication_disabled_until"]
    assert until is not None

    banned = _mod(server, app_env, f"/ban user:{OTHER} reason:флуд")["embeds"][0]
    assert banned["title"].endswith(": бан — кейс #2") and _field(banned, "Причина") == "флуд"
    assert _field(banned, "Статус") == "активен" and banned["footer"]["text"].startswith("Discord · ")
    dm = app_env.discord.channel_messages[app_env.discord.dm_channels[str(OTHER)]][0]["content"]
    assert dm.startswith("Тебя забанили на сервере Discord. Модератор: ") and dm.endswith("Причина: флуд")

    warned = _mod(server, app_env, f"/warn user:{THIRD} reason:грубость")
    assert warned["embeds"][0]["title"].endswith(": предупреждение — кейс #3")
    assert warned["embeds"][0]["description"] == "Активных предупреждений: **1**."
    listed = _discord(server, f"/warnings user:{THIRD}", user=MOD, permissions=MOD_PERMS)[0]["data"]["embeds"][0]
    assert listed["title"].endswith(": 1 активное предупреждение")

    english = _mod(server, app_env, f"/warn user:{THIRD} reason:again", locale="en-US")
    assert "was warned — case #4" in _text(english) and "Active warnings: **2**." in _text(english)
    assert _rows(fresh_db, "SELECT number, action, reason FROM mod_cases ORDER BY number") == [
        (1, "timeout", None),
        (2, "ban", "флуд"),
        (3, "warn", "грубость"),
        (4, "warn", "again"),
    ]


def test_the_mod_log_speaks_the_servers_language_not_the_moderators(server, app_env, fresh_db) -> None:
    _discord(server, "/setup modlog channel:88", user=MOD, permissions=MANAGE_GUILD, locale="en-US")
    answer = _mod(server, app_env, f"/warn user:{MEMBER} reason:rude", locale="en-US", guild_locale="ru")
    assert "was warned — case #1" in _text(answer) and "Moderator" in _text(answer)  # the moderator's English
    run_schedule("run_jobs")
    posted = app_env.discord.channel_messages["88"][-1]["embeds"][0]
    assert posted["title"] == "⚠️ Кейс #1 — предупреждение"
    assert [f["name"] for f in posted["fields"]] == ["Участник", "Модератор", "Причина", "Статус"]
    assert _field(posted, "Причина") == "rude" and _field(posted, "Статус") == "активен"


def _tg_group(text: str, user: int, reply_to: int | None = None) -> dict[str, Any]:
    update = telegram_update(text, user=user, chat=GROUP, update_id=random.randrange(1, 2**31))
    if reply_to is not None:
        update["message"]["reply_to_message"] = {
            "message_id": 5,
            "from": {"id": reply_to, "is_bot": False, "first_name": f"U{reply_to}"},
            "chat": update["message"]["chat"],
            "date": int(time.time()),
            "text": "something rude",
        }
    return update


def _edits(app_env: Any) -> str:
    run_schedule("run_jobs")
    return json.dumps([c["text"] for c in app_env.telegram.calls_of("editMessageText")], ensure_ascii=False)


def test_a_telegram_mute_in_russian_minutes(telegram, app_env, fresh_db) -> None:
    app_env.telegram.chat_members[(GROUP, 7)] = {"status": "administrator", "can_restrict_members": True}
    refused = _telegram(telegram, _tg_group("/mute 10лет", 7, reply_to=8))
    assert "Длительность пишется так: 10м, 2ч или 1д — от 1 минуты до 4 недель." in refused["text"]
    _telegram(telegram, _tg_group("/mute 10м флуд", 7, reply_to=8))
    said = _edits(app_env)
    assert "U8: мут на 10 минут — кейс #1" in said and "<b>Причина</b>: флуд" in said, said
    assert app_env.telegram.chat_members[(GROUP, 8)]["status"] == "restricted"
    told = [c for c in app_env.telegram.calls_of("sendMessage") if int(c["chat_id"]) == 8]
    assert told and told[-1]["text"].startswith("Тебе выдали мут на 10 минут в группе Telegram.")
    _telegram(telegram, _tg_group("/unmute", 7, reply_to=8), language="en")
    assert "U8 is no longer timed out — case #2" in _edits(app_env)


# --- automod -----------------------------------------------------------------------------------------------


def test_an_automod_warning_in_a_group_speaks_the_senders_language(telegram, app_env, fresh_db) -> None:
    with db.transaction() as conn:
        automod.update(conn, "telegram", GROUP, {"bad_words": ("darn",)}, None)
    said = []
    for language in ("ru", "en"):
        update = telegram_update("darn it", user=7, chat=GROUP, update_id=random.randrange(1, 2**31))
        app_env.telegram.add_message(GROUP, update["message"]["message_id"], 7, "darn it")
        said.append(_telegram(telegram, update, language)["text"])
    assert "сообщение удалено: это слово здесь запрещено (предупреждение 1, кейс #1)." in said[0]
    assert "message removed: that word isn't allowed here (warning 2, case #2)." in said[1]
    reasons = _rows(fresh_db, "SELECT reason FROM mod_cases WHERE scope_id = %s ORDER BY number", GROUP)
    assert reasons == [("автомод: запрещённое слово",), ("automod: bad word",)]


def test_discords_automod_messages_are_said_in_the_servers_language(discord, app_env, fresh_db) -> None:
    fake_automod.reset(app_env.discord)
    answer, _ = _discord(
        discord,
        "/automod set bad_words:darn block_invites:true",
        permissions=MANAGE_GUILD,
        locale="en-US",
        guild_locale="ru",
    )
    assert "Automod updated" in _text(answer) and "Bad words" in _text(answer)  # the admin reads English
    assert run_schedule("run_jobs").get_json()["done"] == 1
    rules = {r["name"]: r for r in fake_automod.rules(app_env.discord, GUILD).values()}
    messages = {name: r["actions"][0]["metadata"]["custom_message"] for name, r in rules.items()}
    assert messages == {
        "TTFD: bad words": "Это слово здесь запрещено.",
        "TTFD: invite links": "Инвайт-ссылки здесь запрещены.",
    }
    shown, _ = _discord(discord, "/automod show", permissions=MANAGE_GUILD)
    fields = {f["name"]: f["value"] for f in shown["data"]["embeds"][0]["fields"]}
    assert shown["data"]["embeds"][0]["title"] == "🛡️ Автомод — этот сервер"
    assert fields["Запрещённые слова"] == "darn" and fields["Инвайт-ссылки"] == "запрещены"
    assert fields["Ссылки"] == "не проверяется" and fields["Синхронизация"].startswith("✅ Правила AutoMod в Discord")
    fake_automod.reset(app_env.discord)


# --- verification ------------------------------------------------------------------------------------------


@pytest.fixture
def verifying(app_env: Any) -> Any:
    add_guild(
        app_env.discord,
        GUILD,
        OWNER,
        [(VERIFIED, "Verified", 2, 0), (560, "Admin", 8, MANAGE_ROLES), (561, "Bot", 10, MANAGE_ROLES)],
        {1: [560], BOT: [561], 45: []},
    )
    fake_telegram_joins.joins(app_env.telegram).pending.clear()
    yield create_app("discord_interactions", "main.py").test_client()
    app_env.discord.guilds.pop(str(GUILD), None)


def test_the_panel_speaks_the_server_and_the_captcha_the_persons_language(verifying, app_env, fresh_db) -> None:
    first, token = _discord(
        verifying,
        f"/setup verification channel:704 role:{VERIFIED} captcha:true",
        user=1,
        permissions=MANAGE_ROLES,
        locale="en-US",
        guild_locale="ru",
    )
    assert first["type"] == 5 and run_schedule("run_jobs").status_code == 200
    done = app_env.discord.originals[token]["content"]  # the admin's English, naming the button as posted
    assert done.startswith("✅ Verification panel posted in <#704>: members who press **Пройти проверку** and type")
    panel = app_env.discord.channel_messages["704"][-1]
    assert panel["embeds"][0]["title"] == "✅ Проверка"
    assert panel["embeds"][0]["description"].startswith("Нажми **Пройти проверку** и введи код с картинки")
    button = panel["components"][0]["components"][0]
    assert button["label"] == "Пройти проверку"

    pressed = _component(verifying, button["custom_id"], 45)
    assert pressed["data"]["content"] == "🧩 Рисую для тебя код — он появится здесь через мгновение."
    run_schedule("run_jobs")
    picture = app_env.discord.originals[pressed["token"]]
    assert picture["embeds"][0]["title"] == "🧩 Проверка"
    assert "Заглавные или строчные — неважно." in picture["embeds"][0]["description"]
    enter = picture["components"][0]["components"][0]
    assert enter["label"] == "Ввести код"
    modal = _component(verifying, enter["custom_id"], 45)["data"]
    assert modal["title"] == "Проверка" and _text(modal).count("Код с картинки") == 1
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": "answer", "value": "00000"}]}]
    wrong = _component(verifying, modal["custom_id"], 45, components=rows)["data"]["content"]
    assert wrong == "❌ Неверно. У тебя осталось 2 попытки. Нажми **Пройти проверку**, чтобы получить новый код."
    english = _component(verifying, button["custom_id"], 45, locale="en-US")["data"]["content"]
    assert english == "🧩 I am drawing a code for you, and it will appear here in a moment."


def test_a_join_request_captcha_speaks_the_applicants_language(telegram, app_env, fresh_db) -> None:
    update = fake_telegram_joins.request_to_join(app_env.telegram, -100600, 7101, update_id=random.randrange(1, 2**31))
    assert _telegram(telegram, update) == {}
    run_schedule("run_jobs")
    sent = [c for c in app_env.telegram.calls_of("sendMessage") if int(c["chat_id"]) == 7101][-1]
    text = sent["text"]
    assert text.startswith("🛡️ Чтобы вступить в <b>Dev group</b>, докажи, что ты человек: нажми на <b>"), text
    assert re.search(r"\. Заявка ждёт до \d{1,2} [а-я]+\.? \d{4}, \d{2}:\d{2} ", text), text  # a moment, in Russian
    asked = text.split("нажми на <b>")[1].split("</b>")[0]
    russian = {name.in_("ru"): emoji for emoji, name in verification.PICTURES}
    assert asked in russian  # the picture named in Russian (as "tap the …" takes it)
    keys = {b["text"]: b["callback_data"] for row in sent["reply_markup"]["inline_keyboard"] for b in row}
    wrong = next(data for emoji, data in keys.items() if emoji != russian[asked])
    tap = telegram_update(None, user=7101, callback=wrong, update_id=random.randrange(1, 2**31))
    again = _telegram(telegram, tap)
    assert again["text"].startswith("❌ Не то — осталось 2 попытки.\n🛡️ Чтобы вступить в <b>Dev group</b>")
