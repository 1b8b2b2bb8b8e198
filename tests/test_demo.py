"""The demo data of `make run`: players in both languages, a demo Discord server and a demo Telegram group on
the fakes, and moderation, automod and verification tried there through the simulator as README shows."""

from __future__ import annotations

import re

import psycopg

from devtools import demo, fake_discord_guilds, fake_telegram_chats
from tests import test_simulate
from tests.conftest import APP_ID, TG_TOKEN
from tests.test_simulate import run
from ttfd.ui.commands import ADMINISTRATOR
from ttfd.ui.permissions import BAN_MEMBERS, KICK_MEMBERS, MANAGE_GUILD, MANAGE_ROLES, MODERATE_MEMBERS

dev_server = test_simulate.dev_server  # the same fixture: `make run` on a free port


def _rows(url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(query, params).fetchall()


def test_the_demo_server_and_group_exist_after_seeding(dev_server, fresh_db) -> None:
    discord, telegram = dev_server.dev.discord, dev_server.dev.telegram
    g = discord.guilds[str(demo.GUILD_ID)]
    roles = {r["name"]: r for r in g["roles"].values()}
    assert g["owner_id"] == str(demo.OWNER) and g["name"] == demo.GUILD_NAME
    assert {"@everyone", "Member", "Moderator", "TTFD", "Regular", "Verified"} <= set(roles)
    mod = int(roles["Moderator"]["permissions"])
    assert mod & KICK_MEMBERS and mod & BAN_MEMBERS and mod & MODERATE_MEMBERS and mod & MANAGE_GUILD
    assert not mod & ADMINISTRATOR
    assert int(roles["TTFD"]["permissions"]) & MANAGE_ROLES
    top = max(r["position"] for r in g["roles"].values())
    assert roles["TTFD"]["position"] == top  # above every role it acts on or gives
    assert roles["Moderator"]["position"] > roles["Regular"]["position"] > roles["Member"]["position"]
    assert roles["Regular"]["id"] == "555"  # README's role:555
    # TTFD (its user id is the application's), the moderators, README's players and the demo players are in it.
    members = set(g["members"])
    assert {APP_ID, "1", "900008", "42", "43", "900001", "900002", "900004", "900006"} <= members
    assert discord.bot_user_id == APP_ID and discord.member_roles[("1", APP_ID)] == {"503"}
    assert discord.member_roles[("1", "1")] >= {"501"} and discord.member_roles[("1", "900008")] >= {"501"}
    assert fake_discord_guilds.permissions(discord, 1, 1) & BAN_MEMBERS
    assert not fake_discord_guilds.permissions(discord, 1, 42) & BAN_MEMBERS

    chat = fake_telegram_chats.chats(telegram)[demo.GROUP_ID]
    assert chat == {"id": -100123, "title": demo.GROUP_TITLE, "type": "supergroup"}
    for admin in (7, 900009):
        m = fake_telegram_chats.member(telegram, demo.GROUP_ID, admin)
        assert m["status"] == "administrator" and m["can_restrict_members"] and m["can_delete_messages"]
    bot = fake_telegram_chats.member(telegram, demo.GROUP_ID, int(TG_TOKEN.split(":")[0]))
    assert bot["status"] == "administrator" and bot["can_restrict_members"] and bot["can_invite_users"]
    assert fake_telegram_chats.member(telegram, demo.GROUP_ID, 900010)["status"] == "member"

    # The players, Russian-named ones among them (whose platforms say Russian).
    names = dict(_rows(fresh_db, "SELECT coalesce(discord_id, telegram_id), display_name FROM unified_users"))
    assert names[900008] == "Дмитрий" and names[900009] == "Алёна" and names[900010] == "Ёжик"
    assert names[900001] == "Nova"
    assert {p.ext for p in demo.DEMO if p.language == "ru"} == {900008, 900009, 900010}


def test_warn_on_discord_in_the_demo_server(dev_server, fresh_db, capsys) -> None:
    """README's moderator warns README's player: the member's roles give the permission (no --permissions)."""
    code, out, err = run(capsys, dev_server.url, "discord", "/warn user:43 reason:spam", "--user", "1", "--guild", "1")
    assert code == 0, err
    assert "Unknown Guild" not in out and "refused" not in out
    assert "• DM to User 43 (43):" in out
    assert re.search(r"edited the reply to this interaction.*\n.*warned — case #1", out), out
    cases = _rows(fresh_db, "SELECT scope_id, action, target_id, moderator_id, reason FROM mod_cases")
    assert cases == [(1, "warn", 43, 1, "spam")]
    # In Russian, by Дмитрий (whose Discord is in Russian), a timeout: Discord's own call, with its reason.
    code, out, err = run(
        capsys,
        dev_server.url,
        "discord",
        "/timeout user:900002 duration:10m reason:флуд",
        "--user",
        "900008",
        "--guild",
        "1",
    )
    assert code == 0, err
    assert "timed out Kite (900002) until" in out and "(audit log reason: Дмитрий: флуд)" in out
    until = dev_server.dev.discord.guilds["1"]["members"]["900002"]["communication_disabled_until"]
    assert until is not None
    # A member without the permission is refused at once.
    code, out, _ = run(capsys, dev_server.url, "discord", "/warn user:43 reason:x", "--user", "42", "--guild", "1")
    assert code == 0 and "Then the bot sent" not in out
    assert len(_rows(fresh_db, "SELECT 1 FROM mod_cases WHERE action = 'warn'")) == 1


def test_warn_as_a_reply_in_the_telegram_demo_group(dev_server, fresh_db, capsys) -> None:
    argv = ("telegram", "/warn спам", "--user", "900009", "--chat", "-100123", "--reply-to", "900010")
    code, out, err = run(capsys, dev_server.url, *argv)
    assert code == 0, err
    assert "sendMessage to the private chat of Ёжик (900010)" in out  # the DM to the warned member
    assert re.search(r"editMessageText of message \d+ in group -100123:\n.*Ёжик", out), out
    assert "Only this group's administrators" not in out
    cases = _rows(fresh_db, "SELECT scope_id, action, target_id, moderator_id, reason FROM mod_cases")
    assert cases == [(-100123, "warn", 900010, 900009, "спам")]
    # README's admin mutes for ten minutes: restrictChatMember on the supergroup.
    argv = ("telegram", "/mute 10m flood", "--user", "7", "--chat", "-100123", "--reply-to", "900007")
    code, out, err = run(capsys, dev_server.url, *argv)
    assert code == 0, err
    assert "restrictChatMember (muted): Lumen (900007) in group -100123 until" in out
    member = dev_server.dev.telegram.chat_members[(-100123, 900007)]
    assert member["status"] == "restricted" and member["can_send_messages"] is False
    # A plain member is refused.
    argv = ("telegram", "/warn x", "--user", "900005", "--chat", "-100123", "--reply-to", "900010")
    code, out, _ = run(capsys, dev_server.url, *argv)
    assert "administrators" in out
    assert len(_rows(fresh_db, "SELECT 1 FROM mod_cases")) == 2


def test_automod_in_the_telegram_demo_group(dev_server, fresh_db, capsys) -> None:
    argv = ("telegram", "/automod_set words плохо*", "--user", "900009", "--chat", "-100123")
    code, out, err = run(capsys, dev_server.url, *argv)
    assert code == 0 and "плохо*" in out, err
    code, out, err = run(capsys, dev_server.url, "telegram", "ну ты плохой", "--user", "900010", "--chat", "-100123")
    assert code == 0, err
    assert re.search(r"• deleted message \d+ in group -100123", out), out
    assert "refused" not in out  # the fake knew the member's message, so deleting it worked
    assert _rows(fresh_db, "SELECT source, action, target_id FROM mod_cases") == [("automod", "warn", 900010)]


def test_verification_with_a_captcha_in_the_demo_server(dev_server, fresh_db, capsys) -> None:
    url = dev_server.url
    code, out, err = run(
        capsys, url, "discord", "/setup verification channel:702 role:556 captcha:true", "--user", "1", "--guild", "1"
    )
    assert code == 0, err
    assert "• posted in #verify (702):" in out and "[Verify]  --button vfy" in out
    code, out, _ = run(capsys, url, "discord", "--button", "vfy", "--user", "42", "--guild", "1")
    assert "image: " in out
    enter = re.search(r"--button (vfe:\S+)", out)
    assert enter, out
    code, out, _ = run(capsys, url, "discord", "--button", enter.group(1), "--user", "42", "--guild", "1")
    assert out.startswith("HTTP 200\nA modal opens:")
    submit = re.search(r"--modal (vfa:\S+)", out)
    assert submit, out
    (answer,) = _rows(fresh_db, "SELECT answer FROM verification_challenges ORDER BY created_at DESC LIMIT 1")[0]
    code, out, err = run(
        capsys, url, "discord", "--modal", submit.group(1), "--field", answer.lower(), "--user", "42", "--guild", "1"
    )
    assert code == 0, err
    assert "gave role @Verified (556) to User 42 (42) in server 1" in out
    assert "556" in dev_server.dev.discord.member_roles[("1", "42")]
    # Now the member's roles (sent with each interaction) include it.
    code, out, _ = run(capsys, url, "discord", "--button", "vfy", "--user", "42", "--guild", "1")
    assert "Then the bot sent" not in out and "@Verified" in out


def test_a_join_request_to_the_demo_group(dev_server, fresh_db, capsys) -> None:
    url = dev_server.url
    code, out, err = run(capsys, url, "telegram", "--join", "--chat", "-100123", "--user", "4242")
    assert code == 0, err
    assert "sendMessage to the private chat of User 4242 (4242)" in out
    picks = re.findall(r"\[(\S+)\]  --callback (vjp:\S+)", out)
    assert len(picks) == 6, out
    (answer,) = _rows(fresh_db, "SELECT answer FROM verification_join_requests")[0]
    data = picks[answer][1]
    code, out, err = run(capsys, url, "telegram", "--callback", data, "--user", "4242")
    assert code == 0, err
    assert "approved the join request of User 4242 (4242) to group -100123" in out
    assert dev_server.dev.telegram.chat_members[(-100123, 4242)] == {"status": "member"}
