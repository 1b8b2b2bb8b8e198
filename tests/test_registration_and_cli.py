"""Command registration (PUT only on change), telegram set-webhook, simulator parsing, settings."""

from __future__ import annotations

import pytest

from devtools.simulate import parse_command
from tests.conftest import APP_ID
from ttfd.cli import discord_definitions
from ttfd.cli import main as cli
from ttfd.clients.discord_commands import sync_commands
from ttfd.clients.discord_rest import DiscordREST
from ttfd.core.errors import ConfigError
from ttfd.core.settings import Settings


def test_definitions_are_valid_discord_commands() -> None:
    defs = discord_definitions()
    names = [d["name"] for d in defs]
    assert names == sorted(names) and {
        "ping",
        "profile",
        "rank",
        "daily",
        "leaderboard",
        "link",
        "help",
        "setup",
        "card",
        "coinflip",
        "dice",
        "rps",
        "duel",
        "shop",
        "buy",
        "inventory",
        "use",
        "shopadmin",
        "achievements",
        "ban",
        "unban",
        "kick",
        "timeout",
        "untimeout",
        "warn",
        "warnings",
        "clear",
        "cases",
        "case",
        "automod",
        "language",
        "order",
        "pay",
        "renew",
        "myvpn",
        "revenue",
        "vpn",
        "rep",
        "repboard",
        "repcard",
        "update",
        "imgsay",
    } == set(names)
    setup = next(d for d in defs if d["name"] == "setup")
    assert setup["default_member_permissions"] == str(1 << 28) and setup["contexts"] == [0]
    subs = {o["name"]: o["type"] for o in setup["options"]}
    assert subs == {
        "rank-role": 1,
        "xp-channel": 1,
        "modlog": 1,
        "warn-threshold": 1,
        "verification": 1,
        "vpn": 1,
        "announcements": 1,
    }
    buy = next(d for d in defs if d["name"] == "buy")
    assert buy["options"][0] == {
        "type": 3,
        "name": "item",
        "name_localizations": {"ru": "предмет"},
        "description": "The item's name",
        "description_localizations": {"ru": buy["options"][0]["description_localizations"]["ru"]},
        "required": True,
        "max_length": 60,
        "autocomplete": True,
    }
    admin = next(d for d in defs if d["name"] == "shopadmin")
    assert admin["default_member_permissions"] == str(1 << 5) and admin["contexts"] == [0]
    assert [o["name"] for o in admin["options"]] == ["add", "edit", "refund", "remove", "restock"]
    for d in defs:  # Discord's limits: 25 options, names of 1-32 lowercase characters, descriptions ≤ 100
        subs = [sub for o in d.get("options", []) for sub in o.get("options", [])]
        for entry in [d, *d.get("options", []), *subs]:
            assert len(entry.get("options", [])) <= 25 and 1 <= len(entry["description"]) <= 100
            assert entry["name"] == entry["name"].lower() and 1 <= len(entry["name"]) <= 32


def test_register_puts_only_when_definitions_change(app_env, fakes) -> None:
    rest = DiscordREST(fakes.discord_url, "test-bot-token")
    defs = discord_definitions()
    assert sync_commands(rest, APP_ID, defs) is True
    assert sync_commands(rest, APP_ID, defs) is False  # Discord's copy has ids/versions: still equal
    changed = [dict(d, description="changed") if d["name"] == "ping" else d for d in defs]
    assert sync_commands(rest, APP_ID, changed) is True
    assert sync_commands(rest, APP_ID, defs, guild_id="77") is True
    puts = [c for c in fakes.discord.calls if c[0] == "PUT"]
    gets = [c for c in fakes.discord.calls if c[0] == "GET"]
    assert len(puts) == 3 and len(gets) == 4


def test_register_cli(app_env, fakes, capsys) -> None:
    assert cli(["discord", "register", "--guild", "5"]) == 0
    assert "updated (PUT)" in capsys.readouterr().out
    assert cli(["discord", "register", "--guild", "5"]) == 0
    assert "already up to date" in capsys.readouterr().out


def test_set_webhook_cli_sends_secret_and_allowed_updates(app_env, fakes) -> None:
    assert cli(["telegram", "set-webhook", "--url", "https://example.test/telegram_webhook"]) == 0
    (call,) = fakes.telegram.calls_of("setWebhook")
    assert call["secret_token"] == "tg-secret_123"
    assert call["allowed_updates"] == ["message", "edited_message", "callback_query", "chat_join_request"]
    assert fakes.telegram.webhook["url"] == "https://example.test/telegram_webhook"
    # the command menus: 3 scopes × (the default language, ru, en), and the old unscoped menu removed
    assert len(fakes.telegram.calls_of("setMyCommands")) == 9
    assert fakes.telegram.calls_of("deleteMyCommands") == [{}]


def test_simulator_parses_options_and_subcommands() -> None:
    data, resolved = parse_command("/leaderboard board:coins", discord_definitions())
    assert data == {"name": "leaderboard", "type": 1, "options": [{"name": "board", "type": 3, "value": "coins"}]}
    data, _ = parse_command("/setup rank-role rank:A+ role:<@&99>", discord_definitions())
    assert data["options"][0]["name"] == "rank-role"
    assert data["options"][0]["options"] == [
        {"name": "rank", "type": 3, "value": "A+"},
        {"name": "role", "type": 8, "value": "99"},
    ]
    data, resolved = parse_command("/profile <@12>", discord_definitions())
    assert data["options"][0]["value"] == "12" and "12" in resolved["users"]
    with pytest.raises(ValueError, match="unknown command"):
        parse_command("/nope", discord_definitions())


def test_missing_secret_is_a_loud_config_error() -> None:
    with pytest.raises(ConfigError, match="DISCORD_PUBLIC_KEY"):
        Settings(discord_public_key=None).require("discord_public_key")
