"""Message XP on Discord without a gateway: /setup xp-channel, then the poll_messages schedule."""

from __future__ import annotations

import time

import psycopg
from functions_framework import create_app

from tests.conftest import encode, interaction, run_schedule, sign


def _post(client, payload):
    body = encode(payload)
    return client.post("/", data=body, headers=sign(body)).get_json()


def _poll() -> dict:
    return run_schedule("poll_messages").get_json()


def _user(url: str, discord_id: int):
    with psycopg.connect(url) as c:
        return c.execute("SELECT xp, messages_sent FROM unified_users WHERE discord_id = %s", (discord_id,)).fetchone()


def test_setup_xp_channel_needs_manage_server(app_env) -> None:
    client = create_app("discord_interactions", "main.py").test_client()
    denied = _post(client, interaction("/setup xp-channel channel:500", permissions=1 << 28))
    assert denied["data"]["flags"] == 64 and "Manage Server" in denied["data"]["content"]
    ok = _post(client, interaction("/setup xp-channel channel:500", permissions=1 << 5))
    assert "<#500> now earns message XP" in ok["data"]["content"]
    off = _post(client, interaction("/setup xp-channel channel:500 enabled:false", permissions=1 << 5))
    assert "no longer earns" in off["data"]["content"] and "XP channels here: none" in off["data"]["content"]


def test_polling_pays_message_xp_with_cooldown_once(app_env, fresh_db) -> None:
    client = create_app("discord_interactions", "main.py").test_client()
    _post(client, interaction("/setup xp-channel channel:700", guild=9, permissions=1 << 5))
    _post(client, interaction("/setup xp-channel channel:701", guild=9, permissions=1 << 5))
    fake = app_env.discord
    alice = {"id": "111", "username": "alice", "global_name": "Alice"}
    fake.add_message(700, alice, "old history", at=time.time() - 3600)
    fake.channel_messages["701"] = []  # 701 exists but the bot cannot read it
    fake.fail_next("GET", r"/channels/701/messages", 403, {"message": "Missing Access", "code": 50001}, times=5)
    first = _poll()
    assert first["channels"] == 2 and first["paid"] == 0 and first["errors"] == 1  # history before opt-in earns nothing

    start = time.time() + 1
    for offset in (0, 10, 70):  # 0 s pays, 10 s is inside the 60 s cooldown, 70 s pays again
        fake.add_message(700, alice, f"hi {offset}", at=start + offset)
    fake.add_message(700, {"id": "222", "username": "bot", "bot": True}, "beep", at=start + 1)
    fake.add_message(700, {"id": "333", "username": "hook"}, "via webhook", at=start + 2, webhook_id="9")
    fake.add_message(700, {"id": "444", "username": "joiner"}, "", at=start + 3, type=7)  # member join
    second = _poll()
    assert second["paid"] == 0  # polled 0 s ago: the channel is not due yet
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute("UPDATE guild_xp_channels SET polled_at = now() - interval '1 minute'")
    third = _poll()
    assert third["messages"] == 6 and third["paid"] == 2
    xp, sent = _user(fresh_db, 111)
    assert sent == 3 and 30 <= xp <= 50
    assert _user(fresh_db, 222) is None and _user(fresh_db, 333) is None and _user(fresh_db, 444) is None
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute("UPDATE guild_xp_channels SET polled_at = now() - interval '1 minute'")
        error = c.execute("SELECT last_error FROM guild_xp_channels WHERE channel_id = 701").fetchone()[0]
        member = c.execute(
            "SELECT count(*) FROM guild_members m JOIN unified_users u ON u.id = m.user_id "
            "WHERE u.discord_id = 111 AND m.guild_id = 9"
        ).fetchone()[0]
    assert "Missing Access" in error and member == 1
    assert _poll()["paid"] == 0  # nothing new: nothing paid twice
    assert _user(fresh_db, 111) == (xp, sent)
