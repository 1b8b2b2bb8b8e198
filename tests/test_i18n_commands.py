"""Commands in both languages: Discord's registration carries Russian names and descriptions within Discord's
rules (and re-registers only when one changes), Telegram's command menus per scope and language, /help per
platform, role and language on Discord."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from functions_framework import create_app

from devtools import catalogs
from tests.conftest import APP_ID, encode, interaction, sign
from ttfd.cli import discord_definitions, telegram_menus
from ttfd.cli import main as cli
from ttfd.clients.discord_commands import sync_commands
from ttfd.clients.discord_rest import DiscordREST
from ttfd.core.i18n import LOCALES, Msg, said
from ttfd.features import REGISTRY
from ttfd.features.general import moderators_only
from ttfd.render.discord import DISCORD_LOCALES

LANGS = tuple(DISCORD_LOCALES.values())
COMMAND_SIZE_MAX = 4000  # Discord: name, description and value of a command, its options and choices


def _name_ok(name: str) -> bool:
    """^[-_'\\p{L}\\p{N}]{1,32}$ with letters lowercase (Discord's rule for CHAT_INPUT names)."""
    return (
        1 <= len(name) <= 32
        and name == name.lower()
        and all(ch in "-_'" or unicodedata.category(ch)[0] in "LN" for ch in name)
    )


def _levels(defs: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every list of siblings whose names must be unique: the commands, and each entry's options."""
    out = [("commands", defs)]
    stack = list(defs)
    while stack:
        entry = stack.pop()
        if entry.get("options"):
            out.append((entry["name"], entry["options"]))
            stack.extend(entry["options"])
    return out


def _entries(d: dict[str, Any]) -> list[dict[str, Any]]:
    found = [d]
    for o in d.get("options", []):
        found.extend(_entries(o))
    return found


def _longest(entry: dict[str, Any], field: str) -> int:
    """What a field counts towards the size limit: its longest translation, the default included."""
    return max(len(entry[field]), *(len(v) for v in (entry.get(f"{field}_localizations") or {}).values()))


def _size(d: dict[str, Any]) -> int:
    total = 0
    for e in _entries(d):
        total += _longest(e, "name") + _longest(e, "description")
        for c in e.get("choices", []):
            total += _longest(c, "name") + len(str(c["value"]))
    return total


def test_registration_carries_russian_within_discords_rules() -> None:
    defs = discord_definitions()
    json.dumps(defs)  # what is PUT
    for d in defs:
        for e in _entries(d):
            assert set(e["name_localizations"]) == set(LANGS) and set(e["description_localizations"]) == set(LANGS)
            for name in (e["name"], *e["name_localizations"].values()):
                assert _name_ok(name), (d["name"], name)
            for description in (e["description"], *e["description_localizations"].values()):
                assert 1 <= len(description) <= 100, (d["name"], description)
            assert len(e.get("options", [])) <= 25 and len(e.get("choices", [])) <= 25
            for c in e.get("choices", []):
                assert set(c["name_localizations"]) == set(LANGS)
                assert all(1 <= len(n) <= 100 for n in (c["name"], *c["name_localizations"].values()))
        assert _size(d) <= COMMAND_SIZE_MAX, (d["name"], _size(d))
    for where, siblings in _levels(defs):  # names unique among their neighbours, in every language
        for lang in LANGS:
            names = [s["name_localizations"][lang] for s in siblings]
            assert len(set(names)) == len(names), (where, lang, names)
        assert len({s["name"] for s in siblings}) == len(siblings)


def test_every_name_has_a_russian_name_and_every_text_fits_untrimmed() -> None:
    """The translations themselves (not what the registration trims): a Russian name for every command, group
    and option, and descriptions and choice labels within Discord's 100 characters in every language."""
    for (name, context), _comment in catalogs.command_names().items():
        russian = Msg(name, context=context).in_("ru")
        assert _name_ok(russian) and any("а" <= ch <= "я" or ch == "ё" for ch in russian), (name, russian)
    for c in REGISTRY.commands.values():
        for locale in LOCALES:
            assert 1 <= len(said(c.description, locale)) <= 100, (c.path, locale)
            for o in c.options:
                assert 1 <= len(said(o.description, locale)) <= 100, (c.path, o.name, locale)
                assert all(1 <= len(said(label, locale)) <= 100 for label, _ in o.choices)
    defs = {d["name"]: d for d in discord_definitions()}
    assert {n: defs[n]["name_localizations"]["ru"] for n in ("daily", "leaderboard", "coinflip")} == {
        "daily": "бонус",
        "leaderboard": "топ",
        "coinflip": "монетка",
    }
    bet = next(o for o in defs["coinflip"]["options"] if o["name"] == "bet")
    assert bet["name_localizations"] == {"ru": "ставка"}
    side = next(o for o in defs["coinflip"]["options"] if o["name"] == "side")
    assert [c["value"] for c in side["choices"]] == ["heads", "tails"]  # values stay what the code reads


def test_every_moderators_command_is_hidden_from_members_in_the_picker() -> None:
    defs = {d["name"]: d for d in discord_definitions()}
    for c in REGISTRY.commands.values():
        if "discord" in c.platforms and c.permission is not None:
            top = defs[c.group or c.name]
            assert top.get("default_member_permissions"), c.path  # the picker shows it only to those who may
            assert top["contexts"] == [0], c.path  # and only in servers
    for name in ("daily", "help", "coinflip", "language"):
        assert "default_member_permissions" not in defs[name]


def test_a_translation_change_registers_again_and_nothing_else_does(app_env, fakes) -> None:
    rest = DiscordREST(fakes.discord_url, "test-bot-token")
    defs = discord_definitions()
    assert sync_commands(rest, APP_ID, defs) is True
    assert sync_commands(rest, APP_ID, discord_definitions()) is False  # a second sync: no PUT
    renamed = json.loads(json.dumps(defs))
    next(d for d in renamed if d["name"] == "daily")["name_localizations"]["ru"] = "ежедневно"
    assert sync_commands(rest, APP_ID, renamed) is True
    described = json.loads(json.dumps(defs))
    coinflip = next(d for d in described if d["name"] == "coinflip")
    coinflip["options"][1]["choices"][0]["name_localizations"]["ru"] = "Орёлик"
    assert sync_commands(rest, APP_ID, described) is True
    assert sync_commands(rest, APP_ID, described) is False
    assert len([c for c in fakes.discord.calls if c[0] == "PUT"]) == 3


# --- Telegram's command menus -----------------------------------------------------------------------------------


def test_telegram_menus_per_scope_and_language(app_env, fakes) -> None:
    fakes.telegram.commands.clear()
    assert cli(["telegram", "set-webhook", "--url", "https://example.test/telegram_webhook"]) == 0
    menu = fakes.telegram.menu

    def names(scope: str, language: str = "") -> set[str]:
        return {c["command"] for c in menu(scope, language)}

    private, groups, admins = names("all_private_chats"), names("all_group_chats"), names("all_chat_administrators")
    assert {"start", "help", "daily", "language", "link", "coinflip"} <= private
    assert not {"ban", "mute", "warn", "duel", "kick", "setup_rank_role", "setup_warn_threshold"} & private
    assert {"help", "daily", "duel", "coinflip"} <= groups and not {"ban", "mute", "warn", "start"} & groups
    assert groups <= admins and {"ban", "mute", "unmute", "warn", "cases", "setup_warn_threshold"} <= admins
    discord_only = {c.tg_name for c in REGISTRY.commands.values() if "telegram" not in c.platforms}
    discord_only -= set(REGISTRY.telegram_commands)  # /automod set on Discord, /automod_set on Telegram
    assert not discord_only & (private | groups | admins)  # /kick, /setup_rank_role, /automod_show …
    for scope in ("all_private_chats", "all_group_chats", "all_chat_administrators"):
        assert menu(scope, "") == menu(scope, "en")  # the default language is the deployment's (en in tests)
        assert names(scope, "ru") == names(scope)  # the same ASCII names in every language
    russian = {c["command"]: c["description"] for c in menu("all_private_chats", "ru")}
    english = {c["command"]: c["description"] for c in menu("all_private_chats", "en")}
    assert russian["help"] == "Что умеет TTFD" and english["help"] == "What TTFD can do"
    assert russian["language"] == "Язык, на котором TTFD говорит с тобой на всех платформах"
    assert all(1 <= len(d) <= 256 for d in russian.values())


def test_telegram_menus_are_said_in_the_deployments_language_for_everyone_else() -> None:
    menus = {(scope, lang): commands for scope, lang, commands in telegram_menus("ru")}
    default = {c["command"]: c["description"] for c in menus[("all_private_chats", "")]}
    assert default["help"] == "Что умеет TTFD"
    assert {scope for scope, _ in menus} == {"all_private_chats", "all_group_chats", "all_chat_administrators"}
    assert {lang for _, lang in menus} == {"", *LOCALES}
    for (scope, _lang), commands in menus.items():
        moderators = [c["command"] for c in commands if moderators_only(REGISTRY.telegram_commands[c["command"]])]
        assert bool(moderators) == (scope == "all_chat_administrators"), (scope, moderators)


# --- /help on Discord, by language and role ---------------------------------------------------------------------


@pytest.fixture
def discord(app_env):
    return create_app("discord_interactions", "main.py").test_client()


def _discord(client: Any, command: str, locale: str = "en-US", **kw: Any) -> dict[str, Any]:
    payload = interaction(command, **kw)
    payload["locale"] = locale
    body = encode(payload)
    return dict(client.post("/", data=body, headers=sign(body)).get_json())


def test_discord_help_in_russian_and_english(discord) -> None:
    ru = _discord(discord, "/help", "ru")["data"]["embeds"][0]
    assert ru["title"] == "Команды TTFD"
    assert "`/монетка <ставка> <орёл|решка>` — " in ru["description"]
    assert "`/бонус` — " in ru["description"] and "`/язык [ru|en|auto]` — " in ru["description"]
    assert ru["footer"]["text"] == "Один аккаунт в Discord, Telegram и на сайте — связать их можно через /link."
    en = _discord(discord, "/help", "en-GB")["data"]["embeds"][0]
    assert en["title"] == "TTFD commands"
    assert "`/coinflip <bet> <heads|tails>` — Bet coins on heads or tails" in en["description"]
    assert "`/language [ru|en|auto]` — The language TTFD speaks to you, on every platform" in en["description"]
    for shown in (ru["description"], en["description"]):  # a member: no moderators' commands
        assert "`/ban" not in shown and "`/бан" not in shown and "`/setup" not in shown and "`/настройка" not in shown
    labels = [b["label"] for row in _discord(discord, "/help", "ru")["data"]["components"] for b in row["components"]]
    assert labels == ["👤 Профиль", "💰 Бонус", "🏆 Топ"]


def test_discord_help_lists_moderators_commands_to_those_who_may_use_them(discord) -> None:
    ban_members, manage_server, administrator = 1 << 2, 1 << 5, 1 << 3

    def shown(embed: dict[str, Any]) -> str:
        return embed["description"] + "\n" + "\n".join(f["value"] for f in embed.get("fields", []))

    bans = shown(_discord(discord, "/help", permissions=ban_members)["data"]["embeds"][0])
    assert "`/ban <user>" in bans and "`/unban" in bans and "`/kick" not in bans and "`/automod" not in bans
    server = shown(_discord(discord, "/help", permissions=manage_server)["data"]["embeds"][0])
    assert "`/automod set" in server and "`/shopadmin add" in server and "`/ban" not in server
    embed = _discord(discord, "/help", "ru", permissions=administrator)["data"]["embeds"][0]
    admin = shown(embed)
    assert "`/бан <участник> [срок] [причина] […]` — " in admin and "`/настройка роль-ранга <ранг> <роль>`" in admin
    assert "`/преды <участник>`" in admin and "`/бан" not in embed["description"]  # staff's in fields of their own
    # every command, within Discord's limits: 4,096 a description, 1,024 a field, 6,000 an embed
    fields = embed.get("fields", [])
    assert len(embed["description"]) < 4000 and all(len(f["value"]) <= 1024 for f in fields)
    assert len(embed["description"]) + sum(len(f["name"]) + len(f["value"]) for f in fields) < 5800
    assert not any(f["value"].endswith("…") for f in fields)  # none cut short
    dm = shown(_discord(discord, "/help", permissions=administrator, guild=None)["data"]["embeds"][0])
    assert "`/ban" not in dm  # outside a server nobody moderates


def test_discord_help_explains_one_command_or_names_an_unknown_one(discord) -> None:
    one = _discord(discord, "/help command:монетка", "ru")["data"]["embeds"][0]["description"]
    assert one.startswith("`/монетка <ставка> <орёл|решка>` — ")
    ban = _discord(discord, "/help command:ban")["data"]["embeds"][0]["description"]
    assert "`/ban <user> [duration] [reason] [delete_messages]`" in ban and "Needs the Ban Members permission." in ban
    unknown = _discord(discord, "/help command:xyz")["data"]["embeds"][0]["description"]
    assert unknown.startswith("I don't know `/xyz`. Here is what I can do:\n`/achievements")
    russian = _discord(discord, "/help command:xyz", "ru")["data"]["embeds"][0]["description"]
    assert russian.startswith("Я не знаю команду `/xyz`. Вот что я умею:\n")
