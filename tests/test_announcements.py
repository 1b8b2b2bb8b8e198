"""Announcements end to end through the real Discord function, the jobs and the fakes: /setup announcements
links a channel here and a Telegram channel only after asking Telegram (the bot may post there; the person
linking it runs it); /update previews privately; Post it posts once however often it is pressed, on both."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from functions_framework import create_app

from devtools import fake_telegram_chats
from devtools.fake_discord_guilds import add_guild
from devtools.simulate import discord_payload
from tests.conftest import APP_ID, encode, interaction, run_schedule, sign
from ttfd.core import db

GUILD, OWNER, ADMIN, MEMBER = 3, 930, 931, 932
NEWS, OTHER_NEWS = 830, 831
TG_CHANNEL, TG_ADMIN, TG_STRANGER = -1005550001, 7101, 7102
MANAGE_GUILD = 1 << 5
ROLES = [(740, "Staff", 2, MANAGE_GUILD)]


@pytest.fixture
def client(app_env, monkeypatch) -> Iterator[Any]:
    monkeypatch.setenv("ACTIONS_SECRET", "b" * 32)
    from ttfd.core.settings import get_settings

    get_settings.cache_clear()
    members = {OWNER: [], ADMIN: [740], MEMBER: []}
    add_guild(app_env.discord, GUILD, OWNER, ROLES, members, channels={NEWS: "news", OTHER_NEWS: "news-2"})
    bot = int(app_env.telegram.token.split(":")[0])
    fake_telegram_chats.add_chat(
        app_env.telegram,
        TG_CHANNEL,
        "TTFD News",
        "channel",
        members={
            bot: {"status": "administrator", "can_post_messages": True},
            TG_ADMIN: {"status": "creator"},
            TG_STRANGER: {"status": "member"},
        },
    )
    yield create_app("discord_interactions", "main.py").test_client()
    app_env.discord.guilds.pop(str(GUILD), None)


def _post(client: Any, payload: dict[str, Any]) -> dict[str, Any]:
    body = encode(payload)
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def _jobs() -> None:
    for _ in range(4):
        assert run_schedule("run_jobs").status_code == 200


def _one(query: str, *args: Any) -> Any:
    with db.transaction() as conn:
        return conn.execute(query, args).fetchone()


def _cmd(text: str, user: int, perms: int = MANAGE_GUILD, **kw: Any) -> dict[str, Any]:
    return interaction(text, user=user, guild=GUILD, permissions=perms, **kw)


def _link_telegram(discord_id: int, telegram_id: int) -> None:
    """The person's Telegram account linked to their Discord one (as /link would)."""
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO unified_users (discord_id, telegram_id) VALUES (%s, %s) "
            "ON CONFLICT (discord_id) DO UPDATE SET telegram_id = excluded.telegram_id",
            (discord_id, telegram_id),
        )


def _setup(client: Any, fakes: Any, user: int, telegram: str | None = None) -> str:
    cmd = f"/setup announcements discord_channel:{NEWS}" + (f" telegram_channel:{telegram}" if telegram else "")
    payload = _cmd(cmd, user)
    said = _post(client, payload)
    assert said["type"] == 5, said  # deferred: Telegram is asked in the job
    _jobs()
    return str(fakes.discord.originals[payload["token"]]["content"])


def _press(client: Any, custom_id: str, user: int, perms: int = MANAGE_GUILD) -> dict[str, Any]:
    payload = discord_payload(
        app_id=APP_ID,
        user=user,
        guild=GUILD,
        data={"custom_id": custom_id, "component_type": 2},
        interaction_type=3,
        message={"id": "1", "content": "", "flags": 64},
        permissions=perms,
    )
    return _post(client, payload)


def _buttons(data: dict[str, Any]) -> dict[str, str]:
    return {b["label"]: b["custom_id"] for row in data.get("components", []) for b in row["components"]}


def test_link_post_once_on_both(app_env, client) -> None:
    fakes = app_env
    # a Telegram channel whose admin this person is not: refused, nothing linked
    _link_telegram(ADMIN, TG_STRANGER)
    told = _setup(client, fakes, ADMIN, str(TG_CHANNEL))
    assert "not an administrator of TTFD News" in told, told
    assert _one("SELECT count(*) AS n FROM announce_targets")["n"] == 0
    # its creator links it
    _link_telegram(OWNER, TG_ADMIN)
    told = _setup(client, fakes, OWNER, str(TG_CHANNEL))
    assert f"Announcements go to <#{NEWS}>" in told and "TTFD News" in told, told
    # /update: a private preview with Post it / Cancel; nothing posted yet
    payload = _cmd('/update "text:Server maintenance tonight at 23:00\\nBe back soon"', ADMIN)
    preview = _post(client, payload)["data"]
    assert preview["flags"] & 64 and preview["embeds"][0]["title"] == "📢 Announcement"
    assert "Server maintenance tonight at 23:00\nBe back soon" in preview["embeds"][0]["description"]
    assert f"<#{NEWS}>" in str(preview["embeds"][0]["fields"]) and "TTFD News" in str(preview["embeds"][0]["fields"])
    assert fakes.discord.channel_messages.get(str(NEWS), []) == []
    post = _buttons(preview)["Post it"]
    # someone else pressing it (a forwarded button) is refused
    assert "Only the person who wrote" in str(_press(client, post, MEMBER, 0))
    # ten concurrent presses: one posting
    answers: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: answers.append(_press(client, post, ADMIN))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum("Posting" in str(a) for a in answers) == 1, answers
    assert all("posted already" in str(a) for a in answers if "Posting" not in str(a))
    _jobs()
    posted = fakes.discord.channel_messages[str(NEWS)]
    assert len(posted) == 1 and posted[0]["embeds"][0]["description"].startswith("Server maintenance")
    on_telegram = [p for p in fakes.telegram.calls_of("sendMessage") if int(p["chat_id"]) == TG_CHANNEL]
    assert len(on_telegram) == 1 and "Server maintenance tonight at 23:00" in on_telegram[0]["text"]
    row = _one("SELECT status, discord_message, telegram_message FROM announcements")
    assert row["status"] == "posted" and row["discord_message"] and row["telegram_message"]
    # pressing again later changes nothing
    assert "posted already" in str(_press(client, post, ADMIN))
    _jobs()
    assert len(fakes.discord.channel_messages[str(NEWS)]) == 1


def test_a_channel_discord_refuses_leaves_a_draft_to_post_again(app_env, client) -> None:
    fakes = app_env
    from devtools import fake_discord_channels as chans

    chans._deleted(fakes.discord).add(str(OTHER_NEWS))
    payload = _cmd(f'/update "text:Hello" channel:{OTHER_NEWS}', ADMIN)
    preview = _post(client, payload)["data"]
    _press(client, _buttons(preview)["Post it"], ADMIN)
    _jobs()
    row = _one("SELECT id, status FROM announcements")
    assert row["status"] == "draft"  # not lost: fix the channel, press again
    refused = next(iter(fakes.discord.originals.values()))
    assert "Discord refused the post" in str(refused) and "Post it" in str(refused)
    chans._deleted(fakes.discord).discard(str(OTHER_NEWS))
    chans.reset(fakes.discord)


def test_refusals_before_anything_is_stored(app_env, client) -> None:
    fakes = app_env
    # no channel set up and none picked
    payload = _cmd('/update "text:Hi"', ADMIN)
    assert "Pick a channel" in str(_post(client, payload))
    # without Manage Server
    assert "Manage Server" in str(_post(client, _cmd(f'/update "text:Hi" channel:{NEWS}', MEMBER, 0)))
    # a group is not a channel; a bad name; an unknown channel; the bot without the right to post
    fake_telegram_chats.add_chat(fakes.telegram, -1005550002, "A group", "supergroup")
    _link_telegram(OWNER, TG_ADMIN)
    assert "not a Telegram channel" in _setup(client, fakes, OWNER, "-1005550002")
    assert "@name or its id" in _setup(client, fakes, OWNER, "not-a-channel!")
    assert "does not know that channel" in _setup(client, fakes, OWNER, "-1005559999")
    bot = int(fakes.telegram.token.split(":")[0])
    fakes.telegram.chat_members[(TG_CHANNEL, bot)] = {"status": "administrator", "can_post_messages": False}
    assert "who may post messages" in _setup(client, fakes, OWNER, str(TG_CHANNEL))
    # without a linked Telegram account
    fakes.telegram.chat_members[(TG_CHANNEL, bot)] = {"status": "administrator", "can_post_messages": True}
    assert "Link your Telegram account first" in _setup(client, fakes, ADMIN, str(TG_CHANNEL))
    assert _one("SELECT count(*) AS n FROM announce_targets")["n"] == 0
    assert _one("SELECT count(*) AS n FROM announcements")["n"] == 0
    # NUL bytes in the text
    payload = _cmd(f'/update "text:ab" channel:{NEWS}', ADMIN)
    payload["data"]["options"][0]["value"] = "a\x00b"
    said = _post(client, payload)
    assert said["data"]["flags"] & 64 and _one("SELECT count(*) AS n FROM announcements")["n"] == 0


def test_the_preview_in_russian(app_env, client) -> None:
    payload = _cmd(f'/update "text:Техработы сегодня в 23:00" channel:{NEWS}', ADMIN, locale="ru", guild_locale="ru")
    preview = _post(client, payload)["data"]
    assert preview["embeds"][0]["title"] == "📢 Объявление"
    assert set(_buttons(preview)) == {"Опубликовать", "Отмена"}
